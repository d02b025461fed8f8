/* SPDX-License-Identifier: MIT */
/*
 * daemon - upagerd: one runtime (one budget, one pool of handler threads)
 * serving the regions of many client processes.
 *
 * A client connects to the unix socket and says HELLO with its userfaultfd;
 * the daemon makes it an address space of the runtime (struct upg_mm), so
 * the handler threads read its faults with everyone else's.  Each
 * REGION_ADD brings the client's memfd (sealed against shrinking) and its
 * store; the daemon maps only the alias and services the region like its
 * own: fills, eviction under the global budget, writeback.  The control
 * requests (flush, remove, fault-in, stats) are served by the daemon's main
 * thread, one at a time, each wait on a client bounded.  A client that
 * goes away has its dirty pages written back and its memory released.
 * The wire format is runtime/proto/ (docs/protocol.md).
 */
#ifndef UPAGER_DAEMON_H
#define UPAGER_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/runtime.h"
#include "proto/proto.h"

/* Protocol features this daemon supports (proto/proto_types.h). */
#define DAEMON_FEATURES \
	(PROTO_FEAT_PIN_SHM | PROTO_FEAT_NOTIFIERS | PROTO_FEAT_STORE_URI)

struct daemon_opts {
	const char *socket_path;
	uint64_t budget_bytes;
	unsigned threads;
	uint64_t client_cap_bytes; /* 0: none */
	uint64_t uid_cap_bytes;    /* all clients of a uid together; 0: none */
	unsigned socket_mode;      /* permission bits of the socket */
	bool socket_group_set;     /* socket_gid is the socket's group */
	gid_t socket_gid;
	/* Per-uid limits, counted over the uid's connections (0: none). */
	unsigned max_clients_per_uid;
	unsigned max_regions_per_uid;
	bool force; /* a budget above the memory the daemon can have */
	bool foreground;
	bool syslog;
	bool no_readahead; /* UPG_RT_NO_READAHEAD for every client */
	bool fill_timing; /* UPG_RT_FILL_TIMING; the means logged at exit */
	unsigned ack_timeout_ms; /* bound of the wait for INVALIDATE_ACK */
	int log_level;             /* enum upg_log_level */
	const char *swap_dir;
	upg_log_fn log_fn; /* NULL: stderr */
	/* Told "READY=1" once the socket listens and "STOPPING=1" when the
	 * daemon stops (sd_notify() in upagerd); NULL: nobody. */
	void (*notify)(const char *state);
};

/*
 * The client's socket as the evicting threads share it with the main
 * thread (daemon/invalidate.c): every send holds @lock, so messages never
 * interleave; @sock is -1 once the client is dropped, before the socket
 * is closed, so no thread ever writes to a reused fd.  Freed with the
 * client's address space (after the runtime stops), or with a monitor.
 */
struct daemon_out {
	pthread_mutex_t lock;
	pthread_cond_t acked;
	int sock;
	uint64_t client_id;
	pid_t pid;
	unsigned ack_timeout_ms;
	uint64_t next_cookie;
	uint64_t waiting; /* cookie whose ack an evicting thread awaits */
	bool got_ack;
	/* Missed an ack: not waited for again until it answers one. */
	bool hung;
	/* The main thread serves a request of this client: an evicting
	 * thread must not wait for an ack now (the main thread, the only
	 * reader of acks, may itself wait for the pages being evicted). */
	bool busy;
	uint64_t seq; /* INVALIDATE sequence numbers */
	_Atomic uint64_t invalidations; /* asked, for upagerctl */
};

struct daemon_region {
	uint64_t id; /* the client's cookie */
	struct upg_region *r;
	struct daemon_region *next;
};

struct daemon_client {
	struct daemon *d;
	uint64_t id;
	int sock;
	struct proto_conn conn;
	struct ucred cred;
	char name[PROTO_NAME_MAX + 1];
	bool hello_done;
	bool privileged; /* root or the daemon's owner: may see others */
	struct upg_mm *mm; /* after HELLO */
	struct daemon_out *out;
	struct daemon_region *regions;
	unsigned nr_regions;
	uint64_t cap_bytes;
	/* Its cap without --uid-cap's part (pages; 0: none). */
	uint64_t own_cap_pages;
	/* Counts of the client's regions released already. */
	uint64_t gone_fills, gone_evictions, gone_writebacks, gone_errors;
	struct daemon_client *next;
};

struct daemon {
	struct daemon_opts o;
	struct upg_runtime *rt;
	int listen_fd;
	dev_t sock_dev; /* the socket file bound, removed at exit */
	ino_t sock_ino;
	int epfd;
	int signal_fd;
	uid_t owner_uid;
	uint64_t next_client_id;
	struct daemon_client *clients;
	unsigned nr_clients;
	/* Clients gone whose writeback failed: retried every second. */
	struct daemon_client *dying;
	/* Address spaces of clients gone: freed after the runtime. */
	struct upg_mm *dead_mms;
	bool stopping;
};

