/* SPDX-License-Identifier: MIT */
/*
 * proto - the wire protocol between upagerd and its clients, in one place.
 *
 * Every message is a fixed 24-byte header followed by a payload of at most
 * PROTO_MAX_PAYLOAD bytes, all fields little-endian and fixed width,
 * encoded and decoded field by field (no struct ever goes onto the wire).
 * File descriptors travel with the first byte of their message
 * (SCM_RIGHTS); the header says how many there are, and the type says how
 * many there must be.  docs/protocol.md is the reference for the format,
 * the negotiation rules and every error the decoder returns.
 *
 * Three layers, usable separately:
 *   codec   proto_encode() / proto_decode(): bytes <-> struct proto_msg,
 *           pure functions, no syscalls (the fuzz target drives these);
 *   stream  struct proto_conn: reassembles messages from a byte stream and
 *           ties passed fds to the message they arrived with;
 *   io      proto_send() / proto_conn_recv() / proto_recv_timeout() on a
 *           unix stream socket, plus checks of the kinds of passed fds.
 *
 * The codec validates shape only (sizes, enums, flags, strings, counts).
 * Meaning is the daemon's job: that a region fits in its memfd, that a
 * region id exists, that a peer may ask for every client's figures.
 *
 * No remap message exists: the daemon learns of a region's mremap from the
 * uffd it holds (UFFD_EVENT_REMAP), before the client could tell it.
 */
#ifndef UPAGER_PROTO_H
#define UPAGER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

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
#define PROTO_FEATURES_KNOWN \
	(PROTO_FEAT_PIN_SHM | PROTO_FEAT_NOTIFIERS | PROTO_FEAT_FAULT_IN_ASYNC)

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
};

/* proto_invalidate.event: the values of enum upg_notify_event. */
enum proto_inval_event {
	PROTO_INVAL_EVICT = 1,
	PROTO_INVAL_REMAP = 2,
	PROTO_INVAL_UNMAP = 3,
	PROTO_INVAL_REMOVE = 4,
};
/* proto_invalidate.flags */
#define PROTO_INVAL_BLOCKABLE (1u << 0)
#define PROTO_INVAL_FLAGS_KNOWN PROTO_INVAL_BLOCKABLE

/* Record sizes of the v1 array replies.  A newer daemon may send longer
 * records (fields appended); a reader decodes the v1 prefix and skips the
 * rest.  Shorter records are -EBADMSG. */
#define PROTO_COUNTER_SIZE 12u	   /* u32 id, u64 value */
#define PROTO_CLIENT_REC_SIZE 160u
#define PROTO_REGION_REC_SIZE 104u
#define PROTO_ARRAY_HDR_SIZE 12u   /* total, count, record size, reserved */
#define PROTO_STATS_HDR_SIZE 4u	   /* count */
/* Most records one reply can carry (the rest come with a later @start). */
#define PROTO_COUNTERS_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_STATS_HDR_SIZE) / PROTO_COUNTER_SIZE)
#define PROTO_CLIENTS_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_ARRAY_HDR_SIZE) / PROTO_CLIENT_REC_SIZE)
#define PROTO_REGIONS_PER_MSG \
	((PROTO_MAX_PAYLOAD - PROTO_ARRAY_HDR_SIZE) / PROTO_REGION_REC_SIZE)

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

/* CLIENTS_REPLY and REGIONS_REPLY: records [start, start + count) of total. */
struct proto_clients_reply {
	uint32_t total, count;
	struct proto_client_rec *recs; /* owned by the message */
};

struct proto_regions_reply {
	uint32_t total, count;
	struct proto_region_rec *recs; /* owned by the message */
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
		struct proto_region_remove region_remove;
		struct proto_range flush;
		struct proto_fault_in fault_in;
		struct proto_advise advise;
		struct proto_stats_req stats;
		struct proto_stats_reply stats_reply;
		struct proto_clients_reply clients_reply;
		struct proto_regions_reply regions_reply;
		struct proto_invalidate invalidate;
		struct proto_invalidate_ack invalidate_ack;
		struct proto_reply reply;
		struct proto_error error;
	} u;
};

/* ---- codec (proto_codec.c, proto_codec_arrays.c) ----------------------- */

