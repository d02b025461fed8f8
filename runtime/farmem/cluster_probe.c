// SPDX-License-Identifier: MIT
/*
 * cluster_probe - see cluster_probe.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "farmem/cluster_probe.h"

/*
 * hiredis writes with write(2): to a peer that reset the connection that
 * raises SIGPIPE, which would kill an application that never asked for
 * sockets.  Block it around the call and swallow one we caused.
 */
struct sigpipe_guard {
	sigset_t old;
	int was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
	sigpending(&pend);
	g->was_pending = sigismember(&pend, SIGPIPE);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t set, pend;

	sigpending(&pend);
	if (!g->was_pending && sigismember(&pend, SIGPIPE)) {
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

redisReply *probe_command(redisContext *c, int argc, const char **argv,
			  const size_t *argvlen)
{
	struct sigpipe_guard g;
	redisReply *r;

	sigpipe_block(&g);
	r = redisCommandArgv(c, argc, argv, argvlen);
	sigpipe_restore(&g);
	return r;
}

int probe_connect(const struct node_addr *a, const struct redis_uri *u,
		  unsigned timeout_ms, redisContext **out, char *why,
		  size_t whylen)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	const char *argv[3];
	redisContext *c;
	redisReply *r;
	int argc = 0, ret;

	c = redisConnectWithTimeout(a->host, a->port, tv);
	if (!c)
		return -ENOMEM;
	if (c->err) {
		ret = strstr(c->errstr, "timed out") ? -ETIMEDOUT : -ECONNREFUSED;
		snprintf(why, whylen, "%s:%d: %s", a->host, a->port, c->errstr);
		redisFree(c);
		return ret;
	}
	redisSetTimeout(c, tv);
	if (u->pass[0]) {
		argv[argc++] = "AUTH";
		if (u->user[0])
			argv[argc++] = u->user;
		argv[argc++] = u->pass;
		r = probe_command(c, argc, argv, NULL);
		if (!r) {
			snprintf(why, whylen, "%s:%d: AUTH: %s", a->host,
				 a->port, c->errstr);
			redisFree(c);
			return -ETIMEDOUT;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(why, whylen, "%s:%d refused the credentials: %s",
				 a->host, a->port, r->str);
			freeReplyObject(r);
			redisFree(c);
			return -EACCES;
		}
		freeReplyObject(r);
	}
	*out = c;
	return 0;
}

int probe_slots(redisContext *c, struct slot_map *m, char *why, size_t whylen)
{
	const char *argv[] = { "CLUSTER", "SLOTS" };
	redisReply *r;
	int ret;

	r = probe_command(c, 2, argv, NULL);
	if (!r) {
		snprintf(why, whylen, "%s:%d: CLUSTER SLOTS: %s", c->tcp.host,
			 c->tcp.port, c->errstr);
		/* hiredis reports its socket timeout as EAGAIN's text. */
		if (strstr(c->errstr, "temporarily unavailable") ||
		    strstr(c->errstr, "timed out"))
			return -ETIMEDOUT;
		return -EIO;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (reply_classify(r, NULL) == RC_AUTH)
			ret = -EACCES;
		else if (strstr(r->str, "cluster support disabled"))
			ret = -ENOTCONN;
		else
			ret = -EPROTO;
		snprintf(why, whylen, "%s:%d: CLUSTER SLOTS: %s", c->tcp.host,
			 c->tcp.port, r->str);
		freeReplyObject(r);
		return ret;
	}
	ret = slot_map_parse(r, m);
	if (ret == -ENOTCONN)
		snprintf(why, whylen, "%s:%d has no slot assigned: the cluster "
			 "was never created (redis-cli --cluster create)",
			 c->tcp.host, c->tcp.port);
	else if (ret)
		snprintf(why, whylen, "%s:%d: CLUSTER SLOTS reply unusable (%s)",
			 c->tcp.host, c->tcp.port, strerror(-ret));
	freeReplyObject(r);
	return ret;
}

static int error_rank(int err)
{
	switch (err) {
	case -EACCES: return 5;
	case -ENOTCONN: return 4;
	case -EPROTO: return 3;
	case -E2BIG: return 3;
	case -ETIMEDOUT: return 2;
	case -EIO: return 2;
	default: return 1;
	}
}

int cluster_fetch_map(const struct node_addr *nodes, int n, int first,
		      const struct redis_uri *u, unsigned timeout_ms,
		      struct slot_map *m, char *why, size_t whylen)
{
	char one[256];
	redisContext *c;
	int i, ret, best = -ECONNREFUSED;

	snprintf(why, whylen, "no node to ask");
	for (i = 0; i < n; i++) {
		const struct node_addr *a = &nodes[(first + i) % n];

		one[0] = '\0';
		ret = probe_connect(a, u, timeout_ms, &c, one, sizeof(one));
		if (!ret) {
			ret = probe_slots(c, m, one, sizeof(one));
			redisFree(c);
			if (!ret)
				return 0;
		}
		if (i == 0 || error_rank(ret) > error_rank(best)) {
			best = ret;
			snprintf(why, whylen, "%s", one);
		}
	}
	return best;
}

int probe_unlink_each(redisContext *c, const redisReply *keys, uint64_t *count)
{
	struct sigpipe_guard g;
	const char *argv[2];
	size_t argvlen[2];
	redisReply *r;
	size_t i, sent = 0, got;
	int ret = 0;

	sigpipe_block(&g);
	argv[0] = "UNLINK";
	argvlen[0] = 6;
	for (i = 0; i < keys->elements; i++) {
		if (keys->element[i]->type != REDIS_REPLY_STRING)
			continue;
		argv[1] = keys->element[i]->str;
		argvlen[1] = keys->element[i]->len;
		if (redisAppendCommandArgv(c, 2, argv, argvlen) != REDIS_OK) {
			ret = -ENOMEM;
			break;
		}
		sent++;
	}
	for (got = 0; got < sent; got++) {
		void *reply = NULL;

		if (redisGetReply(c, &reply) != REDIS_OK || !reply) {
			ret = -EIO;
			break;
		}
		r = reply;
		if (r->type == REDIS_REPLY_INTEGER)
			*count += (uint64_t)r->integer;
		else if (!ret)
			ret = reply_classify(r, NULL) == RC_AUTH ? -EACCES : -EIO;
		freeReplyObject(r);
	}
	sigpipe_restore(&g);
	return ret;
}
