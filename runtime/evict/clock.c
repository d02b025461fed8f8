/* SPDX-License-Identifier: MIT */
/*
 * Victim selection: CLOCK over every page of every region, with a
 * reference bit that userspace can actually observe.
 *
 * The kernel's accessed bits are invisible here, so REF is set by the
 * events we do see: a fill (the page was just wanted) and a minor fault.
 * Minor faults are what make the clock work: when the hand passes a
 * referenced page it clears REF and zaps the page's application mapping
 * (MADV_DONTNEED on a shared mapping drops the PTE, not the data).  If the
 * application touches the page again it raises a MINOR fault, resolved by
 * UFFDIO_CONTINUE without I/O, which sets REF again.  A page the hand finds
 * with REF still clear was not touched for a whole revolution: the victim.
 * A re-faulted page costs one minor fault (~a syscall), far less than the
 * I/O its eviction would cost.  See docs/architecture.md "Recency".
 *
 * Zapping is done only by the background evictor: with the REMOVE event
 * enabled a MADV_DONTNEED blocks until a handler reads the event, so a
 * handler thread must never issue it.  Faulting paths that evict
 * synchronously give referenced pages their second chance without the zap.
 *
 * Known narrow race: if the application munmaps a region itself and maps
 * something else at the same address before the UNMAP event is read, a
 * zap in that window would hit the new mapping.  Regions with an UNMAP
 * event seen are never zapped again.
 */
#include <errno.h>
#include <sys/mman.h>

#include "common/assert.h"
#include "evict/evict.h"
#include "region/region.h"
#include "region/self_zap.h"

#define ZAP_RUNS 32

struct zap_run {
	struct upg_region *r;
	uintptr_t addr; /* application address, read under the table lock */
	uint64_t n;
};

static bool evictable(uint32_t s)
{
	return ps_state(s) == PS_RESIDENT &&
	       !(s & (PS_LOCK | PS_WRITEBACK | PS_LPIN_MASK | PS_EPIN_MASK));
}

/* Extend the last zap run with page @pg of @r, or start a new one. */
static void zap_add(struct zap_run *runs, unsigned *nr, struct upg_region *r,
		    uint64_t pg)
{
	struct zap_run *last = *nr ? &runs[*nr - 1] : NULL;
	uintptr_t addr = region_page_addr(r, pg);

	if (last && last->r == r &&
	    last->addr + (last->n << r->rt->page_shift) == addr) {
		last->n++;
		return;
	}
	/* Another process's mapping (upagerd) cannot be zapped from here:
	 * its recency comes from its faults only. */
	if (*nr == ZAP_RUNS || !r->mm->local)
		return;
	region_get(r);
	runs[(*nr)++] = (struct zap_run){ r, addr, 1 };
}

static void zap_runs(struct upg_runtime *rt, struct zap_run *runs,
		     unsigned nr)
{
	unsigned i;

	for (i = 0; i < nr; i++) {
		struct upg_region *r = runs[i].r;

		if (!atomic_load(&r->detached) &&
		    !atomic_load(&r->partly_unmapped) &&
		    !self_zap(rt, runs[i].addr, runs[i].n << rt->page_shift))
			MM_STAT_ADD(r->mm, pages_sampled, runs[i].n);
		region_put(r);
	}
}

/* Give back the first @k pages of a unit claimed as victims. */
static void unclaim_unit(struct upg_region *r, uint64_t u, uint64_t k)
{
	uint64_t i;

	for (i = 0; i < k; i++) {
		_Atomic uint32_t *p = region_page(r, u + i);
		uint32_t s = atomic_load(p), new;

		do {
			new = ps_with_state(s, PS_RESIDENT) &
			      ~(PS_NOTIFYING | PS_PARKED | PS_WAITERS);
		} while (!ps_cas(p, &s, new));
		if (s & PS_PARKED)
			uffd_wake(region_uffd(r), region_page_addr(r, u + i),
				  r->rt->page_size);
		ps_wake(p, s);
	}
}

/*
 * The clock at the unit @u of a hugetlb region: a huge page is a victim
 * whole or not at all, and is not sampled (zapping it would cost a 2 MiB
 * minor fault, and the evictor's zaps are 4 KiB), so it gets a plain
 * second chance: REF is cleared on all of its pages at one pass, and it is
 * taken at the next if no fill or fault set it again meanwhile.  Returns
 * the victims added at @out (0 or the unit's pages).
 */
