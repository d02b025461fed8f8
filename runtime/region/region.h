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

#include "core/runtime.h"
#include "readahead/readahead.h"
#include "region/page_state.h"

struct upg_region {
	struct upg_runtime *rt;
	/* Application mapping; changes only on a REMAP event (write side of
	 * rt->regions_lock). */
	char *addr;
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

	_Atomic uint32_t *pages;
	_Atomic uint64_t resident; /* pages of this region counted in budget */
	/* Pin handles on this region (pin/pin.c); unmap waits or fails. */
	_Atomic uint32_t pins;
	/* Pages the application may have discarded (region/discard.c). */
	pthread_mutex_t remove_lock;
	uint64_t remove_lo, remove_hi;
	unsigned remove_ticks;

	/* References from in-flight work (fills, evictions, faults being
	 * handled); unmap waits for them to drain. */
	_Atomic uint32_t refs;
	/* The application unmapped the range itself (UNMAP event), wholly or
	 * in part: skip operations on application addresses that would be
	 * unsafe there (zap sampling), tolerate -ENOENT from the others. */
	atomic_bool detached, partly_unmapped;
	/* upg_region_unmap() released the application mapping already and
	 * only the final writeback is left to retry. */
	bool torn_down;

	/* Writeback errors, errseq-style (writeback/errseq.c). */
	_Atomic uint64_t err_seq;
	_Atomic int err_last;
	uint64_t flush_cursor;

	struct upg_region *zombie_next;

	/* Access-pattern detector and advice ranges (runtime/readahead/). */
	struct ra_state ra;
};

static inline _Atomic uint32_t *region_page(struct upg_region *r,
					    uint64_t pg)
{
	return &r->pages[pg];
}

static inline uintptr_t region_page_addr(const struct upg_region *r,
					 uint64_t pg)
{
	return (uintptr_t)r->addr + (pg << r->rt->page_shift);
}

static inline char *region_alias(const struct upg_region *r, uint64_t pg)
{
	return r->alias + (pg << r->rt->page_shift);
}

static inline void region_get(struct upg_region *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

static inline void region_put(struct upg_region *r)
{
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		futex_wake_all(&r->refs);
}

/**
 * region_lookup_get() - the region mapped at @addr, with a reference.
 * Context: any thread; takes the read side of rt->regions_lock briefly.
 */
struct upg_region *region_lookup_get(struct upg_runtime *rt, uintptr_t addr);

/* Table membership (region/region_table.c).  Context: not a handler. */
int region_table_insert(struct upg_runtime *rt, struct upg_region *r);
void region_table_remove(struct upg_runtime *rt, struct upg_region *r);

/**
 * region_on_remap() / region_on_unmap() - the application moved or
 * unmapped (part of) a region: UFFD_EVENT_REMAP / UFFD_EVENT_UNMAP.
 * Context: handler thread.
 */
void region_on_remap(struct upg_runtime *rt, uintptr_t from, uintptr_t to,
		     uint64_t len);
void region_on_unmap(struct upg_runtime *rt, uintptr_t start, uintptr_t end);

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
void region_note_remove(struct upg_runtime *rt, uintptr_t start,
			uintptr_t end);
void remove_tick(struct upg_runtime *rt);

/* Free the zombie handles (destroy). */
void region_free_zombies(struct upg_runtime *rt);

/* Errseq (writeback/errseq.c): record a writeback failure; report the
 * failures the region's own cursor (used by flush) has not seen. */
void region_record_error(struct upg_region *r, int err);
int region_errseq_check_own(struct upg_region *r);

/* NUMA placement (region/numa.c). */
int region_numa_check(const struct upg_region_opts *o);
int region_numa_apply(struct upg_runtime *rt, struct upg_region *r,
		      const struct upg_region_opts *o);
void region_numa_count(struct upg_region *r, uint64_t *node_pages,
		       unsigned nr_nodes);

#endif
