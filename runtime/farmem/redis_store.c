// SPDX-License-Identifier: MIT
/*
 * redis_store - the Redis store's ops (submit, flush, discard, close),
 * upg_store_open_uri(), upg_store_destroy_data(), and the thread that
 * fetches slot maps (see redis_store.h for the design).
 */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "common/log.h"
#include "farmem/cluster_probe.h"
#include "farmem/redis_store.h"
#include "store/store.h"
#include "store/store_impl.h"

/* ---- refresh thread ------------------------------------------------- */

void refresh_request(struct rstore *rs)
{
	pthread_mutex_lock(&rs->map_lock);
	if (!rs->refresh_wanted) {
		rs->refresh_wanted = true;
		pthread_cond_signal(&rs->map_cond);
	}
	pthread_mutex_unlock(&rs->map_lock);
}

void known_from_map(struct rstore *rs, const struct slot_map *m)
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

void *refresh_main(void *arg)
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

/*
 * An eviction's write: it may give up.  Its deadline is one attempt's
 * worth (timeout_ms + wait_ms: a node silent that long is dropped, a WAIT
 * short by then has failed) instead of deadline_ms, and it then fails
 * -EAGAIN: the runtime keeps the page dirty and evicts another, instead
 * of its thread waiting out a failover.
 */
static int redis_submit_nowait(void *ctx, struct upg_io_queue *q,
			       struct upg_io *io)
{
	struct rstore *rs = ctx;
	struct rreq *req;

	(void)q;
	if (!io->len)
		return -EINVAL;
	if (io->offset + io->len < io->offset)
		return -EOVERFLOW;
	req = req_build(rs, K_SET, io->offset, io->len, io->buf);
	if (!req)
		return -ENOMEM;
	req->io = io;
	req->nowait = true;
	req->deadline = now_ns() +
			(int64_t)(rs->uri.timeout_ms + rs->uri.wait_ms) * 1000000LL;
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
	pthread_mutex_destroy(&rs->stats_lock);
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
	pthread_mutex_init(&rs->stats_lock, NULL);

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
	rs->st->write_stalled = redis_write_stalled;
	rs->st->write_slow = redis_write_slow;
	rs->st->submit_nowait = redis_submit_nowait;
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

UPG_API int upg_store_redis_stats(struct upg_store *st,
				  struct upg_redis_stats *out)
{
	struct upg_redis_stats snap;
	struct rstore *rs;
	size_t sz;

	if (!st || st->kind != STORE_REDIS || !out ||
	    out->sz < offsetof(struct upg_redis_stats, masters))
		return -EINVAL;
	rs = st->ctx;
	pthread_mutex_lock(&rs->stats_lock);
	snap = rs->stats;
	pthread_mutex_unlock(&rs->stats_lock);
	sz = out->sz < sizeof(snap) ? out->sz : sizeof(snap);
	snap.sz = out->sz;
	/* A caller's shorter array gets the masters that fit. */
	if (sz < sizeof(snap) &&
	    snap.nmasters > (sz - offsetof(struct upg_redis_stats, masters)) /
				    sizeof(snap.masters[0]))
		snap.nmasters = (uint32_t)((sz - offsetof(struct upg_redis_stats,
							  masters)) /
					   sizeof(snap.masters[0]));
	memcpy(out, &snap, sz);
	return 0;
}
