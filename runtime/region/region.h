/* SPDX-License-Identifier: MIT */
/*
 * region - the object behind struct upg_region and the region table.
 *
 * A region is a memfd mapped twice: at @addr for the application
 * (registered with userfaultfd) and at @alias for the runtime, which reads
 * and writes page contents there (fills and writeback) without faulting.
 * The alias is only ever touched at pages the state word says are present,
 * or while filling a page this thread has claimed: touching a hole through
 * it would allocate a zero page in the memfd.
 */
#ifndef UPAGER_REGION_H
#define UPAGER_REGION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/rt.h"
#include "region/page_state.h"

/* Partial unmaps of one region that region_writeprotect() remembers. */
#define REGION_GONE_MAX 4

struct upg_region {
	struct upg_runtime *rt;
	/* The address space of the application mapping (rt->self, or a
	 * upagerd client's): its uffd resolves the region's faults. */
	struct upg_mm *mm;
	/* Application mapping; changes only on a REMAP or UNMAP event
	 * (written under the write side of rt->regions_lock).  Atomic: the
	 * evictor, pins and fault-in read it without the lock. */
	char *_Atomic addr;
	uint64_t length;   /* as asked */
	uint64_t map_len;  /* page multiple */
	uint64_t npages;
	char *alias;
	int memfd;
	int prot;

	struct upg_store *store;
	uint64_t store_off;
	/* Writeback never goes past this store offset (file regions). */
	uint64_t store_limit;
	/* Swap-backed: pages without PS_HAS_DATA are zero-filled. */
	bool anon;
	unsigned fill_pages;
	int numa_policy;
	/* UPG_REGION_HUGETLB: the memfd is on hugetlbfs (2 MiB pages).  The
	 * page table stays in base pages, but every state change covers a
	 * whole unit of fill_pages pages, always in ascending order from the
	 * unit's first page (region_unit_first()): the kernel refuses
	 * CONTINUE, write-protection and MADV_DONTNEED on part of a huge
	 * page, and a punch of part of one zeroes that part instead of
	 * freeing it. */
	bool huge;

	_Atomic uint32_t *pages;
	_Atomic uint64_t resident; /* pages of this region counted in budget */
	/* Pin handles on this region (pin/pin.c); unmap waits or fails. */
	_Atomic uint32_t pins;
	/* Pages the application may have discarded (region/discard.c):
	 * under remove_lock; remove_ticks is also read without it, as a
	 * hint (evict.c). */
	pthread_mutex_t remove_lock;
	uint64_t remove_lo, remove_hi;
	_Atomic unsigned remove_ticks;

	/* References from in-flight work (fills, evictions, faults being
	 * handled); unmap waits for them to drain. */
	_Atomic uint32_t refs;
	/* The application unmapped the range itself (UNMAP event), wholly or
	 * in part: skip operations on application addresses that would be
	 * unsafe there (zap sampling), tolerate -ENOENT from the others. */
	atomic_bool detached, partly_unmapped;
	/* What the application did to its mapping behind the runtime's back,
	 * under the write side of rt->regions_lock: the page ranges it
	 * unmapped from a region still partly mapped (REGION_GONE_MAX at
	 * most; later ones are not recorded), and whether it moved part of
	 * the region with mremap.  Only inside a recorded range, and never
	 * after a partial move, may a write-protection that finds no mapping
	 * be taken to mean that nobody can write (region_writeprotect()). */
	struct { uint64_t lo, hi; } gone[REGION_GONE_MAX];
	unsigned nr_gone;
	bool moved_part;
	/* upg_region_unmap() released the application mapping already and
	 * only the final writeback is left to retry.  Atomic: the evictor
	 * reads it without a lock; set only after the mapping is gone. */
	atomic_bool torn_down;

	/* Per-region counts (upagerd reports them per client and region). */
	_Atomic uint64_t n_filled, n_evicted, n_written, n_errors;

