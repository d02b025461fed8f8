/* SPDX-License-Identifier: MIT */
/*
 * proto_codec_payload - the payload fields of each message type, in wire
 * order (docs/protocol.md has the same tables).  Lengths were checked by
 * proto_decode() before these run; the bounded cursors are the second
 * line of defence.
 */
#include <errno.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_wire.h"

/* ---- strings ------------------------------------------------------------ */

/* u16 length, then that many bytes, none of them NUL. */
static int get_counted_str(struct wire_reader *r, char *dst, size_t max,
			   uint32_t payload_len, uint32_t fixed_len)
{
	uint16_t n = wire_u16(r);
	const uint8_t *b;

	if (n > max)
		return -EINVAL;
	if (payload_len != fixed_len + n)
		return -EBADMSG;
	b = wire_take(r, n);
	if (!b)
		return -EBADMSG;
	if (memchr(b, 0, n))
		return -EINVAL;
	memcpy(dst, b, n);
	dst[n] = '\0';
	return 0;
}

static void put_counted_str(struct wire_writer *w, const char *s)
{
	size_t n = strlen(s); /* bounded by proto_validate() */

	wire_put_u16(w, (uint16_t)n);
	wire_put_bytes(w, s, n);
}

int proto_wire_get_fixed_str(struct wire_reader *r, char *dst, size_t field)
{
	const uint8_t *b = wire_take(r, field);
	const uint8_t *nul;
	size_t n;

	if (!b)
		return -EBADMSG;
	nul = memchr(b, 0, field);
	n = nul ? (size_t)(nul - b) : field;
	for (size_t i = n; i < field; i++)
		if (b[i])
			return -EINVAL; /* text after the NUL */
	memcpy(dst, b, n);
	dst[n] = '\0';
	return 0;
}

void proto_wire_put_fixed_str(struct wire_writer *w, const char *src,
			      size_t field)
{
	size_t n = strnlen(src, field);

	wire_put_bytes(w, src, n);
	wire_put_zeros(w, field - n);
}

/* ---- payloads ------------------------------------------------------------ */

static void get_range(struct wire_reader *r, struct proto_range *rg)
{
	rg->region_id = wire_u64(r);
	rg->offset = wire_u64(r);
	rg->length = wire_u64(r);
}

static void put_range(struct wire_writer *w, const struct proto_range *rg)
{
	wire_put_u64(w, rg->region_id);
	wire_put_u64(w, rg->offset);
	wire_put_u64(w, rg->length);
}

/* REGION_ADD's 66 bytes, also the start of REGION_ADD_URI. */
static void get_region_add(struct wire_reader *r, struct proto_region_add *ra)
{
	ra->region_id = wire_u64(r);
	ra->addr = wire_u64(r);
	ra->length = wire_u64(r);
	ra->memfd_offset = wire_u64(r);
	ra->store_offset = wire_u64(r);
	ra->store_limit = wire_u64(r);
	ra->flags = wire_u32(r);
	ra->prot = wire_u32(r);
	ra->fill_pages = wire_u32(r);
	ra->numa_node = wire_s32(r);
	ra->numa_policy = wire_u16(r);
}

static void put_region_add(struct wire_writer *w,
			   const struct proto_region_add *ra)
{
	wire_put_u64(w, ra->region_id);
	wire_put_u64(w, ra->addr);
	wire_put_u64(w, ra->length);
	wire_put_u64(w, ra->memfd_offset);
	wire_put_u64(w, ra->store_offset);
	wire_put_u64(w, ra->store_limit);
	wire_put_u32(w, ra->flags);
	wire_put_u32(w, ra->prot);
	wire_put_u32(w, ra->fill_pages);
	wire_put_s32(w, ra->numa_node);
	wire_put_u16(w, ra->numa_policy);
}

int proto_payload_decode(struct wire_reader *r, struct proto_msg *msg)
{
	uint32_t plen = msg->hdr.payload_len;

	switch (msg->hdr.type) {
	case PROTO_HELLO: {
		struct proto_hello *h = &msg->u.hello;

		h->features = wire_u64(r);
		h->cap_bytes = wire_u64(r);
		h->version_min = wire_u16(r);
		h->version_max = wire_u16(r);
		return get_counted_str(r, h->name, PROTO_NAME_MAX, plen,
				       LEN_HELLO_FIXED);
	}
	case PROTO_HELLO_REPLY: {
		struct proto_hello_reply *h = &msg->u.hello_reply;

		h->features = wire_u64(r);
		h->client_id = wire_u64(r);
		h->budget_bytes = wire_u64(r);
		h->page_size = wire_u32(r);
		h->status = wire_s32(r);
		h->version = wire_u16(r);
		return 0;
	}
	case PROTO_REGION_ADD:
		get_region_add(r, &msg->u.region_add);
		return 0;
	case PROTO_REGION_ADD_URI:
		get_region_add(r, &msg->u.region_add_uri.add);
		return get_counted_str(r, msg->u.region_add_uri.uri,
				       PROTO_URI_MAX, plen,
				       LEN_REGION_ADD_URI_FIXED);
	case PROTO_REGION_REMOVE:
		msg->u.region_remove.region_id = wire_u64(r);
		msg->u.region_remove.flags = wire_u32(r);
		return 0;
	case PROTO_FLUSH:
		get_range(r, &msg->u.flush);
		return 0;
	case PROTO_FAULT_IN:
		get_range(r, &msg->u.fault_in.range);
		msg->u.fault_in.flags = wire_u32(r);
		return 0;
	case PROTO_ADVISE:
		get_range(r, &msg->u.advise.range);
		msg->u.advise.advice = wire_u32(r);
		return 0;
	case PROTO_STATS:
		msg->u.stats.scope = wire_u32(r);
		msg->u.stats.start = wire_u32(r);
		msg->u.stats.id = wire_u64(r);
		return 0;
	case PROTO_STATS_REPLY:
	case PROTO_CLIENTS_REPLY:
	case PROTO_REGIONS_REPLY:
	case PROTO_STORES_REPLY:
		return proto_arrays_decode(r, msg);
	case PROTO_INVALIDATE: {
		struct proto_invalidate *in = &msg->u.invalidate;

		in->region_id = wire_u64(r);
		in->offset = wire_u64(r);
		in->length = wire_u64(r);
		in->cookie = wire_u64(r);
		in->seq = wire_u64(r);
		in->event = wire_u32(r);
		in->flags = wire_u32(r);
		return 0;
	}
	case PROTO_INVALIDATE_ACK:
		msg->u.invalidate_ack.cookie = wire_u64(r);
		msg->u.invalidate_ack.status = wire_s32(r);
		return 0;
	case PROTO_REPLY:
		msg->u.reply.status = wire_s32(r);
		msg->u.reply.value = wire_u64(r);
		return 0;
	case PROTO_ERROR:
		msg->u.error.status = wire_s32(r);
		return get_counted_str(r, msg->u.error.text, PROTO_ERRMSG_MAX,
				       plen, LEN_ERROR_FIXED);
	case PROTO_BYE:
		return 0;
	}
	return -EOPNOTSUPP;
}

