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
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>

#include "common/handles.h"
#include "notify/notifier.h"
#include "region/marks.h"
#include "region/region.h"
#include "region/self_zap.h"
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
	if (r->fill_marks)
		mark_clear(&r->fill_marks[pg], MARK_RESIDENT | MARK_DIRTY);
	punched = !store_discard(r->store, off, rt->page_size);
	if (!punched && !r->anon)
		atomic_fetch_or(p, PS_ZERO_FILL);
	if (s & PS_PARKED)
		uffd_wake(region_uffd(r), region_page_addr(r, pg), rt->page_size);
	ps_wake(p, s);
	region_resident_add(r, -1);
	budget_release(rt, 1);
	MM_STAT_ADD(r->mm, pages_discarded, 1);
	return true;
}

void region_note_remove(struct upg_mm *mm, uintptr_t start, uintptr_t end)
{
	struct upg_runtime *rt = mm->rt;
	size_t i;

	/* The clock's own zap: nothing was discarded. */
	if (mm->local && is_self_zap(rt, start, end))
		return;
	pthread_rwlock_rdlock(&rt->regions_lock);
	for (i = 0; i < rt->nr_regions; i++) {
		struct upg_region *r = rt->regions[i];
		uintptr_t a = (uintptr_t)r->addr, b = a + r->map_len;
		uint64_t lo, hi;

		if (r->mm != mm || atomic_load(&r->detached) || end <= a ||
		    start >= b)
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

/* An absent page of a discarded range: its store copy goes too. */
static void discard_absent_page(struct upg_region *r, uint64_t pg)
{
	struct upg_runtime *rt = r->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t s = atomic_load(p), set = 0, clear = 0;

	if (r->anon)
		clear = PS_HAS_DATA; /* zero-filled from now on */
	else if (store_discard(r->store,
			       r->store_off + (pg << rt->page_shift),
			       rt->page_size))
		set = PS_ZERO_FILL; /* zeros owed to the store */
	do {
		if (ps_state(s) != PS_ABSENT)
			return;
	} while (!ps_cas(p, &s, (s & ~clear) | set));
	MM_STAT_ADD(r->mm, pages_discarded, 1);
}

/* Page @pg after the punch of upg_region_discard(); false: look again. */
static bool discard_one(struct upg_region *r, uint64_t pg)
{
	struct upg_runtime *rt = r->rt;
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t s = atomic_load(p);

	switch (ps_state(s)) {
	case PS_ABSENT:
		discard_absent_page(r, pg);
		return true;
	case PS_RESIDENT:
		/* Filled again since the punch (an access racing with the
		 * discard): punch it once more. */
		if (page_in_memfd(r, pg))
			fallocate(r->memfd,
				  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)(pg << rt->page_shift),
				  (off_t)rt->page_size);
		if (region_discard_page(r, pg, PS_RESIDENT))
			return true;
		break;
	default:
		break;
	}
	/* FILLING, EVICTING, or locked for a moment: wait for it. */
	s = atomic_load(p);
	if (ps_state(s) == PS_FILLING || ps_state(s) == PS_EVICTING ||
	    (s & (PS_LOCK | PS_WRITEBACK)))
		ps_wait(p, s);
	return false;
}

int region_discard(struct upg_region *r, uint64_t offset, uint64_t length)
{
	struct upg_runtime *rt = r->rt;
	uint64_t first, end, pg;
	uintptr_t a;
	bool notified = false;

	if (offset & (rt->page_size - 1) || offset > r->length ||
	    (length && length > r->length - offset))
		return -EINVAL;
	if (!length)
		length = r->length - offset;
	if (!(r->prot & PROT_WRITE))
		return -EACCES;
	if (r->torn_down)
		return -EBADF;
	first = offset >> rt->page_shift;
	end = rt_pages(rt, offset + length);
	for (pg = first; pg < end; pg++)
		if (atomic_load(region_page(r, pg)) & PS_PIN_MASK)
			return -EBUSY;

	region_get(r);
	a = (uintptr_t)r->addr;
	if (a && !atomic_load(&r->detached) && notify_any(rt->notify)) {
		notify_invalidate_start(rt->notify, a + (first << rt->page_shift),
					a + (end << rt->page_shift),
					UPG_NOTIFY_REMOVE, true);
		notified = true;
	}
	/* As MADV_REMOVE does: the pages leave the memfd, and every mapping
	 * of them (the application's, fork children's). */
	if (fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(first << rt->page_shift),
		      (off_t)((end - first) << rt->page_shift))) {
		int err = -errno;

		if (notified)
			notify_invalidate_end(rt->notify);
		region_put(r);
		return err;
	}
	if (notified)
		notify_invalidate_end(rt->notify);
	for (pg = first; pg < end; pg++)
		while (!discard_one(r, pg))
			;
	region_put(r);
	return 0;
}