	/* Writeback errors, errseq-style (writeback/errseq.c). */
	_Atomic uint64_t err_seq;
	_Atomic int err_last;
	uint64_t flush_cursor;

	struct upg_region *zombie_next;

	/* Daemon mode (runtime/client): the daemon's name for the region, the
	 * shared memfd of per-page marks, the store's fd (kept to take over
	 * if the daemon dies), the runtime's list. */
	uint64_t remote_id;
	int pinfd;
	int client_store_fd;
	/* The client's mappings of the marks and of the memfd (an alias not
	 * registered with userfaultfd, for nofault copies): daemon mode. */
	_Atomic uint32_t *client_marks;
	char *client_alias;
	struct upg_region *client_next;
	/* upagerd: the client's per-page marks (region/marks.h): which pages
	 * are being filled and which are resident (written here), which the
	 * client pinned, wrote through its alias, or watches (read here). */
	_Atomic uint32_t *fill_marks;
	/* Access-pattern detector and advice ranges (runtime/readahead/,
	 * which makes and frees it: struct region_upcalls).  A daemon-mode
	 * client's region gets it on its first upg_advise() or when the
	 * client takes over (atomic: installed once, by compare-and-swap). */
	_Atomic(struct ra_state *) ra;
};

/*
 * What region/ calls in the layers above it, which it does not include
 * (docs/layers.txt): core/ installs one table per runtime when it
 * assembles it (core/runtime.c, rt->region_up).
 *
 * attach()    make the state the layers above keep per region (the
 *             read-ahead detector's, r->ra).  Return: 0 or -ENOMEM.
 *             Context: region creation (or a takeover's adoption), before
 *             the region is in the table.
 * detach()    free what attach() made; nothing if it made nothing.
 *             Context: a failed creation, or unmap once the region's
 *             references drained.
 * forget()    @r leaves the table: drop what the layers above queued or
 *             hold of it (prefetch requests, fault/prefetch.c; the fork
 *             children's views, fork/views.c).  Context: unmap, before
 *             the references drain.
 * writeback() write pages [first, end) of @r back and wait
 *             (region_writeback(), writeback/).  Return: 0 or the first
 *             write error.  Context: flush and unmap, the thread owning @q.
 */
struct region_upcalls {
	int (*attach)(struct upg_region *r);
	void (*detach)(struct upg_region *r);
	void (*forget)(struct upg_region *r);
	int (*writeback)(struct upg_region *r, uint64_t first, uint64_t end,
			 struct upg_io_queue *q);
};

static inline _Atomic uint32_t *region_page(struct upg_region *r,
					    uint64_t pg)
{
	return &r->pages[pg];
}

/* Pages per unit of state changes: fill_pages for a hugetlb region,
 * else 1 (see @huge). */
static inline uint64_t region_unit_pages(const struct upg_region *r)
{
	return r->huge ? r->fill_pages : 1;
}

static inline uint64_t region_unit_first(const struct upg_region *r,
					 uint64_t pg)
{
	return pg & ~(region_unit_pages(r) - 1);
}

static inline uintptr_t region_page_addr(const struct upg_region *r,
					 uint64_t pg)
{
	return (uintptr_t)r->addr + (pg << r->rt->page_shift);
}

/* The userfaultfd of the region's application mapping. */
static inline const struct uffd_ctx *region_uffd(const struct upg_region *r)
{
	return &r->mm->uffd;
}

static inline char *region_alias(const struct upg_region *r, uint64_t pg)
{
	return r->alias + (pg << r->rt->page_shift);
}

/* Pages of @r counted in the budget: its own count and its address
 * space's (the fair share of upagerd's clients, evict/clock.c). */
