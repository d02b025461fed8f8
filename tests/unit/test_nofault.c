// SPDX-License-Identifier: MIT
/*
 * test_nofault - upg_copy_from_nofault() and upg_copy_to_nofault()
 * (include/upager.h "Fault-in and nofault access"): they copy only what is
 * resident, never fault, never do I/O, and stop at the first page that is
 * not resident; the pattern of the header (nofault copy under the lock,
 * fault in on the cold path) works under eviction pressure; and the
 * deadlock that pattern avoids is real: a thread that holds the lock an
 * invalidate callback needs and touches managed memory directly can wait
 * for an eviction that waits for it.
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
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pin_util.h"
#include "regionutil.h"
#include "testutil.h"

static size_t PS;

static struct upg_runtime *runtime(uint64_t budget, unsigned high_pct,
				   unsigned low_pct, unsigned batch)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget * PS,
		 .handler_threads = 2, .high_watermark_pct = high_pct,
		 .low_watermark_pct = low_pct, .evict_batch_pages = batch);

	return pu_runtime(&o);
}

static void assert_quiet(const struct upg_stats *a, const struct upg_stats *b,
			 const char *what)
{
	ck_assert_msg(a->faults_missing == b->faults_missing &&
			      a->faults_minor == b->faults_minor &&
			      a->faults_wp == b->faults_wp &&
			      a->bytes_read == b->bytes_read,
		      "%s: %llu missing, %llu minor, %llu WP faults, %llu "
		      "bytes read",
		      what,
		      (unsigned long long)(b->faults_missing -
					   a->faults_missing),
		      (unsigned long long)(b->faults_minor - a->faults_minor),
		      (unsigned long long)(b->faults_wp - a->faults_wp),
		      (unsigned long long)(b->bytes_read - a->bytes_read));
}

/* ---- copies --------------------------------------------------------------- */

START_TEST(test_copy_from_resident)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = runtime(64, 100, 50, 0);
	struct pu_store *s = pu_store_create(n * PS, 801);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	char *buf = malloc(n * PS);
	struct upg_stats st0, st1;

	ck_assert_ptr_nonnull(buf);
	pu_touch_resident(rt, a, n * PS);
	st0 = tu_stats(rt);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + 8, 10 * PS), 0);
	ck_assert_uint_eq(tu_check(buf, 8, 10 * PS, 801), UINT64_MAX);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a, n * PS), 0);
	ck_assert_uint_eq(tu_check(buf, 0, n * PS, 801), UINT64_MAX);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + 3, 1), 0);
	ck_assert_int_eq(buf[0], a[3]);
	st1 = tu_stats(rt);
	assert_quiet(&st0, &st1, "nofault copy of resident pages");
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(buf);
}
END_TEST

/*
 * Pages resident but unmapped in the application (the evictor's clock
 * zapped them to sample recency): a nofault copy takes no minor fault,
 * where a plain read does.
 */
START_TEST(test_copy_from_zapped)
{
	const uint64_t n = 32;
	struct upg_runtime *rt = runtime(32, 50, 25, 4);
	struct pu_store *s = pu_store_create(n * PS, 802);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	char *buf = malloc(PS);
	struct upg_stats st0, st1;
	uint64_t pg, copied = 0;
	bool resident[20];

	ck_assert_ptr_nonnull(buf);
	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	tur_touch_read(a, 20 * PS); /* above the high watermark (16) */
	/* Back to the high watermark, not the low one (8): the evictor runs
	 * only above 16 and may have reached 8 while the touches went on,
	 * then stopped between the two (test_notifier met that). */
	TU_WAIT_FOR(tu_stats(rt).resident_bytes <= 16 * PS, 5000);
	ck_assert_uint_gt(tu_stats(rt).pages_sampled, 0);
	st0 = tu_stats(rt);
	for (pg = 0; pg < 20; pg++) {
		resident[pg] = !upg_copy_from_nofault(rt, buf, a + pg * PS, PS);
		if (!resident[pg])
			continue;
		ck_assert_uint_eq(tu_check(buf, pg * PS, PS, 802), UINT64_MAX);
		copied++;
	}
	st1 = tu_stats(rt);
	ck_assert_uint_gt(copied, 0);
	assert_quiet(&st0, &st1, "nofault copy of zapped pages");
	/* They were unmapped indeed: plain reads take minor faults. */
	for (pg = 0; pg < 20; pg++)
		if (resident[pg])
			(void)tur_sum(a + pg * PS, 1);
	ck_assert_uint_gt(tu_stats(rt).faults_minor, st1.faults_minor);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(buf);
}
END_TEST

