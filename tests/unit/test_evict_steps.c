/* SPDX-License-Identifier: MIT */
/*
 * evict/ below the public API: clock_select() (evict/clock.c) and the
 * steps of the eviction protocol (evict/evict.c, numbered as in DESIGN.md
 * section 3), called from the test thread on a region whose pages the
 * test made resident.  The budget is far above the region, so the
 * background evictor stays idle and every eviction here is the test's.
 *
 *  - clock_select(): the first revolution only clears REF, the second
 *    takes victims (RESIDENT -> EVICTING | NOTIFYING, with a region
 *    reference and mm->evicting counted); a long-term pinned page and a
 *    LOCKed one are never victims.
 *  - evict_batch(): step 2 calls the notifier while the victims are still
 *    EVICTING | NOTIFYING and mapped; step 4 writes the dirty victims
 *    (and only them) to the store; step 5 leaves them ABSENT | HAS_DATA,
 *    out of the memfd, and a later read brings the written data back.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "evict/evict.h"
#include "notify_util.h"
#include "region/region.h"
#include "testutil.h"

#define PS 4096u
#define NPAGES 16u

static struct nu_store *ns;
static struct upg_runtime *rt;
static struct upg_region *r;
static char *base;

static uint32_t word(uint64_t pg)
{
	return atomic_load(region_page(r, pg));
}

static void setup(void)
{
	uint64_t i;

	rt = tu_runtime(64 << 20, 1);
	ns = nu_store_create(NPAGES * PS, 5);
	ck_assert_ptr_nonnull(ns);
	ck_assert_int_eq(upg_region_map_store(rt, ns->st, NPAGES * PS, NULL,
					      &r), 0);
	base = upg_region_addr(r);
	/* Every page resident and dirty, with new data (seed 9). */
	for (i = 0; i < NPAGES; i++)
		tu_fill(base + i * PS, i * PS, PS, 9);
	/* The write returns once the page is mapped; the handler publishes
	 * RESIDENT (and drops LOCK) just after. */
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

/* Give victims back as an aborted eviction does (evict.c). */
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

START_TEST(test_clock_second_chance)
{
	struct victim v[NPAGES], ew[EPHEMERAL_WAITS];
	struct evict_req req = { .want = 4 };
	unsigned got, ne = 0, i, j;
	uint64_t pg;

	for (pg = 0; pg < NPAGES; pg++)
		ck_assert_uint_eq(word(pg) & (PS_STATE_MASK | PS_REF),
				  PS_RESIDENT | PS_REF);
	got = clock_select(rt, v, 4, &req, ew, &ne);
	ck_assert_uint_eq(got, 4);
	ck_assert_uint_eq(ne, 0);
	ck_assert_uint_eq(atomic_load(&rt->self.evicting), 4);
	/* The first revolution cleared every REF; the victims are distinct
	 * pages of the region, EVICTING and in the notifier phase. */
	for (pg = 0; pg < NPAGES; pg++)
		ck_assert_uint_eq(word(pg) & PS_REF, 0);
	for (i = 0; i < got; i++) {
		ck_assert_ptr_eq(v[i].r, r);
		ck_assert_uint_lt(v[i].pg, NPAGES);
		ck_assert_uint_eq(ps_state(word(v[i].pg)), PS_EVICTING);
		ck_assert(word(v[i].pg) & PS_NOTIFYING);
		for (j = 0; j < i; j++)
			ck_assert_uint_ne(v[i].pg, v[j].pg);
	}
	unselect(v, got);
	ck_assert_uint_eq(atomic_load(&rt->self.evicting), 0);
}
END_TEST