static unsigned clock_unit(struct upg_region *r, uint64_t u,
			   struct victim *out, unsigned room, uint32_t evicting)
{
	uint64_t unit = region_unit_pages(r), k;
	bool ref = false;

	assert_held(&r->rt->clock_lock);
	for (k = 0; k < unit; k++) {
		uint32_t s = atomic_load(region_page(r, u + k));

		if (!evictable(s))
			return 0;
		ref |= s & PS_REF;
	}
	if (ref) {
		for (k = 0; k < unit; k++) {
			_Atomic uint32_t *p = region_page(r, u + k);
			uint32_t s = atomic_load(p);

			while ((s & PS_REF) && !ps_cas(p, &s, s & ~PS_REF))
				;
		}
		return 0;
	}
	if (room < unit)
		return 0;
	for (k = 0; k < unit; k++) {
		_Atomic uint32_t *p = region_page(r, u + k);
		uint32_t s = atomic_load(p);

		if (!evictable(s) || (s & PS_REF) ||
		    !ps_cas(p, &s, ps_with_state(s, PS_RESIDENT) | evicting)) {
			unclaim_unit(r, u, k);
			return 0;
		}
		out[k] = (struct victim){ .r = r, .pg = u + k };
	}
	for (k = 0; k < unit; k++)
		region_get(r);
	atomic_fetch_add(&r->mm->evicting, unit);
	return (unsigned)unit;
}

/*
 * Fair share between upagerd's clients (address spaces) is upagerd's
 * policy (struct evict_policy, daemon/share.c), which the daemon installs:
 * when some clients are at or above their share, the first two
 * revolutions take victims only from those (the policy's over_share());
 * the third takes from anyone, but only the pages the fill needs
 * (evict_req.need): room made ahead (read-ahead, the background evictor)
 * needs none, so it never comes from a client below its share;
 * clock_select() then reports that it spared someone, and a read-ahead
 * window shrinks instead (budget.c).  Without a policy (in-process, one
 * address space) the clock is plain CLOCK.
 */
unsigned clock_select(struct upg_runtime *rt, struct victim *out,
		      unsigned want, struct evict_req *req,
		      struct victim *ewait, unsigned *nr_ewait)
{
	bool sample = req->flags & EVICT_BACKGROUND;
	struct zap_run runs[ZAP_RUNS];
	/* Victims start in the NOTIFYING phase (evict/evict.c, step 2),
	 * with or without notifiers now: one may be inserted before the
	 * step runs. */
	uint32_t evicting = PS_EVICTING | PS_NOTIFYING;
	unsigned got = 0, nr_runs = 0, unfair_want, nr_stalled = 0, nr_slow = 0;
	/* A fault's eviction leaves slow parts' dirty pages to the
	 * background evictor (evict/stall.c); a client making room among
	 * its own pages does not (upagerd's caps hold as before). */
	bool avoid_slow = !(req->flags & (EVICT_BACKGROUND | EVICT_TAKE_SLOW)) &&
			  !req->own;
	uint64_t total = 0, scanned = 0, limit, spare_until;
	const struct evict_policy *pol = evict_policy(rt);
	bool shares = false, over = false, fair;
	bool spared_any = false, held_back = false;
	size_t i;

