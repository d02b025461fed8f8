/* SPDX-License-Identifier: MIT */
/*
 * evict - the budget, victim selection (evict/clock.c), the eviction
 * protocol (evict/evict.c) and the background evictor (evict/evictor.c).
 */
#ifndef UPAGER_EVICT_H
#define UPAGER_EVICT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/rt.h"
#include "io/io_queue.h"

struct upg_region;

#define WATCH_DEFER_MAX 16
/* Faults on stalled store parts put off at once, at most (fault_defer). */
#define FAULT_DEFER_MAX 64

/* The evictor's state (rt->evict). */
struct evict_state {
	int kick_efd;  /* evictor: readable when above the high watermark */
	atomic_bool evictor_kicked;
	atomic_bool stopping;
	pthread_t evictor;
	bool evictor_started;
	/* upagerd: watched pages (a client's notifiers) that an eviction
	 * on the fault path had to leave, since it cannot wait for a client:
	 * the evictor asks and evicts them (evict/evict.c). */
	pthread_mutex_t watch_lock;
	struct watch_defer {
		struct upg_region *r; /* with a reference */
		uint64_t first, n;
	} watch_defer[WATCH_DEFER_MAX];
	unsigned nr_watch_defer;
	/* upagerd's share policy (struct evict_policy), or NULL. */
	_Atomic(const struct evict_policy *) policy;
	/*
	 * Stalled writes (store_write_stalled(), evict/stall.c): dirty pages
	 * the clock passed over because their store part cannot take writes
	 * now.  rev_stalled counts them as the hand goes round (clock_lock);
	 * at each wrap it becomes stalled_dirty, the estimate the fault path
	 * holds against the stalled share (evict_stalled_share()).
	 */
	uint64_t rev_stalled;
	_Atomic uint64_t stalled_dirty;
	/* Faults put off (evict_defer_fault()), woken by the evictor; under
	 * watch_lock.  evictor_running: the evictor's loop runs (without it
	 * nobody would wake them, and nothing is put off). */
	struct fault_defer {
		struct upg_region *r; /* with a reference */
		uint64_t pg;
	} fault_defer[FAULT_DEFER_MAX];
	unsigned nr_fault_defer;
	atomic_bool evictor_running;
};

/* One page chosen for eviction, already moved to PS_EVICTING, with a
 * reference on its region. */
struct victim {
	struct upg_region *r;
	uint64_t pg;
	bool punch; /* evict.c: written back (or clean): safe to punch */
	bool wrote; /* evict.c: this eviction wrote it to the store */
	bool gone;  /* evict.c: discarded by the application meanwhile */
	bool watched; /* policy claim(): a client's notifier covers it */
};

/*
 * The share policy of upagerd (daemon/share.c, daemon/client_marks.c):
 * how eviction divides the budget between address spaces, caps them and
 * honours their clients' pins.  CLOCK (evict/clock.c), the eviction
 * protocol (evict/evict.c) and fill_range() (fault/fill.c) are the plain
 * mechanism and call it only when one is installed (evict_set_policy());
 * in-process there is none: one address space, plain CLOCK.
 *
 * pass_start()  a clock pass starts: set each address space's share and
 *               forget the pins skipped so far; return whether shares
 *               apply, and in *any_over whether an address space is at or
 *               over its share.  Context: clock_lock and regions_lock held.
 * over_share()  whether @mm is at or over its share or cap (fair game); a
 *               sparing revolution passes over the others.
 *               Context: clock_lock held.
 * skip()        whether the clock must pass over page @pg of @r because
 *               its upagerd client pinned it (within its allowance).
 *               Context: clock_lock held.
 * claim()       victims just moved to EVICTING: take them from the
 *               clients' view; a victim a client pinned meanwhile gets
 *               ok[i] false (its eviction is aborted); writes the client
 *               made through its alias become PS_DIRTY; sets
 *               victim.watched.  Context: the evicting thread, before
 *               notifiers and write-protection.
 * fill_room()   a fill of @want absent pages of @r (a read-ahead if
 *               @readahead) is about to reserve budget: make room under
 *               the address space's cap, and return how many pages to
 *               ask budget_reserve() for (@want, or less for a read-ahead
 *               that the cap cuts).  Context: the thread owning @q.
 */
struct evict_policy {
	bool (*pass_start)(struct upg_runtime *rt, bool *any_over);
	bool (*over_share)(const struct upg_mm *mm);
	bool (*skip)(struct upg_region *r, uint64_t pg);
	void (*claim)(struct victim *v, size_t n, bool *ok);
	uint64_t (*fill_room)(struct upg_io_queue *q, struct upg_region *r,
			      uint64_t want, bool readahead);
};

