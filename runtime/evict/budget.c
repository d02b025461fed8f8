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

/* Count @n pages beyond the budget, without evicting: a fill that cannot
 * wait for room.  Returns the pages now counted. */
static uint64_t overshoot(struct upg_runtime *rt, uint64_t n)
{
	STAT_ADD(rt, budget_overshoot_pages, n);
	return atomic_fetch_add(&rt->resident_pages, n) + n;
}

/* Count what the budget has free of @n pages (maybe none); *@cur is the
 * count seen last, and becomes the count after.  Returns the pages
 * taken. */
static uint64_t take_free(struct upg_runtime *rt, uint64_t *cur, uint64_t n)
{
	uint64_t k;

	do {
		uint64_t limit = rt->budget_pages + evict_stalled_excess(rt);

		k = *cur < limit ? limit - *cur : 0;
		if (k > n)
			k = n;
	} while (k && !atomic_compare_exchange_weak(&rt->resident_pages, cur,
						     *cur + k));
	*cur += k;
	return k;
}

uint64_t budget_reserve(struct upg_runtime *rt, struct upg_io_queue *q,
			uint64_t n, bool speculative)
{
	unsigned empty_rounds = 0, flags = 0;
	uint64_t cur = atomic_load(&rt->resident_pages), got = n;

	for (;;) {
		struct evict_req req = { .flags = flags };
		/* Beyond the budget by what stalled store parts hold over
		 * their share (evict/stall.c). */
		uint64_t limit = rt->budget_pages + evict_stalled_excess(rt);

		if (cur + n <= limit) {
			if (!atomic_compare_exchange_weak(&rt->resident_pages,
							  &cur, cur + n))
				continue;
			cur += n;
			break;
		}
		/* Evict what this fill needs, or a batch, but never more
		 * than a quarter of a small budget at once. */
		req.want = rt->evict_batch;
		if (req.want > rt->budget_pages / 4)
			req.want = (unsigned)(rt->budget_pages / 4);
		if (req.want < n)
			req.want = (unsigned)n;
		/* Under fair shares a fill may take from a client below
		 * its share only what it cannot do without; a read-ahead
		 * nothing (evict/clock.c). */
		if (!speculative)
			req.need = (unsigned)(cur + n - limit);
		if (!evict_batch(rt, q, &req)) {
			/* Only dirty pages of slow store parts were left
			 * (evict/stall.c): write them after all, waiting as
			 * the background evictor would, rather than go
			 * beyond the budget for them. */
			if (req.slow && !(flags & EVICT_TAKE_SLOW)) {
				flags |= EVICT_TAKE_SLOW;
				cur = atomic_load(&rt->resident_pages);
				continue;
			}
			/* Read-ahead is not owed room that only clients
			 * below their share could give (evict/clock.c), nor
			 * room beyond the budget when every resident page
			 * is busy (in flight, pinned): it gets what is free
			 * and its window shrinks, at once, for nobody waits
			 * on it.  Only a demand fill overshoots. */
			if (speculative) {
				cur = atomic_load(&rt->resident_pages);
				got = take_free(rt, &cur, n);
				break;
			}
			/* What the clock passed over is dirty on store parts
			 * that cannot take writes (evict/stall.c): waiting
			 * would last as long as their stall.  Overshoot now;
			 * the pages this fill brings in are evictable, and
			 * fills on the stalled parts are put off at their
			 * share (fault/fill.c), so the overshoot stays within
			 * the fills in flight. */
			if (req.stalled ||
			    ++empty_rounds > RESERVE_MAX_EMPTY_ROUNDS) {
				cur = overshoot(rt, n);
				break;
			}
			/* Let fills in flight (ours too) complete. */
			io_queue_reap(q, false);
			sched_yield();
		}
		cur = atomic_load(&rt->resident_pages);
	}
	note_peak(rt, cur);
	if (cur > rt->high_pages + evict_stalled_excess(rt))
		evictor_kick(rt);
	return got;
}

void budget_reserve_more(struct upg_runtime *rt, struct upg_io_queue *q,
			 uint64_t n, bool speculative)
{
	uint64_t got = budget_reserve(rt, q, n, speculative);

	/* The pages are claimed already: count the rest beyond. */
	if (got < n)
		note_peak(rt, overshoot(rt, n - got));
}
