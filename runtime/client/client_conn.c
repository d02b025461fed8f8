/* SPDX-License-Identifier: MIT */
/*
 * The client's connection to upagerd: connect, HELLO with the client's
 * userfaultfd, and request/reply with a bounded wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client.h"
#include "client/client_rpc.h"
#include "common/deadline.h"
#include "common/log.h"
#include "core/runtime.h"

/* How long a request waits for the daemon's answer.  Flush and remove
 * write back: be generous, but never wait forever. */
#define RPC_TIMEOUT_MS 120000
#define HELLO_TIMEOUT_MS 10000

/* Before the agent runs (HELLO): read the answer here. */
static int recv_direct(struct client_conn *cc, uint64_t seq,
		       struct proto_msg *rep, int timeout_ms)
{
	int err;

	for (;;) {
		err = proto_recv_timeout(&cc->conn, rep, timeout_ms);
		if (err || rep->hdr.type == PROTO_ERROR ||
		    rep->hdr.seq == seq)
			return err;
		/* An answer to an older request we gave up on. */
		proto_msg_release(rep);
	}
}

/* With the agent running: wait for it to hand the answer over. */
static int recv_mbox(struct client_conn *cc, struct proto_msg *rep,
		     int timeout_ms)
{
	struct timespec until = deadline_after_ms((unsigned)timeout_ms);
	int err = 0;

	pthread_mutex_lock(&cc->mbox_lock);
	while (!cc->have_reply && !cc->broken && !err)
		err = -pthread_cond_timedwait(&cc->mbox_cond, &cc->mbox_lock,
					      &until);
	if (cc->have_reply) {
		*rep = cc->reply;
		cc->have_reply = false;
		err = 0;
	} else if (cc->broken) {
		err = cc->broken;
	}
	cc->want_seq = 0;
	pthread_mutex_unlock(&cc->mbox_lock);
	return err;
}

int client_rpc(struct upg_runtime *rt, struct proto_msg *req, const int *fds,
	       unsigned nfds, struct proto_msg *rep, int timeout_ms)
{
	struct client_conn *cc = rt->remote;
	int err;

	if (!timeout_ms)
		timeout_ms = RPC_TIMEOUT_MS;
	/* A notifier callback runs on the agent, the only reader of the
	 * answers: it would wait for itself. */
	if (cc->watching && pthread_equal(pthread_self(), cc->watcher))
		return -EDEADLK;
	pthread_mutex_lock(&cc->lock);
	if (cc->broken) {
		err = cc->broken;
		goto out;
	}
	req->hdr.seq = ++cc->seq;
	if (cc->watching) {
		pthread_mutex_lock(&cc->mbox_lock);
		cc->want_seq = req->hdr.seq;
		cc->have_reply = false;
		pthread_mutex_unlock(&cc->mbox_lock);
	}
	pthread_mutex_lock(&cc->send_lock);
	err = proto_send(cc->sock, req, fds, nfds, timeout_ms);
	pthread_mutex_unlock(&cc->send_lock);
	if (!err)
		err = cc->watching ? recv_mbox(cc, rep, timeout_ms) :
				     recv_direct(cc, req->hdr.seq, rep,
						 timeout_ms);
	if (!err && rep->hdr.type == PROTO_ERROR) {
		rt_err(rt, "upagerd refused a request: %s", rep->u.error.text);
		err = rep->u.error.status;
		proto_msg_release(rep);
	}
	if (err == -ECONNRESET || err == -EPIPE || err == -ETIMEDOUT ||
	    proto_conn_broken(&cc->conn)) {
		rt_err(rt, "connection to upagerd lost: %s", strerror(-err));
		pthread_mutex_lock(&cc->mbox_lock);
		if (!cc->broken)
			cc->broken = err ? err : -ECONNRESET;
		pthread_mutex_unlock(&cc->mbox_lock);
	}
out:
	pthread_mutex_unlock(&cc->lock);
	return err;
}

int client_rpc_status(struct upg_runtime *rt, struct proto_msg *req,
		      const int *fds, unsigned nfds, uint64_t *value)
{
	struct proto_msg rep;
	int err = client_rpc(rt, req, fds, nfds, &rep, 0);

	if (err)
		return err;
	if (rep.hdr.type != PROTO_REPLY) {
		proto_msg_release(&rep);
		return -EPROTO;
	}
	if (value)
		*value = rep.u.reply.value;
	err = rep.u.reply.status;
	proto_msg_release(&rep);
	return err;
}

static int connect_to(struct upg_runtime *rt, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		rt_err(rt, "cannot connect to upagerd at %s: %s%s", path,
		       strerror(-err),
		       err == -ENOENT || err == -ECONNREFUSED ?
			       " (is upagerd running? start it, or unset "
			       "UPAGER_SOCKET)" :
		       err == -EACCES ? " (the socket's permissions do not "
					"let this user connect)" :
					"");
		close(fd);
		return err;
	}
	return fd;
}

