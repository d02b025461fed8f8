/* SPDX-License-Identifier: MIT */
/*
 * Taking over from a daemon that died.
 *
 * The client holds everything a region needs: the memfd (with every page
 * the daemon had not written back), the userfaultfd (with the faults the
 * daemon had not read), the store.  When the daemon's socket hangs up
 * without a BYE, a watcher thread makes this process service its regions:
 * it rebuilds each region's page states (resident pages counted dirty;
 * pages the daemon was filling, marked in the shared marks memfd, dropped
 * and read again), inserts them, starts handler threads and the evictor,
 * then wakes every thread of the process that waits on a fault (the
 * daemon may have read its fault and died before resolving it).  Pins
 * move from the shared marks to the state words; invalidations the daemon
 * had started and not ended are ended (client/agent.c).
 *
 * A region on a Redis store the daemon had opened from its URI is
 * serviced on that URI, opened here (client/client_store.c).
 *
 * Calls that were waiting for the daemon's answer fail with -ECONNRESET;
 * calls from then on are served in-process.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "client/client.h"
#include "common/log.h"
#include "core/runtime.h"
#include "region/region.h"

/*
 * Service @r here: on the store the client kept (a file, its own swap
 * file), or, for a Redis store the daemon opened, on the same URI opened
 * here (the same seeds, credentials, options and uid-scoped name: the
 * pages the daemon wrote back are there).  Context: cc->regions_lock.
 */
static int adopt(struct upg_runtime *rt, struct upg_region *r)
{
	struct upg_store *st;
	int err;

	if (r->client_store_fd >= 0)
		return region_adopt_local(r, r->client_store_fd, r->store_off,
					  r->client_marks);
	err = client_store_open(rt, r, &st);
	if (err)
		return err;
	err = region_adopt_store(r, st, r->store_off, r->client_marks);
	upg_store_put(st); /* the region holds its own reference */
	return err;
}

void client_takeover(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;
	struct upg_region *r, *next, *adopted = NULL;
	int err;

	/* Pins and nofault copies work on the marks: none half done while
	 * their pins move to the state words. */
	pthread_rwlock_wrlock(&rt->takeover_lock);
	pthread_mutex_lock(&cc->lock);
	if (!rt_remote(rt)) {
		pthread_mutex_unlock(&cc->lock);
		pthread_rwlock_unlock(&rt->takeover_lock);
		return;
	}
	pthread_mutex_lock(&cc->regions_lock);
	rt_err(rt, "upagerd is gone: this process services its regions itself "
		   "from now on");
	/* Under its own budget from here (the watermarks were always its). */
	rt->budget_pages = cc->own_budget_pages;
	rt->pin_limit_pages = cc->own_pin_limit_pages;
	/* Regions first: a handler must find every region it reads a fault
	 * of. */
	for (r = cc->regions; r; r = next) {
		next = r->client_next;
		err = adopt(rt, r);
		unmap_client_views(r);
		if (err) {
			rt_err(rt, "cannot take over the region at %p: %s; "
				   "its faults stay unserviced",
			       (void *)r->addr, strerror(-err));
			continue;
		}
		r->client_next = adopted;
		adopted = r;
	}
	cc->regions = NULL;
	client_store_forget_all(rt);
	pthread_mutex_unlock(&cc->regions_lock);
	err = runtime_start_local(rt);
	if (err) {
		rt_err(rt, "cannot start fault handling in this process (%s): "
			   "faults on its regions will hang",
		       strerror(-err));
		pthread_mutex_unlock(&cc->lock);
		pthread_rwlock_unlock(&rt->takeover_lock);
		return;
	}
	atomic_store(&rt->served_remotely, false);
	pthread_mutex_unlock(&cc->lock);
	pthread_rwlock_unlock(&rt->takeover_lock);
	/* Faults the daemon read and never resolved: fault again, here. */
	for (r = adopted; r; r = r->client_next)
		uffd_wake(&rt->self.uffd, (uintptr_t)r->addr, r->map_len);
}

