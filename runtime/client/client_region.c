/* SPDX-License-Identifier: MIT */
/*
 * Regions in daemon mode: made here (memfd, mapping, registration with our
 * userfaultfd), serviced by upagerd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/client.h"
#include "client/client_rpc.h"
#include "common/handles.h"
#include "common/log.h"
#include "region/region.h"

/*
 * The client's own views of a region (region/marks.h): the marks, and an
 * alias of the memfd that is not registered with userfaultfd, through
 * which nofault copies reach pages the marks say are resident and pinned
 * (client/client_pin.c).  Nothing else touches the alias: a load from a
 * page that is not resident would allocate it behind the daemon's back.
 */
static int map_client_views(struct upg_region *r)
{
	void *m = mmap(NULL, r->npages * sizeof(uint32_t),
		       PROT_READ | PROT_WRITE, MAP_SHARED, r->pinfd, 0);

	if (m == MAP_FAILED)
		return -errno;
	r->client_marks = m;
	m = mmap(NULL, r->map_len, r->prot & (PROT_READ | PROT_WRITE),
		 MAP_SHARED, r->memfd, 0);
	if (m == MAP_FAILED) {
		int err = -errno;

		unmap_client_views(r);
		return err;
	}
	madvise(m, r->map_len, MADV_DONTFORK);
	r->client_alias = m;
	return 0;
}

void unmap_client_views(struct upg_region *r)
{
	if (r->client_marks)
		munmap((void *)r->client_marks,
		       r->npages * sizeof(uint32_t));
	if (r->client_alias)
		munmap(r->client_alias, r->map_len);
	r->client_marks = NULL;
	r->client_alias = NULL;
}

int client_region_map(struct upg_runtime *rt, const struct client_map *m,
		      struct upg_region **out)
{
	struct client_conn *cc = rt->remote;
	struct upg_region *r;
	struct proto_region_add add;
	struct proto_msg req;
	uint64_t uid = 0;
	int fds[3], err;

