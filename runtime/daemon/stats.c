/* SPDX-License-Identifier: MIT */
/*
 * STATS: counters of the asking client, of one of its regions, of the
 * daemon, and the per-client and per-region tables upagerctl shows.  A
 * client sees its own figures; the other clients' only when it is root
 * or the daemon's owner (c->privileged).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "region/marks.h"
#include "region/region.h"

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

struct client_sums {
	uint64_t resident, fills, evictions, writebacks, errors;
};

static void region_sums(struct upg_region *r, struct client_sums *s)
{
	s->resident += LD(r->resident) << r->rt->page_shift;
	s->fills += LD(r->n_filled);
	s->evictions += LD(r->n_evicted);
	s->writebacks += LD(r->n_written);
	s->errors += LD(r->n_errors);
}

/* A walk of the page table: only the region records report it.  Pages
 * the client wrote through its alias (marks DIRTY) are dirty too. */
static uint64_t dirty_bytes(struct upg_region *r)
{
	uint64_t pg, n = 0;

	for (pg = 0; pg < r->npages; pg++)
		if ((atomic_load(region_page(r, pg)) & PS_DIRTY) ||
		    (r->fill_marks &&
		     (atomic_load(&r->fill_marks[pg]) & MARK_DIRTY)))
			n++;
	return n << r->rt->page_shift;
}

/* Pages the client holds pinned, from the marks (untrusted: a figure to
 * show, nothing more). */
static uint64_t pinned_pages(struct upg_region *r)
{
	uint64_t pg, n = 0;

	for (pg = 0; r->fill_marks && pg < r->npages; pg++)
		n += !!(atomic_load(&r->fill_marks[pg]) & MARK_PIN_MASK);
	return n;
}

static uint64_t client_pinned_pages(struct daemon_client *c)
{
	struct daemon_region *dr;
	uint64_t n = 0;

	for (dr = c->regions; dr; dr = dr->next)
		n += pinned_pages(dr->r);
	return n;
}

void daemon_count_region(struct daemon_client *c, struct upg_region *r)
{
	c->gone_fills += LD(r->n_filled);
	c->gone_evictions += LD(r->n_evicted);
	c->gone_writebacks += LD(r->n_written);
	c->gone_errors += LD(r->n_errors);
}

/* The client's counts: of its regions now, and of those it released. */
static void client_sums(struct daemon_client *c, struct client_sums *s)
{
	struct daemon_region *dr;

	memset(s, 0, sizeof(*s));
	s->fills = c->gone_fills;
	s->evictions = c->gone_evictions;
	s->writebacks = c->gone_writebacks;
	s->errors = c->gone_errors;
	for (dr = c->regions; dr; dr = dr->next)
		region_sums(dr->r, s);
}

static int send_counters(struct daemon_client *c, uint64_t seq,
			 struct proto_counter *ctr, uint32_t n)
{
	struct proto_msg m;

	proto_msg_init(&m, PROTO_STATS_REPLY, seq);
	m.u.stats_reply.count = n;
	m.u.stats_reply.counters = ctr;
	return daemon_send(c, &m) ? -EPIPE : 0;
}

#define PUT(id_, v)                                                   \
	do {                                                          \
		ctr[n].id = (id_);                                    \
		ctr[n++].value = (v);                                 \
	} while (0)

/* The counters of struct upg_stats that travel, in @ctr (room for
 * STATS_COUNTERS); returns how many. */
#define STATS_COUNTERS 32
static uint32_t put_stats(struct proto_counter *ctr, const struct upg_stats *st)
{
	uint32_t n = 0;

	PUT(PROTO_CTR_FAULTS_MISSING, st->faults_missing);
	PUT(PROTO_CTR_FAULTS_WP, st->faults_wp);
	PUT(PROTO_CTR_FAULTS_MINOR, st->faults_minor);
	PUT(PROTO_CTR_PAGES_FILLED, st->pages_filled);
	PUT(PROTO_CTR_PAGES_ZERO_FILLED, st->pages_zero_filled);
	PUT(PROTO_CTR_PAGES_EVICTED, st->pages_evicted);
	PUT(PROTO_CTR_PAGES_WRITTEN_BACK, st->pages_written_back);
	PUT(PROTO_CTR_BYTES_READ, st->bytes_read);
	PUT(PROTO_CTR_BYTES_WRITTEN, st->bytes_written);
	PUT(PROTO_CTR_RESIDENT_BYTES, st->resident_bytes);
	PUT(PROTO_CTR_RESIDENT_PEAK_BYTES, st->resident_peak_bytes);
	PUT(PROTO_CTR_BUDGET_BYTES, st->budget_bytes);
	PUT(PROTO_CTR_IO_ERRORS, st->io_errors);
	PUT(PROTO_CTR_READ_ERRORS, st->read_errors);
	PUT(PROTO_CTR_WRITE_ERRORS, st->write_errors);
	PUT(PROTO_CTR_EVICT_BATCHES_BACKGROUND, st->evict_batches_background);
	PUT(PROTO_CTR_EVICT_BATCHES_SYNC, st->evict_batches_sync);
	PUT(PROTO_CTR_PAGES_SAMPLED, st->pages_sampled);
	PUT(PROTO_CTR_PAGES_REFERENCED, st->pages_referenced);
	PUT(PROTO_CTR_BUDGET_OVERSHOOT_PAGES, st->budget_overshoot_pages);
	PUT(PROTO_CTR_PAGES_UNPOISONED, st->pages_unpoisoned);
	PUT(PROTO_CTR_PAGES_DISCARDED, st->pages_discarded);
	PUT(PROTO_CTR_EVICT_PIN_WAITS, st->evict_pin_waits);
	PUT(PROTO_CTR_PAGES_READ_AHEAD, st->pages_read_ahead);
	PUT(PROTO_CTR_RA_PAGES_USED, st->ra_pages_used);
	PUT(PROTO_CTR_RA_PAGES_WASTED, st->ra_pages_wasted);
	PUT(PROTO_CTR_BYTES_FAULTED_IN, st->bytes_faulted_in);
	return n;
}