	pthread_mutex_lock(&rt->clock_lock);
	pthread_rwlock_rdlock(&rt->regions_lock);
	for (i = 0; i < rt->nr_regions; i++)
		total += rt->regions[i]->npages;
	/* A client making room among its own pages: no shares. */
	if (pol)
		shares = pol->pass_start(rt, &over) && !req->own;
	/*
	 * Two revolutions: the first may only clear reference bits.  With
	 * shares, and someone at or over his, two that spare the clients
	 * below their share, then a third that spares nobody.  When everyone
	 * is below his share (counting the victims in flight, which will
	 * make the room), none spares.  What is taken from anyone is only
	 * what the caller needs (req->need; 0 for room made ahead, which so
	 * never comes from a client below its share): a fill of one page
	 * does not take a batch from an idle client.
	 */
	fair = shares && over;
	spare_until = fair ? 2 * total : 0;
	unfair_want = shares && req->need < want ? req->need : want;
	limit = (fair ? 3 : 2) * total + 1;
	while (total && scanned < limit) {
		bool sparing = scanned < spare_until;
		struct upg_region *r;
		_Atomic uint32_t *p;
		uint32_t s;

		if (got >= (sparing ? want : unfair_want)) {
			held_back = got < want;
			break;
		}

		if (rt->clock_region >= rt->nr_regions) {
			rt->clock_region = 0;
			rt->clock_page = 0;
			/* A revolution done: its count of stalled dirty
			 * pages is the estimate (evict/stall.c). */
			atomic_store(&rt->evict->stalled_dirty,
				     rt->evict->rev_stalled);
			rt->evict->rev_stalled = 0;
		}
		r = rt->regions[rt->clock_region];
		/* Not the client's own: passed over whole, as scanned. */
		if (req->own && r->mm != req->own &&
		    rt->clock_page < r->npages) {
			scanned += r->npages - rt->clock_page;
			rt->clock_page = r->npages;
		}
		if (rt->clock_page >= r->npages) {
			rt->clock_region++;
			rt->clock_page = 0;
			continue;
		}
		if (r->huge) {
			uint64_t u = region_unit_first(r, rt->clock_page);

			scanned += region_unit_pages(r);
			rt->clock_page = u + region_unit_pages(r);
			if (sparing && !pol->over_share(r->mm)) {
				spared_any |= ps_state(atomic_load(region_page(
						      r, u))) == PS_RESIDENT;
				continue;
			}
			got += clock_unit(r, u, out + got, want - got,
					  evicting);
			continue;
		}
		p = region_page(r, rt->clock_page);
		s = atomic_load(p);
		scanned++;
		/* Spare the clients below their share (not in the last
		 * revolution: never fail a fill for fairness). */
		if (sparing && !pol->over_share(r->mm)) {
			spared_any |= ps_state(s) == PS_RESIDENT;
			rt->clock_page++;
			continue;
		}
		/* upagerd: pinned by its client (daemon/client_marks.c). */
		if (pol && pol->skip(r, rt->clock_page)) {
			rt->clock_page++;
			continue;
		}
		if (ps_state(s) == PS_RESIDENT && (s & PS_EPIN_MASK) &&
		    !(s & (PS_LPIN_MASK | PS_LOCK | PS_WRITEBACK))) {
			/* Held for an I/O: second chance as usual (no zap: it
			 * is in use), then the background evictor waits for
			 * the unpin. */
			if (s & PS_REF)
				ps_cas(p, &s, s & ~PS_REF);
			else if (sample && *nr_ewait < EPHEMERAL_WAITS) {
				region_get(r);
				ewait[(*nr_ewait)++] = (struct victim){
					.r = r, .pg = rt->clock_page };
			}
		} else if (evictable(s)) {
			/* Dirty, and its store part cannot take writes now:
			 * counted, given its second chance as usual, never
			 * taken (evict/stall.c). */
			bool stalled = (s & PS_DIRTY) &&
				       evict_page_stalled(r, rt->clock_page);

			if (stalled) {
				rt->evict->rev_stalled++;
				nr_stalled++;
			} else if (avoid_slow && (s & PS_DIRTY) &&
				   evict_page_slow(r, rt->clock_page)) {
				/* A fault's eviction would wait on its
				 * write: left to the background evictor
				 * (evict/stall.c). */
				stalled = true;
				nr_slow++;
			}
			if (s & PS_REF) {
				if (ps_cas(p, &s, s & ~PS_REF) && sample &&
				    !atomic_load(&r->detached))
					zap_add(runs, &nr_runs, r,
						rt->clock_page);
			} else if (!stalled &&
				   ps_cas(p, &s,
					  ps_with_state(s, PS_RESIDENT) |
						  evicting)) {
				region_get(r);
				atomic_fetch_add(&r->mm->evicting, 1);
				out[got++] = (struct victim){
					.r = r, .pg = rt->clock_page };
			}
		}
		rt->clock_page++;
	}
	pthread_rwlock_unlock(&rt->regions_lock);
	pthread_mutex_unlock(&rt->clock_lock);
	zap_runs(rt, runs, nr_runs);
	req->spared = spared_any || held_back;
	req->stalled = nr_stalled;
	req->slow = nr_slow;
	return got;
}