/* Page 1 not resident: the copy stops there, exactly. */
START_TEST(test_copy_from_partial)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = runtime(64, 100, 50, 0);
	struct pu_store *s = pu_store_create(n * PS, 803);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	char *buf = calloc(1, 4 * PS);
	struct upg_stats st0, st1;

	ck_assert_ptr_nonnull(buf);
	pu_touch_resident(rt, a, 1);
	pu_touch_resident(rt, a + 2 * PS, 1);
	st0 = tu_stats(rt);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + 104,
						3 * PS - 208),
			  2 * PS - 104);
	ck_assert_uint_eq(tu_check(buf, 104, PS - 104, 803), UINT64_MAX);
	ck_assert_int_eq(buf[PS - 104], 0); /* nothing past the stop */
	/* Starting on the missing page: nothing; one byte short of it:
	 * everything. */
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + PS, 2 * PS),
			  2 * PS);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + PS - 8, 8), 0);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + PS - 8, 9), 1);
	st1 = tu_stats(rt);
	assert_quiet(&st0, &st1, "short nofault copies");
	ck_assert_uint_eq(pu_store_reads(s, 1), 0);
	ck_assert(!pu_resident(rt, a + PS, PS));
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(buf);
}
END_TEST

START_TEST(test_copy_to_nofault)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = runtime(64, 100, 50, 0);
	struct pu_store *s = pu_store_create(n * PS, 804);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	char *src = malloc(4 * PS);
	struct upg_stats st0, st1, st2, st3;

	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	ck_assert_ptr_nonnull(src);
	tu_fill(src, 0, 4 * PS, 805);
	pu_touch_resident(rt, a, 4 * PS); /* resident, clean */
	ck_assert_uint_eq(pu_region_dirty(r), 0);
	st0 = tu_stats(rt);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a + 8, src + 8, 4 * PS - 16),
			  0);
	st1 = tu_stats(rt);
	assert_quiet(&st0, &st1, "nofault copy into resident pages");
	ck_assert_uint_eq(pu_region_dirty(r), 4 * PS);
	/* The mapping shows the data, without a fault. */
	ck_assert_uint_eq(tu_check(a + 8, 8, 4 * PS - 16, 805), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a, 0, 8, 804), UINT64_MAX);
	st3 = tu_stats(rt);
	assert_quiet(&st1, &st3, "reading it back");

	/* Into page 3 (resident) and on into page 4 (not): 8 bytes land. */
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a + 4 * PS - 8, src, 24), 16);
	ck_assert(!pu_resident(rt, a + 4 * PS, PS));

	st2 = tu_stats(rt);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_ge(tu_stats(rt).pages_written_back -
				  st2.pages_written_back,
			  4);
	ck_assert_uint_eq(pu_region_dirty(r), 0);
	ck_assert_uint_eq(pu_store_check(s, 8, 4 * PS - 16, 805), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 0, 8, 804), UINT64_MAX);
	ck_assert_int_eq(memcmp(s->data + 4 * PS - 8, src, 8), 0);
	ck_assert_uint_eq(pu_store_check(s, 4 * PS, PS, 804), UINT64_MAX);
	ck_assert_uint_eq(pu_store_reads(s, 4), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(src);
}
END_TEST