static int hello(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;
	struct proto_msg req, rep;
	int fd = rt->self.uffd.fd, err;
	char comm[32] = "";
	FILE *f = fopen("/proc/self/comm", "re");

	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	proto_msg_init(&req, PROTO_HELLO, 0);
	req.u.hello.version_min = PROTO_VERSION_MIN;
	req.u.hello.version_max = PROTO_VERSION_MAX;
	req.u.hello.features = PROTO_FEAT_PIN_SHM | PROTO_FEAT_NOTIFIERS |
			       PROTO_FEAT_STORE_URI;
	snprintf(req.u.hello.name, sizeof(req.u.hello.name), "%s", comm);
	err = client_rpc(rt, &req, &fd, 1, &rep, HELLO_TIMEOUT_MS);
	if (err)
		return err;
	if (rep.hdr.type != PROTO_HELLO_REPLY) {
		proto_msg_release(&rep);
		return -EPROTO;
	}
	err = rep.u.hello_reply.status;
	if (!err && rep.u.hello_reply.page_size != rt->page_size)
		err = -EINVAL;
	if (!err) {
		cc->client_id = rep.u.hello_reply.client_id;
		cc->features = rep.u.hello_reply.features;
		cc->own_budget_pages = rt->budget_pages;
		cc->own_pin_limit_pages = rt->pin_limit_pages;
		rt->budget_pages = rep.u.hello_reply.budget_bytes >>
				   rt->page_shift;
		/* The daemon honours pins of up to a quarter of its budget
		 * per client (evict/client_marks.c). */
		if (rt->pin_limit_pages > rt->budget_pages / 4)
			rt->pin_limit_pages = rt->budget_pages / 4;
	} else {
		rt_err(rt, "upagerd refused the connection: %s",
		       strerror(-err));
	}
	proto_msg_release(&rep);
	return err;
}

static void conn_locks_destroy(struct client_conn *cc)
{
	pthread_mutex_destroy(&cc->lock);
	pthread_mutex_destroy(&cc->send_lock);
	pthread_mutex_destroy(&cc->regions_lock);
	pthread_mutex_destroy(&cc->mbox_lock);
	pthread_cond_destroy(&cc->mbox_cond);
}

int client_connect(struct upg_runtime *rt, const char *path)
{
	struct client_conn *cc = calloc(1, sizeof(*cc));
	int err;

	if (!cc)
		return -ENOMEM;
	pthread_mutex_init(&cc->lock, NULL);
	pthread_mutex_init(&cc->send_lock, NULL);
	pthread_mutex_init(&cc->regions_lock, NULL);
	pthread_mutex_init(&cc->mbox_lock, NULL);
	cond_init_monotonic(&cc->mbox_cond);
	cc->sock = -1;
	cc->stop_efd = -1;
	err = proto_conn_init(&cc->conn, -1);
	if (err)
		goto out_free;
	cc->sock = connect_to(rt, path);
	if (cc->sock < 0) {
		err = cc->sock;
		goto out_fini;
	}
	cc->conn.sock = cc->sock;
	/* The daemon resolves faults through our uffd; we never read it. */
	err = uffd_open(rt, rt->flags & UPG_RT_USER_MODE_ONLY, false,
			&rt->self.uffd);
	if (err)
		goto out_close;
	rt->remote = cc;
	err = hello(rt);
	if (err)
		goto out_uffd;
	atomic_store(&rt->served_remotely, true);
	err = client_watch_start(rt);
	if (err)
		goto out_uffd;
	return 0;

out_uffd:
	atomic_store(&rt->served_remotely, false);
	rt->remote = NULL;
	close(rt->self.uffd.fd);
	rt->self.uffd.fd = -1;
out_close:
	close(cc->sock);
out_fini:
	proto_conn_fini(&cc->conn);
out_free:
	conn_locks_destroy(cc);
	free(cc);
	return err;
}

int client_destroy(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;
	struct proto_msg req;
	int err;

	while (cc->regions) {
		err = client_region_unmap(cc->regions, 0);
		if (err)
			return err;
	}
	/* The daemon hangs up after BYE: that is no death to take over. */
	client_watch_stop(rt);
	proto_msg_init(&req, PROTO_BYE, 0);
	client_rpc_status(rt, &req, NULL, 0, NULL);
	close(rt->self.uffd.fd);
	client_conn_free(rt);
	return 0;
}

void client_conn_free(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;

	client_watch_stop(rt);
	client_store_forget_all(rt);
	close(cc->sock);
	proto_conn_fini(&cc->conn);
	if (cc->have_reply)
		proto_msg_release(&cc->reply);
	conn_locks_destroy(cc);
	free(cc);
	rt->remote = NULL;
	atomic_store(&rt->served_remotely, false);
}
