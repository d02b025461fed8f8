/* SPDX-License-Identifier: MIT */
/*
 * The requests of one client.  Everything a client sends is checked here
 * before it touches the runtime: the fds it passes (a uffd, a memfd sealed
 * against shrinking, a regular file or block device as store), the ranges,
 * the region ids (a client names only its own regions).  A bad request is
 * answered with a negative errno; only a client that breaks the protocol
 * (no HELLO first, unknown direction) is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/daemon.h"
#include "fault/fault.h"
#include "pin/pin.h"
#include "region/marks.h"
#include "region/region.h"

static struct daemon_region *find_region(struct daemon_client *c, uint64_t id)
{
	struct daemon_region *dr;

	for (dr = c->regions; dr && dr->id != id; dr = dr->next)
		;
	return dr;
}

/* The features the client enabled on its uffd, from /proc (the daemon
 * cannot ask the uffd itself: UFFDIO_API is done once, by the client). */
static int uffd_features(int fd, uint64_t *features)
{
	char path[64], line[256];
	unsigned long long api, feat, ioctls;
	int ret = -EINVAL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "API:\t%llx:%llx:%llx", &api, &feat,
			   &ioctls) == 3) {
			*features = feat;
			ret = 0;
		}
	fclose(f);
	return ret;
}

/* Connections (after HELLO) and regions of @uid, @c excepted. */
static void uid_usage(struct daemon *d, const struct daemon_client *c,
		      uid_t uid, unsigned *clients, unsigned *regions)
{
	const struct daemon_client *k;

	*clients = *regions = 0;
	for (k = d->clients; k; k = k->next) {
		if (k->cred.uid != uid)
			continue;
		*regions += k->nr_regions;
		*clients += k != c && k->hello_done;
	}
}

void daemon_uid_recap(struct daemon *d, uid_t uid)
{
	struct daemon_client *k;
	uint64_t n = 0, part;

	if (!d->o.uid_cap_bytes)
		return;
	for (k = d->clients; k; k = k->next)
		n += k->mm && k->hello_done && k->cred.uid == uid;
	if (!n)
		return;
	part = (d->o.uid_cap_bytes >> d->rt->page_shift) / n;
	if (!part)
		part = 1; /* 0 would be no cap at all */
	for (k = d->clients; k; k = k->next) {
		uint64_t cap;

		if (!k->mm || !k->hello_done || k->cred.uid != uid)
			continue;
		cap = k->own_cap_pages && k->own_cap_pages < part ?
			      k->own_cap_pages :
			      part;
		/* A client now over its cap is over its share too: the
		 * evictor takes its pages first, and its own fills make
		 * room among them. */
		atomic_store(&k->mm->cap_pages, cap);
		k->cap_bytes = cap << d->rt->page_shift;
	}
}

static int hello(struct daemon *d, struct daemon_client *c,
		 struct proto_msg *m)
{
	struct proto_msg r;
	struct upg_mm *mm = NULL;
	uint64_t feat = 0, cap;
	int version, fd, err;

