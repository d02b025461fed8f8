// SPDX-License-Identifier: MIT
/*
 * test_nofault_handles - nofault copies without a process-wide lock
 * (issue 16): several threads copy from and to managed memory with
 * upg_copy_from_nofault() / upg_copy_to_nofault() while another thread
 * maps and unmaps regions under them (the handle table grows meanwhile:
 * every map adds a handle).  Each copy either copies a whole page range
 * of one live region, with content that region's writer put there, or
 * copies nothing; stale region handles and a destroyed runtime get the
 * documented errors.  Run it under TSan (tools/test.sh's third pass) and
 * ASan too: a copy that touched an unmapped alias or freed page table
 * would be reported there (or crash here).
 *
 * Deterministic: the mapper does a fixed number of maps; each copier does
 * at least a fixed number of copies and stops once the mapper is done;
 * nothing sleeps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define NSLOTS 4       /* regions mapped at once */
#define NPAGES 8       /* pages of each region */
#define BUDGET_PAGES 24 /* below NSLOTS * NPAGES: eviction runs too */
#define NCOPIERS 3
#define MAGIC 0x6e6f666cull /* "nofl", the top half of every stamp */
/* Fewer rounds under TSan, which slows every thread 5-15x; still several
 * growths of the handle table (every map adds a handle: 64, 128 slots). */
#define MAPS (TU_UNDER_TSAN ? 80 : 200)
#define MIN_COPIES (TU_UNDER_TSAN ? 300 : 2000)
#define SLOT_BYTES 64 /* each copier's own bytes in the second half */

static size_t PS;

struct shared {
	struct upg_runtime *rt;
	_Atomic uintptr_t base[NSLOTS]; /* 0: none yet; may be stale */
	atomic_bool mapper_done;
	/* Results, checked by the test's own thread. */
	_Atomic uint64_t copied, missed, copied_to;
	_Atomic uint64_t bad_result, bad_content, bad_stale;
	_Atomic int map_err;
};

/* The word page @pg of the @gen-th region carries in its first half. */
static uint64_t stamp(uint64_t gen, uint64_t pg)
{
	return MAGIC << 32 | gen << 12 | pg;
}

/*
 * A copy of one page's first half is right if it came from one page of
 * one region: every word is the page's stamp, or 0 where the mapper had
 * not written yet (a copier whose stale address now lands in a new region
 * being written).  Garbage, or words of two pages, are wrong.
 */
static bool content_ok(const uint64_t *w, size_t n)
{
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!w[i])
			continue;
		if (!s)
			s = w[i];
		if (w[i] != s || (s >> 32) != MAGIC)
			return false;
	}
	return true;
}

static void *copier(void *arg)
{
	struct shared *sh = arg;
	static _Atomic unsigned next_id;
	unsigned id = atomic_fetch_add(&next_id, 1) % NCOPIERS;
	size_t half = PS / 2, n = half / sizeof(uint64_t);
	uint64_t *buf = malloc(half), mine[SLOT_BYTES / 8];
	uint64_t i, x = 0x9e3779b97f4a7c15ull * (id + 1);
	size_t k;

	if (!buf) {
		atomic_fetch_add(&sh->bad_result, 1);
		return NULL;
	}
	for (k = 0; k < SLOT_BYTES / 8; k++)
		mine[k] = ~(uint64_t)id;
	for (i = 0; i < MIN_COPIES || !atomic_load(&sh->mapper_done); i++) {
		uintptr_t base, a;
		size_t left;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		base = atomic_load(&sh->base[x % NSLOTS]);
		if (!base)
			continue;
		a = base + ((x >> 8) % NPAGES) * PS;
		left = upg_copy_from_nofault(sh->rt, buf, (void *)a, half);
		if (left == 0 && !content_ok(buf, n))
			atomic_fetch_add(&sh->bad_content, 1);
		else if (left == 0)
			atomic_fetch_add(&sh->copied, 1);
		else if (left == half)
			atomic_fetch_add(&sh->missed, 1);
		else /* within one page: all or nothing */
			atomic_fetch_add(&sh->bad_result, 1);
		/* Our own bytes of the second half: nobody else writes them. */
		left = upg_copy_to_nofault(sh->rt,
					   (void *)(a + half + id * SLOT_BYTES),
					   mine, SLOT_BYTES);
		if (left == 0)
			atomic_fetch_add(&sh->copied_to, 1);
		else if (left != SLOT_BYTES)
			atomic_fetch_add(&sh->bad_result, 1);
	}
	free(buf);
	return NULL;
}

/* Map region number @gen; write its stamps (faulting its pages in). */
static struct upg_region *map_one(struct shared *sh, uint64_t gen)
{
	struct upg_region *r = NULL;
	uint64_t pg, *w;
	size_t i;
	int err = upg_region_map_anon(sh->rt, NPAGES * PS, NULL, &r);

	if (err) {
		atomic_store(&sh->map_err, err);
		return NULL;
	}
	w = upg_region_addr(r);
	for (pg = 0; pg < NPAGES; pg++)
		for (i = 0; i < PS / 2 / sizeof(uint64_t); i++)
			__atomic_store_n(&w[pg * PS / 8 + i], stamp(gen, pg),
					 __ATOMIC_RELAXED);
	return r;
}

