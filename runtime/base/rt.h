/* SPDX-License-Identifier: MIT */
/*
 * rt - the part of struct upg_runtime that every layer shares: options,
 * the log sink, the address spaces (struct upg_mm), the region table and
 * its clock hand, the budget counters, the counters of struct upg_stats.
 *
 * Each subsystem keeps its own state in a struct of its own, reached
 * through a pointer here and declared only forward (struct evict_state,
 * struct notify_state, ...): a layer sees the state of the layers below it
 * and its own, never the one of a layer above (docs/architecture.md,
 * docs/layers.txt).  core/ (the top of the in-process runtime) allocates
 * and assembles them (core/runtime.c).
 */
#ifndef UPAGER_RT_H
#define UPAGER_RT_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/assert.h"
#include "common/log.h"
#include "io/io_queue.h"
#include "uffd/uffd.h"
#include "upager.h"

struct upg_region;
struct upg_store;
struct handler;
struct upg_mm;
struct client_conn;
/* Subsystem state, each defined in its own folder's header. */
struct evict_state;	/* evict/evict.h */
struct fork_state;	/* fork/fork.h */
struct notify_state;	/* notify/notifier.h */
struct prefetch_queue;	/* fault/prefetch.h */
struct self_zap_ring;	/* region/self_zap.h */
struct stage_pool;	/* fault/stage_pool.h */
struct region_upcalls;	/* region/region.h */

/*
 * upagerd: how evictions and application events reach the interval
 * notifiers of a client, which run in the client (daemon/invalidate.c).
 * start() announces that pages [first, first + n) of @r are about to
 * become inaccessible (@event: enum upg_notify_event) and returns a cookie
 * for end() (0: nothing to end); *ok is cleared if the invalidation was
 * refused (non-blockable and the client could not be asked, or a
 * callback refused).  Context: not under a runtime lock.
 */
struct mm_notify_ops {
	uint64_t (*start)(struct upg_mm *mm, struct upg_region *r,
			  uint64_t first, uint64_t n, int event, bool blockable,
			  bool *ok);
	void (*end)(struct upg_mm *mm, uint64_t cookie);
};

/* Counters of struct upg_stats, updated with relaxed atomics. */
struct rt_stats {
	_Atomic uint64_t faults_missing, faults_wp, faults_minor;
	_Atomic uint64_t pages_filled, pages_zero_filled;
	_Atomic uint64_t pages_evicted, pages_written_back;
	_Atomic uint64_t bytes_read, bytes_written;
	_Atomic uint64_t read_errors, write_errors;
	_Atomic uint64_t evict_batches_background, evict_batches_sync;
	_Atomic uint64_t pages_sampled, pages_referenced;
	_Atomic uint64_t budget_overshoot_pages;
	_Atomic uint64_t pages_unpoisoned;
	_Atomic uint64_t pins_acquired, pins_released;
	_Atomic uint64_t bytes_faulted_in;
	_Atomic uint64_t pages_discarded;
	_Atomic uint64_t evict_pin_waits;
	_Atomic uint64_t pages_read_ahead, ra_pages_used, ra_pages_wasted;
	/* UPG_RT_FILL_TIMING (fault/fill.c, fault/handler.c) */
	_Atomic uint64_t fills_timed, fill_ns_wake, fill_ns_handler;
	_Atomic uint64_t fill_ns_store, fill_ns_copy, fill_ns_map;
	_Atomic uint64_t fill_submits, fill_ns_submit;
};

/*
 * An address space whose regions the runtime services: this process's
 * (rt->self) or, in upagerd, a client's, reached through the userfaultfd
 * the client passed (its ioctls act on the client's mappings).
 */