static inline void region_resident_add(struct upg_region *r, int64_t n)
{
	struct upg_mm *mm = r->mm;
	uint64_t now, peak;

	atomic_fetch_add_explicit(&r->resident, (uint64_t)n,
				  memory_order_relaxed);
	now = atomic_fetch_add_explicit(&mm->resident, (uint64_t)n,
					memory_order_relaxed) + (uint64_t)n;
	/* upagerd: the client's own peak (in-process, the runtime's is
	 * the address space's). */
	if (n <= 0 || mm->local)
		return;
	peak = atomic_load_explicit(&mm->resident_peak, memory_order_relaxed);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&mm->resident_peak, &peak, now))
		;
}

static inline void region_get(struct upg_region *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

/*
 * r->refs: the references in the low bits, and REGION_REFS_WAITER while
 * an unmap waits for them to go (region.c, drain_refs()).  The last put
 * wakes it only then: a put is made by every fill, and a futex wake with
 * nobody to wake was one system call per miss (issue 14,
 * docs/fault-latency.md).
 */
#define REGION_REFS_WAITER (1u << 31)

static inline void region_put(struct upg_region *r)
{
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) ==
	    (REGION_REFS_WAITER | 1))
		futex_wake_all(&r->refs);
}

/**
 * region_writeprotect() - write-protect pages [@pg, @pg + @n) of @r in its
 * application mapping, so that every later write there faults and is seen.
 *
 * The application may move or unmap its mapping at any time; the kernel
 * moves the page table at once and reports the REMAP event later.  So a
 * write-protection that finds no mapping at the address the runtime knows
 * (-ENOENT) proves nothing by itself: the pages may be writable at the new
 * address.  This retries at the new address once the event is handled,
 * and trusts -ENOENT only where the region is known to be unmapped there.
 *
 * Return: 0 when the pages are protected, or nobody can write them any more
 * (a read-only region, a region the application or upg_region_unmap()
 * unmapped, a range recorded as unmapped, a client process that is gone);
 * -EAGAIN when the pages may be writable at an address the runtime does
 * not know yet (an mremap not handled yet, or a partial move): the caller
 * must keep them dirty and must not punch them; another negative errno
 * from UFFDIO_WRITEPROTECT.
 * Context: any runtime thread; takes the read side of rt->regions_lock
 * when the ioctl fails with -ENOENT.
 */
int region_writeprotect(struct upg_region *r, uint64_t pg, uint64_t n);

/**
 * region_lookup_get() - the region mapped at @addr in address space @mm,
 * with a reference.
 * Context: any thread; takes the read side of rt->regions_lock briefly.
 */
struct upg_region *region_lookup_get(struct upg_mm *mm, uintptr_t addr);

/**
 * region_sealed_memfd() - a memfd of @len bytes sealed against shrinking
 * and growing, as every region's memfd is (a daemon maps it too).
 * Return: the fd, or a negative errno.
 */
int region_sealed_memfd(const char *name, uint64_t len);

/* Another process's region (upagerd): what its client passed. */
struct region_remote {
	struct upg_mm *mm;  /* the client's address space */
	uintptr_t addr;     /* the application mapping there */
	int memfd;          /* sealed F_SEAL_SHRINK; owned by the region on
			     * success, still the caller's on failure */
	int marks_fd;       /* per-page marks shared with the client (u32
			     * each, sealed F_SEAL_SHRINK), or -1; stays the
			     * caller's */
};

/**
 * region_adopt_local() - a region of this process that upagerd serviced
 * until it died: service it here from now on.  Pages in the memfd are
 * resident and counted dirty (the daemon's view is lost: writing a clean
 * page back again is harmless); pages the daemon was filling (@marks) are
 * dropped and read again; the others are read from the store.
 * @store_fd: the store (duplicated), @store_off its offset.
 * Context: the caller keeps the handler threads from the region until it
 * returns (they start after).
 */
int region_adopt_local(struct upg_region *r, int store_fd, uint64_t store_off,
		       const _Atomic uint32_t *marks);