static void *mapper(void *arg)
{
	struct shared *sh = arg;
	struct upg_region *r[NSLOTS] = { 0 };
	uint64_t gen, since = 0;
	unsigned s;

	for (gen = 1; gen <= MAPS; gen++) {
		s = (unsigned)(gen % NSLOTS);
		if (r[s]) {
			struct upg_region *old = r[s];

			/* The slot keeps the old address: copiers go on
			 * using it while it is unmapped and maybe reused. */
			if (upg_region_unmap(old)) {
				atomic_store(&sh->map_err, -EIO);
				break;
			}
			/* A stale handle: refused, not read. */
			if (upg_region_unmap(old) != -EBADF ||
			    upg_region_flush(old, 0, 0) != -EBADF ||
			    upg_region_err_check(old, &since) != -EBADF)
				atomic_fetch_add(&sh->bad_stale, 1);
			r[s] = NULL;
		}
		r[s] = map_one(sh, gen);
		if (!r[s])
			break;
		atomic_store(&sh->base[s], (uintptr_t)upg_region_addr(r[s]));
	}
	atomic_store(&sh->mapper_done, true);
	/* The regions left mapped are the copiers' until they stop: they
	 * are unmapped by the runtime's destroy. */
	return NULL;
}

START_TEST(test_nofault_while_mapping)
{
	struct shared sh = { 0 };
	pthread_t cp[NCOPIERS], mp;
	char buf[64];
	unsigned i;
	UPG_OPTS(upg_stats, st);

	sh.rt = tu_runtime(BUDGET_PAGES * PS, 2);
	for (i = 0; i < NCOPIERS; i++)
		ck_assert_int_eq(pthread_create(&cp[i], NULL, copier, &sh), 0);
	ck_assert_int_eq(pthread_create(&mp, NULL, mapper, &sh), 0);
	ck_assert_int_eq(pthread_join(mp, NULL), 0);
	for (i = 0; i < NCOPIERS; i++)
		ck_assert_int_eq(pthread_join(cp[i], NULL), 0);

	ck_assert_msg(!atomic_load(&sh.map_err), "map/unmap failed: %s",
		      strerror(-atomic_load(&sh.map_err)));
	ck_assert_uint_eq(atomic_load(&sh.bad_result), 0);
	ck_assert_uint_eq(atomic_load(&sh.bad_content), 0);
	ck_assert_uint_eq(atomic_load(&sh.bad_stale), 0);
	/* The copies did copy: the last regions stayed mapped (and mostly
	 * resident) until every copier was done. */
	ck_assert_uint_gt(atomic_load(&sh.copied), 0);
	ck_assert_uint_gt(atomic_load(&sh.copied_to), 0);

	ck_assert_int_eq(upg_runtime_destroy(sh.rt), 0);
	/* A destroyed runtime: the handle check refuses it without reading
	 * it (ASan would see a read of the freed object). */
	ck_assert_uint_eq(upg_copy_from_nofault(sh.rt, buf,
						(void *)atomic_load(&sh.base[0]),
						sizeof(buf)),
			  sizeof(buf));
	ck_assert_uint_eq(upg_copy_to_nofault(sh.rt,
					      (void *)atomic_load(&sh.base[0]),
					      buf, sizeof(buf)),
			  sizeof(buf));
	ck_assert_int_eq(upg_runtime_stats(sh.rt, &st), -EBADF);
	ck_assert_int_eq(upg_runtime_destroy(sh.rt), -EBADF);
}
END_TEST

/*
 * Many live handles, then a stale one among them: the lock-free check
 * still finds each live handle after the table grew, and never a dead
 * one, including one whose slot a later handle reused.
 */
START_TEST(test_stale_handles_after_growth)
{
	enum { N = 200 };
	struct upg_runtime *rt = tu_runtime(64 * PS, 1);
	struct upg_region **r = calloc(N, sizeof(*r));
	uint64_t since = 0;
	unsigned i;

	ck_assert_ptr_nonnull(r);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(upg_region_map_anon(rt, PS, NULL, &r[i]), 0);
	for (i = 0; i < N; i += 2)
		ck_assert_int_eq(upg_region_unmap(r[i]), 0);
	for (i = 0; i < N; i++) {
		int want = i % 2 ? 0 : -EBADF;

		ck_assert_int_eq(upg_region_err_check(r[i], &since), want);
	}
	/* New handles after the deletes (tombstones reused or not). */
	for (i = 0; i < N; i += 2)
		ck_assert_int_eq(upg_region_map_anon(rt, PS, NULL, &r[i]), 0);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(upg_region_err_check(r[i], &since), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(upg_region_err_check(r[i], &since), -EBADF);
	free(r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("nofault_handles");
	TCase *tc = tcase_create("race");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_nofault_while_mapping);
	suite_add_tcase(s, tc);

	tc = tcase_create("stale");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stale_handles_after_growth);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
