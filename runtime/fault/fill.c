/* SPDX-License-Identifier: MIT */
/*
 * Fills: making absent pages resident.
 *
 * Zero copy (DESIGN.md section 8): the store is read straight into the
 * runtime's alias of the memfd, which puts the page in the memfd; then
 * UFFDIO_CONTINUE maps it into the application, write-protected unless
 * the fault was a write.  Pages that hold no data (anonymous pages never
 * written back) are allocated with fallocate() and mapped the same way,
 * without I/O.  The read is asynchronous: the handler thread goes back to
 * its userfaultfd and the mapping happens when the read completes.
 *
 * Small runs (a fault's own fill unit, up to FILL_STAGE_MAX_BYTES) are
 * read into a staging buffer (fault/stage_pool.c: never malloc() here)
 * instead and written into the memfd with
 * pwrite(): the first touch of a fresh page through the alias is a page
 * fault of the runtime's own, and on this VM it costs more than the copy
 * and the system call together.  tools/probes/fault_path_probe.c, one
 * page per fault (p50, us): read through io_uring into the alias 45.9;
 * pread() into a staging page and pwrite() into the memfd 36.1; the raw
 * anonymous UFFDIO_COPY round trip 32.3 (docs/fault-latency.md).  The
 * alias gets no page table entry that way; writeback and nofault copies
 * that use it later take a minor fault in the kernel, only for the pages
 * they touch.  Not for hugetlb regions (hugetlbfs has no write()), nor
 * for regions with a NUMA policy: their I/O buffer is the alias, which
 * carries the policy; a staging buffer is the handler thread's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "evict/evict.h"
#include "fault/fault.h"
#include "fault/stage_pool.h"
#include "readahead/readahead.h"
#include "region/marks.h"
#include "region/region.h"
#include "store/store.h"

struct fill_req {
	struct upg_io io;
	struct upg_region *r;
	uint64_t first, n;
	struct fill_ctl c; /* fault_pg: UINT64_MAX unless inside this run */
	/* The read's buffer if staged (the request is then the first page
	 * of a slot of rt->stage, the buffer the rest); NULL: the alias. */
	char *stage;
	/* UPG_RT_FILL_TIMING: when the read was queued (0: not timed). */
	uint64_t t_queued;
};

/* A staged request sits in the first page of its slot (start_read()). */
_Static_assert(sizeof(struct fill_req) <= 4096, "fill_req fits a page");

/* A run started for a waiting caller has finished (or failed with @err). */
static void run_done(const struct fill_ctl *c, int err)
{
	if (err && c->err)
		atomic_store(c->err, err);
	if (c->pending && atomic_fetch_sub(c->pending, 1) == 1)
		futex_wake_all(c->pending);
}

/* Is page @pg in the trigger unit of read-ahead run @c (the trigger page;
 * of a hugetlb region, its whole huge page), which map_run() leaves
 * unmapped? */
static bool in_trigger(const struct upg_region *r, const struct fill_ctl *c,
		       uint64_t pg)
{
	return c->readahead && c->trigger_pg != UINT64_MAX &&
	       region_unit_first(r, pg) == region_unit_first(r, c->trigger_pg);
}

/* Publish the pages of a finished fill as RESIDENT and wake the faults
 * parked on them (WP faults that came between CONTINUE and now, and
 * faults on a read-ahead trigger page, which no CONTINUE wakes).
 * Read-ahead and cold fills are published without REF. */
static void publish_resident(struct upg_region *r, uint64_t first, uint64_t n,
			     uint64_t dirty_pg, uint64_t dirty_n,
			     bool all_dirty, const struct fill_ctl *c)
{
	const struct upg_runtime *rt = r->rt;
	uint32_t ref = c->readahead || c->cold ? 0 : PS_REF;
	uint64_t pg;

	atomic_fetch_add_explicit(&r->n_filled, n, memory_order_relaxed);
	for (pg = first; pg < first + n; pg++) {
		_Atomic uint32_t *p = region_page(r, pg);
		uint32_t s = atomic_load(p), new;

		do {
			/* DIRTY may come from the claim (ZERO_FILL);
			 * READAHEAD from the claim, unless a use of the page
			 * was seen meanwhile. */
			new = (s & (PS_HAS_DATA | PS_DIRTY | PS_PIN_MASK |
				    PS_READAHEAD)) |
			      PS_RESIDENT | ref;
			if ((all_dirty && !in_trigger(r, c, pg)) ||
			    pg - dirty_pg < dirty_n)
				new |= PS_DIRTY;
		} while (!ps_cas(p, &s, new));
		/* upagerd: the client may pin it now (region/marks.h). */
		if (r->fill_marks)
			mark_set(&r->fill_marks[pg], MARK_RESIDENT);
		if (s & PS_PARKED)
			uffd_wake(region_uffd(r), region_page_addr(r, pg),
				  rt->page_size);
		ps_wake(p, s);
	}
}

