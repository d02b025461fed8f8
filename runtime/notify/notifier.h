/* SPDX-License-Identifier: MIT */
/*
 * notifier - interval notifiers (after mm/mmu_notifier.c's interval
 * notifiers): the runtime's side of struct upg_interval_notifier.
 *
 * One sequence per runtime, odd while any invalidation runs.  An
 * invalidation collects the notifiers overlapping its range under the
 * lock, calls them without it, and ends by making the sequence even and
 * applying the inserts and removes that arrived meanwhile (deferred, as in
 * the kernel, so that a running invalidation never sees the index change).
 */
#ifndef UPAGER_NOTIFIER_H
#define UPAGER_NOTIFIER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "notify/interval_index.h"
#include "upager.h"

struct upg_runtime;

#define NOTIFY_MAX_CB_THREADS 64

/* An invalidation to run on the evictor thread (application events). */
struct notify_job {
	uintptr_t start, end;
	enum upg_notify_event event;
	struct notify_job *next;
};

struct notify_state {
	pthread_mutex_t lock;
	pthread_cond_t ended; /* broadcast when an invalidation ends */
	uint64_t seq;         /* odd while active > 0 */
	unsigned active;
	struct interval_index idx;
	struct upg_interval_notifier *deferred;
	_Atomic size_t nr; /* notifiers inserted: 0 is the fast path */
	/* Threads inside a callback, so that their faults on pages being
	 * invalidated are served instead of parked (which would hang them). */
	_Atomic pid_t cb_tids[NOTIFY_MAX_CB_THREADS];
	struct notify_job *jobs, **jobs_tail;
	_Atomic uint64_t callbacks; /* invalidate calls made, for stats */
};

int notify_init(struct notify_state *ns);
void notify_fini(struct notify_state *ns);

static inline bool notify_any(struct notify_state *ns)
{
	return atomic_load_explicit(&ns->nr, memory_order_acquire) != 0;
}

/**
 * notify_invalidate_start() - call the notifiers overlapping [start, end).
 * @blockable: passed to the callbacks; false on the fault path.
 * Return: true, or false if a non-blockable callback refused (the caller
 * backs off).  Either way notify_invalidate_end() must follow.
 * Context: not under any runtime lock.
 */
bool notify_invalidate_start(struct notify_state *ns, uintptr_t start,
			     uintptr_t end, enum upg_notify_event event,
			     bool blockable);
void notify_invalidate_end(struct notify_state *ns);

/**
 * notify_queue() - have the evictor thread run an invalidation for an
 * event of the application (mremap, munmap, madvise), which the kernel
 * reports after the fact: handler threads must not block on callbacks.
 * Return: true if queued (the caller kicks the evictor).
 */
bool notify_queue(struct notify_state *ns, uintptr_t start, uintptr_t end,
		  enum upg_notify_event event);
/* Run the queued jobs.  Context: the evictor thread. */
void notify_run_queued(struct notify_state *ns);

/* Is @tid inside an invalidate callback right now? */
bool notify_tid_in_callback(struct notify_state *ns, pid_t tid);

/* Nesting depth of invalidate callbacks on this thread: public calls that
 * would deadlock there fail with -EDEADLK. */
extern __thread int notify_callback_depth;

/**
 * notify_insert() - upg_interval_notifier_insert() in the runtime's index
 * (the arguments checked by the caller, runtime/api/): @n watches
 * [@addr, @addr + @len) with @ops from now on, or from the end of the
 * invalidation running now.
 * Return: 0; -EEXIST (@n is inserted already), -ENOMEM.
 * Context: not a notifier callback; takes the notifiers' lock.
 */
int notify_insert(struct upg_runtime *rt, struct upg_interval_notifier *n,
		  uintptr_t addr, size_t len,
		  const struct upg_interval_notifier_ops *ops);

/**
 * notify_remove() - upg_interval_notifier_remove() from the runtime's
 * index; waits for a running invalidation that may be calling @n.
 * Return: 0, or -EINVAL if @n is not inserted.
 * Context: not a notifier callback; takes the notifiers' lock.
 */
int notify_remove(struct upg_interval_notifier *n);

#endif
