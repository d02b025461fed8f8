/* SPDX-License-Identifier: MIT */
/*
 * proto_codec - header, type table, validation and the entry points.
 * Payload fields are coded in proto_codec_payload.c, the array replies
 * (STATS_REPLY, CLIENTS_REPLY, REGIONS_REPLY) in proto_codec_arrays.c.
 *
 * One validator (proto_validate) serves both directions: the decoder runs
 * it on what it parsed, the encoder on what it is asked to send, so that
 * a peer of the same version never rejects what we send.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/proto.h"
#include "proto/proto_wire.h"

struct type_info {
	const char *name;
	uint32_t payload_len; /* exact, or the minimum if @variable */
	bool variable;
	uint8_t fds_min, fds_max;
	bool from_client;
};

static const struct type_info type_table[PROTO_TYPE_COUNT] = {
	/* 1: a client's uffd; 0: a monitor (upagerctl) that maps nothing */
	[PROTO_HELLO] = { "HELLO", LEN_HELLO_FIXED, true, 0, 1, true },
	[PROTO_HELLO_REPLY] = { "HELLO_REPLY", LEN_HELLO_REPLY, false, 0, 0,
				false },
	/* 2 with PROTO_REGION_ANON, else 3: checked once flags are known */
	[PROTO_REGION_ADD] = { "REGION_ADD", LEN_REGION_ADD, false, 2, 3, true },
	[PROTO_REGION_REMOVE] = { "REGION_REMOVE", LEN_REGION_REMOVE, false,
				  0, 0, true },
	[PROTO_FLUSH] = { "FLUSH", LEN_RANGE, false, 0, 0, true },
	[PROTO_FAULT_IN] = { "FAULT_IN", LEN_RANGE_FLAGS, false, 0, 0, true },
	[PROTO_ADVISE] = { "ADVISE", LEN_RANGE_FLAGS, false, 0, 0, true },
	[PROTO_STATS] = { "STATS", LEN_STATS, false, 0, 0, true },
	[PROTO_STATS_REPLY] = { "STATS_REPLY", PROTO_STATS_HDR_SIZE, true, 0,
				0, false },
	[PROTO_CLIENTS_REPLY] = { "CLIENTS_REPLY", PROTO_ARRAY_HDR_SIZE, true,
				  0, 0, false },
	[PROTO_REGIONS_REPLY] = { "REGIONS_REPLY", PROTO_ARRAY_HDR_SIZE, true,
				  0, 0, false },
	[PROTO_INVALIDATE] = { "INVALIDATE", LEN_INVALIDATE, false, 0, 0,
			       false },
	[PROTO_INVALIDATE_ACK] = { "INVALIDATE_ACK", LEN_INVALIDATE_ACK, false,
				   0, 0, true },
	[PROTO_REPLY] = { "REPLY", LEN_REPLY, false, 0, 0, false },
	[PROTO_ERROR] = { "ERROR", LEN_ERROR_FIXED, true, 0, 0, false },
	[PROTO_BYE] = { "BYE", 0, false, 0, 0, true },
	/* the memfd and the pin-count memfd: the daemon opens the store */
	[PROTO_REGION_ADD_URI] = { "REGION_ADD_URI", LEN_REGION_ADD_URI_FIXED,
				   true, 2, 2, true },
	[PROTO_STORES_REPLY] = { "STORES_REPLY", PROTO_ARRAY_HDR_SIZE, true,
				 0, 0, false },
};

static const struct type_info *type_lookup(unsigned type)
{
	if (type >= PROTO_TYPE_COUNT || !type_table[type].name)
		return NULL;
	return &type_table[type];
}

uint32_t proto_payload_fixed_len(unsigned type)
{
	const struct type_info *ti = type_lookup(type);

	return ti ? ti->payload_len : 0;
}

const char *proto_type_name(unsigned type)
{
	const struct type_info *ti = type_lookup(type);

	return ti ? ti->name : "?";
}

bool proto_type_from_client(unsigned type)
{
	const struct type_info *ti = type_lookup(type);

	return ti && ti->from_client;
}

