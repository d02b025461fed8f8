/* SPDX-License-Identifier: MIT */
/*
 * The application's madvise on a region (UFFD_EVENT_REMOVE).
 *
 * MADV_DONTNEED and MADV_REMOVE raise the same event, before the kernel
 * acts, and the runtime's own clock zaps (MADV_DONTNEED) raise it too.
 * On shared memory MADV_DONTNEED only drops mappings: the data stays in the
 * memfd and the next access is a minor fault; nothing to do.  MADV_REMOVE
 * punches the memfd: the data is gone, and the range must read as zeros
 * from then on, in memory and in the store (the store range is punched as
 * well, as MADV_REMOVE punches a mapped file).
 *
 * Which of the two it was shows only afterwards, in the memfd: a page the
 * table calls RESIDENT that the memfd lacks was discarded.  So the event
 * marks the range, and the page is checked wherever it is met next: a
 * fault on it (fault/resolve.c), a victim in eviction (evict/evict.c), or
 * the evictor's tick (remove_tick()), which scans the marked range for two
 * ticks, since the punch may land after the first scan.
 */
#include <sys/mman.h>

#include "evict/evict.h"
#include "region/region.h"
#include "store/store.h"

/* Ticks during which a marked range is scanned. */
#define REMOVE_SCAN_TICKS 2

bool page_in_memfd(struct upg_region *r, uint64_t pg)
{
	unsigned char vec = 0;

	/* mincore() on a shared mapping looks the page up in the page
	 * cache, mapped here or not, and allocates nothing. */
	if (mincore(region_alias(r, pg), r->rt->page_size, &vec))
		return true; /* cannot tell: never drop data on a guess */
	return vec & 1;
}

bool region_discard_page(struct upg_region *r, uint64_t pg,
			 uint32_t from_state)
{
	struct upg_runtime *rt = r->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t s = atomic_load(p), new;
	uint64_t off = r->store_off + (pg << rt->page_shift);
	bool punched;

	do {
		if (ps_state(s) != from_state || (s & (PS_LOCK | PS_WRITEBACK)))
			return false;
		new = (s & PS_PIN_MASK) | PS_ABSENT;
		/* Anonymous: zero-filled without I/O from now on. */
		if (!r->anon)
			new |= s & PS_HAS_DATA;
	} while (!ps_cas(p, &s, new));
	punched = !store_discard(r->store, off, rt->page_size);
	if (!punched && !r->anon)
		atomic_fetch_or(p, PS_ZERO_FILL);
	if (s & PS_PARKED)
		uffd_wake(&rt->uffd, region_page_addr(r, pg), rt->page_size);
	ps_wake(p, s);
	atomic_fetch_sub(&r->resident, 1);
	budget_release(rt, 1);
	STAT_ADD(rt, pages_discarded, 1);
	return true;
}

void region_note_remove(struct upg_runtime *rt, uintptr_t start,
			uintptr_t end)
{
	size_t i;

	/* The clock's own zap: nothing was discarded. */
	if (is_self_zap(rt, start, end))
		return;
	pthread_rwlock_rdlock(&rt->regions_lock);
	for (i = 0; i < rt->nr_regions; i++) {
		struct upg_region *r = rt->regions[i];
		uintptr_t a = (uintptr_t)r->addr, b = a + r->map_len;
		uint64_t lo, hi;

		if (atomic_load(&r->detached) || end <= a || start >= b)
			continue;
		lo = ((start > a ? start : a) - a) >> rt->page_shift;
		hi = rt_pages(rt, (end < b ? end : b) - a);
		pthread_mutex_lock(&r->remove_lock);
		if (!r->remove_ticks || lo < r->remove_lo)
			r->remove_lo = lo;
		if (!r->remove_ticks || hi > r->remove_hi)
			r->remove_hi = hi;
		r->remove_ticks = REMOVE_SCAN_TICKS;
		pthread_mutex_unlock(&r->remove_lock);
	}
	pthread_rwlock_unlock(&rt->regions_lock);
}

void remove_tick(struct upg_runtime *rt)
{
	size_t i;

	pthread_rwlock_rdlock(&rt->regions_lock);
	for (i = 0; i < rt->nr_regions; i++) {
		struct upg_region *r = rt->regions[i];
		uint64_t lo, hi, pg;

		pthread_mutex_lock(&r->remove_lock);
		lo = r->remove_lo;
		hi = r->remove_hi;
		if (r->remove_ticks)
			r->remove_ticks--;
		else
			hi = lo; /* nothing marked */
		pthread_mutex_unlock(&r->remove_lock);
		for (pg = lo; pg < hi; pg++) {
			uint32_t s = atomic_load(region_page(r, pg));

			if (ps_state(s) == PS_RESIDENT && !page_in_memfd(r, pg))
				region_discard_page(r, pg, PS_RESIDENT);
		}
	}
	pthread_rwlock_unlock(&rt->regions_lock);
}
