// SPDX-License-Identifier: MIT
/*
 * test_pin_evict - pins against eviction (include/upager.h "Pins"):
 * threads pin and unpin random ranges, long-term and ephemeral, while
 * others fault a region eight times the budget; a pinned page is never
 * evicted (the recording store of tests/common/pin_util.h flags any read
 * of a page while a pin on it is held) and always reads right.  And
 * ephemeral pins: background eviction that meets one waits for the unpin
 * (ephemeral_pin_wait_ms), or gives up on the page and takes others.
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

#include "pin_util.h"
#include "regionutil.h"
#include "testutil.h"

static size_t PS;

/* ---- pins racing eviction ----------------------------------------------- */

#define RACE_PAGES 128
#define RACE_SEED 620

struct race {
	struct upg_runtime *rt;
	struct pu_store *s;
	char *a;
	atomic_bool stop;
	_Atomic uint64_t bad_content, bad_pinned, bad_nofault, touches;
	_Atomic uint64_t pins, pin_err_count;
	_Atomic int pin_err;
};

struct race_thread {
	struct race *x;
	pthread_t t;
	uint64_t stream;
};

static void *race_toucher(void *arg)
{
	struct race_thread *th = arg;
	struct race *x = th->x;
	struct pu_rng rng = { RACE_SEED * 1000 + th->stream };

	while (!atomic_load(&x->stop)) {
		uint64_t pg = pu_below(&rng, RACE_PAGES);
		char *p = x->a + pg * PS;

		if (pu_below(&rng, 8) == 0)
			pu_touch_write(p, 8); /* dirty, same content */
		if (tu_check(p, pg * PS, PS, RACE_SEED) != UINT64_MAX)
			atomic_fetch_add(&x->bad_content, 1);
		atomic_fetch_add(&x->touches, 1);
	}
	return NULL;
}

static void *race_pinner(void *arg)
{
	struct race_thread *th = arg;
	struct race *x = th->x;
	struct pu_rng rng = { RACE_SEED * 1000 + th->stream };
	char *buf = malloc(4 * PS);
	unsigned i, k;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 300; i++) {
		uint64_t first = pu_below(&rng, RACE_PAGES - 4);
		uint64_t n = 1 + pu_below(&rng, 4);
		uint64_t off = pu_below(&rng, 64) * 8;
		bool longterm = pu_below(&rng, 4) != 0;
		struct upg_pin *p;
		int err;

		err = longterm ? upg_pin(x->rt, x->a + first * PS + off,
					 n * PS - off, &p) :
				 upg_pin_ephemeral(x->rt,
						   x->a + first * PS + off,
						   n * PS - off, &p);
		if (err) {
			atomic_fetch_add(&x->pin_err_count, 1);
			atomic_store(&x->pin_err, err);
			continue;
		}
		atomic_fetch_add(&x->pins, 1);
		pu_store_watch(x->s, first, first + n, 1);
		for (k = 0; k < 3; k++) {
			if (tu_check(x->a + first * PS, first * PS, n * PS,
				     RACE_SEED) != UINT64_MAX)
				atomic_fetch_add(&x->bad_pinned, 1);
			if (upg_copy_from_nofault(x->rt, buf,
						  x->a + first * PS, n * PS) ||
			    tu_check(buf, first * PS, n * PS, RACE_SEED) !=
				    UINT64_MAX)
				atomic_fetch_add(&x->bad_nofault, 1);
			sched_yield();
		}
		pu_store_watch(x->s, first, first + n, -1);
		ck_assert_int_eq(upg_unpin(p), 0);
	}
	free(buf);
	return NULL;
}