/**
 * region_adopt_store() - region_adopt_local() on a store the caller
 * opened (a Redis store opened again from its URI); the region takes a
 * reference of its own to @store.
 */
int region_adopt_store(struct upg_region *r, struct upg_store *store,
		       uint64_t store_off, const _Atomic uint32_t *marks);

/**
 * region_map_remote() - a region whose application mapping lives in
 * another process (upagerd): map the alias of the passed memfd, service
 * faults through @rr->mm's uffd.
 * @store: the store (a reference is taken), or NULL for anonymous memory
 *         backed by the runtime's own swap file.
 * @opts:  prot, store_offset, fill_unit as for the map calls.
 * Return: 0; -EPERM (memfd not sealed against shrinking), -EINVAL (memfd
 * smaller than the region, bad option), -ENOMEM, -EIO.
 * Context: not a handler thread.
 */
int region_map_remote(struct upg_runtime *rt, const struct region_remote *rr,
		      struct upg_store *store, uint64_t length,
		      const struct upg_region_opts *opts,
		      struct upg_region **out);

/*
 * The in-process halves of the public region calls (region.c).  The
 * public entry points (runtime/api/) check the handle and the thread,
 * pick in-process or daemon mode, and call these for the former.
 */

/* A map call's arguments, checked (region_check_args()). */
struct region_map_args {
	uint64_t length;
	uint64_t store_off;
	uint64_t fill_unit;
	unsigned flags; /* UPG_REGION_* */
	int prot;
};

/**
 * region_check_args() - check the arguments of a map call against the
 * runtime's page size and budget and fill @a; nothing is created.  The
 * huge-page checks of UPG_REGION_HUGETLB are region_check_huge()'s.
 * Return: 0, -EINVAL, -EOVERFLOW, or region_numa_check()'s error.
 * Context: any thread.
 */
int region_check_args(struct upg_runtime *rt, uint64_t length,
		      const struct upg_region_opts *o,
		      struct region_map_args *a);

/**
 * region_check_huge() - can this (in-process) runtime map a hugetlb
 * region?
 * Return: 0; -EOPNOTSUPP (fork events, or a kernel without the uffd
 * features), -ENOMEM (no huge page to be had).
 * Context: any thread.
 */
int region_check_huge(struct upg_runtime *rt);

/**
 * region_check_file() - may file @fd back a region mapped with @prot?
 * Return: 0; -EBADF (not an open fd), -ENODEV (neither a regular file nor
 * a block device), -EACCES (opened write-only, or read-only for a
 * writable region).
 */
int region_check_file(int fd, int prot);

/**
 * region_map_store() / region_map_file() / region_map_anon() - map a
 * region serviced in this process, on @store (a reference is taken), on
 * file @fd (checked with region_check_file()), or on the runtime's swap
 * file (@a->store_off must be 0).
 * Return: 0 with *@out set, or a negative errno; on failure nothing is
 * left.
 * Context: an application thread, not a notifier callback.
 */
int region_map_store(struct upg_runtime *rt, struct upg_store *store,
		     const struct region_map_args *a,
		     const struct upg_region_opts *opts,
		     struct upg_region **out);
int region_map_file(struct upg_runtime *rt, int fd,
		    const struct region_map_args *a,
		    const struct upg_region_opts *opts,
		    struct upg_region **out);
int region_map_anon(struct upg_runtime *rt, const struct region_map_args *a,
		    const struct upg_region_opts *opts,
		    struct upg_region **out);

/**
 * region_flush() - upg_region_flush() of a region serviced in this
 * process: write back [offset, offset + length) (0: to the end), flush
 * the store, report the errors the flush cursor has not seen.
 * Return: 0, -EINVAL (range), or the first write or flush error.
 * Context: an application thread, not a notifier callback.
 */
int region_flush(struct upg_region *r, uint64_t offset, uint64_t length);