	proto_msg_init(&r, PROTO_HELLO_REPLY, m->hdr.seq);
	version = proto_pick_version(m->u.hello.version_min,
				     m->u.hello.version_max);
	fd = proto_msg_take_fd(m, 0);
	err = version < 0 ? version : 0;
	if (!err && d->o.max_clients_per_uid) {
		unsigned n, regions;

		uid_usage(d, c, c->cred.uid, &n, &regions);
		if (n >= d->o.max_clients_per_uid)
			err = -EUSERS;
	}
	if (!err && m->nfds == 0)
		goto monitor; /* upagerctl: figures only */
	if (!err && (fd < 0 || !proto_fd_is_uffd(fd)))
		err = -EBADF;
	if (!err)
		err = uffd_features(fd, &feat);
	if (!err && (feat & UFFD_REQUIRED_FEATURES) != UFFD_REQUIRED_FEATURES)
		err = -EOPNOTSUPP;
	mm = err ? NULL : calloc(1, sizeof(*mm));
	if (!err && !mm)
		err = -ENOMEM;
	if (!err) {
		mm->uffd.fd = fd;
		/* No poison markers in another process's mappings (nobody
		 * could clear them): its threads get SIGBUS by signal. */
		mm->uffd.features = feat & ~(uint64_t)UFFD_FEATURE_POISON;
		mm->uffd.continue_wp = feat & UFFD_FEATURE_POISON;
		mm->uffd.mode = UPG_UFFD_KERNEL;
		mm->uffd.pid = c->cred.pid;
		mm->owner = c;
		/* The lower of the daemon's cap and the one the client asks. */
		cap = m->u.hello.cap_bytes;
		if (d->o.client_cap_bytes &&
		    (!cap || d->o.client_cap_bytes < cap))
			cap = d->o.client_cap_bytes;
		c->own_cap_pages = cap >> d->rt->page_shift;
		mm->cap_pages = c->own_cap_pages;
		/* Before the handlers see the mm: the evictor reads it. */
		if (mm->cap_pages || d->o.uid_cap_bytes)
			d->rt->regions_capped = true;
		/* Pages it may keep pinned through the marks: what its
		 * library allows it (a quarter of the budget, as in-process;
		 * daemon/client_marks.c). */
		mm->pin_allow = d->rt->budget_pages / 4;
		/* Its notifiers run in it (daemon/invalidate.c). */
		if (m->u.hello.features & PROTO_FEAT_NOTIFIERS) {
			mm->notify_ops = &daemon_notify_ops;
			mm->notify_arg = c->out;
		}
		err = handlers_add_mm(d->rt, mm);
		if (err) {
			free(mm);
			mm = NULL;
		}
	}
	if (err) {
		if (fd >= 0)
			close(fd);
		rt_warn(d->rt, "client %llu (uid %d): HELLO refused: %s%s",
			(unsigned long long)c->id, (int)c->cred.uid,
			strerror(-err),
			err == -EUSERS ? " (--max-clients-per-uid)" : "");
	} else {
monitor:
		c->mm = mm;
		c->hello_done = true;
		c->cap_bytes = mm ? mm->cap_pages << d->rt->page_shift : 0;
		if (mm)
			daemon_uid_recap(d, c->cred.uid);
		snprintf(c->name, sizeof(c->name), "%s",
			 m->u.hello.name[0] ? m->u.hello.name : "?");
	}
	r.u.hello_reply.status = err;
	r.u.hello_reply.version = err ? 0 : (uint16_t)version;
	r.u.hello_reply.features =
		err ? 0 : m->u.hello.features & DAEMON_FEATURES;
	r.u.hello_reply.client_id = c->id;
	r.u.hello_reply.budget_bytes = d->rt->budget_pages << d->rt->page_shift;
	r.u.hello_reply.page_size = (uint32_t)d->rt->page_size;
	if (daemon_send(c, &r))
		return -EPIPE;
	return err;
}

/*
 * REGION_ADD (@store_fd: the client's file, -1 with ANON) and
 * REGION_ADD_URI (@uri: the daemon opens the store; REPLY's value says
 * in *@value the uid whose store names it used).
 */
static int region_add(struct daemon *d, struct daemon_client *c,
		      struct proto_msg *m, uint64_t *value)
{
	bool by_uri = m->hdr.type == PROTO_REGION_ADD_URI;
	const struct proto_region_add *a =
		by_uri ? &m->u.region_add_uri.add : &m->u.region_add;
	bool anon = !by_uri && (a->flags & PROTO_REGION_ANON);
	int memfd = proto_msg_take_fd(m, 0);
	int marks_fd = proto_msg_take_fd(m, 1);
	int store_fd = anon || by_uri ? -1 : proto_msg_take_fd(m, 2);
	UPG_OPTS(upg_region_opts, o);
	struct region_remote rr;
	struct upg_store *st = NULL;
	struct daemon_region *dr;
	int err = 0;