/**
 * evict_set_policy() - install @pol as @rt's share policy (NULL: none).
 * @rt:  the runtime.
 * @pol: the policy, which outlives the runtime (a static table).
 * Context: any thread; upagerd installs its own once, right after it
 * creates its runtime, before any client connects.
 */
void evict_set_policy(struct upg_runtime *rt, const struct evict_policy *pol);

/* The share policy of @rt, or NULL (in-process). */
static inline const struct evict_policy *evict_policy(struct upg_runtime *rt)
{
	return atomic_load_explicit(&rt->evict->policy, memory_order_acquire);
}

/**
 * budget_reserve() - count @n pages against the budget before filling
 * them.  If the budget is full, evict a batch on this thread (using @q for
 * the writeback) until there is room.  When nothing at all can be evicted
 * (every resident page busy) it gives up after a bounded number of tries
 * and overshoots, counting budget_overshoot_pages: a fill never waits
 * forever.  Kicks the background evictor above the high watermark.
 * @speculative: the pages are read ahead, nobody waits for them: evict
 *          with no evict_req.need, and when that finds nothing (fair
 *          shares spare the clients below theirs, upagerd; or every
 *          resident page is busy), reserve only what the budget has free
 *          instead (maybe nothing), without waiting and never beyond the
 *          budget.
 * Return: @n, or fewer for a speculative reservation cut short.
 * Context: handler thread.
 */
uint64_t budget_reserve(struct upg_runtime *rt, struct upg_io_queue *q,
			uint64_t n, bool speculative);

/**
 * budget_reserve_more() - budget_reserve() for @n pages a fill claimed
 * already (pages that became ABSENT after it counted them): what a
 * speculative reservation does not get is counted beyond the budget
 * (budget_overshoot_pages) rather than taken from a client below its
 * share.  Context: handler thread.
 */
void budget_reserve_more(struct upg_runtime *rt, struct upg_io_queue *q,
			 uint64_t n, bool speculative);

/* budget_release(): base/rt.h (region/ releases an unmapped region's). */

/* Pages with only ephemeral pins that background eviction waits for. */
#define EPHEMERAL_WAITS 8

/* How a batch is evicted (evict_req.flags): EVICT_BACKGROUND for the
 * evictor thread, which counts as background, samples recency (zaps
 * referenced pages, evict/clock.c) and waits for pages held by ephemeral
 * pins. */
#define EVICT_BACKGROUND (1u << 0)
/* A fault's eviction that may write dirty pages of slow store parts
 * (store_write_slow()), as the background evictor does: without it, it
 * passes over them (evict/stall.c) and counts them in evict_req.slow.
 * budget_reserve() sets it when nothing else was evictable. */
#define EVICT_TAKE_SLOW (1u << 1)

/* A batch to evict. */
struct evict_req {
	unsigned want;	/* victims wanted */
	unsigned flags; /* EVICT_* */
	/*
	 * Under fair shares (upagerd), the victims to take even from clients
	 * below their share, if those at or above theirs have too few: the
	 * pages a fill cannot do without (never fail a fill for fairness).
	 * 0 for room nobody waits for yet (read-ahead, the evictor working
	 * down to the low watermark): taken only from clients at or above
	 * their share.  Without shares (one address space) it changes
	 * nothing.
	 */
	unsigned need;
	/* Only this address space's pages, whatever the shares: a client at
	 * its cap makes room among its own (fault/fill.c).  NULL: any. */
	const struct upg_mm *own;
	/* Set by clock_select(): fair shares held the hand back from
	 * resident pages of clients below their share. */
	bool spared;
	/* Set by clock_select(): dirty pages it passed over because their
	 * store part's writes are stalled (store_write_stalled()). */
	unsigned stalled;
	/* Set by clock_select(): dirty pages a fault's eviction (neither
	 * EVICT_BACKGROUND nor EVICT_TAKE_SLOW, nor @own) passed over
	 * because their writes may be slow (store_write_slow()). */
	unsigned slow;
};

/**
 * evict_page_stalled() - whether page @pg of @r is dirty-able but cannot
 * be written now: its store says writes at its offset are stalled
 * (store_write_stalled()).  Regions without a store (or whose store
 * cannot tell) never are.
 * Return: true if stalled.
 * Context: any thread; never blocks.
 */
bool evict_page_stalled(struct upg_region *r, uint64_t pg);

