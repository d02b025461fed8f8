// SPDX-License-Identifier: MIT
/*
 * redis_store - a store on Redis Cluster (upg_store_open_uri()).
 *
 * Layout: the store's bytes are cut in extents of extent_pages pages; an
 * extent is one Redis string, key "upg:<name>:{<extent number>}" (the tag
 * spreads extents over the slots).  Reads are GETRANGE, writes SETRANGE;
 * a missing key or a short string reads as zeros.
 *
 * Threads: submit() cuts a request in extent parts and queues it for the
 * store's I/O thread, which owns everything else: one epoll loop over
 * non-blocking hiredis connections, two per master (reads never wait
 * behind a write's WAIT), per-master queues (a dead or hung master holds
 * up only its own requests), its own timers (hiredis 0.14 has none), and
 * the retry list.  Writes go out in batches, each closed by one
 * "WAIT <replicas> <wait_ms>" (group commit): a write completes only when
 * its SETRANGE succeeded and the WAIT after it counted enough replicas.
 * Anything else (refused or lost connection, a node silent for
 * timeout_ms, MOVED, ASK, TRYAGAIN, CLUSTERDOWN, NOREPLICAS, a short
 * WAIT) is retried, after a back-off, until the request's deadline; then
 * it fails -EIO.  OOM (maxmemory, noeviction) fails at once -ENOSPC.
 *
 * The slot map comes from CLUSTER SLOTS.  Fetching it blocks (connect,
 * command), and a node may hang, so a second thread does it on request
 * (throttled) and hands the new map to the I/O thread; a MOVED updates
 * the slot at once and asks for a refresh.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/log.h"
#include "farmem/cluster_probe.h"
#include "farmem/redis_uri.h"
#include "farmem/slot_map.h"
#include "store/store.h"
#include "store/store_impl.h"

#define RS_PAGE 4096u
#define RS_KEY_MAX (REDIS_URI_NAME_MAX + 48)
/* GETRANGEs in flight on one read connection. */
#define RS_READ_INFLIGHT 256
/* Bytes of SETRANGE data in one write batch, at most. */
#define RS_BATCH_BYTES (4u << 20)
/* Bytes read from a socket per read(2). */
#define RS_RBUF (256u << 10)
/* At most one CLUSTER SLOTS fetch per this long. */
#define RS_REFRESH_MIN_NS (100 * 1000000LL)

enum rop_kind {
	K_GET, K_SET, K_UNLINK,      /* parts of requests */
	K_WAIT, K_AUTH, K_ASKING,    /* the store's own commands */
};

struct rreq;
struct shard;

/* One command: a part of a request (one extent), or the store's own. */
struct rop {
	struct rop *next;
	struct rreq *req;            /* NULL for K_WAIT/K_AUTH/K_ASKING */
	enum rop_kind kind;
	uint16_t slot;
	uint64_t extent;
	uint32_t off, len;           /* within the extent */
	char *buf;
	unsigned attempt;
	int64_t not_before;          /* retry list: due time */
	struct shard *ask;           /* ASK target for the next try */
	enum reply_class result;     /* a write's reply, until its WAIT */
	int last_err;
};

struct sync_wait {
	bool done;
	int res;
};

struct rreq {
	struct rreq *next;           /* incoming list */
	struct upg_io *io;           /* NULL: internal (discard) */
	struct sync_wait *sw;        /* internal: who waits */
	bool is_write;
	unsigned pending;            /* parts not done */
	int err;
	int64_t deadline;
	unsigned nparts;
	struct rop parts[];
};

struct rop_list {
	struct rop *head, *tail;
	unsigned n;
};

enum conn_state { C_DOWN, C_CONNECTING, C_READY };

struct conn {
	struct shard *sh;
	bool is_write;
	enum conn_state state;
	redisContext *c;
	struct rop_list inflight;    /* replies awaited, in order */
	int64_t progress_at;         /* last reply, or first command sent */
	int64_t connect_at;
	int64_t retry_at;            /* next connect attempt */
	unsigned fails;              /* connect/IO failures in a row */
	bool want_out;
};

struct shard {
	struct shard *next;
	struct node_addr addr;
	struct conn rd, wr;
	struct rop_list rq, wq;      /* queued reads, writes */
	struct rop_list batch;       /* writes answered, awaiting their WAIT */
	bool batch_open;             /* a WAIT is in flight on wr */
	/* counters, for the log and upg_store_redis_stats() */
	uint64_t errors, reconnects;
	int64_t oom_logged_at;       /* one OOM line a second, at most */
};

struct rstore {
	struct redis_uri uri;
	char prefix[RS_KEY_MAX];
	uint64_t extent_bytes;
	char *zeros;                 /* extent_bytes of zeros, for discard */
	struct upg_store *st;

	int epfd, evfd;
	pthread_t io_thread, refresh_thread;
	bool io_started, refresh_started;

	/* lock: the incoming list, stop, write accounting, sync waits. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rreq *in_head, *in_tail;
	bool stop;
	uint64_t writes_outstanding;

	/* map_lock: refresh requests and the map handed over. */
	pthread_mutex_t map_lock;
	pthread_cond_t map_cond;
	bool refresh_wanted;
	bool refresh_stop;
	struct slot_map *new_map;    /* fetched, not yet applied */
	struct node_addr *known;     /* nodes to ask: last map + seeds */
	int nknown;
	unsigned refresh_rr;