/* A read-only region: the alias is writable, but nothing is written
 * through it (the kernel's copy_to_user_nofault() fails on a read-only
 * mapping); reading still works. */
START_TEST(test_copy_to_read_only)
{
	const uint64_t n = 4;
	struct upg_runtime *rt = runtime(64, 100, 50, 0);
	struct pu_store *s = pu_store_create(n * PS, 807);
	UPG_OPTS(upg_region_opts, ro, .prot = PROT_READ);
	struct upg_region *r = NULL;
	char *a, *buf = malloc(PS);
	struct upg_stats st0, st1;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(upg_region_map_store(rt, s->st, n * PS, &ro, &r), 0);
	a = upg_region_addr(r);
	pu_touch_resident(rt, a, n * PS);
	tu_fill(buf, 0, PS, 808);
	st0 = tu_stats(rt);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a + PS, buf, PS), PS);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a, buf, 16), 16);
	st1 = tu_stats(rt);
	assert_quiet(&st0, &st1, "refused copies");
	ck_assert_uint_eq(pu_region_dirty(r), 0);
	ck_assert_uint_eq(tu_check(a, 0, n * PS, 807), UINT64_MAX);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + PS, PS), 0);
	ck_assert_uint_eq(tu_check(buf, PS, PS, 807), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(pu_store_check(s, 0, n * PS, 807), UINT64_MAX);
	ck_assert_uint_eq(pu_store_writes(s, 0) + pu_store_writes(s, 1), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(buf);
}
END_TEST

START_TEST(test_copy_unmanaged)
{
	const uint64_t n = 4;
	struct upg_runtime *rt = runtime(64, 100, 50, 0);
	struct pu_store *s = pu_store_create(n * PS, 806);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	char *heap = malloc(2 * PS), *buf = malloc(2 * PS);

	ck_assert(heap && buf);
	memset(heap, 0x11, 2 * PS);
	memset(buf, 0x22, 2 * PS);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, heap, 2 * PS),
			  2 * PS);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, heap, buf, 2 * PS), 2 * PS);
	ck_assert_int_eq(heap[0], 0x11);
	ck_assert_int_eq(buf[0], 0x22);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, NULL, 10), 10);
	ck_assert_uint_eq(upg_copy_from_nofault(NULL, buf, a, 10), 10);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a, 0), 0);
	/* Past the end of a resident region: the rest comes back. */
	pu_touch_resident(rt, a, n * PS);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + (n - 1) * PS,
						2 * PS),
			  PS);
	ck_assert_uint_eq(tu_check(buf, (n - 1) * PS, PS, 806), UINT64_MAX);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a + n * PS - 8, buf, 16), 8);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a, 10), 10);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(heap);
	free(buf);
}
END_TEST

/* ---- the pattern under pressure -------------------------------------------- */

#define PAT_PAGES 64
#define PAT_SEED 810

struct pressure {
	char *b;
	atomic_bool stop;
	_Atomic uint64_t touches;
};

static void *pressure_main(void *arg)
{
	struct pressure *p = arg;
	struct pu_rng rng = { PAT_SEED };

	while (!atomic_load(&p->stop)) {
		uint64_t pg = pu_below(&rng, PAT_PAGES);

		if (pg & 1)
			pu_touch_write(p->b + pg * PS, 8);
		else
			tur_touch_read(p->b + pg * PS, 1);
		atomic_fetch_add(&p->touches, 1);
	}
	return NULL;
}

/*
 * The header's loop, reading and writing (same content, so the expected
 * data stays one data set) random ranges of region A under a lock, while
 * another thread keeps evicting by touching region B.  Budget: 16 pages
 * for 128.
 */