/**
 * proto_msg_init() - zero a message and set its header for sending.
 * @msg:  the message.
 * @type: enum proto_type.
 * @seq:  request number (a reply passes the request's).
 *
 * The version is PROTO_VERSION_1; a connection that negotiated another
 * sets @msg->hdr.version after this.  No fds, arrays NULL.
 * Context: any.
 */
void proto_msg_init(struct proto_msg *msg, enum proto_type type,
		    uint64_t seq);

/**
 * proto_msg_release() - free what a decoded message owns.
 * @msg: a message from proto_decode() or a receive, or proto_msg_init().
 *
 * Closes the fds still in @msg->fds (not taken with proto_msg_take_fd())
 * and frees the array of an array reply; leaves @msg with none.  Safe to
 * call twice.  Arrays set by a sender for proto_encode() are the sender's:
 * do not call this on such a message unless it allocated them with malloc.
 * Context: any.
 */
void proto_msg_release(struct proto_msg *msg);

/**
 * proto_msg_take_fd() - take ownership of a received fd.
 * @msg: a received message.
 * @i:   index in @msg->fds.
 * Return: the fd (the caller closes it), or -1 if there is none at @i.
 * Context: any.
 */
int proto_msg_take_fd(struct proto_msg *msg, unsigned i);

/**
 * proto_type_name() - name of a message type, for logs.
 * @type: any value.
 * Return: a static string ("HELLO" ...; "?" for an unknown type).
 */
const char *proto_type_name(unsigned type);

/**
 * proto_type_from_client() - may a client send this type?
 * @type: enum proto_type.
 * Return: true for the client-to-daemon types (and BYE).  The decoder does
 * not know who sent a message: the daemon checks direction with this.
 */
bool proto_type_from_client(unsigned type);

/**
 * proto_pick_version() - the version a daemon answers a HELLO with.
 * @peer_min: the client's lowest version.
 * @peer_max: the client's highest version.
 * Return: the highest version in both [@peer_min, @peer_max] and
 * [PROTO_VERSION_MIN, PROTO_VERSION_MAX], or -EPROTONOSUPPORT when the
 * ranges do not meet (the daemon says so in HELLO_REPLY's status).
 */
int proto_pick_version(uint16_t peer_min, uint16_t peer_max);

/**
 * proto_validate() - check a decoded-form message as the decoder would.
 * @msg:  the message (header type and version, payload fields).
 * @nfds: the fds that would go with it.
 *
 * proto_encode() calls this, so that nothing is sent that a peer of the
 * same version would reject.
 * Return: 0, or the error proto_decode() would give (see there).
 * Context: any.
 */
int proto_validate(const struct proto_msg *msg, unsigned nfds);

/**
 * proto_encode() - encode a message into a caller buffer.
 * @msg:  the message; @msg->hdr.type, .version, .seq and the payload are
 *        used (the header's flags must be 0, nfds and length are computed).
 * @nfds: the fds that will be sent with it (written into the header).
 * @buf:  where to write.
 * @cap:  bytes available at @buf (PROTO_MAX_MSG always suffices).
 *
 * Return: bytes written (> 0); -ENOSPC (@cap too small), -EMSGSIZE (the
 * payload would exceed PROTO_MAX_PAYLOAD, e.g. too many records), or any
 * error of proto_validate().
 * Context: any; no syscalls, no allocation.
 */
ssize_t proto_encode(const struct proto_msg *msg, unsigned nfds, void *buf,
		     size_t cap);

/**
 * proto_decode_header() - decode and check the fixed header only.
 * @buf: received bytes.
 * @len: how many.
 * @hdr: receives the header.
 *
 * These are the checks after which a byte stream cannot be trusted any
 * more (the message's length is unknown or absurd).
 * Return: 0; -EAGAIN (fewer than PROTO_HDR_SIZE bytes), -EPROTO (bad
 * magic), -EPROTONOSUPPORT (version outside [PROTO_VERSION_MIN,
 * PROTO_VERSION_MAX]), -EMSGSIZE (payload length over PROTO_MAX_PAYLOAD),
 * -EINVAL (unknown header flag, non-zero reserved byte), -EBADF (more than
 * PROTO_MAX_FDS fds announced).
 * Context: any; reads at most @len bytes.
 */
int proto_decode_header(const void *buf, size_t len, struct proto_hdr *hdr);