	if (d->o.max_regions_per_uid) {
		unsigned clients, regions;

		uid_usage(d, c, c->cred.uid, &clients, &regions);
		if (regions >= d->o.max_regions_per_uid)
			err = -EDQUOT;
	}
	if (err)
		;
	else if (find_region(c, a->region_id))
		err = -EEXIST;
	else if (a->memfd_offset || (a->addr & (d->rt->page_size - 1)))
		err = -EINVAL;
	else if (!proto_fd_is_memfd_sealed(memfd))
		err = -EPERM;
	else if (!anon && !by_uri && !proto_fd_is_store(store_fd))
		err = -ENODEV;
	if (err)
		goto out;
	o.prot = (a->flags & PROTO_REGION_READONLY) || !(a->prot & PROT_WRITE) ?
			 PROT_READ :
			 PROT_READ | PROT_WRITE;
	o.store_offset = a->store_offset;
	o.fill_unit = (uint64_t)a->fill_pages << d->rt->page_shift;
	/* Applied on the daemon's alias: for shmem the policy is the
	 * memfd's, shared with the client's mappings (region/numa.c).  A
	 * node this machine lacks is -EINVAL (region_numa_check()). */
	o.numa_policy = a->numa_policy;
	o.numa_node = a->numa_node >= 0 ? a->numa_node : 0;
	if (by_uri) {
		err = daemon_store_open(d, c, m->u.region_add_uri.uri, &st);
		if (err)
			goto out;
		*value = c->cred.uid;
	} else if (!anon) {
		err = upg_store_open_file(store_fd, &st);
		if (err)
			goto out;
	}
	dr = calloc(1, sizeof(*dr));
	if (!dr) {
		err = -ENOMEM;
		goto out;
	}
	rr = (struct region_remote){ .mm = c->mm, .addr = a->addr,
				     .memfd = memfd, .marks_fd = marks_fd };
	err = region_map_remote(d->rt, &rr, st, a->length, &o, &dr->r);
	if (err) {
		free(dr);
		goto out;
	}
	memfd = -1; /* the region's now */
	dr->id = a->region_id;
	dr->r->remote_id = a->region_id; /* named so in INVALIDATE */
	dr->next = c->regions;
	c->regions = dr;
	c->nr_regions++;
out:
	if (st)
		upg_store_put(st);
	if (memfd >= 0)
		close(memfd);
	if (marks_fd >= 0)
		close(marks_fd);
	if (store_fd >= 0)
		close(store_fd);
	if (err)
		rt_info(d->rt, "client %llu (uid %d): %s refused: %s%s",
			(unsigned long long)c->id, (int)c->cred.uid,
			proto_type_name(m->hdr.type), strerror(-err),
			err == -EDQUOT ? " (--max-regions-per-uid)" : "");
	return err;
}

/* Write back and release region *@pp of @c, unlink it; nothing on error. */
static int release_region(struct daemon_client *c, struct daemon_region **pp,
			  unsigned flags)
{
	struct daemon_region *dr = *pp;
	int err;

	/* The client unpinned before it asked (or is gone): counts left in
	 * the marks must not keep the region's pages. */
	region_marks_forget_client(dr->r);
	err = upg_region_unmap_flags(dr->r, flags);

	if (err)
		return err;
	/* Unmapped regions are zombies: their counts stay readable. */
	daemon_count_region(c, dr->r);
	*pp = dr->next;
	c->nr_regions--;
	free(dr);
	return 0;
}

static int region_remove(struct daemon_client *c, const struct proto_msg *m)
{
	struct daemon_region **pp, *dr;
	unsigned flags = m->u.region_remove.flags & PROTO_REMOVE_WAIT_PINS ?
				 UPG_UNMAP_WAIT_PINS :
				 0;

	for (pp = &c->regions; (dr = *pp) && dr->id != m->u.region_remove.region_id;
	     pp = &dr->next)
		;
	if (!dr)
		return -ENOENT;
	return release_region(c, pp, flags);
}

/* A range of a region: its pages [*first, *end).  -ENOENT, -EINVAL. */
static int range_pages(struct daemon_client *c, const struct proto_range *q,
		       struct upg_region **r, uint64_t *first, uint64_t *end)
{
	struct daemon_region *dr = find_region(c, q->region_id);
	uint64_t len;