START_TEST(test_nofault_pattern_under_pressure)
{
	struct upg_runtime *rt = runtime(16, 0, 0, 4);
	struct pu_store *s = pu_store_create(2 * PAT_PAGES * PS, PAT_SEED);
	UPG_OPTS(upg_region_opts, ro, .store_offset = PAT_PAGES * PS);
	struct upg_region *ra = pu_map_store(rt, s, 0, PAT_PAGES * PS), *rb;
	char *a = upg_region_addr(ra);
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct pressure p = { 0 };
	struct pu_rng rng = { PAT_SEED + 1 };
	char *buf = malloc(3 * PS), *src = malloc(3 * PS);
	uint64_t shorts = 0, ops, max_tries = 0;
	pthread_t th;

	ck_assert(buf && src);
	ck_assert_int_eq(upg_region_map_store(rt, s->st, PAT_PAGES * PS, &ro,
					      &rb),
			 0);
	p.b = upg_region_addr(rb);
	ck_assert_int_eq(pthread_create(&th, NULL, pressure_main, &p), 0);
	for (ops = 0; ops < 400; ops++) {
		uint64_t off = pu_below(&rng, (PAT_PAGES - 3) * PS / 8) * 8;
		size_t len = (size_t)(8 + pu_below(&rng, 2 * PS / 8) * 8);
		bool write = ops % 3 == 0;
		uint64_t tries = 0;
		size_t left;

		tu_fill(src, off, (len + 7) & ~(size_t)7, PAT_SEED);
		for (;;) {
			ck_assert_uint_lt(++tries, 1000);
			pthread_mutex_lock(&lock);
			left = write ? upg_copy_to_nofault(rt, a + off, src,
							   len) :
				       upg_copy_from_nofault(rt, buf, a + off,
							     len);
			if (!left)
				break;
			pthread_mutex_unlock(&lock);
			shorts++;
			/* Only the part not copied needs faulting in. */
			ck_assert_uint_lt(write ?
				upg_fault_in_writeable(rt, a + off + len - left,
						       left) :
				upg_fault_in_readable(rt, a + off + len - left,
						      left),
				left);
		}
		if (!write)
			ck_assert_uint_eq(tu_check(buf, off, len & ~(size_t)7,
						   PAT_SEED),
					  UINT64_MAX);
		pthread_mutex_unlock(&lock);
		if (tries > max_tries)
			max_tries = tries;
	}
	atomic_store(&p.stop, true);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* The region was cold: the first copy came back short at least. */
	ck_assert_uint_gt(shorts, 0);
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 100);
	ck_assert_uint_eq(tu_check(a, 0, PAT_PAGES * PS, PAT_SEED),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(ra), 0);
	ck_assert_int_eq(upg_region_unmap(rb), 0);
	ck_assert_uint_eq(pu_store_check(s, 0, 2 * PAT_PAGES * PS, PAT_SEED),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(buf);
	free(src);
}
END_TEST

/* ---- the deadlock the pattern avoids ----------------------------------------
 *
 * Which thread runs the callback decides where the deadlock is.  A fault
 * that needs room evicts on the handler thread that serves it, calling
 * callbacks with blockable == false: the callback only tries M, refuses,
 * and the runtime evicts pages the notifier does not watch (or overshoots
 * the budget), so the faulting thread never waits for M there
 * (test_deadlock_nonblockable_refuses).  The background evictor calls them
 * blockable: a thread holding M that touches a page of the batch being
 * invalidated waits for that eviction (its fault is parked until the
 * punch), and the eviction waits in the callback for M.  The tests make
 * that happen on purpose, in this order: M taken, evictor in the callback
 * (seen by the callback itself), then the touch; the callback's timed
 * lock turns the hang into a counted 2 s timeout.
 */

/*
 * An application lock M that the invalidate callback takes, as the
 * header's notifier example does: a blockable callback waits for M (here
 * with a 2 s limit, so that a deadlock shows as a timeout instead of a
 * hang); a non-blockable one only tries, and refuses when M is taken.
 */
struct mlock_notifier {
	struct upg_interval_notifier n;
	pthread_mutex_t m;
	_Atomic unsigned blockable_calls, nonblockable_calls, refused,
		timeouts, other_events;
	/* The range of the first blockable EVICT call, seen before it
	 * waits. */
	_Atomic uintptr_t first_start, first_end;
};

