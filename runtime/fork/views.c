/* SPDX-License-Identifier: MIT */
/*
 * Views: the regions as each fork child maps them, created from
 * UFFD_EVENT_FORK, kept current from the child's own REMAP/UNMAP events,
 * write-protected with the parent's mapping, dropped when the child is
 * gone.  The locking is explained in fork/fork.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "fork/fork.h"
#include "region/region.h"

int fork_init(struct upg_runtime *rt)
{
	struct fork_state *fs = rt->fork;

	fs->efd = -1;
	if (!(rt->flags & UPG_RT_FORK_EVENTS))
		return 0;
	fs->guard = mmap(NULL, rt->page_size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fs->guard == MAP_FAILED) {
		fs->guard = NULL;
		return -errno;
	}
	fs->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->efd < 0) {
		int err = -errno;

		munmap(fs->guard, rt->page_size);
		fs->guard = NULL;
		return err;
	}
	pthread_rwlock_init(&fs->lock, NULL);
	fs->enabled = true;
	return 0;
}

void fork_read_lock(struct upg_runtime *rt)
{
	if (rt->fork->enabled)
		pthread_rwlock_wrlock(&rt->fork->lock);
}

void fork_read_unlock(struct upg_runtime *rt)
{
	if (rt->fork->enabled)
		pthread_rwlock_unlock(&rt->fork->lock);
}

/* The regions the parent maps now.  regions_lock nests in fork.lock. */
static size_t snapshot_parent(struct upg_runtime *rt, struct fork_view *v)
{
	size_t i, n = 0;

	pthread_rwlock_rdlock(&rt->regions_lock);
	v->vr = calloc(rt->nr_regions ? rt->nr_regions : 1, sizeof(*v->vr));
	for (i = 0; v->vr && i < rt->nr_regions; i++) {
		struct upg_region *r = rt->regions[i];

		if (r->mm != &rt->self || atomic_load(&r->detached) ||
		    r->torn_down || !r->addr)
			continue;
		v->vr[n++] = (struct view_region){
			.r = r,
			.addr = (uintptr_t)r->addr,
			.len = r->map_len,
			.broken = atomic_load(&r->partly_unmapped),
		};
	}
	pthread_rwlock_unlock(&rt->regions_lock);
	return n;
}