	/* A store region: its URI, or -EOPNOTSUPP before anything is made. */
	proto_msg_init(&req, m->store ? PROTO_REGION_ADD_URI : PROTO_REGION_ADD,
		       0);
	if (m->store) {
		err = client_store_uri(rt, m->store, req.u.region_add_uri.uri,
				       sizeof(req.u.region_add_uri.uri));
		if (err)
			return err;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->rt = rt;
	r->mm = &rt->self;
	r->length = m->length;
	r->npages = rt_pages(rt, m->length);
	r->map_len = r->npages << rt->page_shift;
	r->prot = m->prot;
	r->anon = m->fd < 0 && !m->store;
	r->pinfd = r->client_store_fd = -1;
	r->store_off = m->store_off;
	r->fill_pages = (unsigned)(m->fill_unit >> rt->page_shift);
	r->numa_policy = m->numa_policy;
	/* The store stays ours too: if the daemon dies we service the
	 * region ourselves (client/takeover.c).  Anonymous memory goes to a
	 * swap file of ours, not the daemon's, for the same reason; its
	 * holes read as zeros.  A Redis store is opened again from its URI
	 * instead (client/client_store.c). */
	if (!m->store)
		r->client_store_fd =
			r->anon ? open(rt->swap_dir,
				       O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) :
				  fcntl(m->fd, F_DUPFD_CLOEXEC, 0);
	if (!m->store && r->client_store_fd < 0) {
		err = -errno;
		if (r->anon)
			rt_err(rt, "cannot create a swap file in %s: %s",
			       rt->swap_dir, strerror(-err));
		goto out_free;
	}
	r->memfd = region_sealed_memfd("upager-region", r->map_len);
	if (r->memfd < 0) {
		err = r->memfd;
		goto out_free;
	}
	/* Per-page marks shared with the daemon: which pages it is filling
	 * (read at a takeover, client/takeover.c). */
	r->pinfd = region_sealed_memfd("upager-pins",
				       r->npages * sizeof(uint32_t));
	if (r->pinfd < 0) {
		err = r->pinfd;
		goto out_close;
	}
	err = map_client_views(r);
	if (err)
		goto out_close;
	r->addr = mmap(NULL, r->map_len, r->prot, MAP_SHARED, r->memfd, 0);
	if (r->addr == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	madvise(r->addr, r->map_len, MADV_DONTFORK);
	err = uffd_register(&rt->self.uffd, r->addr, r->map_len,
			    r->prot & PROT_WRITE);
	if (err)
		goto out_unmap;

	pthread_mutex_lock(&cc->regions_lock);
	r->remote_id = ++cc->next_region_id;
	pthread_mutex_unlock(&cc->regions_lock);
	add = (struct proto_region_add){
		.region_id = r->remote_id,
		.addr = (uintptr_t)r->addr,
		.length = m->length,
		.store_offset = m->store_off,
		.flags = 0, /* anonymous: a file store of ours */
		.prot = (uint32_t)r->prot,
		.fill_pages = (uint32_t)(m->fill_unit >> rt->page_shift),
		.numa_policy = (uint16_t)m->numa_policy,
		.numa_node = m->numa_node,
	};
	if (m->store)
		req.u.region_add_uri.add = add; /* the daemon opens the store */
	else
		req.u.region_add = add;
	fds[0] = r->memfd;
	fds[1] = r->pinfd;
	fds[2] = r->client_store_fd;
	err = client_rpc_status(rt, &req, fds, m->store ? 2 : 3, &uid);
	if (err)
		goto out_unregister;
	/* The daemon answers with the uid whose names it used. */
	err = m->store ? client_store_remember(rt, r, req.u.region_add_uri.uri,
					       (uint32_t)uid) :
			 0;
	if (!err)
		err = handle_add(r);
	if (err)
		goto out_remove;
	pthread_mutex_lock(&cc->regions_lock);
	r->client_next = cc->regions;
	cc->regions = r;
	pthread_mutex_unlock(&cc->regions_lock);
	/* After it is in the list: a notifier inserted meanwhile marks it
	 * or is found here (client/client_notify.c). */
	client_watch_region(r);
	*out = r;
	return 0;

out_remove:
	client_store_forget(rt, r);
	proto_msg_init(&req, PROTO_REGION_REMOVE, 0);
	req.u.region_remove.region_id = r->remote_id;
	client_rpc_status(rt, &req, NULL, 0, NULL);
out_unregister:
	uffd_unregister(&rt->self.uffd, r->addr, r->map_len);
out_unmap:
	munmap(r->addr, r->map_len);
out_close:
	unmap_client_views(r);
	if (r->pinfd >= 0)
		close(r->pinfd);
	close(r->memfd);
out_free:
	if (r->client_store_fd >= 0)
		close(r->client_store_fd);
	free(r);
	return err;
}

int client_region_unmap(struct upg_region *r, unsigned flags)
{
	struct upg_runtime *rt = r->rt;
	struct client_conn *cc = rt->remote;
	struct upg_region **pp;
	struct proto_msg req;
	int err;

	/* As in-process: notifiers first, then the pins (ours: the daemon
	 * only sees their counts). */
	region_notify_unmap(r);
	err = region_wait_pins(r, flags);
	if (err)
		return err;
	proto_msg_init(&req, PROTO_REGION_REMOVE, 0);
	req.u.region_remove.region_id = r->remote_id;
	req.u.region_remove.flags =
		flags & UPG_UNMAP_WAIT_PINS ? PROTO_REMOVE_WAIT_PINS : 0;
	/* The daemon wrote everything back, or nothing is released. */
	err = client_rpc_status(rt, &req, NULL, 0, NULL);
	if (err)
		return err;
	pthread_mutex_lock(&cc->regions_lock);
	for (pp = &cc->regions; *pp && *pp != r; pp = &(*pp)->client_next)
		;
	if (*pp)
		*pp = r->client_next;
	pthread_mutex_unlock(&cc->regions_lock);
	client_store_forget(rt, r);
	uffd_unregister(&rt->self.uffd, r->addr, r->map_len);
	munmap(r->addr, r->map_len);
	unmap_client_views(r);
	close(r->memfd);
	close(r->pinfd);
	if (r->client_store_fd >= 0)
		close(r->client_store_fd);
	r->pinfd = r->client_store_fd = -1;
	region_bury(r);
	return 0;
}

int client_region_flush(struct upg_region *r, uint64_t offset,
			uint64_t length)
{
	struct proto_msg req;

	if (offset & (r->rt->page_size - 1) || offset > r->length ||
	    (length && length > r->length - offset))
		return -EINVAL;
	proto_msg_init(&req, PROTO_FLUSH, 0);
	req.u.flush = (struct proto_range){ .region_id = r->remote_id,
					    .offset = offset,
					    .length = length };
	return client_rpc_status(r->rt, &req, NULL, 0, NULL);
}

/* A daemon older than the REGION scope's dirty bytes and NUMA counters:
 * the region's record among all the client's. */
static int region_stats_record(struct upg_region *r,
			       struct upg_region_stats *st)
{
	struct proto_msg req, rep;
	uint32_t i;
	int err;

	proto_msg_init(&req, PROTO_STATS, 0);
	req.u.stats.scope = PROTO_SCOPE_REGIONS;
	err = client_rpc(r->rt, &req, NULL, 0, &rep, 0);
	if (err)
		return err;
	err = -ENOENT;
	if (rep.hdr.type == PROTO_REGIONS_REPLY) {
		for (i = 0; i < rep.u.regions_reply.count; i++) {
			struct proto_region_rec *x = &rep.u.regions_reply.recs[i];

			if (x->region_id != r->remote_id)
				continue;
			st->resident_bytes = x->resident_bytes;
			st->dirty_bytes = x->dirty_bytes;
			err = 0;
		}
	} else if (rep.hdr.type == PROTO_REPLY) {
		err = rep.u.reply.status ? rep.u.reply.status : -EPROTO;
	}
	proto_msg_release(&rep);
	return err;
}

/* STATS of @scope (and @id): 0 with the counters in @rep (release it),
 * or the error of the request or of its answer. */
static int stats_rpc(struct upg_runtime *rt, uint32_t scope, uint64_t id,
		     struct proto_msg *rep)
{
	struct proto_msg req;
	int err;

	proto_msg_init(&req, PROTO_STATS, 0);
	req.u.stats.scope = scope;
	req.u.stats.id = id;
	err = client_rpc(rt, &req, NULL, 0, rep, 0);
	if (err || rep->hdr.type == PROTO_STATS_REPLY)
		return err;
	err = rep->hdr.type == PROTO_REPLY && rep->u.reply.status ?
		      rep->u.reply.status :
		      -EPROTO;
	proto_msg_release(rep);
	return err;
}

/* @st is whole (sizeof): upg_region_stats() copies the caller's part. */
int client_region_stats(struct upg_region *r, struct upg_region_stats *st)
{
	struct proto_msg rep;
	bool dirty_seen = false;
	uint32_t i;
	int err = stats_rpc(r->rt, PROTO_SCOPE_REGION, r->remote_id, &rep);

	if (err)
		return err;
	for (i = 0; i < rep.u.stats_reply.count; i++) {
		uint32_t id = rep.u.stats_reply.counters[i].id;
		uint64_t v = rep.u.stats_reply.counters[i].value;

		if (id == PROTO_CTR_RESIDENT_BYTES) {
			st->resident_bytes = v;
		} else if (id == PROTO_CTR_DIRTY_BYTES) {
			st->dirty_bytes = v;
			dirty_seen = true;
		} else if (id >= PROTO_CTR_NODE_PAGES &&
			   id < PROTO_CTR_NODE_PAGES + UPG_MAX_NUMA_NODES) {
			st->node_pages[id - PROTO_CTR_NODE_PAGES] = v;
		}
	}
	proto_msg_release(&rep);
	return dirty_seen ? 0 : region_stats_record(r, st);
}

int client_runtime_stats(struct upg_runtime *rt, struct upg_stats *st)
{
	/* Where each counter id goes in struct upg_stats. */
	static const size_t where[] = {
#define AT(id, f) [PROTO_CTR_##id] = offsetof(struct upg_stats, f)
		AT(FAULTS_MISSING, faults_missing),
		AT(FAULTS_WP, faults_wp),
		AT(FAULTS_MINOR, faults_minor),
		AT(PAGES_FILLED, pages_filled),
		AT(PAGES_ZERO_FILLED, pages_zero_filled),
		AT(PAGES_EVICTED, pages_evicted),
		AT(PAGES_WRITTEN_BACK, pages_written_back),
		AT(BYTES_READ, bytes_read),
		AT(BYTES_WRITTEN, bytes_written),
		AT(RESIDENT_BYTES, resident_bytes),
		AT(RESIDENT_PEAK_BYTES, resident_peak_bytes),
		AT(BUDGET_BYTES, budget_bytes),
		AT(IO_ERRORS, io_errors),
		AT(READ_ERRORS, read_errors),
		AT(WRITE_ERRORS, write_errors),
		AT(EVICT_BATCHES_BACKGROUND, evict_batches_background),
		AT(EVICT_BATCHES_SYNC, evict_batches_sync),
		AT(PAGES_SAMPLED, pages_sampled),
		AT(PAGES_REFERENCED, pages_referenced),
		AT(BUDGET_OVERSHOOT_PAGES, budget_overshoot_pages),
		AT(PAGES_UNPOISONED, pages_unpoisoned),
		AT(PAGES_DISCARDED, pages_discarded),
		AT(EVICT_PIN_WAITS, evict_pin_waits),
		AT(PAGES_READ_AHEAD, pages_read_ahead),
		AT(RA_PAGES_USED, ra_pages_used),
		AT(RA_PAGES_WASTED, ra_pages_wasted),
		AT(BYTES_FAULTED_IN, bytes_faulted_in),
#undef AT
	};
	struct proto_msg rep;
	uint32_t i;
	int err = stats_rpc(rt, PROTO_SCOPE_SELF, 0, &rep);

	if (err)
		return err;
	for (i = 0; i < rep.u.stats_reply.count; i++) {
		uint32_t id = rep.u.stats_reply.counters[i].id;
		uint64_t v = rep.u.stats_reply.counters[i].value;

		/* 0 is no counter's offset: sz is first. */
		if (id < sizeof(where) / sizeof(where[0]) && where[id])
			memcpy((char *)st + where[id], &v, sizeof(v));
	}
	proto_msg_release(&rep);
	return 0;
}

/* FAULT_IN of pages [first, end) of @r: the daemon's status, and in
 * @not_done the bytes it could not bring in. */
static int fault_in_rpc(struct upg_region *r, uint64_t first, uint64_t end,
			uint32_t flags, uint64_t *not_done)
{
	struct proto_msg req;

	proto_msg_init(&req, PROTO_FAULT_IN, 0);
	req.u.fault_in.range = (struct proto_range){
		.region_id = r->remote_id,
		.offset = first << r->rt->page_shift,
		.length = (end - first) << r->rt->page_shift,
	};
	req.u.fault_in.flags = flags;
	*not_done = 0;
	return client_rpc_status(r->rt, &req, NULL, 0, not_done);
}

int client_fault_in_pages(struct upg_region *r, uint64_t first, uint64_t end,
			  bool write)
{
	uint64_t not_done;
	int err = fault_in_rpc(r, first, end,
			       write ? PROTO_FAULT_IN_WRITE : 0, &not_done);

	return err ? err : not_done ? -EFAULT : 0;
}

size_t client_fault_in(struct upg_runtime *rt, const void *addr, size_t len,
		       bool write, bool async)
{
	uintptr_t a = (uintptr_t)addr;
	struct upg_region *r = client_region_lookup_get(rt, a);
	uint64_t not_done;
	uintptr_t base;
	size_t n;
	int err;

	if (!r)
		return len;
	base = (uintptr_t)r->addr;
	n = len < r->map_len - (a - base) ? len : r->map_len - (a - base);
	err = fault_in_rpc(r, (a - base) >> rt->page_shift,
			   rt_pages(rt, a - base + n),
			   (write ? PROTO_FAULT_IN_WRITE : 0) |
				   (async ? PROTO_FAULT_IN_ASYNC : 0),
			   &not_done);
	region_put(r);
	return err || not_done ? len : len - n;
}