	/* I/O thread only. */
	char *rbuf;                  /* RS_RBUF bytes, for conn_read() */
	struct slot_map *map;
	struct shard *slot_shard[REDIS_SLOTS];
	struct shard *shards;
	struct rop_list retry;
	uint64_t ops_outstanding;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void list_push(struct rop_list *l, struct rop *op)
{
	op->next = NULL;
	if (l->tail)
		l->tail->next = op;
	else
		l->head = op;
	l->tail = op;
	l->n++;
}

static struct rop *list_pop(struct rop_list *l)
{
	struct rop *op = l->head;

	if (op) {
		l->head = op->next;
		if (!l->head)
			l->tail = NULL;
		l->n--;
		op->next = NULL;
	}
	return op;
}

static struct rop_list list_take(struct rop_list *l)
{
	struct rop_list all = *l;

	memset(l, 0, sizeof(*l));
	return all;
}

static int key_of(const struct rstore *rs, uint64_t extent, char *key)
{
	return snprintf(key, RS_KEY_MAX, "%s{%" PRIu64 "}", rs->prefix, extent);
}

static void wake(struct rstore *rs)
{
	uint64_t one = 1;
	ssize_t n;

	n = write(rs->evfd, &one, sizeof(one));
	(void)n; /* a full counter already wakes the loop */
}

/* ---- refresh thread ------------------------------------------------- */

static void refresh_request(struct rstore *rs)
{
	pthread_mutex_lock(&rs->map_lock);
	if (!rs->refresh_wanted) {
		rs->refresh_wanted = true;
		pthread_cond_signal(&rs->map_cond);
	}
	pthread_mutex_unlock(&rs->map_lock);
}

static void known_from_map(struct rstore *rs, const struct slot_map *m)
{
	int i, j, n = 0;
	struct node_addr *k;

	k = malloc(sizeof(*k) * (size_t)(m->nnodes + rs->uri.nseeds));
	if (!k)
		return; /* keep the old list */
	for (i = 0; i < m->nnodes; i++)
		k[n++] = m->nodes[i];
	for (i = 0; i < rs->uri.nseeds; i++) {
		for (j = 0; j < n; j++)
			if (k[j].port == rs->uri.seeds[i].port &&
			    !strcmp(k[j].host, rs->uri.seeds[i].host))
				break;
		if (j == n)
			k[n++] = rs->uri.seeds[i];
	}
	free(rs->known);
	rs->known = k;
	rs->nknown = n;
}

static void *refresh_main(void *arg)
{
	struct rstore *rs = arg;
	struct node_addr *nodes = NULL;
	struct slot_map *m = NULL;
	char why[256];
	int64_t last = 0;
	int n, first, ret;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	pthread_mutex_lock(&rs->map_lock);
	for (;;) {
		while (!rs->refresh_wanted && !rs->refresh_stop)
			pthread_cond_wait(&rs->map_cond, &rs->map_lock);
		if (rs->refresh_stop)
			break;
		if (now_ns() - last < RS_REFRESH_MIN_NS) {
			struct timespec ts;
			int64_t due = last + RS_REFRESH_MIN_NS;

			/* CLOCK_REALTIME for the condvar; the wait is short. */
			clock_gettime(CLOCK_REALTIME, &ts);
			due = due - now_ns() + ts.tv_nsec;
			ts.tv_sec += due / 1000000000LL;
			ts.tv_nsec = due % 1000000000LL;
			pthread_cond_timedwait(&rs->map_cond, &rs->map_lock, &ts);
			continue;
		}
		rs->refresh_wanted = false;
		n = rs->nknown;
		free(nodes);
		nodes = malloc(sizeof(*nodes) * (size_t)n);
		if (nodes)
			memcpy(nodes, rs->known, sizeof(*nodes) * (size_t)n);
		first = (int)(rs->refresh_rr++ % (unsigned)(n ? n : 1));
		pthread_mutex_unlock(&rs->map_lock);

		last = now_ns();
		if (!m)
			m = malloc(sizeof(*m));
		ret = nodes && m ? cluster_fetch_map(nodes, n, first, &rs->uri,
						     rs->uri.timeout_ms / 2 + 1,
						     m, why, sizeof(why))
				 : -ENOMEM;

		pthread_mutex_lock(&rs->map_lock);
		if (!ret) {
			known_from_map(rs, m);
			free(rs->new_map);
			rs->new_map = m;
			m = NULL;
			wake(rs);
		} else {
			rt_dbg(NULL, "redis store %s: slot map refresh failed: %s",
			       rs->uri.name, why);
		}
	}
	pthread_mutex_unlock(&rs->map_lock);
	free(nodes);
	free(m);
	return NULL;
}

/* ---- completion ----------------------------------------------------- */

static void req_finish(struct rstore *rs, struct rreq *req)
{
	struct upg_io *io = req->io;
	int err = req->err;
	bool is_write = req->is_write;

	if (req->sw) {
		pthread_mutex_lock(&rs->lock);
		req->sw->res = err;
		req->sw->done = true;
		if (is_write)
			rs->writes_outstanding--;
		pthread_cond_broadcast(&rs->cond);
		pthread_mutex_unlock(&rs->lock);
		free(req);
		return;
	}
	free(req);
	/* Completion first: done() may submit again (to this store too). */
	upg_io_complete(io, err ? err : (ssize_t)io->len);
	if (is_write) {
		pthread_mutex_lock(&rs->lock);
		if (!--rs->writes_outstanding)
			pthread_cond_broadcast(&rs->cond);
		pthread_mutex_unlock(&rs->lock);
	}
}

static void part_done(struct rstore *rs, struct rop *op, int err)
{
	struct rreq *req = op->req;

	rs->ops_outstanding--;
	if (err && !req->err)
		req->err = err;
	if (!--req->pending)
		req_finish(rs, req);
}

/* ---- routing -------------------------------------------------------- */

static struct shard *shard_get(struct rstore *rs, const struct node_addr *a)
{
	struct shard *sh;

