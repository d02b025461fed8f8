/* SPDX-License-Identifier: MIT */
/*
 * Resolving one page fault, by kind and by the page's state.
 *
 *  MISSING  the page is not in the memfd.  ABSENT: fill it.  FILLING:
 *           park; the fill wakes us when it publishes the page (see
 *           "Why a fault on a page being filled must park" below).
 *           EVICTING: park; the evictor wakes us after the punch and we
 *           fault again.
 *           RESIDENT: usually a stale message (two threads faulted, the
 *           other's fill won, ours was read before it was woken): wake.
 *           Only if the memfd really lacks the page did the application
 *           discard it (MADV_REMOVE): it reads as zeros from now on
 *           (region/discard.c).
 *  MINOR    the page is in the memfd but not mapped here (the clock zapped
 *           it to sample recency, see evict/clock.c, or it is the trigger
 *           page of a read-ahead window): map it with CONTINUE,
 *           write-protected unless dirty, and mark it referenced.  A page
 *           still marked READAHEAD was used: tell the detector, which
 *           reads the next window if it was a trigger.
 *  WP       the first write to a clean page: mark it dirty, then lift the
 *           write-protection (which wakes the writer).  Marking before
 *           lifting is what makes a write impossible to miss.
 *
 * Why a WP fault on a page being evicted must wait (parked):
 *
 *   evictor                       handler
 *   CAS RESIDENT -> EVICTING
 *   write-protect                 (app writes: WP fault)
 *   copy alias -> store           sees EVICTING: park, no un-protect
 *   punch hole, -> ABSENT
 *   PARKED? UFFDIO_WAKE  ------>  writer refaults MISSING, reads the
 *                                 written-back page, writes again
 *
 * Had the handler lifted the protection, the write would have landed after
 * the copy and been punched away.
 *
 * Why a fault on a page being filled must park, whatever fills it: the
 * fill's UFFDIO_CONTINUE wakes the faults waiting on its pages, but only
 * those that came before it.  The PTE it installs can be zapped before the
 * filler publishes RESIDENT (the application's MADV_DONTNEED, or a clock
 * sample zap of a page chosen before it was evicted and filled again):
 *
 *   filler (a handler, or a store's own thread)      application
 *   UFFDIO_CONTINUE: maps pg, wakes its faults
 *   (preempted)                                      MADV_DONTNEED pg
 *                                                    touches pg: MINOR
 *                  handler: pg is FILLING; not parked, it sleeps for ever
 *   publishes RESIDENT: PARKED is clear, no wake
 *
 * (test_madvise's test_dontneed_keeps_data hung so, once.)  A read-ahead
 * trigger page gets no CONTINUE at all.  Publishing wakes parked faults;
 * a fault that did not need it costs one UFFDIO_WAKE.
 */
#include <errno.h>
#include <sys/mman.h>

#include "common/assert.h"
#include "common/log.h"
#include "fault/fault.h"
#include "notify/notifier.h"
#include "readahead/readahead.h"
#include "region/region.h"

/*
 * A thread inside an interval notifier callback touched a page whose
 * eviction is calling that very callback (step 2, before the page is
 * write-protected).  Parking it would hang the callback and the eviction
 * with it, so serve the fault as on a resident page: under LOCK, which
 * end_notifying() waits out before the eviction write-protects.  Returns
 * false if the page is no longer in that phase (look again).
 */
static bool serve_in_callback(struct handler *h, struct upg_region *r,
			      uint64_t pg, uint32_t s, pid_t tid, bool minor,
			      bool write)
{
	struct upg_runtime *rt = h->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uintptr_t addr = region_page_addr(r, pg);
	uint32_t set = PS_LOCK;

	/* upagerd: the callbacks run in the client, on a thread we cannot
	 * name; while it is being asked, serve its faults on such pages. */
	if (!(s & PS_NOTIFYING) || (s & PS_LOCK) ||
	    !(notify_tid_in_callback(rt->notify, tid) ||
	      atomic_load(&r->mm->inval_waiting)))
		return false;
	uint64_t u = region_unit_first(r, pg), unit = region_unit_pages(r), k;
	size_t len = unit * rt->page_size;

	if (!minor || write || !region_uffd(r)->continue_wp || r->huge)
		set |= PS_DIRTY;
	if (!ps_cas(p, &s, s | set))
		return false;
	s |= set;
	/* A huge page is mapped and unprotected whole: all of it is dirty
	 * from here.  Our LOCK on @pg alone holds off the write-protection
	 * of the whole batch (end_notifying() waits for it). */
	for (k = 0; k < unit && r->huge; k++)
		atomic_fetch_or(region_page(r, u + k), PS_DIRTY);
	addr = region_page_addr(r, u);
	if (minor)
		uffd_continue_unit(region_uffd(r), addr, len,
				   !(s & PS_DIRTY) && (r->prot & PROT_WRITE),
				   len);
	else
		uffd_writeprotect(region_uffd(r), addr, len, false);
	ps_wake(p, atomic_fetch_and(p, ~(PS_LOCK | PS_WAITERS)));
	return true;
}