/*
 * A read-ahead run: map it all but its trigger page, which stays in the
 * memfd unmapped so that its first touch raises a minor fault (the
 * kernel's PG_readahead marker, runtime/readahead/window.c).  Of a
 * hugetlb region the trigger's whole huge page stays unmapped (@unit
 * pages from @skip, which is unit aligned): the kernel maps huge pages
 * whole or not at all.
 */
static int continue_around(const struct uffd_ctx *u, uintptr_t a, uint64_t n,
			   uint64_t skip, uint64_t unit, size_t ps, bool wp)
{
	size_t up = unit * ps;
	int err = 0;

	if (skip >= n)
		return uffd_continue_unit(u, a, n * ps, wp, up);
	if (skip)
		err = uffd_continue_unit(u, a, skip * ps, wp, up);
	if (!err && n - skip - unit)
		err = uffd_continue_unit(u, a + (skip + unit) * ps,
					 (n - skip - unit) * ps, wp, up);
	return err;
}

/* Map a run that is now in the memfd; see the file comment. */
static void map_run(struct upg_region *r, uint64_t first, uint64_t n,
		    const struct fill_ctl *c)
{
	uint64_t fault_pg = c->fault_pg;
	bool write = c->write_fault;
	struct upg_runtime *rt = r->rt;
	const struct uffd_ctx *u = region_uffd(r);
	uintptr_t a = region_page_addr(r, first);
	size_t ps = rt->page_size;
	bool wp = r->prot & PROT_WRITE;
	/* Without CONTINUE_MODE_WP a clean page cannot be mapped protected
	 * atomically: count every page dirty rather than risk a lost write. */
	bool all_dirty = wp && !u->continue_wp;
	bool split = write && fault_pg >= first && fault_pg < first + n;
	/* A hugetlb region maps, protects and dirties whole huge pages:
	 * the "faulting page" of a split is the faulting unit. */
	uint64_t unit = region_unit_pages(r);
	uint64_t dirty_first = split ? region_unit_first(r, fault_pg) : 0;
	uint64_t pg;
	int err = 0;

	/* The content is whole: unmark it before the application can write
	 * to it (a client taking over from a dead daemon drops marked pages,
	 * takeover.c in runtime/client). */
	for (pg = first; pg < first + n && r->fill_marks; pg++)
		mark_clear(&r->fill_marks[pg], MARK_FILLING);

	if (c->write_all)
		all_dirty = wp;
	if (all_dirty)
		wp = false;
	if (split && wp) {
		uint64_t before = dirty_first - first;
		size_t up = unit * ps;

		if (before)
			err = uffd_continue_unit(u, a, before * ps, true, up);
		if (!err)
			err = uffd_continue_unit(u, a + before * ps, up, false,
						 up);
		if (!err && n - before - unit)
			err = uffd_continue_unit(u, a + (before + unit) * ps,
						 (n - before - unit) * ps, true,
						 up);
	} else if (c->readahead) {
		uint64_t skip = c->trigger_pg == UINT64_MAX ?
					UINT64_MAX :
					region_unit_first(r, c->trigger_pg) -
						first; /* >= n: none */

		err = continue_around(u, a, n, skip, unit, ps, wp);
	} else {
		err = uffd_continue_unit(u, a, n * ps, wp, unit * ps);
	}
	if (err && err != -ENOENT) {
		/* The pages are in the memfd: a fault on them now is a minor
		 * fault we can resolve; wake whoever waits so they retry. */
		rt_err(rt, "continue %#lx+%llu pages: %d", (unsigned long)a,
		       (unsigned long long)n, err);
		uffd_wake(u, a, n * ps);
	}
	publish_resident(r, first, n, split ? dirty_first : UINT64_MAX,
			 split ? unit : 0, all_dirty, c);
}

