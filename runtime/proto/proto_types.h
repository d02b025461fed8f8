/* SPDX-License-Identifier: MIT */
/*
 * proto_types - the daemon protocol's constants, enums and the decoded
 * form of every message (included by proto/proto.h; use that one).
 * Values that travel on the wire are fixed: add, never renumber.
 */
#ifndef UPAGER_PROTO_TYPES_H
#define UPAGER_PROTO_TYPES_H

#include <stdint.h>

/* ---- limits and constants ------------------------------------------- */

#define PROTO_MAGIC 0x50475055u /* bytes "UPGP" on the wire */
#define PROTO_VERSION_1 1u
/* Header versions this build speaks. */
#define PROTO_VERSION_MIN PROTO_VERSION_1
#define PROTO_VERSION_MAX PROTO_VERSION_1

#define PROTO_HDR_SIZE 24u
#define PROTO_MAX_PAYLOAD (64u * 1024)
#define PROTO_MAX_MSG (PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD)
/* Most fds one message may carry (REGION_ADD takes three). */
#define PROTO_MAX_FDS 4u

/* Longest client name and error text, in bytes, without the NUL. */
#define PROTO_NAME_MAX 64u
#define PROTO_ERRMSG_MAX 256u
/* Longest store URI of REGION_ADD_URI, without the NUL. */
#define PROTO_URI_MAX 4096u

/* Statuses are 0 or a negative errno in [-PROTO_ERRNO_MAX, -1]. */
#define PROTO_ERRNO_MAX 4095

/* Header flags: none are defined in v1; any set bit is -EINVAL. */
#define PROTO_HDR_FLAGS_KNOWN 0u

enum proto_type {
	PROTO_HELLO = 1,	  /* c->d, fds: uffd */
	PROTO_HELLO_REPLY = 2,	  /* d->c */
	PROTO_REGION_ADD = 3,	  /* c->d, fds: memfd, pin memfd[, store] */
	PROTO_REGION_REMOVE = 4,  /* c->d */
	PROTO_FLUSH = 5,	  /* c->d */
	PROTO_FAULT_IN = 6,	  /* c->d */
	PROTO_ADVISE = 7,	  /* c->d */
	PROTO_STATS = 8,	  /* c->d (clients and upagerctl) */
	PROTO_STATS_REPLY = 9,	  /* d->c */
	PROTO_CLIENTS_REPLY = 10, /* d->c */
	PROTO_REGIONS_REPLY = 11, /* d->c */
	PROTO_INVALIDATE = 12,	  /* d->c */
	PROTO_INVALIDATE_ACK = 13, /* c->d */
	PROTO_REPLY = 14,	  /* d->c */
	PROTO_ERROR = 15,	  /* d->c, then the daemon hangs up */
	PROTO_BYE = 16,		  /* either way */
	/* Since PROTO_FEAT_STORE_URI (a peer without it never sends them). */
	PROTO_REGION_ADD_URI = 17, /* c->d, fds: memfd, pin memfd */
	PROTO_STORES_REPLY = 18,   /* d->c */
	PROTO_TYPE_COUNT	  /* one past the last type */
};

/*
 * Feature bits.  HELLO offers the client's; the daemon answers with the
 * subset it also supports.  Unknown bits in HELLO are ignored (a newer
 * client); in HELLO_REPLY they are -EINVAL (the daemon must not choose a
 * feature the client never offered).
 */
#define PROTO_FEAT_PIN_SHM (1ull << 0)	 /* pin counts in the pin memfd */
#define PROTO_FEAT_NOTIFIERS (1ull << 1) /* client answers INVALIDATE */
#define PROTO_FEAT_FAULT_IN_ASYNC (1ull << 2) /* PROTO_FAULT_IN_ASYNC */
/* Stores the daemon opens from a URI: REGION_ADD_URI, and STATS scope
 * STORES answered with STORES_REPLY. */
