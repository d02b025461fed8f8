/* SPDX-License-Identifier: MIT */
/*
 * evict - the budget, victim selection (evict/clock.c), the eviction
 * protocol (evict/evict.c) and the background evictor (evict/evictor.c).
 */
#ifndef UPAGER_EVICT_H
#define UPAGER_EVICT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/runtime.h"
#include "io/io_queue.h"

struct upg_region;

/* One page chosen for eviction, already moved to PS_EVICTING, with a
 * reference on its region. */
struct victim {
	struct upg_region *r;
	uint64_t pg;
	bool punch; /* evict.c: written back (or clean): safe to punch */
	bool wrote; /* evict.c: this eviction wrote it to the store */
	bool gone;  /* evict.c: discarded by the application meanwhile */
	bool watched; /* client_marks.c: a client's notifier covers it */
};

/**
 * client_marks_pass_start() - start a clock pass: forget the pinned pages
 * skipped so far.  Context: clock_lock and regions_lock held.
 * client_marks_skip() - whether the clock must pass over page @pg of @r
 * because its upagerd client pinned it (within the client's allowance).
 * Context: clock_lock held.
 * client_marks_claim() - for victims just moved to EVICTING: take them
 * from the clients' view (RESIDENT cleared); a victim a client pinned
 * meanwhile gets ok[i] false (its eviction is aborted); writes the client
 * made through its alias become PS_DIRTY; sets victim.watched.
 * Context: the evicting thread, before notifiers and write-protection.
 */
void client_marks_pass_start(struct upg_runtime *rt);
bool client_marks_skip(struct upg_region *r, uint64_t pg);
void client_marks_claim(struct victim *v, size_t n, bool *ok);

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

/* Pages leave the budget (evicted, failed fill, unmapped region). */
void budget_release(struct upg_runtime *rt, uint64_t n);

/* Pages with only ephemeral pins that background eviction waits for. */
#define EPHEMERAL_WAITS 8

/* How a batch is evicted (evict_req.flags): EVICT_BACKGROUND for the
 * evictor thread, which counts as background, samples recency (zaps
 * referenced pages, evict/clock.c) and waits for pages held by ephemeral
 * pins. */
#define EVICT_BACKGROUND (1u << 0)

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
};

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

/**
 * self_zap() - drop the application's PTEs of [addr, addr+len) of a
 * region (MADV_DONTNEED: shared memory keeps the data), marked as the
 * runtime's own so that its REMOVE event is ignored.
 * The range is recorded in a ring of the last SELF_ZAP_RING (16) zaps
 * (madvise() returns once the event is read, possibly before the handler
 * that read it compared it with the ring): is_self_zap() looks there.
 * Return: 0, or the negative errno of madvise().
 * Context: the evictor thread only: the event blocks the caller until a
 * handler reads it (a handler calling this would wait on itself), and the
 * ring's index (self_zap_next) has no lock, only this one writer.
 */
int self_zap(struct upg_runtime *rt, uintptr_t addr, size_t len);
/* Was [start, end) one of the evictor's recent zaps? */
bool is_self_zap(struct upg_runtime *rt, uintptr_t start, uintptr_t end);

int evictor_start(struct upg_runtime *rt);
void evictor_stop(struct upg_runtime *rt);
/* Wake the evictor (above the high watermark). */
void evictor_kick(struct upg_runtime *rt);

#endif