	for (sh = rs->shards; sh; sh = sh->next)
		if (sh->addr.port == a->port && !strcmp(sh->addr.host, a->host))
			return sh;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	sh->addr = *a;
	sh->rd.sh = sh;
	sh->wr.sh = sh;
	sh->wr.is_write = true;
	sh->next = rs->shards;
	rs->shards = sh;
	return sh;
}

static void retry_later(struct rstore *rs, struct rop *op, int err,
			unsigned delay_ms)
{
	int64_t now = now_ns();

	if (err)
		op->last_err = err;
	if (now >= op->req->deadline) {
		part_done(rs, op, -EIO);
		return;
	}
	op->not_before = now + (int64_t)delay_ms * 1000000LL;
	list_push(&rs->retry, op);
}

static void route(struct rstore *rs, struct rop *op)
{
	struct shard *sh = op->ask ? op->ask : rs->slot_shard[op->slot];

	if (!sh) {
		/* Slot uncovered (its master is down): wait for a new map. */
		refresh_request(rs);
		retry_later(rs, op, -EHOSTUNREACH, backoff_ms(op->attempt++));
		return;
	}
	list_push(op->kind == K_GET ? &sh->rq : &sh->wq, op);
}

static void map_apply(struct rstore *rs, struct slot_map *m)
{
	struct shard *by_master[SLOT_MAP_MAX_MASTERS];
	struct rop_list q;
	struct shard *sh;
	struct rop *op;
	int i;

	for (i = 0; i < m->nmasters; i++)
		by_master[i] = shard_get(rs, &m->masters[i]);
	for (i = 0; i < REDIS_SLOTS; i++)
		rs->slot_shard[i] = m->owner[i] >= 0 ? by_master[m->owner[i]] : NULL;
	free(rs->map);
	rs->map = m;
	/* Queued (not yet sent) commands go where the new map says. */
	for (sh = rs->shards; sh; sh = sh->next) {
		q = list_take(&sh->rq);
		while ((op = list_pop(&q)))
			route(rs, op);
		q = list_take(&sh->wq);
		while ((op = list_pop(&q)))
			route(rs, op);
	}
}

static void moved(struct rstore *rs, const struct redirect *rd)
{
	if (rs->map && !slot_map_set_owner(rs->map, rd->slot, &rd->addr))
		rs->slot_shard[rd->slot] = shard_get(rs, &rd->addr);
	refresh_request(rs);
}

/* What an error reply means for the part @op. */
static void part_error(struct rstore *rs, struct shard *sh, struct rop *op,
		       enum reply_class rc, const struct redirect *rd,
		       const char *text)
{
	sh->errors++;
	switch (rc) {
	case RC_MOVED:
		moved(rs, rd);
		op->ask = NULL;
		retry_later(rs, op, -EAGAIN, 0);
		return;
	case RC_ASK:
		op->ask = shard_get(rs, &rd->addr);
		retry_later(rs, op, -EAGAIN, 0);
		return;
	case RC_OOM:
		if (now_ns() - sh->oom_logged_at < 1000000000LL) {
			part_done(rs, op, -ENOSPC);
			return;
		}
		sh->oom_logged_at = now_ns();
		rt_warn(NULL, "redis store %s: %s:%d is full (%s): write fails "
			"-ENOSPC, the pages stay dirty; raise maxmemory or add "
			"masters", rs->uri.name, sh->addr.host, sh->addr.port,
			text);
		part_done(rs, op, -ENOSPC);
		return;
	case RC_AUTH:
		rt_err(NULL, "redis store %s: %s:%d: %s", rs->uri.name,
		       sh->addr.host, sh->addr.port, text);
		part_done(rs, op, -EACCES);
		return;
	case RC_CLUSTERDOWN:
	case RC_READONLY:
	case RC_MASTERDOWN:
		refresh_request(rs);
		/* fall through */
	case RC_TRYAGAIN:
	case RC_NOREPLICAS:
	case RC_LOADING:
		op->ask = NULL;
		retry_later(rs, op, -EAGAIN, backoff_ms(op->attempt++));
		return;
	default:
		rt_err(NULL, "redis store %s: %s:%d answered %s", rs->uri.name,
		       sh->addr.host, sh->addr.port, text);
		part_done(rs, op, -EIO);
		return;
	}
}

/* ---- connections ---------------------------------------------------- */

static void conn_epoll(struct rstore *rs, struct conn *cn, int opcode)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (cn->want_out ? EPOLLOUT : 0),
		.data.ptr = cn,
	};

	epoll_ctl(rs->epfd, opcode, cn->c->fd, &ev);
}

static void op_free_own(struct rop *op)
{
	if (!op->req)
		free(op);
}

/*
 * The connection is unusable (refused, reset, silent too long): drop it,
 * send everything that was in flight or queued on it back through the
 * retry list (the map may have changed), ask for a new map.
 */