	if (!dr)
		return -ENOENT;
	*r = dr->r;
	len = q->length ? q->length : (*r)->length - q->offset;
	if (q->offset > (*r)->length || len > (*r)->length - q->offset ||
	    (q->offset & ((*r)->rt->page_size - 1)))
		return -EINVAL;
	*first = q->offset >> (*r)->rt->page_shift;
	*end = rt_pages((*r)->rt, q->offset + len);
	return 0;
}

static int fault_in(struct daemon_client *c, const struct proto_msg *m,
		    uint64_t *not_done)
{
	const struct proto_fault_in *f = &m->u.fault_in;
	bool write = f->flags & PROTO_FAULT_IN_WRITE;
	struct upg_region *r;
	uint64_t first, end;
	int err;

	err = range_pages(c, &f->range, &r, &first, &end);
	if (err)
		return err;
	if (write && !(r->prot & PROT_WRITE))
		return -EACCES;
	if (f->flags & PROTO_FAULT_IN_ASYNC)
		daemon_reply(c, m->hdr.seq, 0, 0);
	err = fault_in_pages(NULL, r, first, end, write);
	*not_done = err ? (end - first) << r->rt->page_shift : 0;
	return 0;
}

int daemon_release_regions(struct daemon *d, struct daemon_client *c)
{
	(void)d;
	while (c->regions) {
		int err = release_region(c, &c->regions, UPG_UNMAP_WAIT_PINS);

		if (err)
			return err;
	}
	return 0;
}

bool daemon_request(struct daemon *d, struct daemon_client *c,
		    struct proto_msg *m)
{
	unsigned type = m->hdr.type;
	uint64_t value = 0;
	int err;

	if (!proto_type_from_client(type)) {
		daemon_drop_client(d, c, "sent a daemon-only message");
		return false;
	}
	if (type == PROTO_HELLO) {
		if (c->hello_done) {
			daemon_drop_client(d, c, "second HELLO");
			return false;
		}
		err = hello(d, c, m);
		if (err == -EPIPE || (err && !c->hello_done)) {
			daemon_drop_client(d, c, "handshake failed");
			return false;
		}
		return true;
	}
	if (!c->hello_done) {
		daemon_drop_client(d, c, "no HELLO first");
		return false;
	}
	/* A monitor (no uffd) asks for figures, nothing else. */
	if (!c->mm && type != PROTO_STATS && type != PROTO_BYE) {
		err = -EPERM;
		goto reply;
	}
	switch (type) {
	case PROTO_REGION_ADD:
	case PROTO_REGION_ADD_URI:
		err = region_add(d, c, m, &value);
		break;
	case PROTO_REGION_REMOVE:
		err = region_remove(c, m);
		break;
	case PROTO_FLUSH: {
		struct daemon_region *dr = find_region(c, m->u.flush.region_id);

		err = dr ? upg_region_flush(dr->r, m->u.flush.offset,
					    m->u.flush.length) :
			   -ENOENT;
		break;
	}
	case PROTO_FAULT_IN:
		err = fault_in(c, m, &value);
		if (m->u.fault_in.flags & PROTO_FAULT_IN_ASYNC)
			return true; /* answered at once */
		break;
	case PROTO_STATS:
		err = daemon_stats(d, c, m);
		if (!err)
			return true; /* the stats reply is the answer */
		break;
	case PROTO_BYE:
		err = daemon_release_regions(d, c);
		daemon_reply(c, m->hdr.seq, err, 0);
		if (!err) {
			daemon_drop_client(d, c, "said BYE");
			return false;
		}
		return true;
	case PROTO_INVALIDATE_ACK:
		if (daemon_out_ack(c->out, m->u.invalidate_ack.cookie,
				   m->u.invalidate_ack.status))
			return true;
		daemon_drop_client(d, c, "acknowledged an invalidation never "
					 "sent");
		return false;
	default:
		err = -EOPNOTSUPP;
		break;
	}
reply:
	if (daemon_reply(c, m->hdr.seq, err, value)) {
		daemon_drop_client(d, c, "not reading its replies");
		return false;
	}
	return true;
}
