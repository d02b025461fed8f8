/* SPDX-License-Identifier: MIT */
/*
 * The region table: regions sorted by application address, looked up by
 * binary search under the read side of rt->regions_lock, and the
 * application's own mremap/munmap of regions (uffd events).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "region/region.h"
#include "uffd/uffd.h"

/*
 * A region the application unmapped itself is kept (its memfd still holds
 * data to write back) but is re-keyed at address 0 and never matches: the
 * kernel may hand its old addresses to a new region.
 */
static bool contains(const struct upg_region *r, const struct upg_mm *mm,
		     uintptr_t addr)
{
	return r->mm == mm && !atomic_load(&r->detached) &&
	       addr >= (uintptr_t)r->addr &&
	       addr - (uintptr_t)r->addr < r->map_len;
}

/* Order of the table: address space, then address. */
static bool before(const struct upg_region *r, const struct upg_mm *mm,
		   uintptr_t addr)
{
	if (r->mm != mm)
		return (uintptr_t)r->mm < (uintptr_t)mm;
	return (uintptr_t)r->addr < addr;
}

/* Index of the first region not before (@mm, @addr).  Lock held. */
static size_t lower_bound(const struct upg_runtime *rt,
			  const struct upg_mm *mm, uintptr_t addr)
{
	size_t lo = 0, hi = rt->nr_regions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (before(rt->regions[mid], mm, addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Region of @mm containing @addr, or NULL.  Lock held. */
static struct upg_region *find(const struct upg_runtime *rt,
			       const struct upg_mm *mm, uintptr_t addr)
{
	size_t i = lower_bound(rt, mm, addr);

	if (i < rt->nr_regions && contains(rt->regions[i], mm, addr))
		return rt->regions[i];
	if (i > 0 && contains(rt->regions[i - 1], mm, addr))
		return rt->regions[i - 1];
	return NULL;
}

struct upg_region *region_lookup_get(struct upg_mm *mm, uintptr_t addr)
{
	struct upg_runtime *rt = mm->rt;
	struct upg_region *r;

	pthread_rwlock_rdlock(&rt->regions_lock);
	r = find(rt, mm, addr);
	if (r)
		region_get(r);
	pthread_rwlock_unlock(&rt->regions_lock);
	return r;
}

static void insert_locked(struct upg_runtime *rt, struct upg_region *r)
{
	size_t i = lower_bound(rt, r->mm, (uintptr_t)r->addr);

	memmove(&rt->regions[i + 1], &rt->regions[i],
		(rt->nr_regions - i) * sizeof(*rt->regions));
	rt->regions[i] = r;
	rt->nr_regions++;
	/* Keep the clock hand on the region it was on. */
	if (i <= rt->clock_region && rt->nr_regions > 1)
		rt->clock_region++;
}

static void remove_locked(struct upg_runtime *rt, struct upg_region *r)
{
	size_t i;

	for (i = 0; i < rt->nr_regions && rt->regions[i] != r; i++)
		;
	if (i == rt->nr_regions)
		return;
	memmove(&rt->regions[i], &rt->regions[i + 1],
		(rt->nr_regions - i - 1) * sizeof(*rt->regions));
	rt->nr_regions--;
	if (i < rt->clock_region) {
		rt->clock_region--;
	} else if (i == rt->clock_region) {
		rt->clock_page = 0;
	}
}

int region_table_insert(struct upg_runtime *rt, struct upg_region *r)
{
	int err = 0;

	/*
	 * Not between a handler's read of events and their handling (it
	 * holds mm->read_lock from one to the other):
	 *
	 *   application              handler
	 *   munmap(region A)         read(): UNMAP of A's range
	 *     returns                  (munmap() waits for the read only)
	 *   map region B: mmap()
	 *     gives A's range back
	 *   insert B                 region_on_unmap(A's range): finds B
	 *
	 * and B would be detached for A's unmap: its faults found in no
	 * region, SIGBUS.  Lock order: read_lock, then regions_lock.
	 */
	pthread_mutex_lock(&r->mm->read_lock);
	pthread_rwlock_wrlock(&rt->regions_lock);
	if (rt->nr_regions == rt->cap_regions) {
		size_t cap = rt->cap_regions ? rt->cap_regions * 2 : 8;
		struct upg_region **n = realloc(rt->regions,
						cap * sizeof(*n));

		if (!n)
			err = -ENOMEM;
		else {
			rt->regions = n;
			rt->cap_regions = cap;
		}
	}
	if (!err)
		insert_locked(rt, r);
	pthread_rwlock_unlock(&rt->regions_lock);
	pthread_mutex_unlock(&r->mm->read_lock);
	return err;
}

void region_table_remove(struct upg_runtime *rt, struct upg_region *r)
{
	pthread_rwlock_wrlock(&rt->regions_lock);
	remove_locked(rt, r);
	pthread_rwlock_unlock(&rt->regions_lock);
}

void region_on_remap(struct upg_mm *mm, uintptr_t from, uintptr_t to,
		     uint64_t len)
{
	struct upg_runtime *rt = mm->rt;
	struct upg_region *r;

	pthread_rwlock_wrlock(&rt->regions_lock);
	r = find(rt, mm, from);
	if (r && (uintptr_t)r->addr == from && len == r->map_len) {
		/* The whole region moved: it follows (the registration moved
		 * with the mapping). */
		remove_locked(rt, r);
		r->addr = (char *)to;
		insert_locked(rt, r);
		rt_info(rt, "region moved from %#lx to %#lx",
			(unsigned long)from, (unsigned long)to);
	} else if (r) {
		/* Part of a region moved: faults at the new address find no
		 * region and get SIGBUS; the data stays in the memfd and is
		 * written back as usual.  Pages mapped there stay writable
		 * where write-protection cannot reach them, so from now on
		 * they are written back but never taken as clean. */
		atomic_store(&r->partly_unmapped, true);
		r->moved_part = true;
		rt_err(rt, "part of a region was moved by mremap (%#lx -> "
			   "%#lx, %llu bytes): not supported, the moved part "
			   "faults with SIGBUS",
		       (unsigned long)from, (unsigned long)to,
		       (unsigned long long)len);
	}
	pthread_rwlock_unlock(&rt->regions_lock);
}

/* [start, end) of @r's mapping is unmapped for good.  Under the write
 * side of regions_lock. */
static void record_gone(struct upg_region *r, uintptr_t start, uintptr_t end)
{
	uintptr_t a = (uintptr_t)r->addr;
	unsigned shift = r->rt->page_shift;

	if (r->nr_gone == REGION_GONE_MAX) {
		rt_warn(r->rt, "region partly unmapped more than %d times: "
			       "its pages there stay resident until "
			       "upg_region_unmap()", REGION_GONE_MAX);
		return;
	}
	r->gone[r->nr_gone].lo = (start - a) >> shift;
	r->gone[r->nr_gone].hi = rt_pages(r->rt, end - a);
	r->nr_gone++;
}

void region_on_unmap(struct upg_mm *mm, uintptr_t start, uintptr_t end)
{
	struct upg_runtime *rt = mm->rt;
	size_t i = 0;

	pthread_rwlock_wrlock(&rt->regions_lock);
	while (i < rt->nr_regions) {
		struct upg_region *r = rt->regions[i];
		uintptr_t a = (uintptr_t)r->addr, b = a + r->map_len;

		i++;
		if (r->mm != mm || atomic_load(&r->detached) || end <= a ||
		    start >= b)
			continue;
		/* The memfd still holds every page: dirty data is written
		 * back as usual, by eviction, flush and unmap. */
		rt_info(rt, "application unmapped %#lx-%#lx of a region",
			(unsigned long)start, (unsigned long)end);
		if (start > a || end < b) {
			atomic_store(&r->partly_unmapped, true);
			record_gone(r, start > a ? start : a, end < b ? end : b);
			continue;
		}
		remove_locked(rt, r);
		atomic_store(&r->detached, true);
		r->addr = NULL;
		insert_locked(rt, r);
		i = 0; /* the array moved under us: rescan */
	}
	pthread_rwlock_unlock(&rt->regions_lock);
}

enum wp_verdict { WP_GONE, WP_MOVED, WP_UNSURE };

/*
 * Write-protection of [pg, pg + n) found no mapping at @tried: why?
 *
 *   application                 kernel                      runtime
 *   mremap(addr -> new)         moves the page table
 *                                                           evictor: WP at addr
 *                                                             -> -ENOENT
 *   writes at new (no fault:
 *   the PTEs moved writable)
 *                               queues REMAP                handler: addr = new
 *
 * Trusting -ENOENT there would punch a page the application is writing.
 * So: a changed address is retried; the region being unmapped (whole, or
 * in a recorded range) proves that nobody can write; anything else is
 * unsure.
 */
static enum wp_verdict wp_enoent(struct upg_region *r, uintptr_t tried,
				 uint64_t pg, uint64_t n)
{
	struct upg_runtime *rt = r->rt;
	enum wp_verdict v = WP_UNSURE;
	unsigned i;

	pthread_rwlock_rdlock(&rt->regions_lock);
	if (atomic_load(&r->detached) || atomic_load(&r->torn_down))
		v = WP_GONE;
	else if (region_page_addr(r, pg) != tried)
		v = WP_MOVED;
	else if (!r->moved_part)
		for (i = 0; i < r->nr_gone; i++)
			if (pg >= r->gone[i].lo && pg + n <= r->gone[i].hi)
				v = WP_GONE;
	pthread_rwlock_unlock(&rt->regions_lock);
	return v;
}

int region_writeprotect(struct upg_region *r, uint64_t pg, uint64_t n)
{
	for (;;) {
		uintptr_t a;
		int err;

		if (!(r->prot & PROT_WRITE) || atomic_load(&r->detached) ||
		    atomic_load(&r->torn_down))
			return 0;
		a = region_page_addr(r, pg);
		err = uffd_writeprotect(region_uffd(r), a,
					n << r->rt->page_shift, true);
		/* The process of the mapping is gone (upagerd's client). */
		if (err == -ESRCH)
			return 0;
		if (err != -ENOENT)
			return err;
		switch (wp_enoent(r, a, pg, n)) {
		case WP_GONE:
			return 0;
		case WP_MOVED:
			continue;
		case WP_UNSURE:
			return -EAGAIN;
		}
	}
}
