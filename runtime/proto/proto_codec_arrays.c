/* SPDX-License-Identifier: MIT */
/*
 * proto_codec_arrays - the replies that carry arrays: STATS_REPLY
 * (counter id/value pairs), CLIENTS_REPLY, REGIONS_REPLY and
 * STORES_REPLY (records).
 *
 * Every count is checked against the payload length before anything is
 * allocated, so an allocation is at most a small multiple of the bytes
 * actually received (PROTO_MAX_PAYLOAD bounds it).  Records carry their
 * size so that a newer daemon can append fields: a reader takes the v1
 * prefix and skips the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/proto_wire.h"

void proto_arrays_release(struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case PROTO_STATS_REPLY:
		free(msg->u.stats_reply.counters);
		msg->u.stats_reply.counters = NULL;
		msg->u.stats_reply.count = 0;
		break;
	case PROTO_CLIENTS_REPLY:
		free(msg->u.clients_reply.recs);
		msg->u.clients_reply.recs = NULL;
		msg->u.clients_reply.count = 0;
		break;
	case PROTO_REGIONS_REPLY:
		free(msg->u.regions_reply.recs);
		msg->u.regions_reply.recs = NULL;
		msg->u.regions_reply.count = 0;
		break;
	case PROTO_STORES_REPLY:
		free(msg->u.stores_reply.recs);
		msg->u.stores_reply.recs = NULL;
		msg->u.stores_reply.count = 0;
		break;
	}
}

/* ---- validation -------------------------------------------------------- */

static int validate_client_rec(const struct proto_client_rec *c)
{
	return strnlen(c->name, PROTO_NAME_MAX + 1) > PROTO_NAME_MAX ? -EINVAL
								      : 0;
}

static int validate_region_rec(const struct proto_region_rec *rr)
{
	if (rr->flags & ~PROTO_REGION_FLAGS_KNOWN)
		return -EINVAL;
	if (rr->prot & ~PROTO_PROT_KNOWN)
		return -EINVAL;
	return 0;
}

static int validate_store_rec(const struct proto_store_rec *sr)
{
	if (sr->flags & ~PROTO_STORE_FLAGS_KNOWN)
		return -EINVAL;
	if (strnlen(sr->name, PROTO_STORE_NAME_MAX + 1) > PROTO_STORE_NAME_MAX ||
	    strnlen(sr->addr, PROTO_STORE_ADDR_MAX + 1) > PROTO_STORE_ADDR_MAX)
		return -EINVAL;
	return 0;
}

int proto_arrays_validate(const struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case PROTO_STATS_REPLY: {
		const struct proto_stats_reply *s = &msg->u.stats_reply;

		if (s->count > PROTO_COUNTERS_PER_MSG)
			return -EMSGSIZE;
		return s->count && !s->counters ? -EINVAL : 0;
	}
	case PROTO_CLIENTS_REPLY: {
		const struct proto_clients_reply *c = &msg->u.clients_reply;

		if (c->count > PROTO_CLIENTS_PER_MSG)
			return -EMSGSIZE;
		if (c->count > c->total || (c->count && !c->recs))
			return -EINVAL;
		for (uint32_t i = 0; i < c->count; i++)
			if (validate_client_rec(&c->recs[i]))
				return -EINVAL;
		return 0;
	}
	case PROTO_REGIONS_REPLY: {
		const struct proto_regions_reply *rg = &msg->u.regions_reply;

		if (rg->count > PROTO_REGIONS_PER_MSG)
			return -EMSGSIZE;
		if (rg->count > rg->total || (rg->count && !rg->recs))
			return -EINVAL;
		for (uint32_t i = 0; i < rg->count; i++)
			if (validate_region_rec(&rg->recs[i]))
				return -EINVAL;
		return 0;
	}
	case PROTO_STORES_REPLY: {
		const struct proto_stores_reply *sp = &msg->u.stores_reply;

		if (sp->count > PROTO_STORES_PER_MSG)
			return -EMSGSIZE;
		if (sp->count > sp->total || (sp->count && !sp->recs))
			return -EINVAL;
		for (uint32_t i = 0; i < sp->count; i++)
			if (validate_store_rec(&sp->recs[i]))
				return -EINVAL;
		return 0;
	}
	}
	return -EOPNOTSUPP;
}