START_TEST(test_clock_skips_pinned_and_locked)
{
	struct victim v[NPAGES], ew[EPHEMERAL_WAITS];
	struct evict_req req = { .want = NPAGES };
	struct upg_pin *pin;
	unsigned got, ne = 0, i;
	_Atomic uint32_t *locked = region_page(r, 9);

	ck_assert_int_eq(upg_pin(rt, base + 3 * PS, PS, &pin), 0);
	ck_assert_uint_ne(ps_lock_resident(locked, 0), 0);
	got = clock_select(rt, v, NPAGES, &req, ew, &ne);
	ck_assert_uint_eq(got, NPAGES - 2);
	for (i = 0; i < got; i++)
		ck_assert(v[i].pg != 3 && v[i].pg != 9);
	ck_assert_uint_eq(ps_state(word(3)), PS_RESIDENT);
	ck_assert_uint_eq(ps_state(word(9)), PS_RESIDENT);
	unselect(v, got);
	ps_unlock(locked);
	ck_assert_int_eq(upg_unpin(pin), 0);
}
END_TEST

/* Step 2's view: the state of the first page of each call's range. */
static _Atomic uint32_t seen_in_callback;
static _Atomic unsigned callbacks;

static bool record_state(struct nu_notifier *nn,
			 const struct upg_notifier_range *range,
			 uint64_t cur_seq)
{
	uint64_t pg = (range->start - (uintptr_t)base) / PS;

	(void)nn;
	(void)cur_seq;
	if (range->event == UPG_NOTIFY_EVICT && pg < NPAGES) {
		atomic_store(&seen_in_callback, word(pg));
		atomic_fetch_add(&callbacks, 1);
	}
	return true;
}

START_TEST(test_protocol_steps)
{
	static struct nu_notifier nn;
	struct upg_io_queue q;
	struct evict_req req = { .want = NPAGES };
	unsigned evicted;
	uint64_t pg, clean = 6;
	uint32_t s;

	/* Page 6 clean: written back (by a flush) before the eviction, so
	 * step 4 must not write it again. */
	ck_assert_int_eq(upg_region_flush(r, clean * PS, PS), 0);
	ck_assert_uint_eq(nu_store_writes(ns, clean), 1);
	ck_assert_uint_eq(word(clean) & PS_DIRTY, 0);

	nu_init(&nn, NULL);
	nn.hook = record_state;
	ck_assert_int_eq(nu_insert(rt, &nn, (uintptr_t)base, NPAGES * PS), 0);
	ck_assert_int_eq(io_queue_init(&q, 32), 0);
	evicted = evict_batch(rt, &q, &req);
	io_queue_fini(&q);

	ck_assert_uint_eq(evicted, NPAGES);
	/* Step 2: called, the pages then EVICTING | NOTIFYING. */
	ck_assert_uint_gt(atomic_load(&callbacks), 0);
	s = atomic_load(&seen_in_callback);
	ck_assert_uint_eq(ps_state(s), PS_EVICTING);
	ck_assert(s & PS_NOTIFYING);
	ck_assert_uint_eq(nu_violations(&nn), 0);
	for (pg = 0; pg < NPAGES; pg++) {
		/* Step 4: each dirty page written once, the clean one not
		 * again; step 5: ABSENT, the store holds it, punched. */
		ck_assert_uint_eq(nu_store_writes(ns, pg), 1);
		s = word(pg);
		ck_assert_uint_eq(ps_state(s), PS_ABSENT);
		ck_assert(s & PS_HAS_DATA);
		ck_assert(!nu_resident(base + pg * PS));
	}
	ck_assert_uint_eq(atomic_load(&rt->self.evicting), 0);
	/* And the data comes back from the store. */
	for (pg = 0; pg < NPAGES; pg++)
		ck_assert_uint_eq(tu_check(base + pg * PS, pg * PS, PS, 9),
				  UINT64_MAX);
	ck_assert_int_eq(nu_remove(&nn), 0);
	nu_fini(&nn);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("evict_steps");
	TCase *tc = tcase_create("evict_steps");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clock_second_chance);
	tcase_add_test(tc, test_clock_skips_pinned_and_locked);
	tcase_add_test(tc, test_protocol_steps);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