struct fork_view *view_new(struct upg_runtime *rt, int uffd,
			   const struct fork_view *from)
{
	struct fork_view *v = calloc(1, sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	v->u = rt->self.uffd;
	v->u.fd = uffd;
	if (!from) {
		v->nr_vr = snapshot_parent(rt, v);
	} else {
		v->vr = calloc(from->nr_vr ? from->nr_vr : 1, sizeof(*v->vr));
		for (i = 0; v->vr && i < from->nr_vr; i++)
			if (from->vr[i].r && from->vr[i].addr)
				v->vr[v->nr_vr++] = from->vr[i];
	}
	/* Without the table every fault of the child gets SIGBUS: safe (the
	 * uffd stays open, so the kernel never zero-fills our memfd). */
	if (!v->vr)
		rt_err(rt, "fork: no memory for a child's view: its accesses "
			   "to regions will get SIGBUS");
	return v;
}

void view_free(struct fork_view *v)
{
	close(v->u.fd);
	free(v->vr);
	free(v);
}

struct view_region *view_find(struct fork_view *v, uintptr_t addr)
{
	size_t i;

	for (i = 0; i < v->nr_vr; i++) {
		struct view_region *vr = &v->vr[i];

		if (vr->r && vr->addr && addr >= vr->addr &&
		    addr - vr->addr < vr->len)
			return vr;
	}
	return NULL;
}

static void link_view(struct upg_runtime *rt, struct fork_view *v)
{
	struct fork_state *fs = rt->fork;
	uint64_t one = 1;

	v->next = fs->views;
	fs->views = v;
	atomic_fetch_add(&fs->live, 1);
	atomic_fetch_add(&fs->created, 1);
	/* The view thread adds the new uffd to its poll set. */
	if (write(fs->efd, &one, sizeof(one)) != sizeof(one))
		rt_err(rt, "fork: cannot wake the view thread");
}

/* A FORK message whose view cannot be made: keep the child's uffd open
 * anyway (closing it would unregister the child's mapping, and its reads
 * of holes would allocate zero pages in our memfd). */
static void new_child(struct upg_runtime *rt, int ufd,
		      const struct fork_view *from)
{
	struct fork_view *v = view_new(rt, ufd, from);

	if (!v) {
		rt_err(rt, "fork: no memory for a child's view; its uffd %d "
			   "stays open, unserviced", ufd);
		return;
	}
	link_view(rt, v);
	rt_info(rt, "fork: child view with %zu regions (uffd %d)", v->nr_vr,
		ufd);
}

void fork_on_event(struct upg_runtime *rt, const struct uffd_msg *m)
{
	new_child(rt, (int)m->arg.fork.ufd, NULL);
}

bool view_alive(struct upg_runtime *rt, struct fork_view *v)
{
	struct uffdio_writeprotect w = {
		.range = { (uintptr_t)rt->fork->guard, rt->page_size },
		.mode = 0,
	};

	if (atomic_load(&v->dead))
		return false;
	if (ioctl(v->u.fd, UFFDIO_WRITEPROTECT, &w) && errno == ESRCH)
		atomic_store(&v->dead, true);
	return !atomic_load(&v->dead);
}

/* One write-protect ioctl on a view.  -ENOENT (the child unmapped some
 * of it) is retried page by page: what is still mapped must be covered. */
static int view_wp(struct fork_view *v, uintptr_t a, size_t len, size_t ps)
{
	struct uffdio_writeprotect w = {
		.range = { a, len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	size_t off;
	int err;

	if (!ioctl(v->u.fd, UFFDIO_WRITEPROTECT, &w))
		return 0;
	err = -errno;
	if (err != -ENOENT || len == ps)
		return err == -ENOENT ? 0 : err;
	for (off = 0; off < len; off += ps) {
		err = view_wp(v, a + off, ps, ps);
		if (err)
			return err;
	}
	return 0;
}

int views_writeprotect(struct upg_region *r, uint64_t pg, uint64_t n)
{
	struct upg_runtime *rt = r->rt;
	struct fork_state *fs = rt->fork;

	if (!fs->enabled || !(r->prot & PROT_WRITE))
		return 0;
	for (;;) {
		bool again = false;
		struct fork_view *v;
		int ret = 0;

		pthread_rwlock_rdlock(&fs->lock);
		for (v = fs->views; v && !again && !ret; v = v->next) {
			size_t i;

			for (i = 0; i < v->nr_vr && !atomic_load(&v->dead);
			     i++) {
				struct view_region *vr = &v->vr[i];
				int err;

				if (vr->r != r || !vr->addr)
					continue;
				err = view_wp(v, vr->addr + (pg << rt->page_shift),
					      n << rt->page_shift,
					      rt->page_size);
				if (err == -EAGAIN) {
					again = true;
					break;
				}
				if (err == -ESRCH)
					atomic_store(&v->dead, true);
				else if (err)
					ret = err;
			}
		}
		pthread_rwlock_unlock(&fs->lock);
		if (!again) {
			if (ret)
				rt_err(rt, "fork: write-protect in a child: %s",
				       strerror(-ret));
			return ret;
		}
		/* The child's address space is changing (a fork or mremap
		 * event waits to be read): let the reader in, then redo the
		 * whole pass, new views included. */
		uffd_on_eagain();
	}
}

void fork_forget_region(struct upg_region *r)
{
	struct fork_state *fs = r->rt->fork;
	struct fork_view *v;
	size_t i;

	if (!fs->enabled)
		return;
	pthread_rwlock_wrlock(&fs->lock);
	for (v = fs->views; v; v = v->next)
		for (i = 0; i < v->nr_vr; i++)
			if (v->vr[i].r == r)
				v->vr[i].r = NULL;
	pthread_rwlock_unlock(&fs->lock);
}

/* The child discarded part of a region (madvise): note it at the
 * parent's addresses, where region/discard.c looks for it. */
static void child_remove(struct upg_runtime *rt, struct fork_view *v,
			 uintptr_t start, uintptr_t end)
{
	size_t i;

	for (i = 0; i < v->nr_vr; i++) {
		struct view_region *vr = &v->vr[i];
		uintptr_t lo, hi, base;

		if (!vr->r || !vr->addr || end <= vr->addr ||
		    start >= vr->addr + vr->len)
			continue;
		base = (uintptr_t)vr->r->addr;
		if (!base || atomic_load(&vr->r->detached))
			continue;
		lo = (start > vr->addr ? start : vr->addr) - vr->addr;
		hi = (end < vr->addr + vr->len ? end : vr->addr + vr->len) -
		     vr->addr;
		region_note_remove(&rt->self, base + lo, base + hi);
	}
}

void view_on_event(struct upg_runtime *rt, struct fork_view *v,
		   const struct uffd_msg *m)
{
	size_t i;

	switch (m->event) {
	case UFFD_EVENT_FORK:
		new_child(rt, (int)m->arg.fork.ufd, v);
		break;
	case UFFD_EVENT_REMAP:
		for (i = 0; i < v->nr_vr; i++) {
			struct view_region *vr = &v->vr[i];
			uintptr_t from = m->arg.remap.from;

			if (!vr->addr || from >= vr->addr + vr->len ||
			    from + m->arg.remap.len <= vr->addr)
				continue;
			if (from == vr->addr && m->arg.remap.len == vr->len)
				vr->addr = m->arg.remap.to;
			else
				vr->broken = true;
		}
		break;
	case UFFD_EVENT_UNMAP:
		for (i = 0; i < v->nr_vr; i++) {
			struct view_region *vr = &v->vr[i];

			/* Wholly unmapped: forget it.  In part: the rest
			 * still faults and is serviced. */
			if (vr->addr && m->arg.remove.start <= vr->addr &&
			    m->arg.remove.end >= vr->addr + vr->len)
				vr->addr = 0;
		}
		break;
	case UFFD_EVENT_REMOVE:
		child_remove(rt, v, m->arg.remove.start, m->arg.remove.end);
		break;
	default:
		rt_warn(rt, "fork: unexpected event %u from a child",
			m->event);
		break;
	}
}
