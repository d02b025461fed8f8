/* SPDX-License-Identifier: MIT */
/*
 * The budget is one counter of pages FILLING, RESIDENT or EVICTING across
 * all regions.  A fill reserves its pages with compare-and-swap before it
 * claims them, so the budget holds exactly while anything is evictable;
 * a faulting path that finds it full evicts a batch itself instead of
 * waiting for the background evictor (DESIGN.md section 7).
 */
#include <sched.h>

#include "evict/evict.h"

/* Rounds of "nothing evictable" before a fill overshoots the budget.
 * Pages busy now (filling, locked for an instant) become evictable within
 * microseconds; only a budget smaller than what is in flight stays stuck. */
#define RESERVE_MAX_EMPTY_ROUNDS 64

static void note_peak(struct upg_runtime *rt, uint64_t now)
{
	uint64_t peak = atomic_load(&rt->resident_peak);

	while (now > peak &&
	       !atomic_compare_exchange_weak(&rt->resident_peak, &peak, now))
		;
}

void budget_reserve(struct upg_runtime *rt, struct upg_io_queue *q,
		    uint64_t n)
{
	unsigned empty_rounds = 0;
	uint64_t cur = atomic_load(&rt->resident_pages);

	for (;;) {
		struct evict_req req = { 0 };
		unsigned batch;

		if (cur + n <= rt->budget_pages) {
			if (!atomic_compare_exchange_weak(&rt->resident_pages,
							  &cur, cur + n))
				continue;
			cur += n;
			break;
		}
		/* Evict what this fill needs, or a batch, but never more
		 * than a quarter of a small budget at once. */
		batch = rt->evict_batch;
		if (batch > rt->budget_pages / 4)
			batch = (unsigned)(rt->budget_pages / 4);
		if (batch < n)
			batch = (unsigned)n;
		req.want = batch;
		if (!evict_batch(rt, q, &req)) {
			if (++empty_rounds > RESERVE_MAX_EMPTY_ROUNDS) {
				cur = atomic_fetch_add(&rt->resident_pages,
						       n) + n;
				STAT_ADD(rt, budget_overshoot_pages, n);
				break;
			}
			/* Let fills in flight (ours too) complete. */
			io_queue_reap(q, false);
			sched_yield();
		}
		cur = atomic_load(&rt->resident_pages);
	}
	note_peak(rt, cur);
	if (cur > rt->high_pages)
		evictor_kick(rt);
}

void budget_release(struct upg_runtime *rt, uint64_t n)
{
	atomic_fetch_sub(&rt->resident_pages, n);
}