/**
 * daemon_run() - create the runtime and the socket, serve until SIGTERM or
 * SIGINT, then write back every client's pages and stop.
 * Return: 0 on a clean stop; a negative errno if the daemon could not
 * start, or if some client's pages could not be written back at the end.
 */
int daemon_run(const struct daemon_opts *o, upg_log_fn log_fn);

/* server.c */
void daemon_drop_client(struct daemon *d, struct daemon_client *c,
			const char *why);
int daemon_send(struct daemon_client *c, const struct proto_msg *m);
int daemon_reply(struct daemon_client *c, uint64_t seq, int status,
		 uint64_t value);

/* requests.c: one request of @c; false if the client must be dropped. */
bool daemon_request(struct daemon *d, struct daemon_client *c,
		    struct proto_msg *m);
/*
 * daemon_uid_recap() - split --uid-cap evenly among the clients of @uid
 * that map regions (each keeps the lower of its part and its own cap).
 * Called when one of them comes or goes.  Context: the main thread.
 */
void daemon_uid_recap(struct daemon *d, uid_t uid);
/* Write back and release every region of @c.  0, or the first error (the
 * regions not released stay, with their data). */
int daemon_release_regions(struct daemon *d, struct daemon_client *c);

/* invalidate.c: the client's notifiers (PROTO_FEAT_NOTIFIERS). */
struct daemon_out *daemon_out_new(struct daemon *d, struct daemon_client *c);
void daemon_out_free(struct daemon_out *o);
/* The client is dropped: no send after this, waiters wake up. */
void daemon_out_close(struct daemon_out *o);
/*
 * daemon_out_begin_request() - before the main thread serves a request of
 * @c: if an evicting thread waits for @c's ack, read @c's socket for it
 * first (bounded by the ack timeout; the client has no other request
 * outstanding), then mark @c busy so that no eviction starts waiting for
 * it meanwhile.  False if @c was dropped (it sent something else).
 * daemon_out_end_request() - the request is served.
 */
bool daemon_out_begin_request(struct daemon *d, struct daemon_client *c);
void daemon_out_end_request(struct daemon_out *o);
/* An INVALIDATE_ACK arrived: false if its cookie was never sent. */
bool daemon_out_ack(struct daemon_out *o, uint64_t cookie, int status);
extern const struct mm_notify_ops daemon_notify_ops;

/* stats.c: keep @r's counts in its client's totals (before release). */
void daemon_count_region(struct daemon_client *c, struct upg_region *r);

int daemon_stats(struct daemon *d, struct daemon_client *c,
		 const struct proto_msg *m);

/*
 * upagerd's share policy (daemon/share.c): fair shares, caps, and the
 * clients' pins, for eviction and the fill path (struct evict_policy,
 * evict/evict.h).  setup() installs it with evict_set_policy().
 */
struct evict_policy;
extern const struct evict_policy daemon_share_policy;

/*
 * The clients' marks, for the share policy (daemon/client_marks.c).
 * client_marks_pass_start() - start a clock pass: forget the pinned pages
 * skipped so far.  Context: clock_lock and regions_lock held.
 * client_marks_skip() - whether the clock must pass over page @pg of @r
 * because its upagerd client pinned it (within the client's allowance).
 * Context: clock_lock held.
 * client_marks_claim() - for victims just moved to EVICTING: take them
 * from the clients' view (RESIDENT cleared); a victim a client pinned
 * meanwhile gets ok[i] false (its eviction is aborted); writes the client
 * made through its alias become PS_DIRTY; sets victim.watched.
 * Context: the evicting thread, before notifiers and write-protection.
 */
struct victim;
struct upg_region;
void client_marks_pass_start(struct upg_runtime *rt);
bool client_marks_skip(struct upg_region *r, uint64_t pg);
void client_marks_claim(struct victim *v, size_t n, bool *ok);

/* Forget what a client that left (or removes the region) left in the
 * marks of @r: its pins, its watches. */
void region_marks_forget_client(struct upg_region *r);

/*
 * stores.c: stores the daemon opens from a URI (REGION_ADD_URI).
 * daemon_store_open() - open @c's store @uri under its name scoped to
 * @c's uid (proto_store_scoped_name()): 0, or upg_store_open_uri()'s
 * errors (-EINVAL for a URI that does not parse, as in-process), or
 * -ENAMETOOLONG (the scoped name is too long).  Blocks for the
 * connections.
 * daemon_stats_stores() - STATS scope STORES: per-master records of the
 * stores of the clients the asker may see (its uid's; all for root and
 * the daemon's owner); -EPERM for another uid's client id.
 * Context: the main thread.
 */
int daemon_store_open(struct daemon *d, struct daemon_client *c,
		      const char *uri, struct upg_store **out);
int daemon_stats_stores(struct daemon *d, struct daemon_client *c,
			const struct proto_msg *m);

#endif
