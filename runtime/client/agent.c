/* SPDX-License-Identifier: MIT */
/*
 * The client's agent thread: once HELLO is done it is the only reader of
 * the daemon's socket.  Answers go to the request waiting in client_rpc()
 * (one at a time, matched by sequence number); INVALIDATE messages run the
 * process's interval notifiers here (client/notify.c) and are answered
 * with INVALIDATE_ACK; a socket that hangs up without a BYE means the
 * daemon died: the waiting request fails, open invalidations are ended,
 * and the process takes its regions over (client/takeover.c).
 *
 * Notifier callbacks run on this thread, so a callback that made a
 * request of the daemon would wait for itself: such requests fail with
 * -EDEADLK (client_rpc()), like every call a callback may not make.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/client.h"
#include "common/log.h"
#include "core/runtime.h"

void client_mbox_put(struct client_conn *cc, struct proto_msg *m)
{
	pthread_mutex_lock(&cc->mbox_lock);
	if (cc->want_seq && !cc->have_reply &&
	    (m->hdr.seq == cc->want_seq || m->hdr.type == PROTO_ERROR)) {
		cc->reply = *m;
		cc->have_reply = true;
		pthread_cond_broadcast(&cc->mbox_cond);
		m = NULL;
	}
	pthread_mutex_unlock(&cc->mbox_lock);
	/* An answer to a request that gave up waiting. */
	if (m)
		proto_msg_release(m);
}

void client_mbox_fail(struct client_conn *cc, int err)
{
	pthread_mutex_lock(&cc->mbox_lock);
	if (!cc->broken)
		cc->broken = err;
	pthread_cond_broadcast(&cc->mbox_cond);
	pthread_mutex_unlock(&cc->mbox_lock);
}

/* Everything the socket has; false once the connection is over. */
static bool read_all(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;

	for (;;) {
		struct proto_msg m;
		int err = proto_conn_recv(&cc->conn, &m);

		if (err == -EAGAIN)
			return true;
		if (err) {
			if (err != -ECONNRESET)
				rt_err(rt, "bad message from upagerd: %s",
				       strerror(-err));
			/* A message the decoder refused leaves the stream
			 * usable; anything else ends it. */
			if (err == -ECONNRESET || proto_conn_broken(&cc->conn))
				return false;
			continue;
		}
		if (m.hdr.type == PROTO_INVALIDATE) {
			client_invalidate(rt, &m);
			proto_msg_release(&m);
		} else {
			client_mbox_put(cc, &m);
		}
	}
}

static void *agent_main(void *arg)
{
	struct upg_runtime *rt = arg;
	struct client_conn *cc = rt->remote;
	struct pollfd p[2] = {
		{ .fd = cc->sock, .events = POLLIN | POLLRDHUP },
		{ .fd = cc->stop_efd, .events = POLLIN },
	};

	pthread_setname_np(pthread_self(), "upg-agent");
	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		if (!p[0].revents)
			continue;
		/* Read what came before a hang-up first: the answers and
		 * invalidations the daemon sent before it died. */
		if (read_all(rt) &&
		    !(p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)))
			continue;
		client_mbox_fail(cc, -ECONNRESET);
		client_invalidate_end_all(rt);
		client_takeover(rt);
		return NULL;
	}
}

int client_watch_start(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;
	sigset_t all, old;
	int err;

	cc->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cc->stop_efd < 0)
		return -errno;
	/* Before the thread runs: client_rpc() must know who reads. */
	cc->watching = true;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&cc->watcher, NULL, agent_main, rt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		cc->watching = false;
		close(cc->stop_efd);
		cc->stop_efd = -1;
		return err;
	}
	return 0;
}

void client_watch_stop(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;
	uint64_t one = 1;

	if (!cc || !cc->watching)
		return;
	if (write(cc->stop_efd, &one, sizeof(one)) != sizeof(one))
		rt_err(rt, "cannot stop the daemon agent");
	pthread_join(cc->watcher, NULL);
	close(cc->stop_efd);
	cc->stop_efd = -1;
	cc->watching = false;
	client_invalidate_end_all(rt);
}
