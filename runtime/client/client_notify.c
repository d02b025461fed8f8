/* SPDX-License-Identifier: MIT */
/*
 * Interval notifiers in daemon mode.  The notifiers live here, in the
 * client's own notify state, as in-process; what the daemon needs is to
 * know which evictions to announce.  So each page a notifier covers is
 * marked WATCHED in the marks shared with it (region/marks.h), and the
 * daemon sends INVALIDATE for evictions of watched pages
 * (daemon/invalidate.c).  The agent thread runs the callbacks and
 * answers; the END that follows the eviction ends the invalidation, so
 * upg_interval_read_begin() waits for it as it waits in-process.
 *
 * Ordering: a notifier is in the index before its pages are marked, so
 * an INVALIDATE for a marked page always finds it.  An eviction that read
 * a page unmarked had cleared its RESIDENT mark first: the page was on its
 * way out before the notifier came, like a page evicted before the insert.
 */
#include <errno.h>
#include <string.h>

#include "client/client.h"
#include "common/log.h"
#include "notify/notifier.h"
#include "region/marks.h"
#include "region/region.h"

static void count_one(struct upg_interval_notifier *n, void *arg)
{
	(void)n;
	(void)arg;
}

/* Is page [a, a + ps) covered by a notifier still?  ns->lock held. */
static bool covered(struct notify_state *ns, uintptr_t a, size_t ps)
{
	return ii_query(&ns->idx, a, a + ps, count_one, NULL) != 0;
}

/* Mark (or unmark where uncovered) the pages of @r within [start, end). */
static void watch_pages(struct upg_region *r, uintptr_t start, uintptr_t end,
			bool on)
{
	struct upg_runtime *rt = r->rt;
	uintptr_t base = (uintptr_t)r->addr, a0, a1, a;

	a0 = start > base ? start : base;
	a1 = end < base + r->map_len ? end : base + r->map_len;
	if (a0 >= a1 || !r->client_marks)
		return;
	a0 &= ~(uintptr_t)(rt->page_size - 1);
	for (a = a0; a < a1; a += rt->page_size) {
		_Atomic uint32_t *m =
			&r->client_marks[(a - base) >> rt->page_shift];

		if (on)
			mark_set(m, MARK_WATCHED);
		else if (!covered(rt->notify, a, rt->page_size))
			mark_clear(m, MARK_WATCHED);
	}
}

void client_watch_range(struct upg_runtime *rt, uintptr_t start,
			uintptr_t end, bool on)
{
	struct client_conn *cc = rt->remote;
	struct upg_region *r;

	pthread_mutex_lock(&rt->notify->lock);
	pthread_mutex_lock(&cc->regions_lock);
	for (r = cc->regions; r; r = r->client_next)
		watch_pages(r, start, end, on);
	pthread_mutex_unlock(&cc->regions_lock);
	pthread_mutex_unlock(&rt->notify->lock);
}

static void watch_one(struct upg_interval_notifier *n, void *arg)
{
	watch_pages(arg, n->start, n->end, true);
}

void client_watch_region(struct upg_region *r)
{
	struct notify_state *ns = r->rt->notify;
	uintptr_t a = (uintptr_t)r->addr;

	pthread_mutex_lock(&ns->lock);
	ii_query(&ns->idx, a, a + r->map_len, watch_one, r);
	pthread_mutex_unlock(&ns->lock);
}

static void ack(struct upg_runtime *rt, uint64_t cookie, int status)
{
	struct client_conn *cc = rt->remote;
	struct proto_msg m;
	int err;

	proto_msg_init(&m, PROTO_INVALIDATE_ACK, 0);
	m.u.invalidate_ack.cookie = cookie;
	m.u.invalidate_ack.status = status;
	pthread_mutex_lock(&cc->send_lock);
	err = proto_send(cc->sock, &m, NULL, 0, 10000);
	pthread_mutex_unlock(&cc->send_lock);
	if (err)
		rt_warn(rt, "cannot acknowledge an invalidation to upagerd: %s",
			strerror(-err));
}

void client_invalidate(struct upg_runtime *rt, const struct proto_msg *m)
{
	const struct proto_invalidate *in = &m->u.invalidate;
	struct client_conn *cc = rt->remote;
	bool blockable = in->flags & PROTO_INVAL_BLOCKABLE, ok;
	uintptr_t a = 0, end = 0;
	struct upg_region *r;

	if ((in->flags & PROTO_INVAL_END) && in->cookie) {
		if (cc->inval_open) {
			cc->inval_open--;
			notify_invalidate_end(rt->notify);
		}
		return;
	}
	pthread_mutex_lock(&cc->regions_lock);
	for (r = cc->regions; r && r->remote_id != in->region_id;
	     r = r->client_next)
		;
	if (r && in->offset < r->map_len)
		a = (uintptr_t)r->addr + in->offset;
	pthread_mutex_unlock(&cc->regions_lock);
	/* A region unmapped meanwhile has no notifier left, but the
	 * invalidation is started all the same (empty): every cookie is
	 * started once and ended once, by its END. */
	if (a) {
		end = a + in->length;
		if (end > (uintptr_t)r->addr + r->map_len)
			end = (uintptr_t)r->addr + r->map_len;
	}
	ok = notify_invalidate_start(rt->notify, a, end,
				     (enum upg_notify_event)in->event,
				     blockable);
	if (!in->cookie) {
		notify_invalidate_end(rt->notify);
		return;
	}
	cc->inval_open++;
	ack(rt, in->cookie, ok ? 0 : -EAGAIN);
}

void client_invalidate_end_all(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;

	while (cc && cc->inval_open) {
		cc->inval_open--;
		notify_invalidate_end(rt->notify);
	}
}