/*
 * A fill failed (store read error, or no memory for the page).  The pages
 * go back to ABSENT, anything half-written into the memfd is punched, the
 * faulting thread gets SIGBUS (UFFDIO_POISON, as for an I/O error on a
 * mapped file) and other threads waiting on the run are woken to retry.
 * As with a mapped file, a later access reads the page again: the
 * evictor clears the poison marker shortly after (evict/unpoison.c).
 */
static void fail_run(struct upg_region *r, uint64_t first, uint64_t n,
		     const struct fill_ctl *c, int err)
{
	uint64_t fault_pg = c->fault_pg;
	pid_t tid = c->tid;
	struct upg_runtime *rt = r->rt;
	size_t ps = rt->page_size;
	uint64_t pg;

	MM_STAT_ADD(r->mm, read_errors, 1);
	atomic_fetch_add_explicit(&r->n_errors, 1, memory_order_relaxed);
	rt_warn(rt, "fill of %llu pages at store offset %llu failed: %s",
		(unsigned long long)n,
		(unsigned long long)(r->store_off + first * ps),
		strerror(-err));
	fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(first * ps), (off_t)(n * ps));
	for (pg = first; pg < first + n; pg++) {
		_Atomic uint32_t *p = region_page(r, pg);
		uint32_t new = (atomic_load(p) & (PS_HAS_DATA | PS_PIN_MASK)) |
			       PS_ABSENT;

		/* Zeros still owed to the store: keep owing them. */
		if (atomic_load(p) & PS_DIRTY)
			new |= PS_ZERO_FILL;
		/* A detached region's faults are gone with its mapping. */
		bool poison = pg == fault_pg && !atomic_load(&r->detached) &&
			      r->mm->local;
		uint32_t old = atomic_exchange(p, poison ? new | PS_POISONED :
							   new);

		if (poison)
			atomic_fetch_add(&rt->poisoned_pages, 1);
		ps_wake(p, old);
	}
	region_resident_add(r, -(int64_t)n);
	budget_release(rt, n);
	for (pg = first; pg < first + n && r->fill_marks; pg++)
		mark_clear(&r->fill_marks[pg], MARK_FILLING);
	for (pg = first; pg < first + n; pg++) {
		uintptr_t a = region_page_addr(r, pg);

		if (pg == fault_pg && !atomic_load(&r->detached))
			/* A huge page is poisoned whole (the kernel's unit);
			 * its other faults see SIGBUS too, as after a memory
			 * error in a huge page. */
			uffd_poison(region_uffd(r),
				    region_page_addr(r,
						     region_unit_first(r, pg)),
				    region_unit_pages(r) * ps, tid);
		else
			uffd_wake(region_uffd(r), a, ps);
	}
	run_done(c, err);
}

/* Write a staged run into the memfd, zeros past the data (@res bytes).
 * Returns 0 or a negative errno (the memfd's: -ENOSPC, -ENOMEM). */