#define PROTO_FEAT_STORE_URI (1ull << 3)
#define PROTO_FEATURES_KNOWN                                             \
	(PROTO_FEAT_PIN_SHM | PROTO_FEAT_NOTIFIERS | PROTO_FEAT_FAULT_IN_ASYNC | \
	 PROTO_FEAT_STORE_URI)

/* proto_region_add.flags */
#define PROTO_REGION_ANON (1u << 0)	/* daemon-owned swap, no store fd */
#define PROTO_REGION_READONLY (1u << 1) /* never written back */
#define PROTO_REGION_EVENT_FORK (1u << 2) /* client registered EVENT_FORK */
#define PROTO_REGION_FLAGS_KNOWN \
	(PROTO_REGION_ANON | PROTO_REGION_READONLY | PROTO_REGION_EVENT_FORK)
/* proto_region_add.prot: PROT_* bits of the application mapping */
#define PROTO_PROT_KNOWN 0x7u /* PROT_READ | PROT_WRITE | PROT_EXEC */

/* NUMA policy of a region (the values of enum upg_numa_policy). */
enum proto_numa_policy {
	PROTO_NUMA_DEFAULT = 0,
	PROTO_NUMA_LOCAL = 1,
	PROTO_NUMA_BIND = 2,
	PROTO_NUMA_INTERLEAVE = 3,
	PROTO_NUMA_PREFERRED = 4,
	PROTO_NUMA_POLICY_COUNT
};

/* proto_region_remove.flags */
#define PROTO_REMOVE_WAIT_PINS (1u << 0)
#define PROTO_REMOVE_FLAGS_KNOWN PROTO_REMOVE_WAIT_PINS

/* proto_fault_in.flags */
#define PROTO_FAULT_IN_WRITE (1u << 0) /* writeable: no WP fault later */
#define PROTO_FAULT_IN_ASYNC (1u << 1) /* reply at once (prefetch) */
#define PROTO_FAULT_IN_FLAGS_KNOWN (PROTO_FAULT_IN_WRITE | PROTO_FAULT_IN_ASYNC)

enum proto_advice {
	PROTO_ADV_NORMAL = 0,
	PROTO_ADV_WILLNEED = 1,	  /* prefetch */
	PROTO_ADV_DONTNEED = 2,	  /* evict first (written back, not lost) */
	PROTO_ADV_SEQUENTIAL = 3, /* read ahead more */
	PROTO_ADV_RANDOM = 4,	  /* no read-ahead */
	PROTO_ADV_COUNT
};

/* proto_stats_req.scope: what is asked and which reply type answers. */
enum proto_stats_scope {
	PROTO_SCOPE_SELF = 0,	 /* STATS_REPLY: the asking client's counters */
	PROTO_SCOPE_REGION = 1,	 /* STATS_REPLY: region @id of the asker */
	PROTO_SCOPE_DAEMON = 2,	 /* STATS_REPLY: daemon-wide counters */
	PROTO_SCOPE_CLIENTS = 3, /* CLIENTS_REPLY, from index @start */
	PROTO_SCOPE_REGIONS = 4, /* REGIONS_REPLY of client @id (0: own) */
	/* STORES_REPLY: the stores the daemon opened from URIs, one record
	 * per master, of client @id (0: every client the asker may see). */
	PROTO_SCOPE_STORES = 5,
	PROTO_SCOPE_COUNT
};

/*
 * Counter ids of STATS_REPLY.  A reader ignores ids it does not know, so
 * counters are added without a version bump; ids are never reused.
 */