/**
 * proto_decode() - decode one message from the start of a buffer.
 * @buf:  received bytes (need not be aligned).
 * @len:  how many; bytes past the first message are not looked at.
 * @nfds_received: fds that arrived with the message's first byte.
 * @msg:  receives the message; @msg->nfds = @nfds_received, @msg->fds are
 *        all -1 (the stream layer fills them in).  On error it owns
 *        nothing, and @msg->hdr holds the header fields as far as they
 *        were read (so that an error reply can echo @msg->hdr.seq).
 *
 * Checks, in this order: the header (proto_decode_header()); -EAGAIN if
 * @len < the whole message; then -EOPNOTSUPP (unknown type: the frame is
 * intact, the receiver may skip it and answer), -EBADF (@nfds_received
 * differs from the header's count or from what the type takes), -EBADMSG
 * (payload length wrong for the type, array count or record size not
 * matching the payload), -EINVAL (a field out of range: unknown enum value
 * or flag bit, string with a NUL inside or too long, non-zero reserved
 * field, zero length, ranges that overflow), -ENOMEM (array allocation,
 * whose size was checked against the payload first).
 * Return: the message's length in bytes (> 0), or a negative errno above.
 * Context: any; reads at most @len bytes; never crashes on any input.
 */
ssize_t proto_decode(const void *buf, size_t len, unsigned nfds_received,
		     struct proto_msg *msg);

/* ---- stream reassembly (proto_conn.c) ------------------------------- */

/*
 * Per-connection receive state.  Reads are sized by proto_conn_want() so
 * that one read never crosses a message boundary: then fds that arrive
 * with a read belong to the message that read starts, and fds arriving in
 * the middle of a message are a protocol violation.
 */
struct proto_conn {
	int sock;
	uint8_t *buf;		/* PROTO_MAX_MSG bytes */
	size_t have;		/* bytes of the current message so far */
	size_t need;		/* bytes the current message has in total */
	bool hdr_done;		/* @need is known */
	bool fds_misplaced;	/* reject the current message with -EBADF */
	unsigned nfds;
	int fds[PROTO_MAX_FDS]; /* arrived with the current message */
	int broken;		/* 0, or the sticky error: stream unusable */
};

/**
 * proto_conn_init() - set up the receive state of a connection.
 * @c:    the state.
 * @sock: the socket (not owned: proto_conn_fini() does not close it; -1
 *        for a conn fed with proto_conn_feed() only).
 * Return: 0, -ENOMEM.
 */
int proto_conn_init(struct proto_conn *c, int sock);

/**
 * proto_conn_fini() - free the buffer, close fds of an unfinished message.
 * @c: the state (may be zeroed, or finished already).
 */
void proto_conn_fini(struct proto_conn *c);

/**
 * proto_conn_want() - bytes to read next.
 * @c: the state.
 * Return: the bytes missing from the current header, or from the current
 * message once its header is in; never 0 on a usable conn.
 */
size_t proto_conn_want(const struct proto_conn *c);

/**
 * proto_conn_feed() - give the reassembler bytes (and fds) from the stream.
 * @c:        the state.
 * @data:     bytes in stream order.
 * @len:      how many (> 0 when @nfds > 0).
 * @consumed: receives how many were taken: never past the end of the
 *            current message, so the caller feeds the rest again.
 * @fds:      fds that arrived with @data (ownership passes to @c whatever
 *            the result: they end up in @msg or closed).
 * @nfds:     how many.
 * @msg:      receives a completed message (it owns its fds).
 *
 * Return: 0 and a message in @msg; -EAGAIN when more bytes are needed;
 * or the message was rejected, with its fds closed: the errors of
 * proto_decode() (the stream goes on with the next message) or, once
 * proto_conn_broken() is true, the header errors of proto_decode_header()
 * and -ETOOMANYREFS (more than PROTO_MAX_FDS fds), repeated on every call.
 * Context: no syscalls but close().
 */
int proto_conn_feed(struct proto_conn *c, const void *data, size_t len,
		    size_t *consumed, const int *fds, unsigned nfds,
		    struct proto_msg *msg);

/**
 * proto_conn_broken() - has the stream lost its framing?
 * @c: the state.
 * Return: the sticky error (negative), or 0 while messages can still be
 * told apart.  A broken conn only ever returns that error: hang up.
 */
int proto_conn_broken(const struct proto_conn *c);

/* ---- socket io (proto_io.c) -------------------------------------------- */

