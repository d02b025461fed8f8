// SPDX-License-Identifier: MIT
/*
 * slot_map - see slot_map.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "farmem/slot_map.h"

uint16_t crc16_xmodem(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint16_t crc = 0;
	int bit;

	/* Bitwise: 16 KiB of keys a second is nothing next to the network. */
	while (len--) {
		crc ^= (uint16_t)(*p++ << 8);
		for (bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
					     : (uint16_t)(crc << 1);
	}
	return crc;
}

uint16_t key_slot(const char *key, size_t len)
{
	const char *open, *close;

	open = memchr(key, '{', len);
	if (open) {
		close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		/* "{}" is not a tag: the whole key is hashed. */
		if (close && close > open + 1)
			return crc16_xmodem(open + 1, (size_t)(close - open - 1)) &
			       (REDIS_SLOTS - 1);
	}
	return crc16_xmodem(key, len) & (REDIS_SLOTS - 1);
}

void slot_map_init(struct slot_map *m)
{
	memset(m, 0, sizeof(*m));
	memset(m->owner, 0xff, sizeof(m->owner)); /* -1 everywhere */
}

int slot_map_find(const struct slot_map *m, const struct node_addr *addr)
{
	int i;

	for (i = 0; i < m->nmasters; i++)
		if (m->masters[i].port == addr->port &&
		    !strcmp(m->masters[i].host, addr->host))
			return i;
	return -1;
}

static int node_addr_from_reply(const redisReply *n, struct node_addr *a)
{
	if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
	    n->element[0]->type != REDIS_REPLY_STRING ||
	    n->element[1]->type != REDIS_REPLY_INTEGER)
		return -EPROTO;
	if (n->element[0]->len == 0 ||
	    n->element[0]->len >= sizeof(a->host) ||
	    n->element[1]->integer <= 0 || n->element[1]->integer > 65535)
		return -EPROTO;
	memcpy(a->host, n->element[0]->str, n->element[0]->len);
	a->host[n->element[0]->len] = '\0';
	a->port = (int)n->element[1]->integer;
	return 0;
}

static void remember_node(struct slot_map *m, const struct node_addr *a)
{
	int i;

	for (i = 0; i < m->nnodes; i++)
		if (m->nodes[i].port == a->port && !strcmp(m->nodes[i].host, a->host))
			return;
	if (m->nnodes < SLOT_MAP_MAX_NODES)
		m->nodes[m->nnodes++] = *a;
}

int slot_map_set_owner(struct slot_map *m, unsigned slot,
		       const struct node_addr *addr)
{
	int idx;

	if (slot >= REDIS_SLOTS)
		return -EINVAL;
	idx = slot_map_find(m, addr);
	if (idx < 0) {
		if (m->nmasters >= SLOT_MAP_MAX_MASTERS)
			return -E2BIG;
		idx = m->nmasters++;
		m->masters[idx] = *addr;
		remember_node(m, addr);
	}
	m->owner[slot] = (int16_t)idx;
	return 0;
}

int slot_map_parse(const redisReply *r, struct slot_map *m)
{
	struct node_addr a;
	size_t i, j;
	long long start, end, s;
	int ret, covered = 0;

	slot_map_init(m);
	if (!r || r->type != REDIS_REPLY_ARRAY)
		return -EPROTO;
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER)
			return -EPROTO;
		start = e->element[0]->integer;
		end = e->element[1]->integer;
		if (start < 0 || end >= REDIS_SLOTS || start > end)
			return -EPROTO;
		ret = node_addr_from_reply(e->element[2], &a);
		if (ret)
			return ret;
		for (s = start; s <= end; s++) {
			ret = slot_map_set_owner(m, (unsigned)s, &a);
			if (ret)
				return ret;
		}
		covered = 1;
		/* Replicas: only remembered, as places to refresh from. */
		for (j = 3; j < e->elements; j++)
			if (!node_addr_from_reply(e->element[j], &a))
				remember_node(m, &a);
	}
	return covered ? 0 : -ENOTCONN;
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" */
static int parse_redirect(const char *s, struct redirect *rd)
{
	const char *colon, *host;
	char *end;
	long slot, port;

	slot = strtol(s, &end, 10);
	if (end == s || *end != ' ' || slot < 0 || slot >= REDIS_SLOTS)
		return -EPROTO;
	host = end + 1;
	colon = strrchr(host, ':');
	if (!colon || colon == host ||
	    (size_t)(colon - host) >= sizeof(rd->addr.host))
		return -EPROTO;
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || (*end && *end != '\r' && *end != '\n') ||
	    port <= 0 || port > 65535)
		return -EPROTO;
	rd->slot = (unsigned)slot;
	memcpy(rd->addr.host, host, (size_t)(colon - host));
	rd->addr.host[colon - host] = '\0';
	rd->addr.port = (int)port;
	return 0;
}

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

enum reply_class reply_classify(const redisReply *r, struct redirect *rd)
{
	struct redirect tmp;
	const char *s;

	if (!r || r->type != REDIS_REPLY_ERROR)
		return RC_OK;
	s = r->str ? r->str : "";
	if (!rd)
		rd = &tmp;
	if (starts(s, "MOVED "))
		return parse_redirect(s + 6, rd) ? RC_OTHER : RC_MOVED;
	if (starts(s, "ASK "))
		return parse_redirect(s + 4, rd) ? RC_OTHER : RC_ASK;
	if (starts(s, "TRYAGAIN"))
		return RC_TRYAGAIN;
	if (starts(s, "CLUSTERDOWN"))
		return RC_CLUSTERDOWN;
	if (starts(s, "NOREPLICAS"))
		return RC_NOREPLICAS;
	if (starts(s, "LOADING"))
		return RC_LOADING;
	if (starts(s, "MASTERDOWN"))
		return RC_MASTERDOWN;
	if (starts(s, "READONLY"))
		return RC_READONLY;
	if (starts(s, "OOM"))
		return RC_OOM;
	if (starts(s, "NOAUTH") || starts(s, "WRONGPASS") ||
	    starts(s, "NOPERM") || strstr(s, "invalid password") ||
	    strstr(s, "without any password configured"))
		return RC_AUTH;
	return RC_OTHER;
}

int reply_class_retryable(enum reply_class rc)
{
	switch (rc) {
	case RC_MOVED:
	case RC_ASK:
	case RC_TRYAGAIN:
	case RC_CLUSTERDOWN:
	case RC_NOREPLICAS:
	case RC_LOADING:
	case RC_MASTERDOWN:
	case RC_READONLY:
		return 1;
	default:
		return 0;
	}
}

unsigned backoff_ms(unsigned attempt)
{
	return attempt >= 5 ? 320u : 10u << attempt;
}
