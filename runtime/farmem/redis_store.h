/* SPDX-License-Identifier: MIT */
/*
 * redis_store - the Redis Cluster store (upg_store_open_uri()): what its
 * files share.  redis_store.c: the store's ops, open, destroy and the
 * slot-map refresh thread; redis_io.c: the I/O thread.
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
#ifndef UPAGER_FARMEM_REDIS_STORE_H
#define UPAGER_FARMEM_REDIS_STORE_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "farmem/redis_uri.h"
#include "farmem/slot_map.h"
#include "upager.h"

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
	/* store_submit_nowait(): a short deadline, and -EAGAIN (not -EIO)
	 * when it passes: the runtime keeps the page dirty. */
	bool nowait;
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
	uint32_t slots;              /* slots routed here */
	int64_t oom_logged_at;       /* one OOM line a second, at most */
	/* Write health, for rs->slot_stalled (redis_io.c, stall_update()):
	 * the last write failure (a retry, -ENOSPC, a lost write
	 * connection) and the last write acknowledged by its WAIT. */
	int64_t wfail_at, wok_at;
	bool stalled;                /* as last published */
	bool slow;                   /* as last published (rs->slot_slow) */
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

	/* stats_lock: what upg_store_redis_stats() reads, published by the
	 * I/O thread (publish_stats()). */
	pthread_mutex_t stats_lock;
	struct upg_redis_stats stats;
	uint64_t map_refreshes;      /* I/O thread: maps applied */

	/* I/O thread only. */
	char *rbuf;                  /* RS_RBUF bytes, for conn_read() */
	struct slot_map *map;
	struct shard *slot_shard[REDIS_SLOTS];
	struct shard *shards;
	struct rop_list retry;
	uint64_t ops_outstanding;
	bool stall_remap;            /* slot_shard changed: republish */
	bool any_stalled;            /* a master is (or slow): keep a tick */

	/*
	 * Per slot: 1 while writes to it cannot complete now (its master
	 * is down, failing over, without an acking replica, full, or its
	 * writes are being retried; or no master owns it).  Written by the
	 * I/O thread, read by any thread through the store's
	 * write_stalled() hook (store_write_stalled()): the runtime's
	 * evictor passes over dirty pages on such slots.
	 */
	_Atomic uint8_t slot_stalled[REDIS_SLOTS];
	/*
	 * Per slot: 1 while a write to it may take long though it is not
	 * known to be stalled: its master failed a write less than
	 * RS_SLOW_HOLD_NS ago (a promoted master whose new replica has just
	 * synced acks slowly for seconds), or its write connection has a
	 * command unanswered for more than wait_ms / 2 (a WAIT that may run
	 * out: a replica just killed).  Same writer and readers, through
	 * the write_slow() hook (store_write_slow()): a fault's own
	 * eviction leaves dirty pages on such slots to the background
	 * evictor, so no fault waits on their writes.
	 */
	_Atomic uint8_t slot_slow[REDIS_SLOTS];
};

/* A master stays "stalled" this long after its last write failure, unless
 * a write is acknowledged meanwhile; then the evictor tries its pages
 * again (the probe that sees it recover). */
#define RS_STALL_HOLD_NS (1000 * 1000000LL)
/* A master counts as slow (rs->slot_slow) this long after its last write
 * failure, acknowledged writes or not. */
#define RS_SLOW_HOLD_NS (5000 * 1000000LL)

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void list_push(struct rop_list *l, struct rop *op)
{
	op->next = NULL;
	if (l->tail)
		l->tail->next = op;
	else
		l->head = op;
	l->tail = op;
	l->n++;
}

static inline struct rop *list_pop(struct rop_list *l)
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

static inline struct rop_list list_take(struct rop_list *l)
{
	struct rop_list all = *l;

	memset(l, 0, sizeof(*l));
	return all;
}

static inline int key_of(const struct rstore *rs, uint64_t extent, char *key)
{
	return snprintf(key, RS_KEY_MAX, "%s{%" PRIu64 "}", rs->prefix, extent);
}

static inline void wake(struct rstore *rs)
{
	uint64_t one = 1;
	ssize_t n;

	n = write(rs->evfd, &one, sizeof(one));
	(void)n; /* a full counter already wakes the loop */
}

/* Commands of the store's own (WAIT, AUTH, ASKING) are allocated alone. */
static inline void op_free_own(struct rop *op)
{
	if (!op->req)
		free(op);
}

/* redis_store.c */

/* Ask the refresh thread for a new slot map (throttled there). */
void refresh_request(struct rstore *rs);
/* Nodes to ask for the next map: @m's, then the seeds.  Under map_lock,
 * or before the refresh thread runs. */
void known_from_map(struct rstore *rs, const struct slot_map *m);
/* The refresh thread. */
void *refresh_main(void *arg);

/* redis_io.c */

/* Route by the new map @m (taken over), commands not yet sent included.
 * The I/O thread, or open() before it runs. */
void map_apply(struct rstore *rs, struct slot_map *m);
/* The I/O thread. */
void *io_main(void *arg);
/* The store's write_stalled() hook: whether the slot of store offset @off
 * is stalled (rs->slot_stalled).  Any thread. */
bool redis_write_stalled(void *ctx, uint64_t off);
/* The store's write_slow() hook: whether the slot of store offset @off is
 * slow (rs->slot_slow).  Any thread. */
bool redis_write_slow(void *ctx, uint64_t off);

#endif