/*
 * SELF: the client's own counters (counted per address space where the
 * runtime counts, MM_STAT_ADD()); the budget, the eviction batches and
 * the overshoot are the daemon's, since one batch or one budget serves
 * every client (docs/daemon.md).  Pins and notifier callbacks are counted
 * in the client itself.
 */
static int stats_self(struct daemon *d, struct daemon_client *c,
		      const struct proto_msg *m)
{
	struct proto_counter ctr[STATS_COUNTERS + 1];
	UPG_OPTS(upg_stats, st);
	UPG_OPTS(upg_stats, all);
	uint32_t n;

	if (upg_runtime_stats(d->rt, &all))
		return -EIO;
	if (c->mm)
		runtime_mm_stats(c->mm, &st);
	st.budget_bytes = all.budget_bytes;
	st.evict_batches_background = all.evict_batches_background;
	st.evict_batches_sync = all.evict_batches_sync;
	st.budget_overshoot_pages = all.budget_overshoot_pages;
	n = put_stats(ctr, &st);
	PUT(PROTO_CTR_REGIONS, c->nr_regions);
	return send_counters(c, m->hdr.seq, ctr, n);
}

/* REGION: the counts of one region of the asker, its dirty bytes and
 * where its resident pages are (NUMA nodes with at least one). */
static int stats_region(struct daemon *d, struct daemon_client *c,
			const struct proto_msg *m, struct upg_region *r)
{
	struct proto_counter ctr[16 + PROTO_CTR_NODES];
	uint64_t nodes[PROTO_CTR_NODES] = { 0 };
	struct client_sums s = { 0 };
	uint32_t n = 0, i;

	region_sums(r, &s);
	PUT(PROTO_CTR_PAGES_FILLED, s.fills);
	PUT(PROTO_CTR_PAGES_EVICTED, s.evictions);
	PUT(PROTO_CTR_PAGES_WRITTEN_BACK, s.writebacks);
	PUT(PROTO_CTR_RESIDENT_BYTES, s.resident);
	PUT(PROTO_CTR_DIRTY_BYTES, dirty_bytes(r));
	PUT(PROTO_CTR_BUDGET_BYTES, d->rt->budget_pages << d->rt->page_shift);
	PUT(PROTO_CTR_IO_ERRORS, s.errors);
	PUT(PROTO_CTR_REGIONS, 1);
	region_numa_count(r, nodes, PROTO_CTR_NODES);
	for (i = 0; i < PROTO_CTR_NODES; i++)
		if (nodes[i])
			PUT(PROTO_CTR_NODE_PAGES + i, nodes[i]);
	return send_counters(c, m->hdr.seq, ctr, n);
}

static int stats_daemon(struct daemon *d, struct daemon_client *c,
			const struct proto_msg *m)
{
	struct proto_counter ctr[STATS_COUNTERS + 8];
	UPG_OPTS(upg_stats, st);
	struct daemon_client *k;
	uint64_t regions = 0, clients = 0;
	uint32_t n;

	if (upg_runtime_stats(d->rt, &st))
		return -EIO;
	n = put_stats(ctr, &st);
	PUT(PROTO_CTR_PINS_ACQUIRED, st.pins_acquired);
	PUT(PROTO_CTR_PINS_RELEASED, st.pins_released);
	PUT(PROTO_CTR_PINNED_BYTES, st.pinned_bytes);
	PUT(PROTO_CTR_NOTIFIER_CALLBACKS, st.notifier_callbacks);
	for (k = d->clients; k; k = k->next) {
		regions += k->nr_regions;
		clients += k->mm != NULL;
	}
	PUT(PROTO_CTR_CLIENTS, clients);
	PUT(PROTO_CTR_REGIONS, regions);
	return send_counters(c, m->hdr.seq, ctr, n);
}

