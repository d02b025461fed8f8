/* SPDX-License-Identifier: MIT */
/*
 * evict/stall.c below the public API, without Redis: a recording store
 * plugin whose write_stalled() hook (store/store.h) says that some store
 * offsets cannot take writes now.
 *
 *  - clock_select() never takes a dirty page of a stalled offset, but
 *    takes a clean one there and the dirty pages elsewhere; it counts the
 *    stalled dirty pages it passed (evict_req.stalled), and at the end of
 *    a revolution they become the runtime's estimate;
 *  - evict_batch() leaves those pages resident and dirty, never writes
 *    them, and evicts the others; once the offsets are no longer stalled,
 *    they are written and evicted;
 *  - evict_stalled_excess(): 0 up to half the budget of stalled dirty
 *    pages, then the excess, capped at half the budget;
 *  - evict_stalled_share() holds a fill of a stalled page only when the
 *    budget is full and the stalled pages hold their share;
 *  - a fault's own eviction (no EVICT_BACKGROUND) also passes over dirty
 *    pages whose writes may be slow (the write_slow() hook), counting
 *    them (evict_req.slow), and never writes them; with EVICT_TAKE_SLOW
 *    (nothing else left) it does, and so does the background evictor.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evict/evict.h"
#include "notify_util.h"
#include "region/region.h"
#include "store/store.h"
#include "testutil.h"

#define PS 4096u
#define NPAGES 16u

static struct nu_store *ns;
static struct upg_runtime *rt;
static struct upg_region *r;
static char *base;
/* Store pages whose writes are stalled (the hook's answer). */
static _Atomic bool stalled[NPAGES];

static bool hook_stalled(void *ctx, uint64_t off)
{
	(void)ctx;
	return off / PS < NPAGES && atomic_load(&stalled[off / PS]);
}

/* Store pages whose writes may be slow (the write_slow() hook's answer). */
static _Atomic bool slow[NPAGES];

static bool hook_slow(void *ctx, uint64_t off)
{
	(void)ctx;
	return off / PS < NPAGES && atomic_load(&slow[off / PS]);
}

static uint32_t word(uint64_t pg)
{
	return atomic_load(region_page(r, pg));
}

static void setup(void)
{
	uint64_t i;

	for (i = 0; i < NPAGES; i++) {
		atomic_store(&stalled[i], false);
		atomic_store(&slow[i], false);
	}
	rt = tu_runtime(64 << 20, 1);
	ns = nu_store_create(NPAGES * PS, 5);
	ck_assert_ptr_nonnull(ns);
	/* Set once, before the store is used (store.h). */
	ns->st->write_stalled = hook_stalled;
	ns->st->write_slow = hook_slow;
	ck_assert_int_eq(upg_region_map_store(rt, ns->st, NPAGES * PS, NULL,
					      &r), 0);
	base = upg_region_addr(r);
	for (i = 0; i < NPAGES; i++)
		tu_fill(base + i * PS, i * PS, PS, 9);
	for (i = 0; i < NPAGES; i++)
		TU_WAIT_FOR(ps_state(word(i)) == PS_RESIDENT &&
				    !(word(i) & PS_LOCK),
			    10000);
}

static void teardown(void)
{
	upg_region_unmap(r);
	nu_store_put(ns);
	upg_runtime_destroy(rt);
	nu_store_free(ns);
}

static void unselect(struct victim *v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		_Atomic uint32_t *p = region_page(v[i].r, v[i].pg);
		uint32_t s = atomic_load(p);

		while (!ps_cas(p, &s, ps_with_state(s & ~PS_NOTIFYING,
						    PS_RESIDENT)))
			;
		atomic_fetch_sub(&v[i].r->mm->evicting, 1);
		region_put(v[i].r);
	}
}