static void conn_fail(struct rstore *rs, struct conn *cn, const char *why)
{
	struct shard *sh = cn->sh;
	struct rop_list q;
	struct rop *op;
	unsigned delay;

	if (cn->c) {
		if (cn->state == C_READY || cn->state == C_CONNECTING)
			rt_dbg(NULL, "redis store %s: %s:%d %s connection: %s",
			       rs->uri.name, sh->addr.host, sh->addr.port,
			       cn->is_write ? "write" : "read", why);
		epoll_ctl(rs->epfd, EPOLL_CTL_DEL, cn->c->fd, NULL);
		redisFree(cn->c);
		cn->c = NULL;
	}
	cn->state = C_DOWN;
	cn->want_out = false;
	delay = backoff_ms(cn->fails < 16 ? cn->fails : 16);
	cn->fails++;
	cn->retry_at = now_ns() + (int64_t)delay * 1000000LL;
	sh->errors++;

	q = list_take(&cn->inflight);
	while ((op = list_pop(&q))) {
		if (op->req)
			retry_later(rs, op, -ECONNRESET, delay);
		else
			op_free_own(op);
	}
	if (cn->is_write) {
		q = list_take(&sh->batch);
		while ((op = list_pop(&q)))
			retry_later(rs, op, -ECONNRESET, delay);
		sh->batch_open = false;
	}
	q = list_take(cn->is_write ? &sh->wq : &sh->rq);
	while ((op = list_pop(&q)))
		retry_later(rs, op, -ECONNRESET, delay);
	refresh_request(rs);
}

static int conn_append(struct conn *cn, struct rop *op, int argc,
		       const char **argv, const size_t *argvlen)
{
	if (redisAppendCommandArgv(cn->c, argc, argv, argvlen) != REDIS_OK)
		return -ENOMEM;
	if (!cn->inflight.n)
		cn->progress_at = now_ns();
	list_push(&cn->inflight, op);
	return 0;
}

static int conn_append_own(struct conn *cn, enum rop_kind kind, int argc,
			   const char **argv)
{
	struct rop *op = calloc(1, sizeof(*op));
	int ret;

	if (!op)
		return -ENOMEM;
	op->kind = kind;
	ret = conn_append(cn, op, argc, argv, NULL);
	if (ret)
		free(op);
	return ret;
}

static void conn_start(struct rstore *rs, struct conn *cn)
{
	const char *argv[3];
	int argc = 0;

	cn->c = redisConnectNonBlock(cn->sh->addr.host, cn->sh->addr.port);
	if (!cn->c || cn->c->err) {
		conn_fail(rs, cn, cn->c ? cn->c->errstr : "out of memory");
		return;
	}
	cn->sh->reconnects++;
	cn->state = C_CONNECTING;
	cn->connect_at = now_ns();
	cn->want_out = true;
	conn_epoll(rs, cn, EPOLL_CTL_ADD);
	if (rs->uri.pass[0]) {
		argv[argc++] = "AUTH";
		if (rs->uri.user[0])
			argv[argc++] = rs->uri.user;
		argv[argc++] = rs->uri.pass;
		if (conn_append_own(cn, K_AUTH, argc, argv))
			conn_fail(rs, cn, "out of memory");
	}
}

static void conn_flush(struct rstore *rs, struct conn *cn)
{
	int done = 0;
	bool want;

	if (cn->state != C_READY)
		return;
	if (redisBufferWrite(cn->c, &done) != REDIS_OK) {
		conn_fail(rs, cn, cn->c->errstr);
		return;
	}
	want = !done;
	if (want != cn->want_out) {
		cn->want_out = want;
		conn_epoll(rs, cn, EPOLL_CTL_MOD);
	}
}

static int send_part(struct rstore *rs, struct conn *cn, struct rop *op)
{
	char key[RS_KEY_MAX], a1[24], a2[24];
	const char *argv[4];
	size_t argvlen[4];
	int argc;

	if (op->ask) {
		const char *asking = "ASKING";

		if (conn_append_own(cn, K_ASKING, 1, &asking))
			return -ENOMEM;
		op->ask = NULL;
	}
	argvlen[1] = (size_t)key_of(rs, op->extent, key);
	argv[1] = key;
	switch (op->kind) {
	case K_GET:
		argv[0] = "GETRANGE";
		argvlen[2] = (size_t)snprintf(a1, sizeof(a1), "%u", op->off);
		argvlen[3] = (size_t)snprintf(a2, sizeof(a2), "%u",
					      op->off + op->len - 1);
		argv[2] = a1;
		argv[3] = a2;
		argc = 4;
		break;
	case K_SET:
		argv[0] = "SETRANGE";
		argvlen[2] = (size_t)snprintf(a1, sizeof(a1), "%u", op->off);
		argv[2] = a1;
		argv[3] = op->buf;
		argvlen[3] = op->len;
		argc = 4;
		break;
	default: /* K_UNLINK */
		argv[0] = "UNLINK";
		argc = 2;
		break;
	}
	argvlen[0] = strlen(argv[0]);
	return conn_append(cn, op, argc, argv, argvlen);
}

/* Move queued commands of @sh onto its connections, as far as allowed. */
static void shard_pump(struct rstore *rs, struct shard *sh, int64_t now)
{
	char nrep[16], wms[16];
	const char *wait_argv[3] = { "WAIT", nrep, wms };
	struct rop *op;
	size_t bytes = 0;
	unsigned n = 0;

	if (sh->rq.n) {
		if (sh->rd.state == C_DOWN && now >= sh->rd.retry_at)
			conn_start(rs, &sh->rd);
		if (sh->rd.state == C_READY) {
			while (sh->rd.inflight.n < RS_READ_INFLIGHT &&
			       (op = list_pop(&sh->rq))) {
				if (send_part(rs, &sh->rd, op)) {
					list_push(&sh->rq, op);
					break;
				}
			}
			conn_flush(rs, &sh->rd);
		}
	}
	if (sh->wq.n && !sh->batch_open) {
		if (sh->wr.state == C_DOWN && now >= sh->wr.retry_at)
			conn_start(rs, &sh->wr);
		if (sh->wr.state == C_READY) {
			while (n < rs->uri.batch && bytes < RS_BATCH_BYTES &&
			       (op = list_pop(&sh->wq))) {
				if (send_part(rs, &sh->wr, op)) {
					list_push(&sh->wq, op);
					break;
				}
				n++;
				bytes += op->kind == K_SET ? op->len : 0;
			}
			if (n) {
				snprintf(nrep, sizeof(nrep), "%u", rs->uri.replicas);
				snprintf(wms, sizeof(wms), "%u", rs->uri.wait_ms);
				if (conn_append_own(&sh->wr, K_WAIT, 3, wait_argv)) {
					conn_fail(rs, &sh->wr, "out of memory");
					return;
				}
				sh->batch_open = true;
			}
			conn_flush(rs, &sh->wr);
		}
	}
}