static int stats_clients(struct daemon *d, struct daemon_client *c,
			 const struct proto_msg *m)
{
	uint32_t start = m->u.stats.start, total = 0, i = 0;
	struct proto_client_rec *recs;
	struct daemon_client *k;
	struct proto_msg r;
	int err;

	/* Clients that map regions; monitors (upagerctl) are not listed. */
	for (k = d->clients; k; k = k->next)
		total += k->mm && (c->privileged || k == c);
	recs = calloc(total ? total : 1, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	proto_msg_init(&r, PROTO_CLIENTS_REPLY, m->hdr.seq);
	for (k = d->clients; k; k = k->next) {
		struct proto_client_rec *x;
		struct client_sums s;

		if (!k->mm || (!c->privileged && k != c))
			continue;
		if (i++ < start || r.u.clients_reply.count >= PROTO_CLIENTS_PER_MSG)
			continue;
		x = &recs[r.u.clients_reply.count++];
		client_sums(k, &s);
		x->client_id = k->id;
		x->pid = (uint32_t)k->cred.pid;
		x->uid = (uint32_t)k->cred.uid;
		x->resident_bytes = s.resident;
		x->budget_share_bytes = (d->rt->budget_pages << d->rt->page_shift) /
					(total ? total : 1);
		x->cap_bytes = k->cap_bytes;
		x->faults = LD(k->mm->faults);
		x->fills = s.fills;
		x->evictions = s.evictions;
		x->writebacks = s.writebacks;
		x->errors = s.errors;
		x->pins = client_pinned_pages(k);
		x->notifier_callbacks = atomic_load(&k->out->invalidations);
		memcpy(x->name, k->name, sizeof(x->name));
	}
	r.u.clients_reply.total = total;
	r.u.clients_reply.recs = recs;
	err = daemon_send(c, &r) ? -EPIPE : 0;
	free(recs);
	return err;
}

static int stats_regions(struct daemon *d, struct daemon_client *c,
			 const struct proto_msg *m)
{
	uint32_t start = m->u.stats.start, total = 0, i = 0;
	struct proto_region_rec *recs;
	struct daemon_client *k;
	struct daemon_region *dr;
	struct proto_msg r;
	int err;

	for (k = d->clients; k; k = k->next) {
		bool want = m->u.stats.id ? k->id == m->u.stats.id : k == c;

		if (want && !c->privileged && k != c)
			return -EPERM;
		if (want)
			total += k->nr_regions;
	}
	recs = calloc(total ? total : 1, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	proto_msg_init(&r, PROTO_REGIONS_REPLY, m->hdr.seq);
	for (k = d->clients; k; k = k->next) {
		if (m->u.stats.id ? k->id != m->u.stats.id : k != c)
			continue;
		for (dr = k->regions; dr; dr = dr->next) {
			struct proto_region_rec *x;
			struct client_sums s = { 0 };

			if (i++ < start ||
			    r.u.regions_reply.count >= PROTO_REGIONS_PER_MSG)
				continue;
			x = &recs[r.u.regions_reply.count++];
			region_sums(dr->r, &s);
			x->client_id = k->id;
			x->region_id = dr->id;
			x->addr = (uintptr_t)dr->r->addr;
			x->length = dr->r->length;
			x->resident_bytes = s.resident;
			x->dirty_bytes = dirty_bytes(dr->r);
			x->pinned_bytes = pinned_pages(dr->r)
					  << d->rt->page_shift;
			x->fills = s.fills;
			x->evictions = s.evictions;
			x->writebacks = s.writebacks;
			x->errors = s.errors;
			x->flags = dr->r->anon ? PROTO_REGION_ANON : 0;
			x->prot = (uint32_t)dr->r->prot;
		}
	}
	r.u.regions_reply.total = total;
	r.u.regions_reply.recs = recs;
	err = daemon_send(c, &r) ? -EPIPE : 0;
	free(recs);
	return err;
}

int daemon_stats(struct daemon *d, struct daemon_client *c,
		 const struct proto_msg *m)
{
	struct daemon_region *dr;

	switch (m->u.stats.scope) {
	case PROTO_SCOPE_SELF:
		return stats_self(d, c, m);
	case PROTO_SCOPE_REGION:
		for (dr = c->regions; dr && dr->id != m->u.stats.id;
		     dr = dr->next)
			;
		return dr ? stats_region(d, c, m, dr->r) : -ENOENT;
	case PROTO_SCOPE_DAEMON:
		return stats_daemon(d, c, m);
	case PROTO_SCOPE_CLIENTS:
		return stats_clients(d, c, m);
	case PROTO_SCOPE_REGIONS:
		return stats_regions(d, c, m);
	case PROTO_SCOPE_STORES:
		return daemon_stats_stores(d, c, m);
	default:
		return -EINVAL;
	}
}
