// SPDX-License-Identifier: MIT
/*
 * redis_io - the Redis store's I/O thread: routing, connections, batches
 * and WAIT, replies, retries, timers (see redis_store.h).
 */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/log.h"
#include "farmem/redis_store.h"

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
	/* An eviction's write (nowait) is retried only when redirected
	 * (no delay): a failure that calls for a back-off is the stall it
	 * must not wait out. */
	if (op->req->nowait && delay_ms) {
		part_done(rs, op, -EAGAIN);
		return;
	}
	if (now >= op->req->deadline) {
		/* An eviction's write gives up without data error. */
		part_done(rs, op, op->req->nowait ? -EAGAIN : -EIO);
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

void map_apply(struct rstore *rs, struct slot_map *m)
{
	struct shard *by_master[SLOT_MAP_MAX_MASTERS];
	struct rop_list q;
	struct shard *sh;
	struct rop *op;
	int i;

	for (i = 0; i < m->nmasters; i++)
		by_master[i] = shard_get(rs, &m->masters[i]);
	for (sh = rs->shards; sh; sh = sh->next)
		sh->slots = 0;
	for (i = 0; i < REDIS_SLOTS; i++) {
		rs->slot_shard[i] = m->owner[i] >= 0 ? by_master[m->owner[i]] : NULL;
		if (rs->slot_shard[i])
			rs->slot_shard[i]->slots++;
	}
	rs->map_refreshes++;
	rs->stall_remap = true;
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
	struct shard *sh;

	if (rs->map && !slot_map_set_owner(rs->map, rd->slot, &rd->addr)) {
		sh = shard_get(rs, &rd->addr);
		if (rs->slot_shard[rd->slot])
			rs->slot_shard[rd->slot]->slots--;
		rs->slot_shard[rd->slot] = sh;
		if (sh)
			sh->slots++;
		rs->stall_remap = true;
	}
	refresh_request(rs);
}

/* What an error reply means for the part @op. */
static void part_error(struct rstore *rs, struct shard *sh, struct rop *op,
		       enum reply_class rc, const struct redirect *rd,
		       const char *text)
{
	sh->errors++;
	if (op->kind != K_GET && rc != RC_MOVED && rc != RC_ASK)
		sh->wfail_at = now_ns();
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
	if (cn->is_write)
		sh->wfail_at = now_ns();

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
			sh->wok_at = now_ns();
			part_done(rs, op, 0);
		} else {
			/* Applied on the master, not (yet) on enough
			 * replicas: send it again; SETRANGE is idempotent. */
			sh->errors++;
			sh->wfail_at = now_ns();
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

/*
 * Whether each master can take writes now, published per slot for the
 * runtime's evictor (rs->slot_stalled).  A master is stalled when a write
 * failed after the last one acknowledged, less than RS_STALL_HOLD_NS ago
 * (refused or lost connection, NOREPLICAS, a short WAIT, OOM ...), or
 * when its write connection has left a command unanswered for longer than
 * WAIT's own timeout (a stopped node: its connection times out only later,
 * after timeout_ms + wait_ms).  A slot no master owns is stalled.  The
 * hold lets the evictor try a stalled master's pages again now and then:
 * that is how it sees the master recover.  The same pass publishes which
 * masters are slow (rs->slot_slow), for the faults' own evictions.
 */
static void stall_update(struct rstore *rs, int64_t now)
{
	int64_t hung = (int64_t)rs->uri.wait_ms * 1000000LL;
	bool changed = rs->stall_remap;
	struct shard *sh;
	unsigned i;

	rs->any_stalled = false;
	for (sh = rs->shards; sh; sh = sh->next) {
		bool waiting = sh->wr.state == C_READY && sh->wr.inflight.n;
		bool st = (sh->wfail_at > sh->wok_at &&
			   now - sh->wfail_at < RS_STALL_HOLD_NS) ||
			  (waiting && now - sh->wr.progress_at > hung);
		/* Slow: see rs->slot_slow. */
		bool slow = st ||
			    (sh->wfail_at && now - sh->wfail_at < RS_SLOW_HOLD_NS) ||
			    (waiting && now - sh->wr.progress_at > hung / 2);

		/* Ticks until the holds run out. */
		rs->any_stalled |= slow;
		if (st != sh->stalled) {
			sh->stalled = st;
			changed = true;
			rt_dbg(NULL, "redis store %s: %s:%d writes %s",
			       rs->uri.name, sh->addr.host, sh->addr.port,
			       st ? "stalled" : "flow again");
		}
		if (slow != sh->slow) {
			sh->slow = slow;
			changed = true;
		}
	}
	if (!changed)
		return;
	rs->stall_remap = false;
	for (i = 0; i < REDIS_SLOTS; i++) {
		sh = rs->slot_shard[i];
		atomic_store_explicit(&rs->slot_stalled[i],
				      !sh || sh->stalled,
				      memory_order_relaxed);
		atomic_store_explicit(&rs->slot_slow[i], !sh || sh->slow,
				      memory_order_relaxed);
	}
}

bool redis_write_stalled(void *ctx, uint64_t off)
{
	struct rstore *rs = ctx;
	char key[RS_KEY_MAX];
	int n = key_of(rs, off / rs->extent_bytes, key);

	if (n <= 0 || n >= RS_KEY_MAX)
		return false;
	return atomic_load_explicit(&rs->slot_stalled[key_slot(key, (size_t)n)],
				    memory_order_relaxed);
}

bool redis_write_slow(void *ctx, uint64_t off)
{
	struct rstore *rs = ctx;
	char key[RS_KEY_MAX];
	int n = key_of(rs, off / rs->extent_bytes, key);

	if (n <= 0 || n >= RS_KEY_MAX)
		return false;
	return atomic_load_explicit(&rs->slot_slow[key_slot(key, (size_t)n)],
				    memory_order_relaxed);
}

/* Copy the per-master figures where upg_store_redis_stats() reads them. */
static void publish_stats(struct rstore *rs)
{
	struct upg_redis_stats *o = &rs->stats;
	struct shard *sh;
	uint32_t n = 0;

	pthread_mutex_lock(&rs->stats_lock);
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->retrying = rs->retry.n;
	o->map_refreshes = rs->map_refreshes;
	for (sh = rs->shards; sh && n < UPG_REDIS_MAX_MASTERS; sh = sh->next) {
		struct upg_redis_master *m = &o->masters[n++];

		snprintf(m->addr, sizeof(m->addr), "%.63s:%d", sh->addr.host,
			 sh->addr.port);
		m->flags = (sh->rd.state == C_READY ? UPG_REDIS_READ_UP : 0) |
			   (sh->wr.state == C_READY ? UPG_REDIS_WRITE_UP : 0);
		m->slots = sh->slots;
		if (sh->slots)
			m->flags |= UPG_REDIS_OWNS_SLOTS;
		m->queued = sh->rq.n + sh->wq.n;
		m->in_flight = sh->rd.inflight.n + sh->wr.inflight.n +
			       sh->batch.n;
		m->errors = sh->errors;
		m->connects = sh->reconnects;
	}
	o->nmasters = n;
	pthread_mutex_unlock(&rs->stats_lock);
}

void *io_main(void *arg)
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
	publish_stats(rs); /* the map open() applied */

	for (;;) {
		/* A 5 ms tick while anything is outstanding: retries and
		 * timeouts; 50 ms while a master is stalled (its hold
		 * expires, stall_update()); otherwise sleep until woken. */
		n = epoll_wait(rs->epfd, evs, 64,
			       rs->ops_outstanding ? 5 :
			       rs->any_stalled     ? 50 : -1);
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
		stall_update(rs, now_ns());
		publish_stats(rs);
	}
	return NULL;
}

