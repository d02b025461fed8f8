/* SPDX-License-Identifier: MIT */
/*
 * Interval notifiers of daemon-mode clients: the client's notifiers run in
 * the client (its agent thread, client/agent.c), so an eviction of pages
 * the client watches (WATCHED in the marks, region/marks.h) asks it first:
 *
 *   evicting thread                     client agent
 *   INVALIDATE(cookie, range, EVICT) -> callbacks (invalidate_start)
 *   waits, at most --ack-timeout     <- INVALIDATE_ACK(cookie)
 *   write-protect, write back, punch
 *   INVALIDATE(cookie, END)          -> invalidate_end
 *
 * The ack arrives on the main thread (the socket's only reader), which
 * hands it over through struct daemon_out.  A client that does not answer
 * within the timeout is considered hung: its pages are evicted anyway
 * (pins still hold them: those are in the marks, not in the answer), and
 * later invalidations are sent without waiting until it answers one.
 * A non-blockable caller (a handler thread evicting on the fault path)
 * cannot wait for a client: it leaves watched pages alone, as an
 * in-process non-blockable callback that refuses would.
 * Application events (mremap, munmap, MADV_REMOVE of a region's memory),
 * which the kernel reports after the fact, are told with cookie 0: no
 * ack, started and ended by the client at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/deadline.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "region/region.h"

#define SEND_TIMEOUT_MS 2000
#define EVENT_SEND_TIMEOUT_MS 100

struct daemon_out *daemon_out_new(struct daemon *d, struct daemon_client *c)
{
	struct daemon_out *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	pthread_mutex_init(&o->lock, NULL);
	cond_init_monotonic(&o->acked);
	o->sock = c->sock;
	o->client_id = c->id;
	o->pid = c->cred.pid;
	o->ack_timeout_ms = d->o.ack_timeout_ms ? d->o.ack_timeout_ms : 5000;
	return o;
}

void daemon_out_free(struct daemon_out *o)
{
	if (!o)
		return;
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->acked);
	free(o);
}

void daemon_out_close(struct daemon_out *o)
{
	pthread_mutex_lock(&o->lock);
	o->sock = -1;
	pthread_cond_broadcast(&o->acked);
	pthread_mutex_unlock(&o->lock);
}

bool daemon_out_ack(struct daemon_out *o, uint64_t cookie, int status)
{
	bool known;

	pthread_mutex_lock(&o->lock);
	known = cookie && cookie <= o->next_cookie;
	if (known) {
		o->hung = false;
		if (cookie == o->waiting) {
			o->got_ack = true;
			(void)status; /* blockable: callbacks cannot refuse */
			pthread_cond_broadcast(&o->acked);
		}
	}
	pthread_mutex_unlock(&o->lock);
	return known;
}

/*
 * Send one INVALIDATE of bytes [off, off + len) of region @id; lock held.
 * A send that timed out may have written part of the message: the stream
 * cannot go on, so the socket is shut down (the main thread then drops the
 * client) and nothing is sent to it any more.
 */
static int send_inval(struct daemon_out *o, uint64_t id, uint64_t off,
		      uint64_t len, int event, uint64_t cookie, uint32_t flags)
{
	/* Application events are told from a handler thread: brief. */
	int timeout = flags & PROTO_INVAL_BLOCKABLE || cookie ?
			      SEND_TIMEOUT_MS : EVENT_SEND_TIMEOUT_MS;
	struct proto_msg m;
	int err;

	if (o->sock < 0)
		return -EPIPE;
	proto_msg_init(&m, PROTO_INVALIDATE, 0);
	m.u.invalidate = (struct proto_invalidate){
		.region_id = id,
		.offset = off,
		.length = len,
		.cookie = cookie,
		.seq = ++o->seq,
		.event = (uint32_t)event,
		.flags = flags,
	};
	if (!(flags & PROTO_INVAL_END) || !cookie)
		atomic_fetch_add(&o->invalidations, 1);
	err = proto_send(o->sock, &m, NULL, 0, timeout);
	if (err) {
		shutdown(o->sock, SHUT_RDWR);
		o->sock = -1;
		pthread_cond_broadcast(&o->acked);
	}
	return err;
}