struct upg_mm {
	struct upg_runtime *rt;
	struct uffd_ctx uffd;
	/* Serializes reads of the uffd with the handling of the events they
	 * return (fault/handler.c). */
	pthread_mutex_t read_lock;
	/* This process's address space: the runtime may madvise() it (clock
	 * sampling, unpoisoning) and call notifiers for it. */
	bool local;
	/* Detached (under read_lock): the uffd is closed, read nothing. */
	bool dead;
	/* upagerd: the client this address space belongs to. */
	void *owner;
	_Atomic uint64_t faults; /* page faults read from uffd */
	/* upagerd: this client's share of the runtime's counters, and the
	 * most of its pages ever resident (MM_STAT_ADD(); zero for the
	 * local address space, whose counters are the runtime's). */
	struct rt_stats stats;
	_Atomic uint64_t resident_peak;
	/* Pages of its regions counted in the budget, and its cap (0: none;
	 * upagerd --client-cap or the client's HELLO, and its part of
	 * --uid-cap, which upagerd changes as its user's clients come and
	 * go: atomic). */
	_Atomic uint64_t resident;
	_Atomic uint64_t cap_pages;
	/* daemon/share.c, under clock_lock: its fair share of the low
	 * watermark in pages (set each pass); pages
	 * chosen as victims and not evicted yet (the share counts without
	 * them, or successive batches would all take from one client). */
	uint64_t share;
	_Atomic uint64_t evicting;
	/* upagerd: the client's notifiers (NULL: none, or in-process). */
	const struct mm_notify_ops *notify_ops;
	void *notify_arg;
	/* An invalidation waits for the client's ack: its faults on
	 * NOTIFYING pages are served, not parked (fault/resolve.c). */
	_Atomic unsigned inval_waiting;
	/* daemon/client_marks.c, under clock_lock: how many pages the client
	 * may keep pinned through the shared marks, and the pinned pages the
	 * current clock pass skipped. */
	uint64_t pin_allow;
	/* Counted by the clock (clock_lock), read by eviction without it. */
	_Atomic uint64_t pin_skips;
	bool pin_warned;
	struct upg_mm *next; /* rt->mms */
};

#define STAT_ADD(rt, field, n) \
	atomic_fetch_add_explicit(&(rt)->stats.field, (n), memory_order_relaxed)

/*
 * Count @n in the runtime's counter @field and, when @mm is another
 * process's address space (a client of upagerd), in that client's too:
 * upg_runtime_stats() in the client reports its own counts
 * (daemon/stats.c).  In-process the runtime's counters are the only ones.
 */
#define MM_STAT_ADD(mm, field, n)                                          \
	do {                                                               \
		struct upg_mm *mm_ = (mm);                                 \
		uint64_t n_ = (n);                                         \
                                                                           \
		STAT_ADD(mm_->rt, field, n_);                              \
		if (!mm_->local)                                           \
			atomic_fetch_add_explicit(&mm_->stats.field, n_,   \
						  memory_order_relaxed);   \
	} while (0)

struct upg_runtime {
	/* First member: rt_log() finds the sink here (common/log.h). */
	struct log_sink log;

	/* Options, fixed after create. */
	size_t page_size;
	unsigned page_shift;
	uint64_t budget_pages, high_pages;
	/* Atomic: read by the evictor and the clock without a lock, and a
	 * test lowers it while they run (test_readahead). */
	_Atomic uint64_t low_pages;
	uint64_t pin_limit_pages;
	unsigned ephemeral_wait_ms;
	unsigned nr_handlers, evict_batch, io_depth, flags;
	/* enum upg_handler_wait (never DEFAULT here), and the spin window of
	 * UPG_WAIT_SPIN in ns (fault/handler.c). */
	unsigned handler_wait;
	uint64_t handler_spin_ns;
	char *swap_dir;

	/* This process's address space, and every other one served (its
	 * regions' faults arrive on its uffd): under mms_lock. */
	struct upg_mm self;
	pthread_rwlock_t mms_lock;
	struct upg_mm *mms;

	/*
	 * Regions sorted by address space, then application address.  Read-mostly: the fault
	 * path takes the read side only to find a region and pin it with a
	 * reference; map, unmap and the REMAP/UNMAP events take the write
	 * side.
	 */
	pthread_rwlock_t regions_lock;
	struct upg_region **regions;
	size_t nr_regions, cap_regions;
	/* Unmapped regions: kept (small) until destroy, so that a stale
	 * handle is never a pointer to freed or reused memory. */
	struct upg_region *zombies;

	/* Budget: pages FILLING, RESIDENT or EVICTING, all regions. */
	_Atomic uint64_t resident_pages;
	_Atomic uint64_t resident_peak;

	/* Pages poisoned after a failed fill whose marker is not cleared yet
	 * (evict/unpoison.c). */
	_Atomic uint64_t poisoned_pages;

	/* Hugetlb regions mapped (region/region.c): eviction then works in
	 * batches of at least one huge page (evict/evict.c). */
	_Atomic unsigned huge_regions;

	/* Some address space has a cap (upagerd --client-cap). */
	bool regions_capped;

