/* SPDX-License-Identifier: MIT */
/*
 * Stalled writes: a store made of independent parts (the shards of a
 * Redis Cluster, runtime/farmem/) can have one part unable to take writes
 * for seconds (a master failing over, one without an acking replica, a
 * full one) while the others work.  The store says so per offset
 * (store_write_stalled()); eviction uses it three ways:
 *
 *  - the clock passes over dirty pages of stalled parts (evict/clock.c):
 *    it prefers clean pages and dirty pages that can be written, and does
 *    not start a write that would only be retried until the store's
 *    deadline while the evicting thread (maybe a fault's) waits on it;
 *  - a demand fill that finds only such pages overshoots the budget at
 *    once instead of spinning (evict/budget.c): the pages of healthy
 *    parts it brings in are evictable, so the overshoot is bounded by the
 *    fills in flight, not by how long the stall lasts;
 *  - while stalled parts' dirty pages hold more than half the budget,
 *    fills may go beyond it by the excess (at most half the budget,
 *    evict_stalled_excess()), and the evictor's watermarks move up as
 *    much: the healthy parts keep half the budget to work in;
 *  - a fill on a stalled part, when the budget is full and stalled parts'
 *    dirty pages already hold half of it (the stalled share), is put off
 *    (evict_defer_fault()) instead of evicting healthy parts' pages: the
 *    faulting thread sleeps, not the handler, and the evictor wakes it
 *    every tick to try again.  So faults on a stalled part may wait until
 *    it recovers; the others always find room.
 *
 * A fault's own eviction (not the background evictor's) goes further: it
 * also passes over dirty pages of parts whose writes may be slow now
 * (store_write_slow(): a part that failed a write a moment ago, or has a
 * write unanswered for a while), for its fault waits on every write of
 * its batch, and one slow write would hold a fault on a healthy part.
 * The background evictor writes those pages; nobody's fault waits on it.
 * Only when nothing else is evictable does a fault's eviction write them
 * after all (EVICT_TAKE_SLOW, evict/budget.c), so they never make fills
 * go beyond the budget.
 *
 * No page is dropped: a page passed over stays resident and dirty, and a
 * write that fails anyway keeps it so (evict/evict.c).
 */
#include <string.h>

#include "evict/evict.h"
#include "region/region.h"
#include "store/store.h"

bool evict_page_stalled(struct upg_region *r, uint64_t pg)
{
	return store_write_stalled(r->store,
				   r->store_off + (pg << r->rt->page_shift));
}

bool evict_page_slow(struct upg_region *r, uint64_t pg)
{
	return store_write_slow(r->store,
				r->store_off + (pg << r->rt->page_shift));
}

bool evict_stalled_share(struct upg_region *r, uint64_t pg, uint64_t n)
{
	struct upg_runtime *rt = r->rt;

	if (!r->store || !r->store->write_stalled)
		return false;
	if (atomic_load(&rt->resident_pages) + n <= rt->budget_pages)
		return false;
	if (atomic_load(&rt->evict->stalled_dirty) < rt->budget_pages / 2)
		return false;
	return evict_page_stalled(r, pg);
}

uint64_t evict_stalled_excess(struct upg_runtime *rt)
{
	uint64_t stalled = atomic_load(&rt->evict->stalled_dirty);
	uint64_t share = rt->budget_pages / 2;

	if (stalled <= share)
		return 0;
	return stalled - share < share ? stalled - share : share;
}

bool evict_defer_fault(struct upg_region *r, uint64_t pg)
{
	struct upg_runtime *rt = r->rt;
	bool queued = false;

	pthread_mutex_lock(&rt->evict->watch_lock);
	if (atomic_load(&rt->evict->evictor_running) &&
	    rt->evict->nr_fault_defer < FAULT_DEFER_MAX) {
		region_get(r);
		rt->evict->fault_defer[rt->evict->nr_fault_defer++] =
			(struct fault_defer){ r, pg };
		queued = true;
	}
	pthread_mutex_unlock(&rt->evict->watch_lock);
	return queued;
}

void evict_wake_deferred(struct upg_runtime *rt)
{
	struct fault_defer d[FAULT_DEFER_MAX];
	unsigned nd, i;

	pthread_mutex_lock(&rt->evict->watch_lock);
	nd = rt->evict->nr_fault_defer;
	memcpy(d, rt->evict->fault_defer, nd * sizeof(*d));
	rt->evict->nr_fault_defer = 0;
	pthread_mutex_unlock(&rt->evict->watch_lock);
	for (i = 0; i < nd; i++) {
		/* A detached region's fault was woken by its teardown. */
		if (!atomic_load(&d[i].r->detached))
			uffd_wake(region_uffd(d[i].r),
				  region_page_addr(d[i].r, d[i].pg),
				  rt->page_size);
		region_put(d[i].r);
	}
}