size_t proto_arrays_payload_len(const struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case PROTO_STATS_REPLY:
		return PROTO_STATS_HDR_SIZE +
		       (size_t)msg->u.stats_reply.count * PROTO_COUNTER_SIZE;
	case PROTO_CLIENTS_REPLY:
		return PROTO_ARRAY_HDR_SIZE +
		       (size_t)msg->u.clients_reply.count * PROTO_CLIENT_REC_SIZE;
	case PROTO_REGIONS_REPLY:
		return PROTO_ARRAY_HDR_SIZE +
		       (size_t)msg->u.regions_reply.count * PROTO_REGION_REC_SIZE;
	case PROTO_STORES_REPLY:
		return PROTO_ARRAY_HDR_SIZE +
		       (size_t)msg->u.stores_reply.count * PROTO_STORE_REC_SIZE;
	}
	return 0;
}

/* ---- records ------------------------------------------------------------- */

static int get_client_rec(struct wire_reader *r, struct proto_client_rec *c)
{
	c->client_id = wire_u64(r);
	c->pid = wire_u32(r);
	c->uid = wire_u32(r);
	c->resident_bytes = wire_u64(r);
	c->budget_share_bytes = wire_u64(r);
	c->cap_bytes = wire_u64(r);
	c->faults = wire_u64(r);
	c->fills = wire_u64(r);
	c->evictions = wire_u64(r);
	c->writebacks = wire_u64(r);
	c->pins = wire_u64(r);
	c->notifier_callbacks = wire_u64(r);
	c->errors = wire_u64(r);
	return proto_wire_get_fixed_str(r, c->name, PROTO_NAME_MAX);
}

static void put_client_rec(struct wire_writer *w,
			   const struct proto_client_rec *c)
{
	wire_put_u64(w, c->client_id);
	wire_put_u32(w, c->pid);
	wire_put_u32(w, c->uid);
	wire_put_u64(w, c->resident_bytes);
	wire_put_u64(w, c->budget_share_bytes);
	wire_put_u64(w, c->cap_bytes);
	wire_put_u64(w, c->faults);
	wire_put_u64(w, c->fills);
	wire_put_u64(w, c->evictions);
	wire_put_u64(w, c->writebacks);
	wire_put_u64(w, c->pins);
	wire_put_u64(w, c->notifier_callbacks);
	wire_put_u64(w, c->errors);
	proto_wire_put_fixed_str(w, c->name, PROTO_NAME_MAX);
}

static void get_region_rec(struct wire_reader *r, struct proto_region_rec *rr)
{
	rr->client_id = wire_u64(r);
	rr->region_id = wire_u64(r);
	rr->addr = wire_u64(r);
	rr->length = wire_u64(r);
	rr->resident_bytes = wire_u64(r);
	rr->dirty_bytes = wire_u64(r);
	rr->pinned_bytes = wire_u64(r);
	rr->faults = wire_u64(r);
	rr->fills = wire_u64(r);
	rr->evictions = wire_u64(r);
	rr->writebacks = wire_u64(r);
	rr->errors = wire_u64(r);
	rr->flags = wire_u32(r);
	rr->prot = wire_u32(r);
}

static void put_region_rec(struct wire_writer *w,
			   const struct proto_region_rec *rr)
{
	wire_put_u64(w, rr->client_id);
	wire_put_u64(w, rr->region_id);
	wire_put_u64(w, rr->addr);
	wire_put_u64(w, rr->length);
	wire_put_u64(w, rr->resident_bytes);
	wire_put_u64(w, rr->dirty_bytes);
	wire_put_u64(w, rr->pinned_bytes);
	wire_put_u64(w, rr->faults);
	wire_put_u64(w, rr->fills);
	wire_put_u64(w, rr->evictions);
	wire_put_u64(w, rr->writebacks);
	wire_put_u64(w, rr->errors);
	wire_put_u32(w, rr->flags);
	wire_put_u32(w, rr->prot);
}