enum proto_counter_id {
	PROTO_CTR_FAULTS_MISSING = 1,
	PROTO_CTR_FAULTS_WP = 2,
	PROTO_CTR_FAULTS_MINOR = 3,
	PROTO_CTR_PAGES_FILLED = 4,
	PROTO_CTR_PAGES_ZERO_FILLED = 5,
	PROTO_CTR_PAGES_EVICTED = 6,
	PROTO_CTR_PAGES_WRITTEN_BACK = 7,
	PROTO_CTR_BYTES_READ = 8,
	PROTO_CTR_BYTES_WRITTEN = 9,
	PROTO_CTR_RESIDENT_BYTES = 10,
	PROTO_CTR_RESIDENT_PEAK_BYTES = 11,
	PROTO_CTR_BUDGET_BYTES = 12,
	PROTO_CTR_IO_ERRORS = 13,
	PROTO_CTR_PINS_ACQUIRED = 14,
	PROTO_CTR_PINS_RELEASED = 15,
	PROTO_CTR_PINNED_BYTES = 16,
	PROTO_CTR_NOTIFIER_CALLBACKS = 17,
	PROTO_CTR_BYTES_FAULTED_IN = 18,
	PROTO_CTR_CLIENTS = 19,
	PROTO_CTR_REGIONS = 20,
	/* Since the per-client counters (a daemon without them sends none
	 * of these; SELF then has faults_missing as all faults). */
	PROTO_CTR_READ_ERRORS = 21,
	PROTO_CTR_WRITE_ERRORS = 22,
	PROTO_CTR_EVICT_BATCHES_BACKGROUND = 23,
	PROTO_CTR_EVICT_BATCHES_SYNC = 24,
	PROTO_CTR_PAGES_SAMPLED = 25,
	PROTO_CTR_PAGES_REFERENCED = 26,
	PROTO_CTR_BUDGET_OVERSHOOT_PAGES = 27,
	PROTO_CTR_PAGES_UNPOISONED = 28,
	PROTO_CTR_PAGES_DISCARDED = 29,
	PROTO_CTR_EVICT_PIN_WAITS = 30,
	PROTO_CTR_PAGES_READ_AHEAD = 31,
	PROTO_CTR_RA_PAGES_USED = 32,
	PROTO_CTR_RA_PAGES_WASTED = 33,
	/* REGION scope: dirty bytes (a walk of the page table). */
	PROTO_CTR_DIRTY_BYTES = 34,
	/* REGION scope: resident pages on NUMA node n are counter
	 * PROTO_CTR_NODE_PAGES + n (n < PROTO_CTR_NODES); nodes with no
	 * page are not sent. */
	PROTO_CTR_NODE_PAGES = 0x100,
	PROTO_CTR_NODE_PAGES_END = 0x100 + 64,
};
#define PROTO_CTR_NODES (PROTO_CTR_NODE_PAGES_END - PROTO_CTR_NODE_PAGES)

/* proto_invalidate.event: the values of enum upg_notify_event. */
enum proto_inval_event {
	PROTO_INVAL_EVICT = 1,
	PROTO_INVAL_REMAP = 2,
	PROTO_INVAL_UNMAP = 3,
	PROTO_INVAL_REMOVE = 4,
};
/* proto_invalidate.flags */
#define PROTO_INVAL_BLOCKABLE (1u << 0)
/* The invalidation @cookie is over (the pages are gone or kept): the
 * client ends it; not acknowledged.  Cookie 0 is an invalidation that
 * wants no ack: the client starts and ends it at once. */
#define PROTO_INVAL_END (1u << 1)
#define PROTO_INVAL_FLAGS_KNOWN (PROTO_INVAL_BLOCKABLE | PROTO_INVAL_END)

/* Record sizes of the v1 array replies.  A newer daemon may send longer
 * records (fields appended); a reader decodes the v1 prefix and skips the
 * rest.  Shorter records are -EBADMSG. */
#define PROTO_COUNTER_SIZE 12u	   /* u32 id, u64 value */
#define PROTO_CLIENT_REC_SIZE 160u
#define PROTO_REGION_REC_SIZE 104u
#define PROTO_STORE_REC_SIZE 256u
#define PROTO_ARRAY_HDR_SIZE 12u   /* total, count, record size, reserved */
#define PROTO_STATS_HDR_SIZE 4u	   /* count */
/* Most records one reply can carry (the rest come with a later @start). */
#define PROTO_COUNTERS_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_STATS_HDR_SIZE) / PROTO_COUNTER_SIZE)
#define PROTO_CLIENTS_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_ARRAY_HDR_SIZE) / PROTO_CLIENT_REC_SIZE)
#define PROTO_REGIONS_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_ARRAY_HDR_SIZE) / PROTO_REGION_REC_SIZE)
#define PROTO_STORES_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_ARRAY_HDR_SIZE) / PROTO_STORE_REC_SIZE)