/* Set PARKED unless the page left @s meanwhile; false: look again. */
/* Page @pg, read ahead, was used: the detector may plan the stream's
 * next window, which this handler reads. */
static void use_readahead(struct handler *h, struct upg_region *r,
			  uint64_t pg)
{
	struct ra_plan plan;

	readahead_on_use(r, pg, &plan);
	fill_readahead(&h->q, r, &plan);
}

static bool park(_Atomic uint32_t *p, uint32_t s)
{
	return ps_cas(p, &s, s | PS_PARKED);
}

/*
 * resolve_wp() for a hugetlb region: write-protection is lifted from the
 * whole huge page, so every page of the unit is marked dirty and locked
 * first.  A unit in transition (being filled, evicted) is met at its
 * first page not resident; the fault then parks on its own page, whose
 * transition wakes it (UFFDIO_WAKE must cover the faulting address).
 */
static void resolve_wp_unit(struct handler *h, struct upg_region *r,
			    uint64_t pg)
{
	struct upg_runtime *rt = h->rt;
	uint64_t u = region_unit_first(r, pg), unit = region_unit_pages(r);
	_Atomic uint32_t *p = region_page(r, pg);
	uint64_t k, i;

	for (;;) {
		uint32_t s, sk;
		int err;

		for (k = 0; k < unit; k++)
			if (!ps_lock_resident(region_page(r, u + k),
					      PS_DIRTY | PS_REF))
				break;
		if (k == unit) {
			err = uffd_writeprotect(region_uffd(r),
						region_page_addr(r, u),
						unit * rt->page_size, false);
			for (i = 0; i < unit; i++)
				ps_unlock(region_page(r, u + i));
			if (err && err != -ENOENT)
				rt_err(rt, "un-write-protect %#lx: %d",
				       (unsigned long)region_page_addr(r, u),
				       err);
			return;
		}
		for (i = 0; i < k; i++)
			ps_unlock(region_page(r, u + i));
		s = atomic_load(p);
		switch (ps_state(s)) {
		case PS_RESIDENT:
			/* Our page is, another of the unit is not yet (or no
			 * more): wait for it to settle. */
			sk = atomic_load(region_page(r, u + k));
			if (ps_state(sk) != PS_RESIDENT)
				ps_wait(region_page(r, u + k), sk);
			continue;
		case PS_EVICTING:
		case PS_FILLING:
			if (park(p, s))
				return;
			continue;
		default:
			uffd_wake(region_uffd(r), region_page_addr(r, pg),
				  rt->page_size);
			return;
		}
	}
}

enum wp_lift wp_fault_lift(const struct uffd_ctx *u, _Atomic uint32_t *p,
			   uintptr_t addr, size_t len,
			   bool (*busy)(void *arg, _Atomic uint32_t *p,
					uint32_t s),
			   void *arg, uint32_t *word, int *err)
{
	for (;;) {
		uint32_t s = atomic_load(p);

		switch (ps_state(s)) {
		case PS_RESIDENT:
			if (!ps_lock_resident(p, PS_DIRTY | PS_REF))
				continue;
			*err = uffd_writeprotect(u, addr, len, false);
			ps_unlock(p);
			*word = s;
			return WP_LIFTED;
		case PS_EVICTING:
		case PS_FILLING:
			/* FILLING: the page is mapped (CONTINUE done) but
			 * the filler has not published RESIDENT yet. */
			if (busy(arg, p, s))
				return WP_HANDED_OFF;
			continue;
		default:
			return WP_ABSENT;
		}
	}
}

/* A handler's WP fault on a page in transition: serve it if a notifier
 * callback of its own eviction wrote it, else park it. */
struct wp_park_ctx {
	struct handler *h;
	struct upg_region *r;
	uint64_t pg;
	pid_t tid;
};