/* 8 + 8 + 112 + 72 + 4 + 4 + 6 x 8 = PROTO_STORE_REC_SIZE (256) bytes. */
static int get_store_rec(struct wire_reader *r, struct proto_store_rec *sr)
{
	int err;

	sr->client_id = wire_u64(r);
	sr->region_id = wire_u64(r);
	err = proto_wire_get_fixed_str(r, sr->name, PROTO_STORE_NAME_MAX);
	if (!err)
		err = proto_wire_get_fixed_str(r, sr->addr,
					       PROTO_STORE_ADDR_MAX);
	sr->flags = wire_u32(r);
	sr->slots = wire_u32(r);
	sr->queued = wire_u64(r);
	sr->in_flight = wire_u64(r);
	sr->errors = wire_u64(r);
	sr->connects = wire_u64(r);
	sr->retrying = wire_u64(r);
	sr->map_refreshes = wire_u64(r);
	return err;
}

static void put_store_rec(struct wire_writer *w,
			  const struct proto_store_rec *sr)
{
	wire_put_u64(w, sr->client_id);
	wire_put_u64(w, sr->region_id);
	proto_wire_put_fixed_str(w, sr->name, PROTO_STORE_NAME_MAX);
	proto_wire_put_fixed_str(w, sr->addr, PROTO_STORE_ADDR_MAX);
	wire_put_u32(w, sr->flags);
	wire_put_u32(w, sr->slots);
	wire_put_u64(w, sr->queued);
	wire_put_u64(w, sr->in_flight);
	wire_put_u64(w, sr->errors);
	wire_put_u64(w, sr->connects);
	wire_put_u64(w, sr->retrying);
	wire_put_u64(w, sr->map_refreshes);
}

/* ---- decode ---------------------------------------------------------------- */

static int decode_counters(struct wire_reader *r, struct proto_stats_reply *s)
{
	uint32_t count = wire_u32(r);

	/* The count must describe exactly the bytes that follow. */
	if ((uint64_t)count * PROTO_COUNTER_SIZE != wire_left(r))
		return -EBADMSG;
	if (count) {
		s->counters = calloc(count, sizeof(*s->counters));
		if (!s->counters)
			return -ENOMEM;
	}
	s->count = count;
	for (uint32_t i = 0; i < count; i++) {
		s->counters[i].id = wire_u32(r);
		s->counters[i].value = wire_u64(r);
	}
	return 0;
}

/*
 * Array header: u32 total, u32 count, u16 record size, u16 reserved (0).
 * Return: 0 with *count and *rec_size checked against the bytes left.
 */
static int get_array_hdr(struct wire_reader *r, size_t min_rec,
			 uint32_t *total, uint32_t *count, uint16_t *rec_size)
{
	uint16_t reserved;

	*total = wire_u32(r);
	*count = wire_u32(r);
	*rec_size = wire_u16(r);
	reserved = wire_u16(r);
	if (reserved)
		return -EINVAL;
	if (*rec_size < min_rec)
		return -EBADMSG;
	if ((uint64_t)*count * *rec_size != wire_left(r))
		return -EBADMSG;
	if (*count > *total)
		return -EINVAL;
	return 0;
}

static int decode_clients(struct wire_reader *r,
			  struct proto_clients_reply *c)
{
	uint32_t total, count;
	uint16_t rec_size;
	int err;

	err = get_array_hdr(r, PROTO_CLIENT_REC_SIZE, &total, &count, &rec_size);
	if (err)
		return err;
	if (count) {
		c->recs = calloc(count, sizeof(*c->recs));
		if (!c->recs)
			return -ENOMEM;
	}
	c->total = total;
	c->count = count;
	for (uint32_t i = 0; i < count; i++) {
		err = get_client_rec(r, &c->recs[i]);
		if (err)
			return err;
		wire_skip(r, rec_size - PROTO_CLIENT_REC_SIZE); /* newer fields */
	}
	return 0;
}