/* Fixed-width fields of a store record (NUL-padded; a full field has no NUL). */
#define PROTO_STORE_NAME_MAX 112u /* the name the pages are stored under */
#define PROTO_STORE_ADDR_MAX 72u  /* a master's "host:port" */
/* proto_store_rec.flags: a master's state, as struct upg_redis_master's. */
#define PROTO_STORE_OWNS_SLOTS (1u << 0) /* in the store's slot map */
#define PROTO_STORE_READ_UP (1u << 1)	 /* read connection connected */
#define PROTO_STORE_WRITE_UP (1u << 2)	 /* write connection connected */
/* The store knows no master yet: the record only names the store. */
#define PROTO_STORE_NO_MASTER (1u << 3)
#define PROTO_STORE_FLAGS_KNOWN                                \
	(PROTO_STORE_OWNS_SLOTS | PROTO_STORE_READ_UP |        \
	 PROTO_STORE_WRITE_UP | PROTO_STORE_NO_MASTER)

/* ---- decoded forms ---------------------------------------------------- */

struct proto_hdr {
	uint16_t version;
	uint16_t type;	 /* enum proto_type */
	uint16_t flags;	 /* PROTO_HDR_FLAGS_KNOWN */
	uint8_t nfds;	 /* fds sent with the message's first byte */
	uint32_t payload_len;
	uint64_t seq;	 /* request number; replies echo it */
};

struct proto_hello {
	uint16_t version_min, version_max; /* versions the client speaks */
	uint64_t features;		   /* PROTO_FEAT_* offered */
	uint64_t cap_bytes;		   /* per-client cap asked, 0: none */
	char name[PROTO_NAME_MAX + 1];	   /* no NUL inside, may be empty */
};

struct proto_hello_reply {
	int32_t status;	      /* 0, or -EPROTONOSUPPORT, -EPERM ... */
	uint16_t version;     /* chosen (0 when status != 0) */
	uint64_t features;    /* chosen: a subset of the offer */
	uint64_t client_id;
	uint64_t budget_bytes; /* the daemon's global budget */
	uint32_t page_size;    /* power of two (when status == 0) */
};

struct proto_region_add {
	uint64_t region_id;	/* client's cookie for the region */
	uint64_t addr;		/* start of the application mapping */
	uint64_t length;	/* bytes, not 0 */
	uint64_t memfd_offset;	/* of the region's first byte in the memfd */
	uint64_t store_offset;	/* of the region's first byte in the store */
	uint64_t store_limit;	/* store bytes the region may use, 0: none */
	uint32_t flags;		/* PROTO_REGION_* */
	uint32_t prot;		/* PROT_* */
	uint32_t fill_pages;	/* pages per fill, 0: daemon's default */
	uint16_t numa_policy;	/* enum proto_numa_policy */
	int32_t numa_node;	/* -1: none */
};

/*
 * REGION_ADD_URI: a region whose store the daemon opens itself from @uri
 * (upg_store_open_uri()); fds: the memfd and the pin-count memfd.  The
 * fields of @add are REGION_ADD's; ANON is refused (-EINVAL).
 */
struct proto_region_add_uri {
	struct proto_region_add add;
	char uri[PROTO_URI_MAX + 1]; /* no NUL inside */
};

struct proto_region_remove {
	uint64_t region_id;
	uint32_t flags; /* PROTO_REMOVE_* */
};

/* A byte range of a region: FLUSH, FAULT_IN, ADVISE. */
struct proto_range {
	uint64_t region_id;
	uint64_t offset;
	uint64_t length; /* 0: to the end of the region */
};

struct proto_fault_in {
	struct proto_range range;
	uint32_t flags; /* PROTO_FAULT_IN_* */
};