	/* Clock hand over all regions (evict/clock.c): an index into the
	 * region table, which region/region_table.c keeps pointing at the
	 * same region when it inserts or removes one. */
	pthread_mutex_t clock_lock;
	size_t clock_region;
	uint64_t clock_page;

	/* Handler threads (fault/handler.c). */
	struct handler *handlers;
	int stop_efd;  /* handlers: readable when stopping */

	/* I/O queue for application threads (flush, unmap, destroy). */
	pthread_mutex_t caller_lock;
	struct upg_io_queue caller_q;

	/* Pages held by long-term pins (pin/pin.c). */
	_Atomic uint64_t pinned_pages;

	/* How region/ calls the layers above it (region/region.h). */
	const struct region_upcalls *region_up;

	/* Subsystem state (see the top of this file). */
	/* The evictor thread, its kick, and the watched pages it must
	 * evict for the fault path (evict/). */
	struct evict_state *evict;
	/* The ranges the evictor zapped last (region/self_zap.c). */
	struct self_zap_ring *zap;
	/* Prefetch requests for the handler threads (fault/prefetch.c). */
	struct prefetch_queue *prefetch;
	/* Interval notifiers (notify/notifier.c). */
	struct notify_state *notify;
	/* Fork children's views of the regions (UPG_RT_FORK_EVENTS). */
	struct fork_state *fork;
	/* Staging buffers of small fills (fault/stage_pool.c). */
	struct stage_pool *stage;

	/* Swap store behind anonymous regions, created on first use. */
	pthread_mutex_t swap_lock;
	struct upg_store *swap;

	struct rt_stats stats;

	/* Daemon mode: the connection to upagerd (client/client.h), and
	 * whether it services the regions now (false again once the client
	 * took over from a daemon that died: client/takeover.c). */
	struct client_conn *remote;
	atomic_bool served_remotely;
	/* Daemon mode: held for reading by the calls that act on the
	 * shared marks (pins, nofault copies), for writing by a takeover,
	 * which moves the pins from the marks to the state words. */
	pthread_rwlock_t takeover_lock;
};

/* Are @rt's regions serviced by upagerd (daemon mode, daemon alive)? */
static inline bool rt_remote(const struct upg_runtime *rt)
{
	return atomic_load(&rt->served_remotely);
}

/* UPG_RT_FILL_TIMING: are demand fills timed?  (Fixed after create.) */
static inline bool rt_fill_timing(const struct upg_runtime *rt)
{
	return rt->flags & UPG_RT_FILL_TIMING;
}

/* CLOCK_MONOTONIC in nanoseconds, never 0 (0 means "not timed"). */
static inline uint64_t rt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
}

/**
 * budget_release() - @n pages leave the budget (evicted, failed fill,
 * unmapped region); budget_reserve() (evict/budget.c) takes them.
 * @rt: the runtime; @n: pages.
 * Context: any thread; one atomic.
 */
static inline void budget_release(struct upg_runtime *rt, uint64_t n)
{
	atomic_fetch_sub(&rt->resident_pages, n);
}

/* UPG_RT_FORK_EVENTS: are fork children served (fork/)?  Fixed after
 * create (fork_init() fails the create if it cannot serve them). */
static inline bool rt_fork_events(const struct upg_runtime *rt)
{
	return rt->flags & UPG_RT_FORK_EVENTS;
}

/* Page-granular helpers. */
static inline uint64_t rt_pages(const struct upg_runtime *rt, uint64_t bytes)
{
	return (bytes + rt->page_size - 1) >> rt->page_shift;
}

/**
 * runtime_caller_queue() - the I/O queue for an application thread.
 * @rt: the runtime (in-process: its queues are started).
 * Return: rt->caller_q, with rt->caller_lock held; release it with
 * runtime_caller_done().
 * Context: an application thread; not under a runtime lock.
 */
static inline struct upg_io_queue *runtime_caller_queue(struct upg_runtime *rt)
{
	pthread_mutex_lock(&rt->caller_lock);
	return &rt->caller_q;
}

/**
 * runtime_caller_done() - release the queue runtime_caller_queue() gave.
 * @rt: the runtime.
 * Context: the thread that holds rt->caller_lock.
 */
static inline void runtime_caller_done(struct upg_runtime *rt)
{
	assert_held(&rt->caller_lock); /* from runtime_caller_queue() */
	pthread_mutex_unlock(&rt->caller_lock);
}

_Static_assert(offsetof(struct upg_runtime, log) == 0,
	       "rt_log() reads the sink at the start of struct upg_runtime");

#endif
