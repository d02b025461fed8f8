// SPDX-License-Identifier: MIT
/*
 * Stores the daemon opens itself: a client's region on a Redis Cluster
 * store arrives as REGION_ADD_URI with the store's URI; the daemon opens
 * the store (its own connections and I/O thread do the region's I/O) and
 * reports its per-master state to upagerctl (STATS scope STORES).
 *
 * Names are scoped per uid (proto_store_scoped_name()): the pages of a
 * client of uid U are kept under "uU.<name>", so no client reaches
 * another uid's pages through the daemon, whatever name it gives.  The
 * URI carries credentials: it is never logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/daemon.h"
#include "farmem/redis_uri_format.h"
#include "region/region.h"

int daemon_store_open(struct daemon *d, struct daemon_client *c,
		      const char *uri, struct upg_store **out)
{
	char why[256], name[REDIS_URI_NAME_MAX + 1], *text;
	struct redis_uri u;
	int err;

	err = redis_uri_parse(uri, &u, why, sizeof(why));
	if (err) {
		rt_warn(d->rt, "client %llu (uid %d): bad store URI: %s",
			(unsigned long long)c->id, (int)c->cred.uid, why);
		return err;
	}
	err = proto_store_scoped_name(u.name, (uint32_t)c->cred.uid,
				      REDIS_URI_NAME_MAX, name, sizeof(name));
	if (err) {
		rt_warn(d->rt, "client %llu (uid %d): store name '%s' is too "
			"long once scoped to its uid (u%d.%s: at most %d "
			"characters)",
			(unsigned long long)c->id, (int)c->cred.uid, u.name,
			(int)c->cred.uid, u.name, REDIS_URI_NAME_MAX);
		explicit_bzero(&u, sizeof(u));
		return err;
	}
	memcpy(u.name, name, sizeof(name));
	text = malloc(REDIS_URI_TEXT_MAX);
	err = text ? redis_uri_format(&u, text, REDIS_URI_TEXT_MAX) : -ENOMEM;
	explicit_bzero(&u, sizeof(u));
	if (!err) {
		/* Blocks for the connections (the main thread: see
		 * docs/daemon.md, "Limits"); logs what to fix itself. */
		err = upg_store_open_uri(text, out);
		if (err)
			rt_warn(d->rt, "client %llu (uid %d): cannot open its "
				"store '%s': %s",
				(unsigned long long)c->id, (int)c->cred.uid,
				name, strerror(-err));
		else
			rt_info(d->rt, "client %llu (uid %d): opened store "
				"'%s'", (unsigned long long)c->id,
				(int)c->cred.uid, name);
	}
	if (text) {
		explicit_bzero(text, REDIS_URI_TEXT_MAX);
		free(text);
	}
	return err;
}

struct recs {
	struct proto_store_rec *v;
	size_t n, cap;
};

static struct proto_store_rec *recs_add(struct recs *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 16;
		struct proto_store_rec *v = realloc(rs->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		rs->v = v;
		rs->cap = cap;
	}
	memset(&rs->v[rs->n], 0, sizeof(rs->v[0]));
	return &rs->v[rs->n++];
}

/* One record per master of @dr's store (one NO_MASTER record when it
 * knows none); nothing for a region on another kind of store. */
static int region_records(struct daemon_client *k, struct daemon_region *dr,
			  struct recs *rs)
{
	UPG_OPTS(upg_redis_stats, s);
	struct proto_store_rec *x;
	struct redis_uri u;
	uint32_t i;

	if (redis_store_uri(dr->r->store, &u, NULL, 0))
		return 0;
	explicit_bzero(u.pass, sizeof(u.pass));
	if (upg_store_redis_stats(dr->r->store, &s))
		return 0;
	for (i = 0; i < s.nmasters || (i == 0 && !s.nmasters); i++) {
		x = recs_add(rs);
		if (!x)
			return -ENOMEM;
		x->client_id = k->id;
		x->region_id = dr->id;
		snprintf(x->name, sizeof(x->name), "%s", u.name);
		x->retrying = s.retrying;
		x->map_refreshes = s.map_refreshes;
		if (!s.nmasters) {
			x->flags = PROTO_STORE_NO_MASTER;
			break;
		}
		snprintf(x->addr, sizeof(x->addr), "%s", s.masters[i].addr);
		x->flags = s.masters[i].flags &
			   (PROTO_STORE_OWNS_SLOTS | PROTO_STORE_READ_UP |
			    PROTO_STORE_WRITE_UP);
		x->slots = s.masters[i].slots;
		x->queued = s.masters[i].queued;
		x->in_flight = s.masters[i].in_flight;
		x->errors = s.masters[i].errors;
		x->connects = s.masters[i].connects;
	}
	return 0;
}

int daemon_stats_stores(struct daemon *d, struct daemon_client *c,
			const struct proto_msg *m)
{
	uint32_t start = m->u.stats.start;
	struct recs rs = { 0 };
	struct daemon_client *k;
	struct daemon_region *dr;
	struct proto_msg r;
	int err = 0;

	for (k = d->clients; k && !err; k = k->next) {
		if (m->u.stats.id && k->id != m->u.stats.id)
			continue;
		/* Its own uid's stores, or all for root and the owner. */
		if (!c->privileged && k->cred.uid != c->cred.uid) {
			if (m->u.stats.id)
				err = -EPERM;
			continue;
		}
		for (dr = k->regions; dr && !err; dr = dr->next)
			err = region_records(k, dr, &rs);
	}
	if (err) {
		free(rs.v);
		return err;
	}
	proto_msg_init(&r, PROTO_STORES_REPLY, m->hdr.seq);
	r.u.stores_reply.total = (uint32_t)rs.n;
	if (start < rs.n) {
		size_t n = rs.n - start;

		r.u.stores_reply.count = (uint32_t)(n < PROTO_STORES_PER_MSG ?
							    n :
							    PROTO_STORES_PER_MSG);
		r.u.stores_reply.recs = rs.v + start;
	}
	err = daemon_send(c, &r) ? -EPIPE : 0;
	free(rs.v);
	return err;
}
