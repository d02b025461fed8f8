// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proto_samples.h"

static struct proto_counter sample_counters[] = {
	{ PROTO_CTR_FAULTS_MISSING, 12345 },
	{ PROTO_CTR_RESIDENT_BYTES, 1ull << 40 },
	{ 999, UINT64_MAX }, /* an id from the future: carried as is */
};

static struct proto_client_rec sample_clients[2];
static struct proto_region_rec sample_regions[2];
static struct proto_store_rec sample_stores[2];

static void fill_records(void)
{
	for (unsigned i = 0; i < 2; i++) {
		struct proto_client_rec *c = &sample_clients[i];
		struct proto_region_rec *r = &sample_regions[i];
		struct proto_store_rec *s = &sample_stores[i];
		uint64_t b = (i + 1) * 0x0101010101ull;

		memset(c, 0, sizeof(*c));
		c->client_id = 100 + i;
		c->pid = 4000 + i;
		c->uid = 1000 + i;
		c->resident_bytes = b * 1;
		c->budget_share_bytes = b * 2;
		c->cap_bytes = b * 3;
		c->faults = b * 4;
		c->fills = b * 5;
		c->evictions = b * 6;
		c->writebacks = b * 7;
		c->pins = b * 8;
		c->notifier_callbacks = b * 9;
		c->errors = b * 10;
		/* one short name, one that fills the whole field */
		if (i == 0)
			strcpy(c->name, "ooc_sort");
		else
			memset(c->name, 'n', PROTO_NAME_MAX);

		memset(r, 0, sizeof(*r));
		r->client_id = 100 + i;
		r->region_id = 0xfeed0000 + i;
		r->addr = 0x7f0000000000ull + i * 0x100000;
		r->length = 1ull << (20 + i);
		r->resident_bytes = b * 11;
		r->dirty_bytes = b * 12;
		r->pinned_bytes = b * 13;
		r->faults = b * 14;
		r->fills = b * 15;
		r->evictions = b * 16;
		r->writebacks = b * 17;
		r->errors = b * 18;
		r->flags = i ? PROTO_REGION_ANON : PROTO_REGION_READONLY;
		r->prot = i ? (PROT_READ | PROT_WRITE) : PROT_READ;

		/* a master that is up, and one down with commands queued;
		 * a short name and one that fills its field */
		memset(s, 0, sizeof(*s));
		s->client_id = 100 + i;
		s->region_id = 0xfeed0000 + i;
		if (i == 0)
			strcpy(s->name, "u1000.demo");
		else
			memset(s->name, 's', PROTO_STORE_NAME_MAX);
		snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", 31000 + i);
		s->flags = i ? PROTO_STORE_OWNS_SLOTS :
			       PROTO_STORE_OWNS_SLOTS | PROTO_STORE_READ_UP |
				       PROTO_STORE_WRITE_UP;
		s->slots = 5461 + i;
		s->queued = b * 19;
		s->in_flight = b * 20;
		s->errors = b * 21;
		s->connects = b * 22;
		s->retrying = b * 23;
		s->map_refreshes = b * 24;
	}
}