/**
 * proto_send_bytes() - write encoded bytes to a stream socket.
 * @sock:       a connected unix stream socket (blocking or not).
 * @buf:        the bytes; @fds go with the first of them.
 * @len:        how many (> 0).
 * @fds:        fds to pass (SCM_RIGHTS), or NULL.
 * @nfds:       how many, at most PROTO_MAX_FDS.
 * @timeout_ms: bound on the whole write; -1: none (not for the daemon).
 *
 * Handles partial writes, EINTR, and never raises SIGPIPE.
 * Return: 0; -ETIMEDOUT (the peer stopped reading: part of the message
 * may be written, so the connection must be dropped), -EPIPE or
 * -ECONNRESET (peer gone), -EINVAL, other -errno of sendmsg/poll.
 * Context: blocks up to @timeout_ms.
 */
int proto_send_bytes(int sock, const void *buf, size_t len, const int *fds,
		     unsigned nfds, int timeout_ms);

/**
 * proto_send() - encode a message and send it with its fds.
 * @sock: a connected unix stream socket.
 * @msg:  the message (see proto_encode()).
 * @fds:  fds to pass, or NULL.
 * @nfds: how many; must be what the type takes.
 * @timeout_ms: as for proto_send_bytes().
 * Return: 0, an error of proto_encode(), or of proto_send_bytes().
 * Context: blocks up to @timeout_ms; may allocate a buffer for large
 * messages (-ENOMEM).
 */
int proto_send(int sock, const struct proto_msg *msg, const int *fds,
	       unsigned nfds, int timeout_ms);

/**
 * proto_conn_recv() - read what the socket has, up to one whole message.
 * @c:   the state, made with the socket.
 * @msg: receives a message.
 *
 * Reads with recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC), so it suits an
 * epoll loop (call it until -EAGAIN, edge-triggered or not).
 * Return: 0 and a message; -EAGAIN (nothing more to read yet); the
 * rejections of proto_conn_feed() (fds of the rejected message closed);
 * -ETOOMANYREFS (fds were truncated: MSG_CTRUNC; what arrived is closed);
 * -ECONNRESET (the peer closed the connection); other -errno of recvmsg.
 * After -ETOOMANYREFS, -ECONNRESET and recvmsg errors the conn is broken.
 * Context: never blocks.
 */
int proto_conn_recv(struct proto_conn *c, struct proto_msg *msg);

/**
 * proto_recv_timeout() - blocking receive of one message, for the client
 * and tools.
 * @c:          the state, made with the socket.
 * @msg:        receives the message.
 * @timeout_ms: bound; -1: none.
 * Return: as proto_conn_recv(), with -ETIMEDOUT instead of -EAGAIN.
 * Context: blocks in poll() up to @timeout_ms.
 */
int proto_recv_timeout(struct proto_conn *c, struct proto_msg *msg,
		       int timeout_ms);

/* ---- passed fds and peers (proto_fd.c) --------------------------------- */

/**
 * proto_fd_is_memfd_sealed() - may the daemon map this fd as a region?
 * @fd: a received fd.
 * Return: true if @fd is a regular file opened read-write whose seals
 * include F_SEAL_SHRINK (memfds and other shmem files): a client cannot
 * shrink it under the daemon's alias mapping, which would SIGBUS the
 * daemon.  False for anything else, including unsealed memfds.
 */
bool proto_fd_is_memfd_sealed(int fd);

/**
 * proto_fd_is_store() - is this fd a store whose I/O always completes?
 * @fd: a received fd.
 * Return: true for a regular file or a block device, opened for reading
 * and writing.  False for FIFOs, sockets, ttys and the like, whose reads
 * may block for ever.
 */
bool proto_fd_is_store(int fd);

/**
 * proto_fd_is_uffd() - is this fd a userfaultfd?
 * @fd: a received fd.
 * Return: true if it is an anon inode "[userfaultfd]" (checked through
 * /proc/self/fd, which names the anon inode's class).
 */
bool proto_fd_is_uffd(int fd);

/**
 * proto_peer_cred() - who is at the other end of a unix socket?
 * @sock: a connected unix socket.
 * @out:  receives pid, uid, gid as of connect() (SO_PEERCRED).
 * Return: 0, or -errno of getsockopt.
 */
int proto_peer_cred(int sock, struct ucred *out);

#endif