struct proto_advise {
	struct proto_range range;
	uint32_t advice; /* enum proto_advice */
};

struct proto_stats_req {
	uint32_t scope; /* enum proto_stats_scope */
	uint32_t start; /* first record wanted (CLIENTS, REGIONS) */
	uint64_t id;	/* region id (REGION) or client id (REGIONS) */
};

struct proto_counter {
	uint32_t id; /* enum proto_counter_id, or newer */
	uint64_t value;
};

struct proto_stats_reply {
	uint32_t count;
	struct proto_counter *counters; /* owned by the message */
};

struct proto_client_rec {
	uint64_t client_id;
	uint32_t pid, uid;
	uint64_t resident_bytes, budget_share_bytes, cap_bytes;
	uint64_t faults, fills, evictions, writebacks, pins;
	uint64_t notifier_callbacks, errors;
	char name[PROTO_NAME_MAX + 1];
};

struct proto_region_rec {
	uint64_t client_id, region_id, addr, length;
	uint64_t resident_bytes, dirty_bytes, pinned_bytes;
	uint64_t faults, fills, evictions, writebacks, errors;
	uint32_t flags, prot;
};

/* One master of a store the daemon opened from a URI (a store with no
 * master known yet has one record, flag NO_MASTER). */
struct proto_store_rec {
	uint64_t client_id, region_id;
	char name[PROTO_STORE_NAME_MAX + 1];
	char addr[PROTO_STORE_ADDR_MAX + 1];
	uint32_t flags; /* PROTO_STORE_* */
	uint32_t slots;
	uint64_t queued, in_flight, errors, connects;
	/* the store's, the same in each of its records */
	uint64_t retrying, map_refreshes;
};

/* CLIENTS_REPLY and REGIONS_REPLY: records [start, start + count) of total. */
struct proto_clients_reply {
	uint32_t total, count;
	struct proto_client_rec *recs; /* owned by the message */
};

struct proto_regions_reply {
	uint32_t total, count;
	struct proto_region_rec *recs; /* owned by the message */
};

struct proto_stores_reply {
	uint32_t total, count;
	struct proto_store_rec *recs; /* owned by the message */
};

struct proto_invalidate {
	uint64_t region_id;
	uint64_t offset, length;
	uint64_t cookie; /* echoed by INVALIDATE_ACK */
	uint64_t seq;	 /* the notifier sequence (cur_seq) */
	uint32_t event;	 /* enum proto_inval_event */
	uint32_t flags;	 /* PROTO_INVAL_* */
};

struct proto_invalidate_ack {
	uint64_t cookie;
	int32_t status; /* 0, or -EAGAIN: a non-blockable callback refused */
};

struct proto_reply {
	int32_t status; /* 0 or a negative errno */
	uint64_t value; /* e.g. bytes not faulted in */
};

struct proto_error {
	int32_t status; /* a negative errno */
	char text[PROTO_ERRMSG_MAX + 1];
};

/*
 * A message in decoded form.  After a successful receive it owns @fds
 * (closed by proto_msg_release() unless taken) and any array of @u.
 */
struct proto_msg {
	struct proto_hdr hdr;
	unsigned nfds;
	int fds[PROTO_MAX_FDS]; /* -1 where none */
	union {
		struct proto_hello hello;
		struct proto_hello_reply hello_reply;
		struct proto_region_add region_add;
		struct proto_region_add_uri region_add_uri;
		struct proto_region_remove region_remove;
		struct proto_range flush;
		struct proto_fault_in fault_in;
		struct proto_advise advise;
		struct proto_stats_req stats;
		struct proto_stats_reply stats_reply;
		struct proto_clients_reply clients_reply;
		struct proto_regions_reply regions_reply;
		struct proto_stores_reply stores_reply;
		struct proto_invalidate invalidate;
		struct proto_invalidate_ack invalidate_ack;
		struct proto_reply reply;
		struct proto_error error;
	} u;
};

#endif
