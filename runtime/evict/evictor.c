/* SPDX-License-Identifier: MIT */
/*
 * The background evictor: woken when a fill takes the budget above the
 * high watermark (and every 100 ms, so that it catches up after a burst),
 * it evicts batches until residency is below the low watermark.  It owns
 * its own io_uring queue for the writeback.  Its tick also clears the
 * poison markers left by failed fills (evict/unpoison.c).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/log.h"
#include "evict/evict.h"
#include "notify/notifier.h"
#include "region/region.h"

#define EVICTOR_TICK_MS 100

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *evictor_main(void *arg)
{
	struct upg_runtime *rt = arg;
	struct upg_io_queue q;
	struct pollfd pfd = { .fd = rt->evict->kick_efd, .events = POLLIN };
	int64_t woke_at = 0;
	int err;

	pthread_setname_np(pthread_self(), "upg-evictor");
	upg_role_set(UPG_ROLE_EVICTOR);
	err = io_queue_init(&q, rt->io_depth);
	if (err) {
		rt_err(rt, "evictor: no io_uring (%s): eviction only on the "
			   "fault path", strerror(-err));
		return NULL;
	}
	atomic_store(&rt->evict->evictor_running, true);
	while (!atomic_load(&rt->evict->stopping)) {
		/* Room made ahead of need (no evict_req.need): with fair
		 * shares it is taken only from clients at or above theirs.
		 * A fill that finds no room evicts for itself (budget.c). */
		struct evict_req req = {
			.want = rt->evict_batch,
			.flags = EVICT_BACKGROUND,
		};
		uint64_t v;

		if (poll(&pfd, 1, EVICTOR_TICK_MS) > 0 &&
		    read(rt->evict->kick_efd, &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			rt_err(rt, "evictor: %s", strerror(errno));
		atomic_store(&rt->evict->evictor_kicked, false);
		/* Faults put off on stalled store parts try again. */
		evict_wake_deferred(rt);
		woke_at = now_ms();
		notify_run_queued(rt->notify);
		if (atomic_load(&rt->poisoned_pages))
			unpoison_tick(rt);
		remove_tick(rt);
		evict_deferred_watched(rt, &q);
		/* The watermarks move up by what stalled store parts hold
		 * over their share (evict/stall.c): evicting the others'
		 * pages below that would only thrash them. */
		if (atomic_load(&rt->resident_pages) <=
		    rt->high_pages + evict_stalled_excess(rt))
			continue;
		while (!atomic_load(&rt->evict->stopping) &&
		       atomic_load(&rt->resident_pages) >
			       rt->low_pages + evict_stalled_excess(rt)) {
			/* Between batches too: under steady pressure this
			 * loop may not end for a long time. */
			evict_deferred_watched(rt, &q);
			if (now_ms() - woke_at >= EVICTOR_TICK_MS) {
				evict_wake_deferred(rt);
				woke_at = now_ms();
			}
			if (!evict_batch(rt, &q, &req))
				break;
		}
	}
	/* Nothing is put off any more (evict_defer_fault() looks under
	 * the same lock); wake what was. */
	pthread_mutex_lock(&rt->evict->watch_lock);
	atomic_store(&rt->evict->evictor_running, false);
	pthread_mutex_unlock(&rt->evict->watch_lock);
	evict_wake_deferred(rt);
	io_queue_fini(&q);
	return NULL;
}

int evictor_start(struct upg_runtime *rt)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&rt->evict->evictor, NULL, evictor_main, rt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	rt->evict->evictor_started = !err;
	return err;
}

void evictor_stop(struct upg_runtime *rt)
{
	atomic_store(&rt->evict->stopping, true);
	if (!rt->evict->evictor_started)
		return;
	evictor_kick(rt);
	pthread_join(rt->evict->evictor, NULL);
	rt->evict->evictor_started = false;
}

void evictor_kick(struct upg_runtime *rt)
{
	uint64_t one = 1;

	if (atomic_exchange(&rt->evict->evictor_kicked, true))
		return;
	if (write(rt->evict->kick_efd, &one, sizeof(one)) != sizeof(one))
		atomic_store(&rt->evict->evictor_kicked, false);
}