static bool mlock_invalidate(struct upg_interval_notifier *n,
			     const struct upg_notifier_range *range,
			     uint64_t cur_seq)
{
	struct mlock_notifier *mn = (struct mlock_notifier *)n;
	struct timespec ts;
	bool locked;

	if (!range->blockable) {
		if (range->event != UPG_NOTIFY_EVICT)
			atomic_fetch_add(&mn->other_events, 1);
		atomic_fetch_add(&mn->nonblockable_calls, 1);
		if (pthread_mutex_trylock(&mn->m)) {
			atomic_fetch_add(&mn->refused, 1);
			return false;
		}
		upg_interval_set_seq(n, cur_seq);
		pthread_mutex_unlock(&mn->m);
		return true;
	}
	if (range->event != UPG_NOTIFY_EVICT)
		atomic_fetch_add(&mn->other_events, 1);
	else if (atomic_fetch_add(&mn->blockable_calls, 1) == 0) {
		atomic_store(&mn->first_end, range->end);
		atomic_store(&mn->first_start, range->start);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	locked = !pthread_mutex_timedlock(&mn->m, &ts);
	if (!locked)
		atomic_fetch_add(&mn->timeouts, 1);
	upg_interval_set_seq(n, cur_seq);
	if (locked)
		pthread_mutex_unlock(&mn->m);
	return true;
}

static const struct upg_interval_notifier_ops mlock_ops = {
	.invalidate = mlock_invalidate,
};

/*
 * The setup of both demonstrations: 64 pages, all watched by the
 * notifier, budget 64, high watermark 32 (evict batches of 8).  Pages
 * 0..29 are read in, then T (this thread) takes M and reads 30..39: the
 * fill that crosses the watermark kicks the background evictor, whose
 * callback (blockable) now waits for M on its first batch of victims.
 * Returns the first victim's address once that callback is waiting.
 */
static char *evictor_waits_for_m(struct upg_runtime *rt,
				 struct mlock_notifier *mn, char *a)
{
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &mn->n,
						      (uintptr_t)a, 64 * PS,
						      &mlock_ops),
			 0);
	tur_touch_read(a, 30 * PS);
	ck_assert_uint_eq(atomic_load(&mn->blockable_calls), 0);
	pthread_mutex_lock(&mn->m);
	tur_touch_read(a + 30 * PS, 10 * PS);
	TU_WAIT_FOR(atomic_load(&mn->first_start) != 0, 5000);
	ck_assert_uint_eq(atomic_load(&mn->nonblockable_calls), 0);
	return (char *)atomic_load(&mn->first_start);
}

/*
 * Naive: T, holding M, touches a page of that batch directly.  Its fault
 * waits for the eviction, which waits in the callback for M, which T
 * holds: a deadlock, broken here only by the callback's 2 s limit.
 */