/* A WAIT answered: settle the batch in front of it. */
static void batch_settle(struct rstore *rs, struct shard *sh,
			 const redisReply *r)
{
	long long acked = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	struct rop_list q = list_take(&sh->batch);
	struct rop *op;

	sh->batch_open = false;
	while ((op = list_pop(&q))) {
		if (op->result != RC_OK)
			continue; /* handled when its reply came */
		if (acked >= (long long)rs->uri.replicas) {
			part_done(rs, op, 0);
		} else {
			/* Applied on the master, not (yet) on enough
			 * replicas: send it again; SETRANGE is idempotent. */
			sh->errors++;
			retry_later(rs, op, -EAGAIN, backoff_ms(op->attempt++));
		}
	}
	/* An error instead of a count: a replica now (demoted after a
	 * failover), or some other trouble; ask for a new map. */
	if (acked < 0)
		refresh_request(rs);
	if (acked < (long long)rs->uri.replicas)
		rt_dbg(NULL, "redis store %s: %s:%d: WAIT counted %lld of %u "
		       "replicas", rs->uri.name, sh->addr.host, sh->addr.port,
		       acked, rs->uri.replicas);
}

/* One reply for the oldest command in flight on @cn.  Return false if the
 * connection was dropped. */
static bool conn_reply(struct rstore *rs, struct conn *cn, redisReply *r)
{
	struct shard *sh = cn->sh;
	struct rop *op = list_pop(&cn->inflight);
	struct redirect rd;
	enum reply_class rc;
	size_t n;

	cn->progress_at = now_ns();
	if (!op) {
		conn_fail(rs, cn, "a reply to no command");
		return false;
	}
	rc = reply_classify(r, &rd);
	switch (op->kind) {
	case K_AUTH:
		free(op);
		if (rc != RC_OK) {
			rt_err(NULL, "redis store %s: %s:%d refused AUTH: %s",
			       rs->uri.name, sh->addr.host, sh->addr.port, r->str);
			conn_fail(rs, cn, "AUTH refused");
			return false;
		}
		return true;
	case K_ASKING:
		free(op);
		return true;
	case K_WAIT:
		free(op);
		batch_settle(rs, sh, r);
		return true;
	case K_GET:
		if (rc != RC_OK) {
			part_error(rs, sh, op, rc, &rd, r->str);
			return true;
		}
		n = r->type == REDIS_REPLY_STRING ? r->len : 0;
		if (n > op->len)
			n = op->len;
		memcpy(op->buf, r->str, n);
		/* A missing key or a short string reads as zeros. */
		memset(op->buf + n, 0, op->len - n);
		part_done(rs, op, 0);
		return true;
	default: /* K_SET, K_UNLINK: settled by the batch's WAIT */
		op->result = rc;
		if (rc != RC_OK)
			part_error(rs, sh, op, rc, &rd, r->str);
		else
			list_push(&sh->batch, op);
		return true;
	}
}

/*
 * Read what the socket has into hiredis's reader.  Not redisBufferRead():
 * it reads 16 KiB per call, a quarter of one extent, and so per trip
 * through epoll.  A bounded number of reads keeps the other connections'
 * turn coming.  Return -1 if the connection was dropped.
 */
static int conn_read(struct rstore *rs, struct conn *cn)
{
	ssize_t n;
	int i;

	for (i = 0; i < 8; i++) {
		n = read(cn->c->fd, rs->rbuf, RS_RBUF);
		if (n > 0) {
			if (redisReaderFeed(cn->c->reader, rs->rbuf, (size_t)n) !=
			    REDIS_OK) {
				conn_fail(rs, cn, cn->c->reader->errstr);
				return -1;
			}
			if ((size_t)n < RS_RBUF)
				return 0;
			continue;
		}
		if (n == 0) {
			conn_fail(rs, cn, "server closed the connection");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_fail(rs, cn, strerror(errno));
		return -1;
	}
	return 0;
}

static void conn_event(struct rstore *rs, struct conn *cn, uint32_t events)
{
	void *reply;
	int err = 0;
	socklen_t len = sizeof(err);

	if (cn->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(cn->c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			conn_fail(rs, cn, strerror(err ? err : errno));
			return;
		}
		cn->state = C_READY;
		cn->fails = 0;
		cn->progress_at = now_ns();
		conn_flush(rs, cn);
		return;
	}
	if (cn->state != C_READY)
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		if (conn_read(rs, cn))
			return;
		for (;;) {
			reply = NULL;
			if (redisGetReplyFromReader(cn->c, &reply) != REDIS_OK) {
				conn_fail(rs, cn, cn->c->errstr);
				return;
			}
			if (!reply)
				break;
			if (!conn_reply(rs, cn, reply)) {
				freeReplyObject(reply);
				return;
			}
			freeReplyObject(reply);
		}
	}
	if (events & EPOLLOUT)
		conn_flush(rs, cn);
}