START_TEST(test_clock_passes_over_stalled_dirty)
{
	struct victim v[NPAGES], ew[EPHEMERAL_WAITS];
	struct evict_req req = { .want = NPAGES };
	unsigned got, ne = 0, i;
	uint64_t clean = 4;

	/* Page 4 clean (flushed), pages 2-4 stalled: 2 and 3 are the
	 * stalled dirty ones; clean 4 may go (nothing to write). */
	ck_assert_int_eq(upg_region_flush(r, clean * PS, PS), 0);
	ck_assert_uint_eq(word(clean) & PS_DIRTY, 0);
	atomic_store(&stalled[2], true);
	atomic_store(&stalled[3], true);
	atomic_store(&stalled[4], true);

	got = clock_select(rt, v, NPAGES, &req, ew, &ne);
	ck_assert_uint_eq(got, NPAGES - 2);
	for (i = 0; i < got; i++)
		ck_assert(v[i].pg != 2 && v[i].pg != 3);
	ck_assert_uint_eq(ps_state(word(2)), PS_RESIDENT);
	ck_assert_uint_eq(ps_state(word(3)), PS_RESIDENT);
	/* Counted each time the hand passed them: both revolutions. */
	ck_assert_uint_ge(req.stalled, 2);
	/* A whole revolution was done: the estimate is there. */
	ck_assert_uint_eq(atomic_load(&rt->evict->stalled_dirty), 2);
	unselect(v, got);
}
END_TEST

START_TEST(test_evict_keeps_stalled_dirty)
{
	struct upg_io_queue q;
	struct evict_req req = { .want = NPAGES };
	unsigned evicted;
	uint64_t pg;

	atomic_store(&stalled[5], true);
	atomic_store(&stalled[6], true);
	ck_assert_int_eq(io_queue_init(&q, 32), 0);
	evicted = evict_batch(rt, &q, &req);
	ck_assert_uint_eq(evicted, NPAGES - 2);
	for (pg = 0; pg < NPAGES; pg++) {
		uint32_t s = word(pg);

		if (pg == 5 || pg == 6) {
			/* Kept, dirty, never written. */
			ck_assert_uint_eq(ps_state(s), PS_RESIDENT);
			ck_assert(s & PS_DIRTY);
			ck_assert_uint_eq(nu_store_writes(ns, pg), 0);
			ck_assert_uint_eq(tu_check(base + pg * PS, pg * PS, PS,
						   9), UINT64_MAX);
		} else {
			ck_assert_uint_eq(ps_state(s), PS_ABSENT);
			ck_assert_uint_eq(nu_store_writes(ns, pg), 1);
		}
	}
	/* No data error: nothing for a flush to report. */
	ck_assert_uint_eq(tu_stats(rt).write_errors, 0);

	/* The part recovers: the pages are written and evicted. */
	atomic_store(&stalled[5], false);
	atomic_store(&stalled[6], false);
	req = (struct evict_req){ .want = NPAGES };
	evicted = evict_batch(rt, &q, &req);
	io_queue_fini(&q);
	ck_assert_uint_eq(evicted, 2);
	ck_assert_uint_eq(nu_store_writes(ns, 5), 1);
	ck_assert_uint_eq(nu_store_writes(ns, 6), 1);
	/* Everything reads back from the store. */
	ck_assert_uint_eq(tu_check(base, 0, NPAGES * PS, 9), UINT64_MAX);
}
END_TEST

START_TEST(test_stalled_excess_and_share)
{
	uint64_t b = rt->budget_pages;

	atomic_store(&rt->evict->stalled_dirty, 0);
	ck_assert_uint_eq(evict_stalled_excess(rt), 0);
	atomic_store(&rt->evict->stalled_dirty, b / 2);
	ck_assert_uint_eq(evict_stalled_excess(rt), 0);
	atomic_store(&rt->evict->stalled_dirty, b / 2 + 7);
	ck_assert_uint_eq(evict_stalled_excess(rt), 7);
	atomic_store(&rt->evict->stalled_dirty, 5 * b);
	ck_assert_uint_eq(evict_stalled_excess(rt), b / 2);

	/* The budget (64 MiB) has room for one page: no fill is held. */
	atomic_store(&stalled[1], true);
	ck_assert(!evict_stalled_share(r, 1, 1));
	/* A fill of a budget's worth finds it full; stalled pages at their
	 * share: the stalled page's fill is held, another page's is not. */
	ck_assert(evict_stalled_share(r, 1, b));
	ck_assert(!evict_stalled_share(r, 0, b));
	/* Below their share: not held. */
	atomic_store(&rt->evict->stalled_dirty, b / 2 - 1);
	ck_assert(!evict_stalled_share(r, 1, b));
	atomic_store(&rt->evict->stalled_dirty, 0);
}
END_TEST