START_TEST(test_deadlock_naive_touch)
{
	struct upg_runtime *rt = runtime(64, 50, 25, 8);
	struct pu_store *s = pu_store_create(64 * PS, 820);
	struct upg_region *r = pu_map_store(rt, s, 0, 64 * PS);
	char *a = upg_region_addr(r), *victim;
	struct mlock_notifier mn = { .m = PTHREAD_MUTEX_INITIALIZER };
	uint64_t t0, waited_ms;

	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	victim = evictor_waits_for_m(rt, &mn, a);
	ck_assert(victim >= a && victim < a + 40 * PS);
	t0 = tu_now_ns();
	pu_touch_write(victim, 8); /* load and store of the same value */
	waited_ms = (tu_now_ns() - t0) / 1000000;
	pthread_mutex_unlock(&mn.m);

	ck_assert_msg(atomic_load(&mn.timeouts) == 1,
		      "the evictor's callback timed out %u times waiting for "
		      "M (expected once: the deadlock)",
		      atomic_load(&mn.timeouts));
	ck_assert_msg(waited_ms >= 1000,
		      "the touch took %llu ms: it did not wait for the "
		      "eviction",
		      (unsigned long long)waited_ms);
	ck_assert_uint_eq(tu_check(a, 0, 64 * PS, 820), UINT64_MAX);
	ck_assert_int_eq(upg_interval_notifier_remove(&mn.n), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * The same with the header's pattern: the nofault copy under M comes back
 * short (the page is being evicted) instead of waiting; T drops M, the
 * callback proceeds at once, T faults the page in and retries.
 */
START_TEST(test_deadlock_nofault_pattern)
{
	struct upg_runtime *rt = runtime(64, 50, 25, 8);
	struct pu_store *s = pu_store_create(64 * PS, 821);
	struct upg_region *r = pu_map_store(rt, s, 0, 64 * PS);
	char *a = upg_region_addr(r), *victim, buf[64];
	struct mlock_notifier mn = { .m = PTHREAD_MUTEX_INITIALIZER };
	unsigned shorts = 0, tries = 0;
	bool locked = true; /* evictor_waits_for_m() leaves M taken */

	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	victim = evictor_waits_for_m(rt, &mn, a);
	for (;;) {
		ck_assert_uint_lt(++tries, 100);
		if (!locked)
			pthread_mutex_lock(&mn.m);
		locked = false;
		if (!upg_copy_from_nofault(rt, buf, victim, sizeof(buf)))
			break;
		pthread_mutex_unlock(&mn.m);
		shorts++;
		ck_assert_uint_eq(upg_fault_in_readable(rt, victim,
							sizeof(buf)),
				  0);
	}
	ck_assert_uint_eq(tu_check(buf, (uint64_t)(victim - a), sizeof(buf),
				   821),
			  UINT64_MAX);
	pthread_mutex_unlock(&mn.m);

	ck_assert_uint_ge(shorts, 1); /* it did meet the eviction */
	ck_assert_uint_eq(atomic_load(&mn.timeouts), 0);
	ck_assert_uint_eq(tu_check(a, 0, 64 * PS, 821), UINT64_MAX);
	ck_assert_int_eq(upg_interval_notifier_remove(&mn.n), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * When the fault itself needs the eviction (budget full), the handler
 * thread evicts with blockable = false: the callback cannot get M (T
 * holds it) and refuses, and the runtime takes pages the notifier does not
 * watch instead.  No deadlock, no wait.  Budget 64 of 128 pages, watermark
 * 100% (no background eviction); the notifier watches pages 0..63;
 * resident: 0..31 (watched, first in the clock's order) and 64..95.
 */
START_TEST(test_deadlock_nonblockable_refuses)
{
	struct upg_runtime *rt = runtime(64, 100, 90, 0);
	struct pu_store *s = pu_store_create(128 * PS, 822);
	struct upg_region *r = pu_map_store(rt, s, 0, 128 * PS);
	char *a = upg_region_addr(r);
	struct mlock_notifier mn = { .m = PTHREAD_MUTEX_INITIALIZER };
	struct upg_stats st;
	uint64_t t0, took_ms;

	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &mn.n, (uintptr_t)a,
						      64 * PS, &mlock_ops),
			 0);
	tur_touch_read(a + 64 * PS, 32 * PS);
	tur_touch_read(a, 32 * PS);
	ck_assert_uint_eq(tu_stats(rt).pages_evicted, 0);

	pthread_mutex_lock(&mn.m);
	t0 = tu_now_ns();
	ck_assert_uint_eq(tu_check(a + 100 * PS, 100 * PS, PS, 822),
			  UINT64_MAX);
	took_ms = (tu_now_ns() - t0) / 1000000;
	pthread_mutex_unlock(&mn.m);

	st = tu_stats(rt);
	ck_assert_uint_gt(atomic_load(&mn.refused), 0);
	ck_assert_uint_eq(atomic_load(&mn.blockable_calls), 0);
	ck_assert_uint_eq(atomic_load(&mn.timeouts), 0);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_eq(st.budget_overshoot_pages, 0);
	ck_assert_msg(took_ms < 1000, "the touch took %llu ms",
		      (unsigned long long)took_ms);
	/* The refused pages stayed; the others went. */
	ck_assert(pu_resident(rt, a, 32 * PS));
	ck_assert_uint_eq(tu_check(a, 0, 128 * PS, 822), UINT64_MAX);
	ck_assert_int_eq(upg_interval_notifier_remove(&mn.n), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* A notifier that counts the events it is told of, by kind. */
struct event_counter {
	struct upg_interval_notifier n;
	_Atomic unsigned events[8];
};

static bool count_invalidate(struct upg_interval_notifier *n,
			     const struct upg_notifier_range *range,
			     uint64_t cur_seq)
{
	struct event_counter *c = (struct event_counter *)n;

	atomic_fetch_add(&c->events[range->event & 7], 1);
	upg_interval_set_seq(n, cur_seq);
	return true;
}

static const struct upg_interval_notifier_ops count_ops = {
	.invalidate = count_invalidate,
};

/*
 * The evictor's clock zaps mappings (MADV_DONTNEED) to sample recency;
 * that raises a userfaultfd REMOVE event which the runtime must recognise
 * as its own.  The application discards nothing here, so a callback that
 * hears UPG_NOTIFY_REMOVE (which takes the application's lock, like any)
 * was told of a discard that never happened.  Reading 256 pages over and
 * over under a 64-page budget, for up to 3 s.
 */
START_TEST(test_clock_zaps_are_not_remove_events)
{
	struct upg_runtime *rt = runtime(64, 50, 25, 8);
	struct pu_store *s = pu_store_create(256 * PS, 823);
	struct upg_region *r = pu_map_store(rt, s, 0, 256 * PS);
	char *a = upg_region_addr(r);
	struct event_counter c = { 0 };
	uint64_t deadline = tu_now_ns() + 3000000000ull, rounds = 0;

	ck_assert_int_eq(upg_interval_notifier_insert(rt, &c.n, (uintptr_t)a,
						      256 * PS, &count_ops),
			 0);
	while (tu_now_ns() < deadline &&
	       !atomic_load(&c.events[UPG_NOTIFY_REMOVE])) {
		tur_touch_read(a, 256 * PS);
		rounds++;
	}
	ck_assert_uint_gt(tu_stats(rt).pages_sampled, 0);
	ck_assert_uint_gt(atomic_load(&c.events[UPG_NOTIFY_EVICT]), 0);
	ck_assert_msg(atomic_load(&c.events[UPG_NOTIFY_REMOVE]) == 0,
		      "%u REMOVE callbacks in %llu rounds of reads (%llu pages "
		      "zapped by the clock): no range was discarded",
		      atomic_load(&c.events[UPG_NOTIFY_REMOVE]),
		      (unsigned long long)rounds,
		      (unsigned long long)tu_stats(rt).pages_sampled);
	ck_assert_uint_eq(tu_check(a, 0, 256 * PS, 823), UINT64_MAX);
	ck_assert_int_eq(upg_interval_notifier_remove(&c.n), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("nofault");
	TCase *tc = tcase_create("copy");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_copy_from_resident);
	tcase_add_test(tc, test_copy_from_zapped);
	tcase_add_test(tc, test_copy_from_partial);
	tcase_add_test(tc, test_copy_to_nofault);
	tcase_add_test(tc, test_copy_to_read_only);
	tcase_add_test(tc, test_copy_unmanaged);
	suite_add_tcase(s, tc);

	tc = tcase_create("pattern");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_nofault_pattern_under_pressure);
	suite_add_tcase(s, tc);

	tc = tcase_create("deadlock");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_deadlock_naive_touch);
	tcase_add_test(tc, test_deadlock_nofault_pattern);
	tcase_add_test(tc, test_deadlock_nonblockable_refuses);
	tcase_add_test(tc, test_clock_zaps_are_not_remove_events);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