static int write_staged(struct fill_req *req, size_t res)
{
	struct upg_region *r = req->r;
	size_t ps = r->rt->page_size, len = req->n * ps, done = 0;

	if (res < len)
		memset(req->stage + res, 0, len - res);
	while (done < len) {
		ssize_t w = pwrite(r->memfd, req->stage + done, len - done,
				   (off_t)(req->first * ps + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

/* UPG_RT_FILL_TIMING: add a timed fill's steps to the counters (struct
 * upg_stats, fill_ns_*). */
static void account_timing(const struct fill_req *req, uint64_t t_done,
			   uint64_t t_copied, uint64_t t_mapped)
{
	struct upg_mm *mm = req->r->mm;

	MM_STAT_ADD(mm, fills_timed, 1);
	MM_STAT_ADD(mm, fill_ns_wake, req->c.t_msg - req->c.t_wake);
	MM_STAT_ADD(mm, fill_ns_handler, req->t_queued - req->c.t_msg);
	MM_STAT_ADD(mm, fill_ns_store, t_done - req->t_queued);
	MM_STAT_ADD(mm, fill_ns_copy, t_copied - t_done);
	MM_STAT_ADD(mm, fill_ns_map, t_mapped - t_copied);
}

static void read_done(struct upg_io *io, ssize_t res)
{
	struct fill_req *req = io->priv;
	struct upg_region *r = req->r;
	struct upg_runtime *rt = r->rt;
	size_t ps = rt->page_size;
	size_t len = req->n * ps;
	uint64_t t_done = req->t_queued ? rt_now_ns() : 0, t_copied = t_done;

	if (res >= 0 && req->stage) {
		int err = write_staged(req, (size_t)res);

		if (err)
			res = err;
		if (t_done)
			t_copied = rt_now_ns();
	}
	if (res < 0) {
		fail_run(r, req->first, req->n, &req->c, (int)res);
	} else {
		uint64_t read_pages = ((size_t)res + ps - 1) / ps;

		/* Past the end of the data: zeros (this allocates the pages
		 * the read did not reach). */
		if ((size_t)res < len && !req->stage)
			memset(region_alias(r, req->first) + res, 0,
			       len - (size_t)res);
		MM_STAT_ADD(r->mm, bytes_read, (uint64_t)res);
		MM_STAT_ADD(r->mm, pages_filled, read_pages);
		MM_STAT_ADD(r->mm, pages_zero_filled, req->n - read_pages);
		if (req->c.readahead)
			MM_STAT_ADD(r->mm, pages_read_ahead, req->n);
		map_run(r, req->first, req->n, &req->c);
		if (t_done)
			account_timing(req, t_done, t_copied, rt_now_ns());
		run_done(&req->c, 0);
	}
	/* The slot goes back before the region reference: once the last
	 * reference is dropped, upg_runtime_destroy() may unmap the pool. */
	if (req->stage)
		stage_put(rt->stage, req);
	else
		free(req);
	region_put(r);
}

/*
 * Take the huge pages of a run of a hugetlb region from the pool before
 * anything touches them.  The mappings reserve nothing (region.c), so an
 * empty pool would otherwise show up as SIGBUS on the runtime's own
 * access to the alias (the memset in read_done()) or as a short read.
 * MADV_POPULATE_WRITE reports it as an error instead, and allocates
 * through the alias, whose mbind() policy (region/numa.c) it honours,
 * where fallocate() on hugetlbfs would not (it has no shared policy).
 * It also keeps page_in_memfd() truthful: on hugetlbfs mincore() reads
 * the alias's page table, not the page cache, and every resident huge
 * page is mapped there from here until its punch.
 */
static int huge_populate(struct upg_region *r, uint64_t first, uint64_t n)
{
	size_t ps = r->rt->page_size;

	if (!r->huge)
		return 0;
	if (madvise(region_alias(r, first), n * ps, MADV_POPULATE_WRITE))
		return errno == EFAULT || errno == EINTR ? -ENOMEM : -errno;
	return 0;
}

/*
 * Give back the read-ahead pages [first, first+n) of a hugetlb region
 * that the pool had no huge page for: they were never read, so they go
 * back to ABSENT without their read-ahead marker (the stream's own fault
 * fills them as any miss), their budget is released, and a fault parked
 * on them (a trigger page) is woken to come back.  Unlike fail_run(),
 * nobody gets SIGBUS and no read error is counted: a speculative read
 * that cannot be had is just not done.
 */
static void drop_readahead(struct upg_region *r, uint64_t first, uint64_t n)
{
	struct upg_runtime *rt = r->rt;
	size_t ps = rt->page_size;
	uint64_t pg;

	/* Nothing was allocated for these units; punching whole huge pages
	 * frees whatever a partial populate may have left. */
	fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(first * ps), (off_t)(n * ps));
	for (pg = first; pg < first + n; pg++) {
		_Atomic uint32_t *p = region_page(r, pg);
		uint32_t old = atomic_exchange(p, (atomic_load(p) &
						   (PS_HAS_DATA | PS_PIN_MASK)) |
							  PS_ABSENT);

		ps_wake(p, old);
	}
	region_resident_add(r, -(int64_t)n);
	budget_release(rt, n);
	for (pg = first; pg < first + n && r->fill_marks; pg++)
		mark_clear(&r->fill_marks[pg], MARK_FILLING);
	if (!atomic_load(&r->detached))
		uffd_wake(region_uffd(r), region_page_addr(r, first), n * ps);
	rt_dbg(rt, "read-ahead of %llu pages at page %llu dropped: no huge page",
	       (unsigned long long)n, (unsigned long long)first);
}

/*
 * huge_populate() for a read-ahead run of a hugetlb region: unit by unit,
 * so that when the pool runs dry the units before read ahead as planned
 * and the rest are dropped (drop_readahead()).  Returns the pages that
 * got their huge pages (0 to @n, a multiple of the unit).
 */
static uint64_t huge_populate_readahead(struct upg_region *r, uint64_t first,
					uint64_t n)
{
	uint64_t unit = region_unit_pages(r), done;

	for (done = 0; done < n; done += unit)
		if (huge_populate(r, first + done, unit))
			break;
	if (done < n)
		drop_readahead(r, first + done, n - done);
	return done;
}

/*
 * The huge pages of a run, taken from the pool before its read or its
 * zeros: a read-ahead run keeps the units the pool has pages for (*@n is
 * cut, 0: nothing left, the run is done), a demand run all or an error.
 * Nothing for a 4 KiB region.  Return: 0 or a negative errno.
 */
static int populate_run(struct upg_region *r, uint64_t first, uint64_t *n,
			const struct fill_ctl *c)
{
	if (r->huge && c->readahead) {
		*n = huge_populate_readahead(r, first, *n);
		if (!*n)
			run_done(c, 0);
		return 0;
	}
	return huge_populate(r, first, *n);
}

static void start_read(struct upg_io_queue *q, struct upg_region *r,
		       uint64_t first, uint64_t n, const struct fill_ctl *c)
{
	size_t ps = r->rt->page_size;
	struct fill_req *req;
	char *slot;
	int err = populate_run(r, first, &n, c);

	if (!err && !n)
		return;
	if (err) {
		fail_run(r, first, n, c, err);
		return;
	}
	/* Staged: a slot of the pool holds the request (first page) and
	 * the data; none free, the alias as for larger runs.  Not for a
	 * region with a NUMA policy: the alias carries the policy, and the
	 * I/O buffer must be on the region's node (region/numa.c). */
	slot = !r->huge && r->numa_policy == UPG_NUMA_DEFAULT &&
			       n * ps <= FILL_STAGE_MAX_BYTES ?
		       stage_get(r->rt->stage) :
		       NULL;
	req = slot ? slot : malloc(sizeof(*req));
	if (!req) {
		fail_run(r, first, n, c, -ENOMEM);
		return;
	}
	*req = (struct fill_req){
		.io = { .op = UPG_IO_READ,
			.offset = r->store_off + first * ps,
			.buf = slot ? slot + ps : region_alias(r, first),
			.len = n * ps,
			.done = read_done,
			.priv = req },
		.r = r, .first = first, .n = n, .c = *c,
		.stage = slot ? slot + ps : NULL,
	};
	/* Timed: a demand fill whose handler submits the read (the
	 * handler counts the submission's time too). */
	if (c->t_msg && c->timer && q == &c->timer->q) {
		req->t_queued = rt_now_ns();
		c->timer->timed_queued++;
	}
	region_get(r);
	err = store_submit(r->store, q, &req->io);
	if (err)
		read_done(&req->io, err);
}

static void start_zero(struct upg_region *r, uint64_t first, uint64_t n,
		       const struct fill_ctl *c)
{
	size_t ps = r->rt->page_size;
	int err = populate_run(r, first, &n, c);

	if (!err && !n)
		return;
	if (!err && !r->huge &&
	    fallocate(r->memfd, 0, (off_t)(first * ps), (off_t)(n * ps)))
		err = -errno;
	if (err) {
		fail_run(r, first, n, c, err);
		return;
	}
	MM_STAT_ADD(r->mm, pages_zero_filled, n);
	map_run(r, first, n, c);
	run_done(c, 0);
}

/*
 * Largest read of one fill, in bytes.  A read-ahead window (up to 8 MiB)
 * goes out as several reads in flight rather than one: measured on the
 * 2-vCPU VM (docs/seq-read.md), O_DIRECT reads into fresh memfd pages
 * moved 1.86 GB/s as one 8 MiB read at a time and 2.9 GB/s as 4 MiB
 * reads two at a time; and each piece is mapped as soon as it lands.  A
 * multiple of the 2 MiB huge page, so hugetlb units are never split.
 */
#define FILL_IO_MAX_BYTES (4u << 20)

/* Start the run [first, first+n), all claimed FILLING by this thread. */
static void start_run(struct upg_io_queue *q, struct upg_region *r,
		      uint64_t first, uint64_t n, bool zero,
		      const struct fill_ctl *c)
{
	uint64_t max = zero ? n : FILL_IO_MAX_BYTES >> r->rt->page_shift;

	while (n) {
		struct fill_ctl run = *c;
		uint64_t len = n < max ? n : max;

		run.cut = NULL; /* fill_range()'s answer, not the I/O's */
		if (run.fault_pg < first || run.fault_pg >= first + len)
			run.fault_pg = UINT64_MAX;
		if (run.pending)
			atomic_fetch_add(run.pending, 1);
		if (zero)
			start_zero(r, first, len, &run);
		else
			start_read(q, r, first, len, &run);
		first += len;
		n -= len;
	}
}

/* Does page state @s need I/O to fill?  Anonymous pages never written
 * back hold zeros. */
static bool needs_read(const struct upg_region *r, uint32_t s)
{
	if (s & PS_ZERO_FILL)
		return false;
	return !r->anon || (s & PS_HAS_DATA);
}

/*
 * Would a read-ahead claim the unit of a hugetlb region at @u?  Only if
 * it is ABSENT (its first page: see claim_unit()) and some page of it
 * needs a read: a unit that holds no data is left to its own fault, as
 * such pages are in a 4 KiB region.  Read-ahead takes whole units.
 */
static bool unit_wanted(struct upg_region *r, uint64_t u)
{
	uint64_t unit = region_unit_pages(r), k;

	if (ps_state(atomic_load(region_page(r, u))) != PS_ABSENT)
		return false;
	for (k = 0; k < unit; k++)
		if (needs_read(r, atomic_load(region_page(r, u + k))))
			return true;
	return false;
}

/*
 * Claim the unit of a hugetlb region at @u, all its pages or none, and
 * say whether it needs no read (*@zero: no page holds data).  Units
 * change state in ascending order from their first page (region.h), so
 * whoever wins the first page owns the unit: the others are ABSENT or
 * about to be (an eviction or failed fill still finishing), and are
 * waited for.  A read-ahead (@readahead) claims only a unit it wants
 * (unit_wanted()) and marks every page of it PS_READAHEAD.
 */
static bool claim_unit(struct upg_region *r, uint64_t u, bool readahead,
		       bool *zero)
{
	uint64_t unit = region_unit_pages(r), k;

	*zero = true;
	if (readahead && !unit_wanted(r, u))
		return false;
	for (k = 0; k < unit; k++) {
		_Atomic uint32_t *p = region_page(r, u + k);
		uint32_t s = atomic_load(p), new;

		for (;;) {
			if (ps_state(s) != PS_ABSENT) {
				if (!k)
					return false;
				ps_wait(p, s);
				s = atomic_load(p);
				continue;
			}
			new = (s & (PS_HAS_DATA | PS_WAITERS | PS_PIN_MASK)) |
			      PS_FILLING;
			if (s & PS_ZERO_FILL)
				new |= PS_DIRTY;
			if (readahead)
				new |= PS_READAHEAD;
			if (ps_cas(p, &s, new))
				break;
		}
		/* Read ahead once, evicted unused. */
		if (s & PS_READAHEAD)
			MM_STAT_ADD(r->mm, ra_pages_wasted, 1);
		*zero &= !needs_read(r, s);
	}
	region_resident_add(r, (int64_t)unit);
	return true;
}

/* fill_range() of a hugetlb region: [first, end) is unit aligned. */
static uint64_t fill_units(struct upg_io_queue *q, struct upg_region *r,
			   uint64_t first, uint64_t end,
			   const struct fill_ctl *c)
{
	uint64_t unit = region_unit_pages(r), u, got = 0;
	uint64_t run_start = 0, run_n = 0;
	bool run_zero = false;

	for (u = first; u < end; u += unit) {
		bool zero = false,
		     claimed = claim_unit(r, u, c->readahead, &zero);

		if (run_n && (!claimed || zero != run_zero)) {
			start_run(q, r, run_start, run_n, run_zero, c);
			run_n = 0;
		}
		if (!claimed)
			continue;
		if (!run_n) {
			run_start = u;
			run_zero = zero;
		}
		run_n += unit;
		got += unit;
	}
	if (run_n)
		start_run(q, r, run_start, run_n, run_zero, c);
	return got;
}

/* Absent pages of [first, end); with @readahead only those a read-ahead
 * claims (pages that hold data: the others are left to their own
 * fault). */
static uint64_t count_absent(struct upg_region *r, uint64_t first,
			     uint64_t end, bool readahead)
{
	uint64_t n = 0, i;

	/* A hugetlb region reads ahead whole units (claim_unit()). */
	if (r->huge && readahead) {
		uint64_t unit = region_unit_pages(r);

		for (i = region_unit_first(r, first); i < end; i += unit)
			n += unit_wanted(r, i) ? unit : 0;
		return n;
	}
	for (i = first; i < end; i++) {
		uint32_t s = atomic_load(region_page(r, i));

		n += ps_state(s) == PS_ABSENT &&
		     (!readahead || needs_read(r, s));
	}
	return n;
}

/*
 * A read-ahead that the budget has room for only @room pages of (fair
 * shares or busy pages, evict/budget.c; or the client's cap): narrow
 * [*first, *end) to the whole fill units (a window's elements), counted
 * from the stream's side, whose pages to claim fit in @room, and tell the
 * caller in *c->cut where it was cut.
 * The stream's side holds the trigger page, which thus stays in the
 * range and is left unmapped as usual (map_run()); the pages cut off stay
 * ABSENT, for the stream's own faults.
 */
static void readahead_fit(struct upg_region *r, uint64_t *first,
			  uint64_t *end, uint64_t room, const struct fill_ctl *c)
{
	uint64_t mask = ~(uint64_t)(r->fill_pages - 1), pos, k, need;

	if (!c->down) {
		for (pos = *first; pos < *end; pos = k) {
			k = (pos & mask) + r->fill_pages;
			k = k < *end ? k : *end;
			need = count_absent(r, pos, k, true);
			if (need > room)
				break;
			room -= need;
		}
		if (pos < *end && c->cut)
			*c->cut = pos;
		*end = pos;
		return;
	}
	for (pos = *end; pos > *first; pos = k) {
		k = (pos - 1) & mask;
		k = k > *first ? k : *first;
		need = count_absent(r, k, pos, true);
		if (need > room)
			break;
		room -= need;
	}
	if (pos > *first && c->cut)
		*c->cut = pos - 1;
	*first = pos;
}

uint64_t fill_range(struct upg_io_queue *q, struct upg_region *r,
		    uint64_t first, uint64_t end, const struct fill_ctl *c)
{
	struct upg_runtime *rt = r->rt;
	uint64_t want, got = 0, i, run_start = 0, ask, reserved;
	const struct evict_policy *pol;
	bool claimed_prev = false, zero_prev = false;

	if (r->huge) {
		/* Whole huge pages only (npages is a multiple of them). */
		first = region_unit_first(r, first);
		end = region_unit_first(r, end + region_unit_pages(r) - 1);
		if (end > r->npages)
			end = r->npages;
	}
	want = count_absent(r, first, end, false);
	if (!want)
		return 0;
	/* upagerd: a client at its cap makes room among its own pages
	 * first (its share policy, daemon/share.c). */
	pol = evict_policy(rt);
	ask = pol ? pol->fill_room(q, r, want, c->readahead) : want;
	/* Read-ahead is speculative: it never overshoots the budget, and
	 * under fair shares it takes no page of a client below its share,
	 * the reader's included; it reads less instead.  Demand fills get
	 * all they ask for. */
	reserved = ask ? budget_reserve(rt, q, ask, c->readahead) : 0;
	if (reserved < want)
		readahead_fit(r, &first, &end, reserved, c);
	if (r->huge) {
		got = fill_units(q, r, first, end, c);
		goto out_settle;
	}

	/*
	 * Claim the absent pages and start each contiguous run of the same
	 * kind (read / zero) as soon as it ends.  Claim every absent page,
	 * not just @want: the eviction in budget_reserve() may have emptied
	 * more pages of the range, and stopping at @want could leave the
	 * faulting page itself unclaimed, its thread asleep for ever.
	 */
	for (i = first; i <= end; i++) {
		bool claimed = false, zero = false;

		if (i < end) {
			_Atomic uint32_t *p = region_page(r, i);
			uint32_t s = atomic_load(p);

			while (ps_state(s) == PS_ABSENT) {
				uint32_t new = (s & (PS_HAS_DATA | PS_WAITERS |
						     PS_PIN_MASK)) |
					       PS_FILLING;

				/* Read-ahead reads ahead: pages that hold no
				 * data are left to their own fault. */
				if (c->readahead && !needs_read(r, s))
					break;
				if (c->readahead)
					new |= PS_READAHEAD;
				/* Discarded, the store unpunched: zeros that
				 * must reach the store. */
				if (s & PS_ZERO_FILL)
					new |= PS_DIRTY;
				if (ps_cas(p, &s, new)) {
					if (r->fill_marks)
						mark_set(&r->fill_marks[i],
							 MARK_FILLING);
					/* Read ahead once, evicted unused. */
					if (s & PS_READAHEAD)
						MM_STAT_ADD(r->mm, ra_pages_wasted,
							 1);
					region_resident_add(r, 1);
					claimed = true;
					zero = !needs_read(r, s);
					got++;
					break;
				}
			}
		}
		if (claimed_prev && (!claimed || zero != zero_prev))
			start_run(q, r, run_start, i - run_start, zero_prev,
				  c);
		if (claimed && (!claimed_prev || zero != zero_prev))
			run_start = i;
		claimed_prev = claimed;
		zero_prev = zero;
	}
out_settle:
	if (got < reserved)
		budget_release(rt, reserved - got);
	else if (got > reserved)
		budget_reserve_more(rt, q, got - reserved, c->readahead);
	return got;
}

/*
 * The fault's page found ABSENT may have been claimed by another thread's
 * read-ahead before our claim, as its window's trigger page, which that
 * fill does not map: no CONTINUE would wake this fault.
 *
 *   handler A (our fault)          handler B (a stream's trigger fault)
 *   sees pg ABSENT                 plans the window holding pg
 *                                  claims pg FILLING | READAHEAD
 *   fill_range(): nothing to claim
 *   returns: the fault sleeps      maps the window but pg
 *
 * Park it on the page instead (publishing wakes it).  If that fill is over
 * already, the page may be anywhere by now (published unmapped, even
 * chosen as a victim or evicted): wake the fault, which comes back and is
 * resolved from the page's state then.  Only a page being filled without
 * the marker (our claim, or a fill that maps it) or resident without it
 * (mapped by a CONTINUE, which woke us) needs nothing.
 */
static void wait_for_readahead(struct upg_region *r, uint64_t pg)
{
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t s = atomic_load(p);

	for (;;) {
		if (ps_state(s) == PS_FILLING) {
			if (!(s & PS_READAHEAD) || ps_cas(p, &s, s | PS_PARKED))
				return;
			continue;
		}
		if (ps_state(s) == PS_RESIDENT && !(s & PS_READAHEAD))
			return;
		uffd_wake(region_uffd(r), region_page_addr(r, pg),
			  r->rt->page_size);
		return;
	}
}

void fill_start(struct handler *h, struct upg_region *r, uint64_t pg,
		bool write, pid_t tid)
{
	uint64_t unit = r->fill_pages;
	uint64_t first = pg & ~(unit - 1);
	uint64_t end = first + unit < r->npages ? first + unit : r->npages;
	struct fill_ctl c = { .fault_pg = pg, .write_fault = write,
			      .tid = tid };
	struct ra_plan plan;

	if (h->t_msg) { /* UPG_RT_FILL_TIMING */
		c.t_wake = h->t_wake;
		c.t_msg = h->t_msg;
		c.timer = h;
	}
	/* The page's store part cannot take writes, the budget is full and
	 * such parts hold their share of it: do not evict the pages of the
	 * parts that work to make room for one that cannot give it back.
	 * The fault sleeps; the evictor wakes it to try again within its
	 * tick (evict/stall.c). */
	if (evict_stalled_share(r, pg, end - first) &&
	    evict_defer_fault(r, pg))
		return;

	/* The detector first (it must see the page's read-ahead marker
	 * before the claim clears it), then the fault's own unit, then the
	 * window: both reads go out in the handler's next submission. */
	readahead_on_miss(r, pg, &plan);
	c.cold = plan.cold;
	fill_range(&h->q, r, first, end, &c);
	wait_for_readahead(r, pg);
	fill_readahead(&h->q, r, &plan);
}