static bool wp_park(void *arg, _Atomic uint32_t *p, uint32_t s)
{
	struct wp_park_ctx *c = arg;

	if (ps_state(s) == PS_EVICTING &&
	    serve_in_callback(c->h, c->r, c->pg, s, c->tid, false, true))
		return true;
	return park(p, s);
}

static void resolve_wp(struct handler *h, struct upg_region *r, uint64_t pg,
		       pid_t tid)
{
	struct upg_runtime *rt = h->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uintptr_t addr = region_page_addr(r, pg);
	struct wp_park_ctx c = { h, r, pg, tid };
	uint32_t s = 0;
	int err = 0;

	if (r->huge) {
		s = atomic_load(p);
		if (ps_state(s) == PS_EVICTING &&
		    serve_in_callback(h, r, pg, s, tid, false, true))
			return;
		resolve_wp_unit(h, r, pg);
		return;
	}
	switch (wp_fault_lift(region_uffd(r), p, addr, rt->page_size, wp_park,
			      &c, &s, &err)) {
	case WP_LIFTED:
		if (err && err != -ENOENT)
			rt_err(rt, "un-write-protect %#lx: %d",
			       (unsigned long)addr, err);
		if (s & PS_READAHEAD)
			use_readahead(h, r, pg);
		return;
	case WP_HANDED_OFF:
		return;
	case WP_ABSENT:
		/* Evicted since the fault: it will fault MISSING. */
		uffd_wake(region_uffd(r), addr, rt->page_size);
		return;
	}
}

/*
 * map_resident_page() for a hugetlb region: the whole huge page is mapped,
 * so all of its pages are locked, and it is mapped write-protected only if
 * none of them is dirty (else all of them become dirty).
 */
static bool map_resident_unit(struct upg_region *r, uint64_t pg, bool write,
			      bool unprotect)
{
	struct upg_runtime *rt = r->rt;
	uint64_t u = region_unit_first(r, pg), unit = region_unit_pages(r);
	size_t len = unit * rt->page_size;
	uint32_t set = PS_REF;
	bool dirty = false;
	uintptr_t addr;
	uint64_t k, i;
	int err = 0;

	if (write || !region_uffd(r)->continue_wp)
		set |= PS_DIRTY;
	for (k = 0; k < unit; k++) {
		uint32_t s = ps_lock_resident(region_page(r, u + k), set);

		if (!s)
			break;
		dirty |= s & PS_DIRTY;
	}
	if (k < unit) {
		for (i = 0; i < k; i++)
			ps_unlock(region_page(r, u + i));
		return false;
	}
	for (k = 0; k < unit && dirty; k++)
		atomic_fetch_or(region_page(r, u + k), PS_DIRTY);
	addr = (uintptr_t)r->addr;
	if (addr && !atomic_load(&r->detached)) {
		addr = region_page_addr(r, u);
		err = uffd_continue_unit(region_uffd(r), addr, len,
					 !dirty && (r->prot & PROT_WRITE), len);
		if (!err && unprotect)
			err = uffd_writeprotect(region_uffd(r), addr, len,
						false);
	}
	for (k = 0; k < unit; k++)
		ps_unlock(region_page(r, u + k));
	if (err && err != -ENOENT)
		rt_err(rt, "map huge page %#lx: %d", (unsigned long)addr, err);
	return true;
}

bool map_resident_page(struct upg_region *r, uint64_t pg, bool write,
		       bool unprotect)
{
	struct upg_runtime *rt = r->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t set = PS_REF;
	uintptr_t addr;
	uint32_t s;
	int err = 0;

	if (r->huge)
		return map_resident_unit(r, pg, write, unprotect);
	/* Mapped writable means dirty: its writes will raise no fault.
	 * Without CONTINUE_MODE_WP a clean page can only be mapped writable:
	 * count it dirty (never lose a write). */
	if (write || !region_uffd(r)->continue_wp)
		set |= PS_DIRTY;
	s = ps_lock_resident(p, set);
	if (!s)
		return false;
	addr = (uintptr_t)r->addr;
	if (addr && !atomic_load(&r->detached)) {
		addr += pg << rt->page_shift;
		err = uffd_continue(region_uffd(r), addr, rt->page_size,
				    !(s & PS_DIRTY) && (r->prot & PROT_WRITE));
		if (!err && unprotect)
			err = uffd_writeprotect(region_uffd(r), addr, rt->page_size,
						false);
	}
	ps_unlock(p);
	if (err && err != -ENOENT)
		rt_err(rt, "map page %#lx: %d", (unsigned long)addr, err);
	return true;
}

