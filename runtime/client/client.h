/* SPDX-License-Identifier: MIT */
/*
 * client - the library side of daemon mode (upg_runtime_connect(), or
 * UPAGER_SOCKET set for upg_runtime_create()).
 *
 * The runtime object is the same type; rt->remote says its regions are
 * serviced by upagerd.  The client creates each region's memfd (sealed
 * against shrinking and growing), maps it, registers it with its own
 * userfaultfd, and passes the memfd and the store's fd to the daemon
 * (SCM_RIGHTS), which services the faults from then on.  Control calls
 * (flush, unmap, stats, fault-in) are requests on the socket, one at a
 * time per runtime, each bounded by a timeout.  Calls this version does
 * not carry to the daemon return -EOPNOTSUPP (docs/daemon.md).
 */
#ifndef UPAGER_CLIENT_H
#define UPAGER_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct upg_runtime;
struct upg_region;
struct upg_stats;
struct upg_region_stats;
struct upg_store;
struct client_uri;

struct client_conn {
	int sock;
	pthread_mutex_t lock; /* one request in flight */
	pthread_mutex_t send_lock; /* requests and acks never interleave */
	struct proto_conn conn;
	uint64_t seq;
	uint64_t client_id;
	uint64_t features; /* PROTO_FEAT_* the daemon chose */
	/* The client's own budget and pin limit, which the daemon's replace
	 * while it serves us; a takeover puts them back. */
	uint64_t own_budget_pages, own_pin_limit_pages;
	int broken; /* sticky: the daemon is gone (-ECONNRESET ...) */
	/* The regions (r->client_next), under regions_lock: never held
	 * across a request, so the agent can look a region up while a
	 * request waits for it. */
	pthread_mutex_t regions_lock;
	struct upg_region *regions;
	uint64_t next_region_id;
	/* The agent (client/agent.c), once started, is the socket's only
	 * reader: it hands the answer of the request in flight over through
	 * this mailbox, runs the notifiers for INVALIDATE, and takes over
	 * when the daemon dies. */
	pthread_t watcher;
	bool watching;
	int stop_efd;
	pthread_mutex_t mbox_lock;
	pthread_cond_t mbox_cond;
	uint64_t want_seq;     /* the request in flight, 0 none */
	bool have_reply;
	struct proto_msg reply;
	unsigned inval_open;   /* INVALIDATEs started, not ended (agent) */
	/* Regions on a store the daemon opened from a URI, with the URI it
	 * opened (name scoped to our uid): what a takeover opens again
	 * (client/client_store.c).  Under regions_lock. */
	struct client_uri *uris;
};

struct client_uri {
	struct upg_region *r;
	char *uri; /* with credentials: never logged */
	struct client_uri *next;
};

/* Parameters of a region to map through the daemon. */
struct client_map {
	int fd;            /* the file, or -1: anonymous (or @store) */
	struct upg_store *store; /* a Redis store (sent as its URI), or NULL */
	uint64_t length;
	uint64_t store_off;
	uint64_t fill_unit;
	int prot;
	int numa_policy; /* enum upg_numa_policy, applied by the daemon */
	int numa_node;   /* -1: none (region_numa_wire()) */
};

/**
 * client_connect() - connect @rt (options applied) to the daemon at
 * @path and say HELLO with a new userfaultfd.
 * Return: 0; -ENOENT (no daemon there), -EACCES, -ECONNREFUSED,
 * -EPROTONOSUPPORT, -ETIMEDOUT, -EOPNOTSUPP (userfaultfd lacking).
 */
int client_connect(struct upg_runtime *rt, const char *path);
/* Unmap every region, say BYE, close.  0, or the first region's error
 * (then nothing is closed). */
int client_destroy(struct upg_runtime *rt);
/* Close the connection and free it (after a takeover, at destroy). */
void client_conn_free(struct upg_runtime *rt);

/**
 * client_watch_start() / client_watch_stop() - the agent thread
 * (client/agent.c): reads everything the daemon sends (answers, and
 * INVALIDATE for the notifiers), and notices a daemon that died (its
 * socket hangs up without a BYE): then it takes the regions over
 * (client_takeover()).
 */
int client_watch_start(struct upg_runtime *rt);
void client_watch_stop(struct upg_runtime *rt);

/* takeover.c: this process services its regions from now on, with the
 * data the daemon had not written back still in the memfds.
 * Context: the agent thread. */