/* The store's own timers: connects and replies that take too long. */
static void conn_check_timeout(struct rstore *rs, struct conn *cn, int64_t now)
{
	int64_t limit = (int64_t)rs->uri.timeout_ms * 1000000LL;

	if (cn->is_write)
		limit += (int64_t)rs->uri.wait_ms * 1000000LL;
	if (cn->state == C_CONNECTING && now - cn->connect_at > limit)
		conn_fail(rs, cn, "connect timed out");
	else if (cn->state == C_READY && cn->inflight.n &&
		 now - cn->progress_at > limit)
		conn_fail(rs, cn, "no reply in time (node hung?)");
}

/* ---- the I/O thread ------------------------------------------------- */

static void take_incoming(struct rstore *rs)
{
	struct rreq *req, *next;
	unsigned i;

	pthread_mutex_lock(&rs->lock);
	req = rs->in_head;
	rs->in_head = rs->in_tail = NULL;
	pthread_mutex_unlock(&rs->lock);
	for (; req; req = next) {
		next = req->next;
		rs->ops_outstanding += req->nparts;
		for (i = 0; i < req->nparts; i++)
			route(rs, &req->parts[i]);
	}
}

static void take_map(struct rstore *rs)
{
	struct slot_map *m;

	pthread_mutex_lock(&rs->map_lock);
	m = rs->new_map;
	rs->new_map = NULL;
	pthread_mutex_unlock(&rs->map_lock);
	if (m)
		map_apply(rs, m);
}

static void run_timers(struct rstore *rs, int64_t now)
{
	struct rop_list q;
	struct shard *sh;
	struct rop *op;

	for (sh = rs->shards; sh; sh = sh->next) {
		conn_check_timeout(rs, &sh->rd, now);
		conn_check_timeout(rs, &sh->wr, now);
	}
	q = list_take(&rs->retry);
	while ((op = list_pop(&q))) {
		if (op->not_before > now)
			list_push(&rs->retry, op);
		else
			route(rs, op);
	}
}

static void *io_main(void *arg)
{
	struct rstore *rs = arg;
	struct epoll_event evs[64];
	struct shard *sh;
	uint64_t cnt;
	sigset_t set;
	int i, n;
	bool stop;

	/* hiredis writes with write(2): EPIPE, not a process-killing SIGPIPE. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	for (;;) {
		/* A 5 ms tick while anything is outstanding: retries and
		 * timeouts; otherwise sleep until woken. */
		n = epoll_wait(rs->epfd, evs, 64, rs->ops_outstanding ? 5 : -1);
		for (i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				/* Only the wake-up matters, not the count. */
				ssize_t rn = read(rs->evfd, &cnt, sizeof(cnt));

				(void)rn;
				continue;
			}
			conn_event(rs, evs[i].data.ptr, evs[i].events);
		}
		pthread_mutex_lock(&rs->lock);
		stop = rs->stop;
		pthread_mutex_unlock(&rs->lock);
		if (stop)
			break;
		take_map(rs);
		take_incoming(rs);
		run_timers(rs, now_ns());
		for (sh = rs->shards; sh; sh = sh->next)
			shard_pump(rs, sh, now_ns());
	}
	return NULL;
}

/* ---- store ops ------------------------------------------------------ */

static struct rreq *req_build(struct rstore *rs, enum rop_kind kind,
			      uint64_t off, uint64_t len, char *buf)
{
	uint64_t eb = rs->extent_bytes, first, last, e, pos, end;
	char key[RS_KEY_MAX];
	struct rreq *req;
	struct rop *op;
	unsigned i;

	first = off / eb;
	last = (off + len - 1) / eb;
	req = calloc(1, sizeof(*req) + sizeof(struct rop) * (size_t)(last - first + 1));
	if (!req)
		return NULL;
	req->nparts = (unsigned)(last - first + 1);
	req->pending = req->nparts;
	req->is_write = kind != K_GET;
	req->deadline = now_ns() + (int64_t)rs->uri.deadline_ms * 1000000LL;
	pos = off;
	end = off + len;
	for (i = 0, e = first; e <= last; e++, i++) {
		op = &req->parts[i];
		op->req = req;
		op->kind = kind;
		op->extent = e;
		op->off = (uint32_t)(pos - e * eb);
		op->len = (uint32_t)((end < (e + 1) * eb ? end : (e + 1) * eb) - pos);
		op->buf = buf ? buf + (pos - off) : rs->zeros;
		op->slot = key_slot(key, (size_t)key_of(rs, e, key));
		pos += op->len;
	}
	return req;
}

static void req_queue(struct rstore *rs, struct rreq *req)
{
	pthread_mutex_lock(&rs->lock);
	if (req->is_write)
		rs->writes_outstanding++;
	if (rs->in_tail)
		rs->in_tail->next = req;
	else
		rs->in_head = req;
	rs->in_tail = req;
	pthread_mutex_unlock(&rs->lock);
	wake(rs);
}

static int redis_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct rstore *rs = ctx;
	struct rreq *req;

	(void)q;
	if (!io->len)
		return -EINVAL;
	if (io->offset + io->len < io->offset)
		return -EOVERFLOW;
	req = req_build(rs, io->op == UPG_IO_WRITE ? K_SET : K_GET,
			io->offset, io->len, io->buf);
	if (!req)
		return -ENOMEM;
	req->io = io;
	req_queue(rs, req);
	return 0;
}