static int decode_regions(struct wire_reader *r,
			  struct proto_regions_reply *rg)
{
	uint32_t total, count;
	uint16_t rec_size;
	int err;

	err = get_array_hdr(r, PROTO_REGION_REC_SIZE, &total, &count, &rec_size);
	if (err)
		return err;
	if (count) {
		rg->recs = calloc(count, sizeof(*rg->recs));
		if (!rg->recs)
			return -ENOMEM;
	}
	rg->total = total;
	rg->count = count;
	for (uint32_t i = 0; i < count; i++) {
		get_region_rec(r, &rg->recs[i]);
		wire_skip(r, rec_size - PROTO_REGION_REC_SIZE);
	}
	return 0;
}

static int decode_stores(struct wire_reader *r, struct proto_stores_reply *sp)
{
	uint32_t total, count;
	uint16_t rec_size;
	int err;

	err = get_array_hdr(r, PROTO_STORE_REC_SIZE, &total, &count, &rec_size);
	if (err)
		return err;
	if (count) {
		sp->recs = calloc(count, sizeof(*sp->recs));
		if (!sp->recs)
			return -ENOMEM;
	}
	sp->total = total;
	sp->count = count;
	for (uint32_t i = 0; i < count; i++) {
		err = get_store_rec(r, &sp->recs[i]);
		if (err)
			return err;
		wire_skip(r, rec_size - PROTO_STORE_REC_SIZE);
	}
	return 0;
}

int proto_arrays_decode(struct wire_reader *r, struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case PROTO_STATS_REPLY:
		return decode_counters(r, &msg->u.stats_reply);
	case PROTO_CLIENTS_REPLY:
		return decode_clients(r, &msg->u.clients_reply);
	case PROTO_REGIONS_REPLY:
		return decode_regions(r, &msg->u.regions_reply);
	case PROTO_STORES_REPLY:
		return decode_stores(r, &msg->u.stores_reply);
	}
	return -EOPNOTSUPP;
}

/* ---- encode ---------------------------------------------------------------- */

void proto_arrays_encode(struct wire_writer *w, const struct proto_msg *msg)
{
	switch (msg->hdr.type) {
	case PROTO_STATS_REPLY: {
		const struct proto_stats_reply *s = &msg->u.stats_reply;

		wire_put_u32(w, s->count);
		for (uint32_t i = 0; i < s->count; i++) {
			wire_put_u32(w, s->counters[i].id);
			wire_put_u64(w, s->counters[i].value);
		}
		break;
	}
	case PROTO_CLIENTS_REPLY: {
		const struct proto_clients_reply *c = &msg->u.clients_reply;

		wire_put_u32(w, c->total);
		wire_put_u32(w, c->count);
		wire_put_u16(w, PROTO_CLIENT_REC_SIZE);
		wire_put_u16(w, 0);
		for (uint32_t i = 0; i < c->count; i++)
			put_client_rec(w, &c->recs[i]);
		break;
	}
	case PROTO_REGIONS_REPLY: {
		const struct proto_regions_reply *rg = &msg->u.regions_reply;

		wire_put_u32(w, rg->total);
		wire_put_u32(w, rg->count);
		wire_put_u16(w, PROTO_REGION_REC_SIZE);
		wire_put_u16(w, 0);
		for (uint32_t i = 0; i < rg->count; i++)
			put_region_rec(w, &rg->recs[i]);
		break;
	}
	case PROTO_STORES_REPLY: {
		const struct proto_stores_reply *sp = &msg->u.stores_reply;

		wire_put_u32(w, sp->total);
		wire_put_u32(w, sp->count);
		wire_put_u16(w, PROTO_STORE_REC_SIZE);
		wire_put_u16(w, 0);
		for (uint32_t i = 0; i < sp->count; i++)
			put_store_rec(w, &sp->recs[i]);
		break;
	}
	}
}