START_TEST(test_fault_eviction_leaves_slow_dirty)
{
	struct victim v[NPAGES], ew[EPHEMERAL_WAITS];
	struct upg_io_queue q;
	struct evict_req req = { .want = NPAGES };
	unsigned got, ne = 0, evicted, i;
	uint64_t pg, clean = 9;

	/* Pages 7 and 8 dirty on a slow part, page 9 clean there. */
	ck_assert_int_eq(upg_region_flush(r, clean * PS, PS), 0);
	atomic_store(&slow[7], true);
	atomic_store(&slow[8], true);
	atomic_store(&slow[clean], true);
	/* Not stalled: the hint for everyone says nothing. */
	ck_assert(!evict_page_stalled(r, 7));
	ck_assert(evict_page_slow(r, 7));

	/* A fault's clock passes over the slow dirty ones, counts them,
	 * and takes the clean one; it is no stalled share. */
	got = clock_select(rt, v, NPAGES, &req, ew, &ne);
	ck_assert_uint_eq(got, NPAGES - 2);
	for (i = 0; i < got; i++)
		ck_assert(v[i].pg != 7 && v[i].pg != 8);
	ck_assert_uint_ge(req.slow, 2);
	ck_assert_uint_eq(req.stalled, 0);
	ck_assert_uint_eq(atomic_load(&rt->evict->stalled_dirty), 0);
	unselect(v, got);

	/* A fault's batch: they stay resident, dirty, unwritten. */
	ck_assert_int_eq(io_queue_init(&q, 32), 0);
	req = (struct evict_req){ .want = NPAGES };
	evicted = evict_batch(rt, &q, &req);
	ck_assert_uint_eq(evicted, NPAGES - 2);
	for (pg = 7; pg <= 8; pg++) {
		ck_assert_uint_eq(ps_state(word(pg)), PS_RESIDENT);
		ck_assert(word(pg) & PS_DIRTY);
		ck_assert_uint_eq(nu_store_writes(ns, pg), 0);
	}
	ck_assert_uint_eq(ps_state(word(clean)), PS_ABSENT);
	/* Nothing else left: a fault's eviction may take them after all. */
	req = (struct evict_req){ .want = NPAGES, .flags = EVICT_TAKE_SLOW };
	for (i = 0; i < 4 && ps_state(word(7)) == PS_RESIDENT; i++)
		evict_batch(rt, &q, &req);
	for (pg = 7; pg <= 8; pg++) {
		ck_assert_uint_eq(ps_state(word(pg)), PS_ABSENT);
		ck_assert_uint_eq(nu_store_writes(ns, pg), 1);
	}
	/* Dirtied again: the background evictor writes them, slow or not. */
	tu_fill(base + 7 * PS, 7 * PS, 2 * PS, 9);
	for (pg = 7; pg <= 8; pg++)
		TU_WAIT_FOR(ps_state(word(pg)) == PS_RESIDENT &&
				    (word(pg) & PS_DIRTY) && !(word(pg) & PS_LOCK),
			    10000);
	/* Unreferenced, so this thread's background batch takes them
	 * without zapping (the evictor thread's job). */
	for (pg = 7; pg <= 8; pg++)
		atomic_fetch_and(region_page(r, pg), ~PS_REF);
	req = (struct evict_req){ .want = NPAGES, .flags = EVICT_BACKGROUND };
	for (i = 0; i < 4 && ps_state(word(7)) == PS_RESIDENT; i++)
		evict_batch(rt, &q, &req);
	io_queue_fini(&q);
	for (pg = 7; pg <= 8; pg++) {
		ck_assert_uint_eq(ps_state(word(pg)), PS_ABSENT);
		ck_assert_uint_eq(nu_store_writes(ns, pg), 2);
	}
	ck_assert_uint_eq(tu_stats(rt).write_errors, 0);
	ck_assert_uint_eq(tu_check(base, 0, NPAGES * PS, 9), UINT64_MAX);
}
END_TEST

static Suite *evict_stall_suite(void)
{
	Suite *s = suite_create("evict_stall");
	TCase *tc = tcase_create("stall");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clock_passes_over_stalled_dirty);
	tcase_add_test(tc, test_evict_keeps_stalled_dirty);
	tcase_add_test(tc, test_stalled_excess_and_share);
	tcase_add_test(tc, test_fault_eviction_leaves_slow_dirty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(evict_stall_suite());
}