START_TEST(test_pin_race_eviction)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 16 * PS,
		 .handler_threads = 2, .pin_limit_bytes = 8 * PS,
		 .evict_batch_pages = 4);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(RACE_PAGES * PS, RACE_SEED);
	struct upg_region *r = pu_map_store(rt, s, 0, RACE_PAGES * PS);
	struct race x = { .rt = rt, .s = s, .a = upg_region_addr(r) };
	struct race_thread th[4];
	struct upg_stats st;
	int i;

	for (i = 0; i < 4; i++) {
		th[i] = (struct race_thread){ .x = &x, .stream = (uint64_t)i };
		ck_assert_int_eq(pthread_create(&th[i].t, NULL,
						i < 2 ? race_toucher :
							race_pinner,
						&th[i]),
				 0);
	}
	for (i = 2; i < 4; i++)
		ck_assert_int_eq(pthread_join(th[i].t, NULL), 0);
	atomic_store(&x.stop, true);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i].t, NULL), 0);

	st = tu_stats(rt);
	ck_assert_msg(atomic_load(&x.pin_err_count) == 0,
		      "%llu pins failed (last: %s)",
		      (unsigned long long)atomic_load(&x.pin_err_count),
		      strerror(-atomic_load(&x.pin_err)));
	pu_assert_no_violation(s);
	ck_assert_uint_eq(atomic_load(&x.bad_pinned), 0);
	ck_assert_uint_eq(atomic_load(&x.bad_nofault), 0);
	ck_assert_uint_eq(atomic_load(&x.bad_content), 0);
	ck_assert_uint_gt(st.pages_evicted, 100);
	ck_assert_uint_gt(atomic_load(&x.touches), 100);
	pu_assert_balanced(rt, atomic_load(&x.pins));
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(pu_store_check(s, 0, RACE_PAGES * PS, RACE_SEED),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* ---- ephemeral pins and eviction ---------------------------------------- */

/*
 * Background eviction above the high watermark (16 of 32 pages) finds
 * page 0 held by an ephemeral pin and pages 1..17 free.  With a short
 * wait, it gives up on page 0 and takes the others; page 0 stays resident
 * and correct for as long as the pin holds.
 */
START_TEST(test_ephemeral_short_wait_skips)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 32 * PS,
		 .handler_threads = 2, .high_watermark_pct = 50,
		 .low_watermark_pct = 25, .ephemeral_pin_wait_ms = 50);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(32 * PS, 621);
	struct upg_region *r = pu_map_store(rt, s, 0, 32 * PS);
	char *a = upg_region_addr(r);
	struct upg_pin *e;

	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a, PS, &e), 0);
	pu_store_watch(s, 0, 1, 1);
	tur_touch_read(a + PS, 17 * PS);
	/* Down to the low watermark (8 pages). */
	TU_WAIT_FOR(tu_stats(rt).resident_bytes <= 8 * PS, 5000);
	ck_assert(pu_resident(rt, a, PS));
	pu_check_pages(a, 0, 1, 621);
	pu_assert_no_violation(s);
	pu_store_watch(s, 0, 1, -1);
	ck_assert_int_eq(upg_unpin(e), 0);
	pu_check_pages(a, 0, 18, 621);
	pu_assert_balanced(rt, 1);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * The same with a long wait (5 s): eviction that meets the ephemeral pin
 * waits for its unpin, so page 0 goes with that batch right after the
 * unpin.  Page 0 is dirty, so its eviction shows as a store write (nothing
 * else writes it back here).  The low watermark is near zero, so that the
 * eviction needs page 0 too (with enough other victims it would not wait
 * at all).  The pin is dropped once the evictor counts that it waits on
 * it (stats.evict_pin_waits), well inside the 5 s.
 */
START_TEST(test_ephemeral_long_wait_evicts_after_unpin)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 32 * PS,
		 .handler_threads = 2, .high_watermark_pct = 50,
		 .low_watermark_pct = 1, .ephemeral_pin_wait_ms = 5000);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(32 * PS, 622);
	struct upg_region *r = pu_map_store(rt, s, 0, 32 * PS);
	char *a = upg_region_addr(r);
	struct upg_pin *e;
	uint64_t t0;
	bool gone;

	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	tu_fill(a, 0, PS, 623); /* dirty */
	ck_assert_int_eq(upg_pin_ephemeral(rt, a, PS, &e), 0);
	tur_touch_read(a + PS, 17 * PS);
	/* Eviction chose page 0 and waits for its unpin (counted as it
	 * starts waiting; the wait is 5 s, this check a moment). */
	TU_WAIT_FOR(tu_stats(rt).evict_pin_waits > 0, 5000);
	ck_assert_uint_eq(pu_store_writes(s, 0), 0);
	t0 = tu_now_ns();
	ck_assert_int_eq(upg_unpin(e), 0);
	gone = PU_POLL(pu_store_writes(s, 0) > 0, 3000);
	ck_assert_msg(gone,
		      "page 0 not evicted %llu ms after its ephemeral pin was "
		      "dropped (%llu other pages evicted): background eviction "
		      "skipped the pinned page instead of waiting for the "
		      "unpin (ephemeral_pin_wait_ms = 5000)",
		      (unsigned long long)((tu_now_ns() - t0) / 1000000),
		      (unsigned long long)tu_stats(rt).pages_evicted);
	ck_assert_uint_eq(tu_check(a, 0, PS, 623), UINT64_MAX);
	pu_check_pages(a, 1, 18, 622);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pin_evict");
	TCase *tc = tcase_create("race");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pin_race_eviction);
	suite_add_tcase(s, tc);

	tc = tcase_create("ephemeral");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ephemeral_short_wait_skips);
	tcase_add_test(tc, test_ephemeral_long_wait_evicts_after_unpin);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