size_t proto_payload_len(const struct proto_msg *msg)
{

	switch (msg->hdr.type) {
	case PROTO_HELLO:
		return LEN_HELLO_FIXED + strlen(msg->u.hello.name);
	case PROTO_ERROR:
		return LEN_ERROR_FIXED + strlen(msg->u.error.text);
	case PROTO_REGION_ADD_URI:
		return LEN_REGION_ADD_URI_FIXED +
		       strlen(msg->u.region_add_uri.uri);
	case PROTO_STATS_REPLY:
	case PROTO_CLIENTS_REPLY:
	case PROTO_REGIONS_REPLY:
	case PROTO_STORES_REPLY:
		return proto_arrays_payload_len(msg);
	}
	return proto_payload_fixed_len(msg->hdr.type);
}

void proto_payload_encode(struct wire_writer *w, const struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case PROTO_HELLO: {
		const struct proto_hello *h = &msg->u.hello;

		wire_put_u64(w, h->features);
		wire_put_u64(w, h->cap_bytes);
		wire_put_u16(w, h->version_min);
		wire_put_u16(w, h->version_max);
		put_counted_str(w, h->name);
		break;
	}
	case PROTO_HELLO_REPLY: {
		const struct proto_hello_reply *h = &msg->u.hello_reply;

		wire_put_u64(w, h->features);
		wire_put_u64(w, h->client_id);
		wire_put_u64(w, h->budget_bytes);
		wire_put_u32(w, h->page_size);
		wire_put_s32(w, h->status);
		wire_put_u16(w, h->version);
		break;
	}
	case PROTO_REGION_ADD:
		put_region_add(w, &msg->u.region_add);
		break;
	case PROTO_REGION_ADD_URI:
		put_region_add(w, &msg->u.region_add_uri.add);
		put_counted_str(w, msg->u.region_add_uri.uri);
		break;
	case PROTO_REGION_REMOVE:
		wire_put_u64(w, msg->u.region_remove.region_id);
		wire_put_u32(w, msg->u.region_remove.flags);
		break;
	case PROTO_FLUSH:
		put_range(w, &msg->u.flush);
		break;
	case PROTO_FAULT_IN:
		put_range(w, &msg->u.fault_in.range);
		wire_put_u32(w, msg->u.fault_in.flags);
		break;
	case PROTO_ADVISE:
		put_range(w, &msg->u.advise.range);
		wire_put_u32(w, msg->u.advise.advice);
		break;
	case PROTO_STATS:
		wire_put_u32(w, msg->u.stats.scope);
		wire_put_u32(w, msg->u.stats.start);
		wire_put_u64(w, msg->u.stats.id);
		break;
	case PROTO_STATS_REPLY:
	case PROTO_CLIENTS_REPLY:
	case PROTO_REGIONS_REPLY:
	case PROTO_STORES_REPLY:
		proto_arrays_encode(w, msg);
		break;
	case PROTO_INVALIDATE: {
		const struct proto_invalidate *in = &msg->u.invalidate;

		wire_put_u64(w, in->region_id);
		wire_put_u64(w, in->offset);
		wire_put_u64(w, in->length);
		wire_put_u64(w, in->cookie);
		wire_put_u64(w, in->seq);
		wire_put_u32(w, in->event);
		wire_put_u32(w, in->flags);
		break;
	}
	case PROTO_INVALIDATE_ACK:
		wire_put_u64(w, msg->u.invalidate_ack.cookie);
		wire_put_s32(w, msg->u.invalidate_ack.status);
		break;
	case PROTO_REPLY:
		wire_put_s32(w, msg->u.reply.status);
		wire_put_u64(w, msg->u.reply.value);
		break;
	case PROTO_ERROR:
		wire_put_s32(w, msg->u.error.status);
		put_counted_str(w, msg->u.error.text);
		break;
	}
}