static uint64_t out_start(struct upg_mm *mm, struct upg_region *r,
			  uint64_t first, uint64_t n, int event,
			  bool blockable, bool *ok)
{
	struct daemon_out *o = mm->notify_arg;
	unsigned shift = r->rt->page_shift;
	uint64_t cookie = 0;
	struct timespec until;
	int err = 0;

	if (!blockable && event == UPG_NOTIFY_EVICT) {
		*ok = false;
		return 0;
	}
	pthread_mutex_lock(&o->lock);
	if (!blockable) {
		/* An application event, after the fact: tell, don't wait. */
		send_inval(o, r->remote_id, first << shift, n << shift, event,
			   0, PROTO_INVAL_END);
		pthread_mutex_unlock(&o->lock);
		return 0;
	}
	/* The main thread serves a request of this client and may wait
	 * for these very pages: back off, the clock comes back to them. */
	if (o->busy) {
		pthread_mutex_unlock(&o->lock);
		*ok = false;
		return 0;
	}
	cookie = ++o->next_cookie;
	/* Its faults on the pages are served from now on (fault/resolve.c):
	 * a callback may touch them, and its fault may arrive before we
	 * are done sending (a fault parked then would wait for the end of
	 * the eviction, which waits for the callback). */
	atomic_fetch_add(&mm->inval_waiting, 1);
	err = send_inval(o, r->remote_id, first << shift, n << shift, event,
			 cookie, PROTO_INVAL_BLOCKABLE);
	if (err || o->hung) {
		/* Gone, or known not to answer: nothing to wait for. */
		atomic_fetch_sub(&mm->inval_waiting, 1);
		pthread_mutex_unlock(&o->lock);
		return err ? 0 : cookie;
	}
	o->waiting = cookie;
	o->got_ack = false;
	until = deadline_after_ms(o->ack_timeout_ms);
	while (!o->got_ack && o->sock >= 0 && !err)
		err = pthread_cond_timedwait(&o->acked, &o->lock, &until);
	if (!o->got_ack && o->sock >= 0) {
		o->hung = true;
		rt_warn(r->rt, "client %llu (pid %d) did not acknowledge an "
			       "invalidation in %u ms: evicting its pages "
			       "anyway (pinned pages excepted)",
			(unsigned long long)o->client_id, (int)o->pid,
			o->ack_timeout_ms);
	}
	o->waiting = 0;
	atomic_fetch_sub(&mm->inval_waiting, 1);
	pthread_mutex_unlock(&o->lock);
	return cookie;
}

static void out_end(struct upg_mm *mm, uint64_t cookie)
{
	struct daemon_out *o = mm->notify_arg;

	/* The range does not matter to the end: the cookie names it. */
	pthread_mutex_lock(&o->lock);
	send_inval(o, 0, 0, 1, UPG_NOTIFY_EVICT, cookie, PROTO_INVAL_END);
	pthread_mutex_unlock(&o->lock);
}

bool daemon_out_begin_request(struct daemon *d, struct daemon_client *c)
{
	struct daemon_out *o = c->out;

	pthread_mutex_lock(&o->lock);
	while (o->waiting && o->sock >= 0) {
		struct proto_msg m;
		int err;
		bool ack;

		pthread_mutex_unlock(&o->lock);
		err = proto_recv_timeout(&c->conn, &m, (int)o->ack_timeout_ms);
		ack = !err && m.hdr.type == PROTO_INVALIDATE_ACK;
		if (ack && !daemon_out_ack(o, m.u.invalidate_ack.cookie,
					   m.u.invalidate_ack.status))
			ack = false;
		if (!err)
			proto_msg_release(&m);
		if (!ack && err != -ETIMEDOUT) {
			daemon_drop_client(d, c, err ? "connection lost" :
						       "a request before the "
						       "answer to the last one");
			return false;
		}
		pthread_mutex_lock(&o->lock);
		/* Timed out: the evicting thread gives up at its own bound. */
	}
	o->busy = true;
	pthread_mutex_unlock(&o->lock);
	return true;
}

void daemon_out_end_request(struct daemon_out *o)
{
	pthread_mutex_lock(&o->lock);
	o->busy = false;
	pthread_mutex_unlock(&o->lock);
}

const struct mm_notify_ops daemon_notify_ops = {
	.start = out_start,
	.end = out_end,
};
