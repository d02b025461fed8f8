/* SPDX-License-Identifier: MIT */
/*
 * upagerd's share policy (struct evict_policy, evict/evict.h): fair
 * shares of the budget between its clients' address spaces, their caps,
 * and the pins they record in the shared marks (client_marks.c).  Eviction
 * and the fill path are the plain mechanism; the daemon installs this
 * table right after it creates its runtime (server.c).
 */
#include "common/assert.h"
#include "daemon/daemon.h"
#include "evict/evict.h"
#include "region/region.h"

/*
 * Fair share between upagerd's clients (address spaces): when some are
 * at or above their share (of the low watermark, over the address spaces
 * that have regions; or at their cap), the first two revolutions
 * take victims only from those; an idle client's pages go first, down to
 * its share, and a client that needs memory keeps at least that much.
 * The third takes from anyone (never fail a fill for fairness), but only
 * the pages the fill needs (evict_req.need): room made ahead (read-ahead,
 * the background evictor) needs none, so it never comes from a client
 * below its share; clock_select() then reports that it spared someone,
 * and a read-ahead window shrinks instead (budget.c).  With one address
 * space (in-process) nothing changes.  Returns whether shares apply;
 * *@any_over: whether anyone is at or over its share.  Locks held.
 */
/* At its share already: fair game (someone must be when the budget is
 * full); below it: spared.  Asked again for every page the hand meets, not
 * once a pass: the victims a pass takes count at once (mm->evicting), so
 * one large batch cannot take a client far below its share. */
static bool over_share(const struct upg_mm *mm)
{
	uint64_t res = atomic_load(&mm->resident);
	uint64_t ev = atomic_load(&mm->evicting);

	res = res > ev ? res - ev : 0;
	return res >= mm->share || (mm->cap_pages && res >= mm->cap_pages);
}

static bool mark_over_share(struct upg_runtime *rt, bool *any_over)
{
	uint64_t share, active = 0;
	struct upg_mm *last = NULL, *mm;
	size_t i;

	assert_held(&rt->clock_lock); /* writes mm->share */
	*any_over = false;
	for (i = 0; i < rt->nr_regions; i++) {
		mm = rt->regions[i]->mm;
		if (mm != last)
			active++;
		last = mm;
	}
	if (active < 2 && !rt->regions_capped)
		return false;
	/* Eviction aims at the low watermark: shares of that, or everyone
	 * could be below a share of the budget while eviction runs. */
	share = rt->low_pages / (active ? active : 1);
	last = NULL;
	for (i = 0; i < rt->nr_regions; i++) {
		mm = rt->regions[i]->mm;
		if (mm == last)
			continue;
		last = mm;
		mm->share = share;
		*any_over |= over_share(mm);
	}
	return true;
}

/* A clock pass starts: the shares, and the pins skipped so far. */
static bool share_pass_start(struct upg_runtime *rt, bool *any_over)
{
	bool shares = mark_over_share(rt, any_over);

	client_marks_pass_start(rt);
	return shares;
}

/*
 * A client at its cap makes room among its own pages first, whatever the
 * shares, for a read-ahead too (it is the reader's).
 */
static uint64_t share_fill_room(struct upg_io_queue *q, struct upg_region *r,
				uint64_t want, bool readahead)
{
	struct upg_runtime *rt = r->rt;
	uint64_t ask = want;

	if (r->mm->cap_pages &&
	    atomic_load(&r->mm->resident) + want > r->mm->cap_pages) {
		struct evict_req own = { .want = (unsigned)want,
					 .own = r->mm };
		uint64_t res;

		evict_batch(rt, q, &own);
		/* A read-ahead reads only what fits under the cap: its
		 * window is at most an eighth of the cap
		 * (readahead/detector.c), but the client's own pages may
		 * be busy (in flight, pinned) and not free even that. */
		res = atomic_load(&r->mm->resident);
		if (readahead && res + want > r->mm->cap_pages)
			ask = r->mm->cap_pages > res ? r->mm->cap_pages - res :
						       0;
	}
	return ask;
}

const struct evict_policy daemon_share_policy = {
	.pass_start = share_pass_start,
	.over_share = over_share,
	.skip = client_marks_skip,
	.claim = client_marks_claim,
	.fill_room = share_fill_room,
};
