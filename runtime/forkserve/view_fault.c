/* SPDX-License-Identifier: MIT */
/*
 * A fault of a fork child, resolved on the view thread.  The page state is
 * the region's, shared with the parent; only the mapping is the child's:
 *
 *  WP       mark the page dirty, then lift the write-protection in the
 *           child (as fault/resolve.c does in the parent).
 *  MISSING  the page is not in the memfd: make it resident through the
 *  MINOR    parent's fill path (fault-in, on this thread's I/O queue),
 *           then map it in the child with CONTINUE, write-protected
 *           unless dirty.
 *
 * A page in transition (filling, being evicted) is waited for here, not
 * parked: the thread keeps reading the children's events meanwhile (an
 * eviction may be waiting for one of them, see fork/fork.h).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "fault/fault.h"
#include "fork/fork.h"
#include "forkserve/forkserve.h"
#include "pin/pin.h"
#include "region/region.h"

#define VIEW_FILL_TRIES 64

/* Wait for a page in transition to change, reading children's events. */
static void wait_page(struct upg_runtime *rt, _Atomic uint32_t *p,
		      uint32_t s)
{
	view_drain(rt);
	ps_wait(p, s);
}

static void gone(struct upg_runtime *rt, struct fork_view *v, int err)
{
	if (err == -ESRCH)
		atomic_store(&v->dead, true);
	else if (err && err != -ENOENT)
		rt_err(rt, "fork: resolving a child's fault: %s",
		       strerror(-err));
}

/* A child's WP fault on a page in transition: wait for it to settle (no
 * parking here: the view thread resolves every child fault itself). */
static bool wp_wait(void *arg, _Atomic uint32_t *p, uint32_t s)
{
	wait_page(arg, p, s);
	return false;
}

static void resolve_wp(struct upg_runtime *rt, struct fork_view *v,
		       struct upg_region *r, uint64_t pg, uintptr_t addr)
{
	uint32_t s;
	int err;

	if (wp_fault_lift(&v->u, region_page(r, pg), addr, rt->page_size,
			  wp_wait, rt, &s, &err) == WP_LIFTED)
		gone(rt, v, err);
	else /* Evicted: the write faults again, MISSING. */
		gone(rt, v, uffd_wake(&v->u, addr, rt->page_size));
}

/* Map resident page @pg in the child.  False if it is not resident. */
static bool map_in_child(struct upg_runtime *rt, struct fork_view *v,
			 struct upg_region *r, uint64_t pg, uintptr_t addr,
			 bool write)
{
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t set = PS_REF, s;
	int err;

	if (write || !rt->self.uffd.continue_wp)
		set |= PS_DIRTY;
	s = ps_lock_resident(p, set);
	if (!s)
		return false;
	err = uffd_continue(&v->u, addr, rt->page_size,
			    !(s & PS_DIRTY) && (r->prot & PROT_WRITE));
	ps_unlock(p);
	gone(rt, v, err);
	/* CONTINUE skips a page another fault mapped already: wake. */
	if (!err)
		uffd_wake(&v->u, addr, rt->page_size);
	return true;
}

static void resolve_map(struct upg_runtime *rt, struct fork_view *v,
			struct upg_region *r, uint64_t pg, uintptr_t addr,
			bool write, bool missing, pid_t tid)
{
	_Atomic uint32_t *p = region_page(r, pg);
	uint64_t unit = r->fill_pages ? r->fill_pages : 1;
	uint64_t first = pg - pg % unit;
	uint64_t end = first + unit < r->npages ? first + unit : r->npages;
	unsigned tries = 0;

	for (;;) {
		uint32_t s = atomic_load(p);
		int err;

		switch (ps_state(s)) {
		case PS_RESIDENT:
			/* Not in the memfd though resident: the application
			 * discarded it (region/discard.c); zeros from now. */
			if (missing && !page_in_memfd(r, pg)) {
				region_discard_page(r, pg, PS_RESIDENT);
				continue;
			}
			if (map_in_child(rt, v, r, pg, addr, write))
				return;
			continue;
		case PS_FILLING:
		case PS_EVICTING:
			wait_page(rt, p, s);
			continue;
		default:
			err = fault_in_pages(&rt->fork->q, r, first, end,
					     false);
			if (err && err != -EAGAIN) {
				/* The store read failed: SIGBUS, as the
				 * parent gets. */
				gone(rt, v, uffd_poison(&v->u, addr,
							rt->page_size, tid));
				return;
			}
			if (++tries == VIEW_FILL_TRIES) {
				rt_err(rt, "fork: a child's page keeps being "
					   "evicted before it is mapped: "
					   "SIGBUS");
				gone(rt, v, uffd_poison(&v->u, addr,
							rt->page_size, tid));
				return;
			}
			continue;
		}
	}
}

/*
 * A write to a write-protected page the child may no longer use: lifting
 * the protection would let the write land where nothing writes it back,
 * and only waking would loop.  Signal the thread (tkill: its process id
 * is unknown here); it is woken to take the signal.
 */
static void sigbus_writer(struct upg_runtime *rt, struct fork_view *v,
			  uintptr_t addr, pid_t tid)
{
	if (tid <= 0 || syscall(SYS_tkill, tid, SIGBUS))
		rt_err(rt, "fork: cannot signal the child thread writing at "
			   "%#lx",
		       (unsigned long)addr);
	gone(rt, v, uffd_wake(&v->u, addr, rt->page_size));
}

void view_fault(struct upg_runtime *rt, struct fork_view *v,
		const struct uffd_msg *m)
{
	struct fork_state *fs = rt->fork;
	uintptr_t addr = m->arg.pagefault.address &
			 ~(uintptr_t)(rt->page_size - 1);
	uint64_t flags = m->arg.pagefault.flags;
	pid_t tid = (rt->self.uffd.features & UFFD_FEATURE_THREAD_ID) ?
			    (pid_t)m->arg.pagefault.feat.ptid :
			    0;
	struct upg_region *r = NULL;
	struct view_region *vr;
	uint64_t pg = 0;

	atomic_fetch_add_explicit(&fs->faults, 1, memory_order_relaxed);
	pthread_rwlock_rdlock(&fs->lock);
	vr = view_find(v, addr);
	if (vr && !vr->broken && !vr->r->torn_down) {
		r = vr->r;
		region_get(r);
		pg = (addr - vr->addr) >> rt->page_shift;
	}
	pthread_rwlock_unlock(&fs->lock);
	if (!r) {
		/* Unmapped by the parent, moved in part by the child, or no
		 * table: the child gets SIGBUS (never a zero page). */
		rt_warn(rt, "fork: a child faulted at %#lx, in no region it "
			    "may use: SIGBUS",
			(unsigned long)addr);
		if (flags & UFFD_PAGEFAULT_FLAG_WP)
			sigbus_writer(rt, v, addr, tid);
		else
			gone(rt, v, uffd_poison(&v->u, addr, rt->page_size,
						tid));
		return;
	}
	if (flags & UFFD_PAGEFAULT_FLAG_WP)
		resolve_wp(rt, v, r, pg, addr);
	else
		resolve_map(rt, v, r, pg, addr,
			    flags & UFFD_PAGEFAULT_FLAG_WRITE,
			    !(flags & UFFD_PAGEFAULT_FLAG_MINOR), tid);
	region_put(r);
}