int proto_pick_version(uint16_t peer_min, uint16_t peer_max)
{
	uint16_t hi = peer_max < PROTO_VERSION_MAX ? peer_max : PROTO_VERSION_MAX;
	uint16_t lo = peer_min > PROTO_VERSION_MIN ? peer_min : PROTO_VERSION_MIN;

	return hi >= lo ? hi : -EPROTONOSUPPORT;
}

/* ---- messages own fds and arrays ------------------------------------- */

void proto_msg_init(struct proto_msg *msg, enum proto_type type,
		    uint64_t seq)
{
	memset(msg, 0, sizeof(*msg));
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		msg->fds[i] = -1;
	msg->hdr.version = PROTO_VERSION_1;
	msg->hdr.type = (uint16_t)type;
	msg->hdr.seq = seq;
}

void proto_msg_release(struct proto_msg *msg)
{
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nfds = 0;
	proto_arrays_release(msg);
}

int proto_msg_take_fd(struct proto_msg *msg, unsigned i)
{
	int fd;

	if (i >= PROTO_MAX_FDS)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

/* ---- validation (shared by both directions) --------------------------- */

static bool adds_overflow(uint64_t a, uint64_t b)
{
	return a + b < a;
}

static int check_range(const struct proto_range *r)
{
	return adds_overflow(r->offset, r->length) ? -EINVAL : 0;
}

/* Printable content is the peer's business; a NUL inside is not. */
static int check_str(const char *s, size_t max)
{
	return strnlen(s, max + 1) > max ? -EINVAL : 0;
}

/* The fields of REGION_ADD and REGION_ADD_URI, fds apart. */
static int validate_region_fields(const struct proto_region_add *ra)
{
	if (ra->flags & ~PROTO_REGION_FLAGS_KNOWN)
		return -EINVAL;
	if (ra->prot & ~PROTO_PROT_KNOWN)
		return -EINVAL;
	if ((ra->flags & PROTO_REGION_READONLY) && (ra->prot & PROT_WRITE))
		return -EINVAL;
	if (ra->numa_policy >= PROTO_NUMA_POLICY_COUNT || ra->numa_node < -1)
		return -EINVAL;
	if (ra->length == 0 || adds_overflow(ra->addr, ra->length) ||
	    adds_overflow(ra->memfd_offset, ra->length) ||
	    adds_overflow(ra->store_offset, ra->length))
		return -EINVAL;
	return 0;
}

static int validate_region_add(const struct proto_region_add *ra,
			       unsigned nfds)
{
	int err = validate_region_fields(ra);

	if (err)
		return err;
	if (nfds != ((ra->flags & PROTO_REGION_ANON) ? 2u : 3u))
		return -EBADF;
	return 0;
}

/* The store is the URI's: no swap of the daemon's (ANON). */
static int validate_region_add_uri(const struct proto_region_add_uri *ru)
{
	int err = validate_region_fields(&ru->add);

	if (err)
		return err;
	if (ru->add.flags & PROTO_REGION_ANON)
		return -EINVAL;
	return check_str(ru->uri, PROTO_URI_MAX);
}

static int validate_payload(const struct proto_msg *msg, unsigned nfds)
{
	const struct proto_hello_reply *hr = &msg->u.hello_reply;

	switch (msg->hdr.type) {
	case PROTO_HELLO:
		if (msg->u.hello.version_min < 1 ||
		    msg->u.hello.version_min > msg->u.hello.version_max)
			return -EINVAL;
		return check_str(msg->u.hello.name, PROTO_NAME_MAX);
	case PROTO_HELLO_REPLY:
		if (!proto_status_ok(hr->status))
			return -EINVAL;
		if (hr->status != 0)
			return 0;
		if (hr->version < PROTO_VERSION_MIN ||
		    hr->version > PROTO_VERSION_MAX)
			return -EPROTONOSUPPORT;
		if (hr->features & ~PROTO_FEATURES_KNOWN)
			return -EINVAL;
		if (hr->page_size == 0 || (hr->page_size & (hr->page_size - 1)))
			return -EINVAL;
		return 0;
	case PROTO_REGION_ADD:
		return validate_region_add(&msg->u.region_add, nfds);
	case PROTO_REGION_REMOVE:
		return (msg->u.region_remove.flags & ~PROTO_REMOVE_FLAGS_KNOWN) ?
			       -EINVAL : 0;
	case PROTO_FLUSH:
		return check_range(&msg->u.flush);
	case PROTO_FAULT_IN:
		if (msg->u.fault_in.flags & ~PROTO_FAULT_IN_FLAGS_KNOWN)
			return -EINVAL;
		return check_range(&msg->u.fault_in.range);
	case PROTO_ADVISE:
		if (msg->u.advise.advice >= PROTO_ADV_COUNT)
			return -EINVAL;
		return check_range(&msg->u.advise.range);
	case PROTO_STATS:
		return msg->u.stats.scope >= PROTO_SCOPE_COUNT ? -EINVAL : 0;
	case PROTO_REGION_ADD_URI:
		return validate_region_add_uri(&msg->u.region_add_uri);
	case PROTO_STATS_REPLY:
	case PROTO_CLIENTS_REPLY:
	case PROTO_REGIONS_REPLY:
	case PROTO_STORES_REPLY:
		return proto_arrays_validate(msg);
	case PROTO_INVALIDATE: {
		const struct proto_invalidate *in = &msg->u.invalidate;

		if (in->event < PROTO_INVAL_EVICT || in->event > PROTO_INVAL_REMOVE)
			return -EINVAL;
		if (in->flags & ~PROTO_INVAL_FLAGS_KNOWN)
			return -EINVAL;
		if (in->length == 0 || adds_overflow(in->offset, in->length))
			return -EINVAL;
		return 0;
	}
	case PROTO_INVALIDATE_ACK:
		return proto_status_ok(msg->u.invalidate_ack.status) ? 0 : -EINVAL;
	case PROTO_REPLY:
		return proto_status_ok(msg->u.reply.status) ? 0 : -EINVAL;
	case PROTO_ERROR:
		if (msg->u.error.status >= 0 || !proto_status_ok(msg->u.error.status))
			return -EINVAL;
		return check_str(msg->u.error.text, PROTO_ERRMSG_MAX);
	case PROTO_BYE:
		return 0;
	}
	return -EOPNOTSUPP;
}

int proto_validate(const struct proto_msg *msg, unsigned nfds)
{
	const struct type_info *ti = type_lookup(msg->hdr.type);

	if (msg->hdr.version < PROTO_VERSION_MIN ||
	    msg->hdr.version > PROTO_VERSION_MAX)
		return -EPROTONOSUPPORT;
	/* The handshake is frozen at v1 so that any two builds can meet. */
	if ((msg->hdr.type == PROTO_HELLO || msg->hdr.type == PROTO_HELLO_REPLY) &&
	    msg->hdr.version != PROTO_VERSION_1)
		return -EPROTONOSUPPORT;
	if (msg->hdr.flags & ~PROTO_HDR_FLAGS_KNOWN)
		return -EINVAL;
	if (!ti)
		return -EOPNOTSUPP;
	if (nfds < ti->fds_min || nfds > ti->fds_max)
		return -EBADF;
	return validate_payload(msg, nfds);
}

/* ---- header ------------------------------------------------------------ */

int proto_decode_header(const void *buf, size_t len, struct proto_hdr *hdr)
{
	struct wire_reader r = { .p = buf, .len = len };
	uint32_t magic;
	uint8_t reserved;

	memset(hdr, 0, sizeof(*hdr));
	if (len < PROTO_HDR_SIZE)
		return -EAGAIN;
	magic = wire_u32(&r);
	hdr->version = wire_u16(&r);
	hdr->type = wire_u16(&r);
	hdr->flags = wire_u16(&r);
	hdr->nfds = wire_u8(&r);
	reserved = wire_u8(&r);
	hdr->payload_len = wire_u32(&r);
	hdr->seq = wire_u64(&r);

	if (magic != PROTO_MAGIC)
		return -EPROTO;
	if (hdr->version < PROTO_VERSION_MIN || hdr->version > PROTO_VERSION_MAX)
		return -EPROTONOSUPPORT;
	if (hdr->payload_len > PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	if ((hdr->flags & ~PROTO_HDR_FLAGS_KNOWN) || reserved != 0)
		return -EINVAL;
	if (hdr->nfds > PROTO_MAX_FDS)
		return -EBADF;
	return 0;
}

static void put_header(struct wire_writer *w, const struct proto_hdr *hdr)
{
	wire_put_u32(w, PROTO_MAGIC);
	wire_put_u16(w, hdr->version);
	wire_put_u16(w, hdr->type);
	wire_put_u16(w, hdr->flags);
	wire_put_u8(w, hdr->nfds);
	wire_put_u8(w, 0);
	wire_put_u32(w, hdr->payload_len);
	wire_put_u64(w, hdr->seq);
}

/* ---- entry points ---------------------------------------------------------- */

ssize_t proto_encode(const struct proto_msg *msg, unsigned nfds, void *buf,
		     size_t cap)
{
	struct wire_writer w = { .p = buf, .len = cap };
	struct proto_hdr hdr = msg->hdr;
	size_t plen;
	int err;

	err = proto_validate(msg, nfds);
	if (err)
		return err;
	plen = proto_payload_len(msg);
	if (plen > PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (cap < PROTO_HDR_SIZE + plen)
		return -ENOSPC;
	hdr.nfds = (uint8_t)nfds;
	hdr.payload_len = (uint32_t)plen;
	put_header(&w, &hdr);
	proto_payload_encode(&w, msg);
	/* A disagreement between proto_payload_len() and
	 * proto_payload_encode() is a bug here; refuse rather than send a
	 * frame the peer cannot parse. */
	if (w.bad || w.pos != PROTO_HDR_SIZE + plen)
		return -EFAULT;
	return (ssize_t)w.pos;
}

/* Own nothing, keep the header as read: a reply to a rejected request
 * echoes its sequence number. */
static void msg_clear_keep_header(struct proto_msg *msg)
{
	struct proto_hdr hdr = msg->hdr;

	memset(msg, 0, sizeof(*msg));
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		msg->fds[i] = -1;
	msg->hdr = hdr;
}

ssize_t proto_decode(const void *buf, size_t len, unsigned nfds_received,
		     struct proto_msg *msg)
{
	const struct type_info *ti;
	struct wire_reader r;
	uint32_t plen;
	int err;

	memset(&msg->hdr, 0, sizeof(msg->hdr));
	msg_clear_keep_header(msg);
	err = proto_decode_header(buf, len, &msg->hdr);
	if (err)
		goto out_clear;
	plen = msg->hdr.payload_len;
	if (len - PROTO_HDR_SIZE < plen) {
		err = -EAGAIN;
		goto out_clear;
	}
	ti = type_lookup(msg->hdr.type);
	if (!ti) {
		err = -EOPNOTSUPP;
		goto out_clear;
	}
	if (nfds_received != msg->hdr.nfds || nfds_received < ti->fds_min ||
	    nfds_received > ti->fds_max) {
		err = -EBADF;
		goto out_clear;
	}
	if (ti->variable ? plen < ti->payload_len : plen != ti->payload_len) {
		err = -EBADMSG;
		goto out_clear;
	}

	r = (struct wire_reader){ .p = (const uint8_t *)buf + PROTO_HDR_SIZE,
				  .len = plen };
	err = proto_payload_decode(&r, msg);
	if (!err && (r.bad || wire_left(&r) != 0))
		err = -EBADMSG; /* the sizes above and the fields disagree */
	if (!err)
		err = validate_payload(msg, nfds_received);
	if (err)
		goto out_release;
	msg->nfds = nfds_received;
	return (ssize_t)(PROTO_HDR_SIZE + plen);

out_release:
	proto_arrays_release(msg);
out_clear:
	msg_clear_keep_header(msg);
	return err;
}