unsigned ps_sample(enum proto_type type, struct proto_msg *msg)
{
	proto_msg_init(msg, type, (uint64_t)type * 1000 + 7);
	switch (type) {
	case PROTO_HELLO:
		msg->u.hello.version_min = 1;
		msg->u.hello.version_max = 3;
		msg->u.hello.features = PROTO_FEATURES_KNOWN | (1ull << 63);
		msg->u.hello.cap_bytes = 256ull << 20;
		strcpy(msg->u.hello.name, "quickstart[4242]");
		return 1;
	case PROTO_HELLO_REPLY:
		msg->u.hello_reply.status = 0;
		msg->u.hello_reply.version = 1;
		msg->u.hello_reply.features = PROTO_FEAT_PIN_SHM;
		msg->u.hello_reply.client_id = 17;
		msg->u.hello_reply.budget_bytes = 1ull << 30;
		msg->u.hello_reply.page_size = 4096;
		return 0;
	case PROTO_REGION_ADD: {
		struct proto_region_add *ra = &msg->u.region_add;

		ra->region_id = 0xabcdef0123456789ull;
		ra->addr = 0x7f1234560000ull;
		ra->length = 64ull << 20;
		ra->memfd_offset = 0;
		ra->store_offset = 1ull << 32;
		ra->store_limit = 128ull << 20;
		ra->flags = PROTO_REGION_EVENT_FORK;
		ra->prot = PROT_READ | PROT_WRITE;
		ra->fill_pages = 16;
		ra->numa_policy = PROTO_NUMA_PREFERRED;
		ra->numa_node = 1;
		return 3;
	}
	case PROTO_REGION_REMOVE:
		msg->u.region_remove.region_id = 0xabcdef0123456789ull;
		msg->u.region_remove.flags = PROTO_REMOVE_WAIT_PINS;
		return 0;
	case PROTO_FLUSH:
		msg->u.flush = (struct proto_range){ 5, 4096, 8192 };
		return 0;
	case PROTO_FAULT_IN:
		msg->u.fault_in.range = (struct proto_range){ 6, 0, 1 << 20 };
		msg->u.fault_in.flags = PROTO_FAULT_IN_WRITE | PROTO_FAULT_IN_ASYNC;
		return 0;
	case PROTO_ADVISE:
		msg->u.advise.range = (struct proto_range){ 7, 8192, 0 };
		msg->u.advise.advice = PROTO_ADV_SEQUENTIAL;
		return 0;
	case PROTO_STATS:
		msg->u.stats.scope = PROTO_SCOPE_REGIONS;
		msg->u.stats.start = 3;
		msg->u.stats.id = 42;
		return 0;
	case PROTO_STATS_REPLY:
		msg->u.stats_reply.count = 3;
		msg->u.stats_reply.counters = sample_counters;
		return 0;
	case PROTO_CLIENTS_REPLY:
		fill_records();
		msg->u.clients_reply.total = 5;
		msg->u.clients_reply.count = 2;
		msg->u.clients_reply.recs = sample_clients;
		return 0;
	case PROTO_REGIONS_REPLY:
		fill_records();
		msg->u.regions_reply.total = 2;
		msg->u.regions_reply.count = 2;
		msg->u.regions_reply.recs = sample_regions;
		return 0;
	case PROTO_INVALIDATE:
		msg->u.invalidate = (struct proto_invalidate){
			.region_id = 9, .offset = 4096, .length = 65536,
			.cookie = 0x1122334455667788ull, .seq = 31,
			.event = PROTO_INVAL_EVICT, .flags = PROTO_INVAL_BLOCKABLE,
		};
		return 0;
	case PROTO_INVALIDATE_ACK:
		msg->u.invalidate_ack.cookie = 0x1122334455667788ull;
		msg->u.invalidate_ack.status = -EAGAIN;
		return 0;
	case PROTO_REPLY:
		msg->u.reply.status = -ENOMEM;
		msg->u.reply.value = 12288;
		return 0;
	case PROTO_ERROR:
		msg->u.error.status = -EPROTO;
		strcpy(msg->u.error.text, "bad magic from client 17 (pid 4242)");
		return 0;
	case PROTO_REGION_ADD_URI: {
		struct proto_region_add *ra = &msg->u.region_add_uri.add;

		ra->region_id = 0x0123456789abcdefull;
		ra->addr = 0x7f2234560000ull;
		ra->length = 16ull << 20;
		ra->store_offset = 1ull << 30;
		ra->prot = PROT_READ | PROT_WRITE;
		ra->fill_pages = 4;
		ra->numa_node = -1;
		strcpy(msg->u.region_add_uri.uri,
		       "redis://:p%40ss@127.0.0.1:31000,[::1]:31001"
		       "?name=demo&extent_pages=16&replicas=1");
		return 2;
	}
	case PROTO_STORES_REPLY:
		fill_records();
		msg->u.stores_reply.total = 3;
		msg->u.stores_reply.count = 2;
		msg->u.stores_reply.recs = sample_stores;
		return 0;
	case PROTO_BYE:
	case PROTO_TYPE_COUNT:
		break;
	}
	return 0;
}

size_t ps_encode(enum proto_type type, void *buf, unsigned *nfds)
{
	struct proto_msg msg;
	ssize_t n;

	*nfds = ps_sample(type, &msg);
	n = proto_encode(&msg, *nfds, buf, PROTO_MAX_MSG);
	if (n <= 0)
		abort(); /* a sample the codec refuses is a bug in either */
	return (size_t)n;
}