/**
 * evict_page_slow() - whether page @pg of @r is dirty-able and a write of
 * it may take long now (store_write_slow(): stalled, or a part that
 * recovered a moment ago or has a write unanswered for a while).  A
 * fault's own eviction passes over such dirty pages; the background
 * evictor writes them (evict/stall.c).
 * @r:  the region.
 * @pg: a page of @r.
 * Return: true if slow or stalled.
 * Context: any thread; never blocks.
 */
bool evict_page_slow(struct upg_region *r, uint64_t pg);

/**
 * evict_stalled_share() - whether a fill of page @pg of @r must be put
 * off to keep the budget for the store parts that can take writes: the
 * page's store part is stalled (evict_page_stalled()), the budget has no
 * room for @n more pages, and the dirty pages of stalled parts the clock
 * saw in its last revolution already hold half the budget (the stalled
 * share).  Such a fault is put off (evict_defer_fault()) rather than
 * evicting the pages of healthy parts to make room for one that cannot
 * give any back.
 * Return: true if the fill must be put off.
 * Context: handler thread.
 */
bool evict_stalled_share(struct upg_region *r, uint64_t pg, uint64_t n);

/**
 * evict_stalled_excess() - how far beyond the budget fills may go now:
 * what the dirty pages of stalled store parts (the clock's last
 * revolution) hold over their share of half the budget, at most half the
 * budget.  So the parts that can take writes keep half the budget
 * whatever a stalled one holds, and residency stays within 1.5 times the
 * budget.  0 when nothing is stalled.  The evictor's watermarks move up
 * by as much.
 * Return: pages.
 * Context: any thread.
 */
uint64_t evict_stalled_excess(struct upg_runtime *rt);

/**
 * evict_defer_fault() - put off the fault on page @pg of @r: it is left
 * unresolved (the faulting thread sleeps in the kernel) and the evictor
 * wakes it within its tick (about 100 ms), when it faults again and is
 * looked at anew.  Takes a reference on @r until then.
 * Return: true if put off; false if it cannot be (the list is full, or no
 * evictor runs to wake it): the caller serves the fault now.
 * Context: handler thread.
 */
bool evict_defer_fault(struct upg_region *r, uint64_t pg);

/**
 * evict_wake_deferred() - wake every fault put off by evict_defer_fault()
 * and drop their region references.
 * Context: the evictor thread (each tick, and when it stops).
 */
void evict_wake_deferred(struct upg_runtime *rt);

/**
 * clock_select() - choose up to @want victims with the clock, as @req
 * says (@req->want is the caller's; evict_batch() may want more).
 * With EVICT_BACKGROUND, zap the mappings of referenced pages as the hand
 * passes them, so that their next access is observed (a minor fault); and
 * report in @ewait (with a region reference, up to EPHEMERAL_WAITS)
 * unreferenced pages held only by ephemeral pins, for the caller to wait
 * on.  Only off handler threads: see evict/clock.c.
 * Return: number of victims written to @out.
 */
unsigned clock_select(struct upg_runtime *rt, struct victim *out,
		      unsigned want, struct evict_req *req,
		      struct victim *ewait, unsigned *nr_ewait);

/**
 * evict_thread_prepare() - allocate the calling thread's eviction arrays
 * (for the largest batch: the runtime's eviction batch, or a huge page's
 * pages), so that its evictions never allocate.  Kept until the thread
 * exits.
 * Return: 0, or -ENOMEM (the thread then evicts nothing).
 * Context: a handler thread calls it when it starts; other threads have
 * evict_batch() call it on their first eviction.
 */
int evict_thread_prepare(struct upg_runtime *rt);

/**
 * evict_batch() - select up to @req->want victims and evict them following
 * the protocol of DESIGN.md section 3.
 * @q: this thread's I/O queue, for the writeback.
 * Return: pages evicted (0 if nothing was evictable).
 */
unsigned evict_batch(struct upg_runtime *rt, struct upg_io_queue *q,
		     struct evict_req *req);

/**
 * evict_deferred_watched() - evict the pages a fault-path eviction left
 * because an upagerd client watches them (it cannot wait for the client's
 * answer; we can), while residency is still above the low watermark.
 * Context: the evictor thread, with its queue @q.
 */
void evict_deferred_watched(struct upg_runtime *rt, struct upg_io_queue *q);

/**
 * unpoison_tick() - clear the poison markers of pages whose fill failed at
 * least one tick ago, so that their next access retries the read.
 * Context: the evictor thread (it zaps application PTEs).
 */
void unpoison_tick(struct upg_runtime *rt);

int evictor_start(struct upg_runtime *rt);
void evictor_stop(struct upg_runtime *rt);
/* Wake the evictor (above the high watermark). */
void evictor_kick(struct upg_runtime *rt);

#endif