void client_takeover(struct upg_runtime *rt);

/* agent.c: the agent's delivery of an answer, or of the connection's
 * end (@err), to the request waiting in client_rpc(). */
void client_mbox_put(struct client_conn *cc, struct proto_msg *m);
void client_mbox_fail(struct client_conn *cc, int err);

/*
 * notify.c: interval notifiers in daemon mode.  client_watch_range()
 * marks the pages of [start, end) WATCHED in the marks (@on), or clears
 * the mark where no notifier is left; client_watch_region() marks a new
 * region's pages that existing notifiers cover; client_invalidate() runs
 * the notifiers for an INVALIDATE (agent thread) and answers it.
 */
void client_watch_range(struct upg_runtime *rt, uintptr_t start,
			uintptr_t end, bool on);
void client_watch_region(struct upg_region *r);
void client_invalidate(struct upg_runtime *rt, const struct proto_msg *m);
/* End the invalidations left open by a daemon that died. */
void client_invalidate_end_all(struct upg_runtime *rt);

int client_region_map(struct upg_runtime *rt, const struct client_map *m,
		      struct upg_region **out);
int client_region_unmap(struct upg_region *r, unsigned flags);
int client_region_flush(struct upg_region *r, uint64_t offset,
			uint64_t length);
int client_region_stats(struct upg_region *r, struct upg_region_stats *st);
int client_runtime_stats(struct upg_runtime *rt, struct upg_stats *st);
/* Fault-in of pages [first, end) of @r through the daemon: 0, an error
 * of the connection, or -EFAULT (the daemon could not bring them in). */
int client_fault_in_pages(struct upg_region *r, uint64_t first, uint64_t end,
			  bool write);

/*
 * client_store.c: regions on a Redis store through the daemon.
 * client_store_uri() - the URI to send for @store: -EOPNOTSUPP when it is
 * not a Redis store (a plugin cannot be passed to another process) or the
 * daemon cannot open stores (no PROTO_FEAT_STORE_URI).
 * client_store_remember() - keep the URI the daemon opened for @r (its
 * name scoped to @uid, proto_store_scoped_name()).
 * client_store_forget() - drop what is kept for @r (unmapped, or a failed
 * map).
 * client_store_open() - at a takeover: open @r's store again from the
 * URI kept, into *@out; -ENOENT if @r has none (a file region).
 * client_store_forget_all() - at client_conn_free().
 */
int client_store_uri(struct upg_runtime *rt, struct upg_store *store,
		     char *buf, size_t len);
int client_store_remember(struct upg_runtime *rt, struct upg_region *r,
			  const char *uri, uint32_t uid);
void client_store_forget(struct upg_runtime *rt, struct upg_region *r);
int client_store_open(struct upg_runtime *rt, struct upg_region *r,
		      struct upg_store **out);
void client_store_forget_all(struct upg_runtime *rt);

/* client_region.c: unmap the client's views of @r (marks and alias). */
void unmap_client_views(struct upg_region *r);

/*
 * client_pin.c: pins and nofault copies through the shared marks.
 * client_region_lookup_get() - the region at @a, with a reference, or NULL.
 * client_pin_pages() - pin pages [first, end) of @r (@one: MARK_LPIN_ONE
 * or MARK_EPIN_ONE), faulting in through the daemon those that are not
 * resident; all or none.  0, -EOVERFLOW, or a fault-in error.
 * client_unpin_pages() - drop those pins.
 * client_nofault_side - where upg_copy_{from,to}_nofault() find and hold
 * a client's pages (struct nofault_side, pin/pin.h).  runtime/api/ picks
 * these sides in daemon mode.
 * Context: application thread, rt->takeover_lock held for reading.
 */
struct upg_region *client_region_lookup_get(struct upg_runtime *rt,
					    uintptr_t a);
int client_pin_pages(struct upg_region *r, uint64_t first, uint64_t end,
		     uint32_t one);
void client_unpin_pages(struct upg_region *r, uint64_t first, uint64_t end,
			uint32_t one);
extern const struct nofault_side client_nofault_side;
/* client_pin_side - where upg_pin() and upg_unpin() find and pin a
 * client's pages (struct pin_side, pin/pin.h): the functions above. */
extern const struct pin_side client_pin_side;

/* Fault-in through the daemon: bytes not faulted in. */
size_t client_fault_in(struct upg_runtime *rt, const void *addr, size_t len,
		       bool write, bool async);

#endif