static void resolve_minor(struct handler *h, struct upg_region *r,
			  uint64_t pg, bool write, pid_t tid)
{
	struct upg_runtime *rt = h->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uintptr_t addr = region_page_addr(r, pg);

	for (;;) {
		uint32_t s = atomic_load(p);

		switch (ps_state(s)) {
		case PS_RESIDENT:
			if (!map_resident_page(r, pg, write, false))
				continue;
			MM_STAT_ADD(r->mm, pages_referenced, 1);
			if (s & PS_READAHEAD)
				use_readahead(h, r, pg);
			return;
		case PS_EVICTING:
			if (serve_in_callback(h, r, pg, s, tid, true, write) ||
			    park(p, s))
				return;
			continue;
		case PS_FILLING:
			/* Park: see the file comment.  A minor fault on a
			 * page being filled is often one whose CONTINUE is
			 * over (mapped, then zapped). */
			if (park(p, s))
				return;
			continue;
		default:
			/* Punched since the fault. */
			uffd_wake(region_uffd(r), addr, rt->page_size);
			return;
		}
	}
}

static void resolve_missing(struct handler *h, struct upg_region *r,
			    uint64_t pg, bool write, pid_t tid)
{
	_Atomic uint32_t *p = region_page(r, pg);

	for (;;) {
		uint32_t s = atomic_load(p);

		switch (ps_state(s)) {
		case PS_ABSENT:
			fill_start(h, r, pg, write, tid);
			return;
		case PS_FILLING:
			/* As in resolve_minor() (an application's MADV_REMOVE
			 * after the CONTINUE makes this a MISSING fault). */
			if (park(p, s))
				return;
			continue;
		case PS_EVICTING:
			if (park(p, s))
				return;
			continue;
		case PS_RESIDENT:
			if (page_in_memfd(r, pg)) {
				/* A stale message: another thread's fault
				 * filled the page after ours was read. */
				uffd_wake(region_uffd(r), region_page_addr(r, pg),
					  h->rt->page_size);
				return;
			}
			/* The application discarded it (MADV_REMOVE):
			 * region/discard.c.  Then fill it as absent. */
			if (!region_discard_page(r, pg, PS_RESIDENT)) {
				uffd_wake(region_uffd(r), region_page_addr(r, pg),
					  h->rt->page_size);
				return;
			}
			continue;
		}
	}
}

void fault_resolve(struct handler *h, struct upg_mm *mm,
		   const struct uffd_msg *msg)
{
	struct upg_runtime *rt = h->rt;
	uintptr_t addr = msg->arg.pagefault.address &
			 ~(uintptr_t)(rt->page_size - 1);
	uint64_t flags = msg->arg.pagefault.flags;
	pid_t tid = (mm->uffd.features & UFFD_FEATURE_THREAD_ID) ?
			    (pid_t)msg->arg.pagefault.feat.ptid :
			    0;
	bool write = flags & UFFD_PAGEFAULT_FLAG_WRITE;

	assert_role(UPG_ROLE_HANDLER);
	struct upg_region *r;
	uint64_t pg;

	atomic_fetch_add_explicit(&mm->faults, 1, memory_order_relaxed);
	r = region_lookup_get(mm, addr);
	if (!r) {
		/*
		 * Registered with our uffd but in no region: a range the
		 * application moved out of a region in part (partial mremap).
		 * Waking would loop forever; deliver SIGBUS instead.
		 */
		rt_err(rt, "fault at %#lx outside every region: SIGBUS",
		       (unsigned long)addr);
		if (flags & UFFD_PAGEFAULT_FLAG_WP)
			uffd_wake(&mm->uffd, addr, rt->page_size);
		else
			uffd_poison(&mm->uffd, addr, rt->page_size, tid);
		return;
	}
	pg = (addr - (uintptr_t)r->addr) >> rt->page_shift;
	if (flags & UFFD_PAGEFAULT_FLAG_WP) {
		MM_STAT_ADD(mm, faults_wp, 1);
		resolve_wp(h, r, pg, tid);
	} else if (flags & UFFD_PAGEFAULT_FLAG_MINOR) {
		MM_STAT_ADD(mm, faults_minor, 1);
		resolve_minor(h, r, pg, write, tid);
	} else {
		MM_STAT_ADD(mm, faults_missing, 1);
		resolve_missing(h, r, pg, write, tid);
	}
	region_put(r);
}