/**
 * region_unmap() - upg_region_unmap_flags() of a region serviced in this
 * process (@flags checked): write everything back, then release.
 * Return: 0; -EBUSY (pins, without UPG_UNMAP_WAIT_PINS) or a write error,
 * with the region left as it was.
 * Context: an application thread, not a notifier callback.
 */
int region_unmap(struct upg_region *r, unsigned flags);

/**
 * region_count_pages() - add the resident and dirty bytes of @r, and its
 * pages per NUMA node, to @s.
 * Context: any thread; reads the state words without a lock.
 */
void region_count_pages(struct upg_region *r, struct upg_region_stats *s);

/**
 * region_discard() - upg_region_discard() of a region serviced in this
 * process (handle and thread checked): the pages of the range read as
 * zeros from now on.
 * Return: 0, -EINVAL, -EACCES (read-only), -EBADF (being unmapped),
 * -EBUSY (pinned pages), or an error of the punch.
 * Context: an application thread, not a handler, not a notifier callback.
 */
int region_discard(struct upg_region *r, uint64_t offset, uint64_t length);

/* Table membership (region/region_table.c).  Context: not a handler;
 * insert takes r->mm->read_lock (handled events first), then regions_lock. */
int region_table_insert(struct upg_runtime *rt, struct upg_region *r);
void region_table_remove(struct upg_runtime *rt, struct upg_region *r);

/**
 * region_on_remap() / region_on_unmap() - the application moved or
 * unmapped (part of) a region: UFFD_EVENT_REMAP / UFFD_EVENT_UNMAP.
 * Context: handler thread.
 */
void region_on_remap(struct upg_mm *mm, uintptr_t from, uintptr_t to,
		     uint64_t len);
void region_on_unmap(struct upg_mm *mm, uintptr_t start, uintptr_t end);

/**
 * region_unmap_all() - unmap every region (destroy).  Stops at the first
 * failure and returns it; the regions not unmapped stay intact.
 */
int region_unmap_all(struct upg_runtime *rt);

/* The application's madvise (region/discard.c). */
bool page_in_memfd(struct upg_region *r, uint64_t pg);
/* Page @pg, in @from_state, was discarded: it reads as zeros from now on.
 * Returns false if the page was not in @from_state (or was busy). */
bool region_discard_page(struct upg_region *r, uint64_t pg,
			 uint32_t from_state);
void region_note_remove(struct upg_mm *mm, uintptr_t start, uintptr_t end);
void remove_tick(struct upg_runtime *rt);

/* Free the zombie handles (destroy). */
void region_free_zombies(struct upg_runtime *rt);

/**
 * region_bury() - an unmapped region's handle dies; the object is kept
 * (a zombie) until destroy, so that a stale handle never points to freed
 * or reused memory.
 */
void region_bury(struct upg_region *r);

/* Errseq (writeback/errseq.c): record a writeback failure; report the
 * failures the region's own cursor (used by flush) has not seen. */
void region_record_error(struct upg_region *r, int err);
int region_errseq_check_own(struct upg_region *r);

/* NUMA placement (region/numa.c).  region_numa_wire(): the policy of @o
 * (checked) as upagerd's REGION_ADD carries it, a policy and one node
 * (-1: none); -EOPNOTSUPP for a node mask that one node cannot say. */
int region_numa_check(const struct upg_region_opts *o);
int region_numa_wire(const struct upg_region_opts *o, int *policy,
		     int *node);
int region_numa_apply(struct upg_runtime *rt, struct upg_region *r,
		      const struct upg_region_opts *o);
void region_numa_count(struct upg_region *r, uint64_t *node_pages,
		       unsigned nr_nodes);

/* Tell the notifiers of @r that it goes away (UPG_NOTIFY_UNMAP). */
void region_notify_unmap(struct upg_region *r);
/* Pins on @r: -EBUSY, or wait for them with UPG_UNMAP_WAIT_PINS. */
int region_wait_pins(struct upg_region *r, unsigned flags);

#endif