static int redis_flush(void *ctx)
{
	struct rstore *rs = ctx;

	/* Writes complete only once WAITed for: waiting for the ones in
	 * flight is the whole of flush.  Their errors went to their own
	 * completions. */
	pthread_mutex_lock(&rs->lock);
	while (rs->writes_outstanding)
		pthread_cond_wait(&rs->cond, &rs->lock);
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

static int run_sync(struct rstore *rs, struct rreq *req)
{
	struct sync_wait sw = { false, 0 };

	req->sw = &sw;
	req_queue(rs, req);
	pthread_mutex_lock(&rs->lock);
	while (!sw.done)
		pthread_cond_wait(&rs->cond, &rs->lock);
	pthread_mutex_unlock(&rs->lock);
	return sw.res;
}

static int redis_discard(void *ctx, uint64_t off, uint64_t len)
{
	struct rstore *rs = ctx;
	uint64_t eb = rs->extent_bytes, end = off + len, head_end, tail_start;
	struct rreq *req;
	int ret = 0;

	if (!len)
		return 0;
	if (end < off)
		return -EOVERFLOW;
	/* Whole extents are unlinked; the partial ends get zeros. */
	head_end = (off + eb - 1) / eb * eb;
	tail_start = end / eb * eb;
	if (head_end >= tail_start) {
		req = req_build(rs, K_SET, off, len, NULL);
		return req ? run_sync(rs, req) : -ENOMEM;
	}
	if (off < head_end) {
		req = req_build(rs, K_SET, off, head_end - off, NULL);
		ret = req ? run_sync(rs, req) : -ENOMEM;
	}
	if (!ret) {
		req = req_build(rs, K_UNLINK, head_end, tail_start - head_end, NULL);
		ret = req ? run_sync(rs, req) : -ENOMEM;
	}
	if (!ret && tail_start < end) {
		req = req_build(rs, K_SET, tail_start, end - tail_start, NULL);
		ret = req ? run_sync(rs, req) : -ENOMEM;
	}
	return ret;
}

static void shards_free(struct rstore *rs)
{
	struct shard *sh, *next;
	struct conn *cns[2];
	struct rop *op;
	int i;

	for (sh = rs->shards; sh; sh = next) {
		next = sh->next;
		cns[0] = &sh->rd;
		cns[1] = &sh->wr;
		for (i = 0; i < 2; i++) {
			while ((op = list_pop(&cns[i]->inflight)))
				op_free_own(op);
			if (cns[i]->c)
				redisFree(cns[i]->c);
		}
		free(sh);
	}
	rs->shards = NULL;
}

static void rstore_free(struct rstore *rs)
{
	if (rs->io_started) {
		pthread_mutex_lock(&rs->lock);
		rs->stop = true;
		pthread_mutex_unlock(&rs->lock);
		wake(rs);
		pthread_join(rs->io_thread, NULL);
	}
	if (rs->refresh_started) {
		pthread_mutex_lock(&rs->map_lock);
		rs->refresh_stop = true;
		pthread_cond_broadcast(&rs->map_cond);
		pthread_mutex_unlock(&rs->map_lock);
		pthread_join(rs->refresh_thread, NULL);
	}
	/* The last reference is gone: no request can be outstanding. */
	shards_free(rs);
	if (rs->epfd >= 0)
		close(rs->epfd);
	if (rs->evfd >= 0)
		close(rs->evfd);
	free(rs->map);
	free(rs->new_map);
	free(rs->known);
	free(rs->zeros);
	free(rs->rbuf);
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->lock);
	pthread_cond_destroy(&rs->map_cond);
	pthread_mutex_destroy(&rs->map_lock);
	free(rs);
}

static void redis_close(void *ctx)
{
	rstore_free(ctx);
}

static const struct upg_store_ops redis_store_ops = {
	.sz = sizeof(struct upg_store_ops),
	.submit = redis_submit,
	.flush = redis_flush,
	.close = redis_close,
	.discard = redis_discard,
};

/* CLUSTER KEYSLOT must agree with key_slot(), or every request would
 * chase MOVED replies: check once at open. */
static int check_keyslot(const struct rstore *rs, char *why, size_t whylen)
{
	char key[RS_KEY_MAX];
	const char *argv[3] = { "CLUSTER", "KEYSLOT", key };
	const struct node_addr *a = &rs->map->masters[0];
	redisContext *c;
	redisReply *r;
	size_t klen;
	int ret;

	klen = (size_t)key_of(rs, 12345, key);
	ret = probe_connect(a, &rs->uri, rs->uri.timeout_ms, &c, why, whylen);
	if (ret)
		return ret;
	r = probe_command(c, 3, argv, NULL);
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		snprintf(why, whylen, "%s:%d: CLUSTER KEYSLOT failed", a->host,
			 a->port);
		ret = -EPROTO;
	} else if (r->integer != key_slot(key, klen)) {
		snprintf(why, whylen, "%s:%d puts %s in slot %lld, we compute %u",
			 a->host, a->port, key, r->integer, key_slot(key, klen));
		ret = -EPROTO;
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ret;
}

static const char *open_hint(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return "start the cluster (tools/redis-cluster.sh start DIR) or "
		       "fix the host:port list";
	case -ETIMEDOUT:
		return "the seed nodes do not answer: check they run and are "
		       "not stopped";
	case -ENOTCONN:
		return "give the address of a node with cluster-enabled yes in "
		       "a created cluster";
	case -EACCES:
		return "fix user:password@ in the URI (or the servers' "
		       "requirepass / ACL)";
	default:
		return "see the message";
	}
}

UPG_API int upg_store_open_uri(const char *uri, struct upg_store **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct slot_map *m = NULL;
	struct rstore *rs;
	char why[320];
	int ret;

	if (!out)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->epfd = rs->evfd = -1;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->cond, NULL);
	pthread_mutex_init(&rs->map_lock, NULL);
	pthread_cond_init(&rs->map_cond, NULL);

	ret = redis_uri_parse(uri, &rs->uri, why, sizeof(why));
	if (ret) {
		rt_err(NULL, "upg_store_open_uri: bad URI: %s; expected "
		       "redis://[user:pass@]host:port[,host:port...][?name=N&...]",
		       why);
		goto out_free;
	}
	snprintf(rs->prefix, sizeof(rs->prefix), "upg:%s:", rs->uri.name);
	rs->extent_bytes = (uint64_t)rs->uri.extent_pages * RS_PAGE;
	rs->zeros = calloc(1, rs->extent_bytes);
	rs->rbuf = malloc(RS_RBUF);
	m = malloc(sizeof(*m));
	if (!rs->zeros || !rs->rbuf || !m) {
		ret = -ENOMEM;
		goto out_free;
	}

	ret = cluster_fetch_map(rs->uri.seeds, rs->uri.nseeds, 0, &rs->uri,
				rs->uri.timeout_ms, m, why, sizeof(why));
	if (ret) {
		if (ret == -EIO || ret == -EPROTO || ret == -E2BIG)
			ret = -ENOTCONN;
		rt_err(NULL, "upg_store_open_uri: %s (%s)", why, open_hint(ret));
		goto out_free;
	}
	rs->map = m;
	m = NULL;
	ret = check_keyslot(rs, why, sizeof(why));
	if (ret) {
		rt_err(NULL, "upg_store_open_uri: %s", why);
		goto out_free;
	}
	known_from_map(rs, rs->map);
	m = rs->map;
	rs->map = NULL;
	map_apply(rs, m);
	m = NULL;

	rs->epfd = epoll_create1(EPOLL_CLOEXEC);
	rs->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rs->epfd < 0 || rs->evfd < 0 ||
	    epoll_ctl(rs->epfd, EPOLL_CTL_ADD, rs->evfd, &ev)) {
		ret = -errno;
		goto out_free;
	}
	rs->st = store_alloc(STORE_REDIS, &redis_store_ops, rs, -1);
	if (!rs->st) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = -pthread_create(&rs->io_thread, NULL, io_main, rs);
	if (ret)
		goto out_store;
	rs->io_started = true;
	ret = -pthread_create(&rs->refresh_thread, NULL, refresh_main, rs);
	if (ret)
		goto out_store;
	rs->refresh_started = true;
	*out = rs->st;
	return 0;

out_store:
	/* The store's close() frees rs (and joins what was started). */
	upg_store_put(rs->st);
	return ret;
out_free:
	free(m);
	rstore_free(rs);
	return ret;
}

static int destroy_on_node(const struct rstore *rs, const struct node_addr *a,
			   uint64_t *count, char *why, size_t whylen)
{
	char pattern[RS_KEY_MAX + 4], cursor[32] = "0";
	const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
	redisContext *c;
	redisReply *r;
	int ret;

	snprintf(pattern, sizeof(pattern), "%s{*", rs->prefix);
	ret = probe_connect(a, &rs->uri, rs->uri.timeout_ms, &c, why, whylen);
	if (ret)
		return ret;
	do {
		r = probe_command(c, 6, argv, NULL);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(why, whylen, "%.63s:%d: SCAN failed%s%.200s", a->host,
				 a->port, r && r->type == REDIS_REPLY_ERROR ? ": " : "",
				 r && r->type == REDIS_REPLY_ERROR ? r->str : "");
			ret = -EIO;
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		ret = probe_unlink_each(c, r->element[1], count);
		if (ret) {
			snprintf(why, whylen, "%.63s:%d: UNLINK failed (%s)",
				 a->host, a->port, strerror(-ret));
			break;
		}
		freeReplyObject(r);
		r = NULL;
	} while (strcmp(cursor, "0"));
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ret;
}

UPG_API int upg_store_destroy_data(struct upg_store *st)
{
	struct node_addr masters[SLOT_MAP_MAX_MASTERS], *known;
	struct slot_map *m;
	struct rstore *rs;
	uint64_t count = 0;
	char why[320];
	int i, n, ret;

	if (!st || st->kind != STORE_REDIS)
		return -EINVAL;
	rs = st->ctx;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* A fresh map: the masters as they are now. */
	pthread_mutex_lock(&rs->map_lock);
	n = rs->nknown;
	known = malloc(sizeof(*known) * (size_t)n);
	if (known)
		memcpy(known, rs->known, sizeof(*known) * (size_t)n);
	pthread_mutex_unlock(&rs->map_lock);
	if (!known) {
		free(m);
		return -ENOMEM;
	}
	ret = cluster_fetch_map(known, n, 0, &rs->uri, rs->uri.timeout_ms,
				m, why, sizeof(why));
	free(known);
	if (ret) {
		rt_err(NULL, "upg_store_destroy_data: %s", why);
		free(m);
		return ret == -ECONNREFUSED || ret == -ETIMEDOUT ? -EIO : ret;
	}
	n = m->nmasters;
	memcpy(masters, m->masters, sizeof(masters[0]) * (size_t)n);
	free(m);
	for (i = 0; i < n; i++) {
		ret = destroy_on_node(rs, &masters[i], &count, why, sizeof(why));
		if (ret) {
			rt_err(NULL, "upg_store_destroy_data: %s", why);
			return ret == -ECONNREFUSED || ret == -ETIMEDOUT ? -EIO : ret;
		}
	}
	rt_info(NULL, "redis store %s: %" PRIu64 " extents destroyed",
		rs->uri.name, count);
	return 0;
}
