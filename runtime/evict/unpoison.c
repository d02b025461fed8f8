/* SPDX-License-Identifier: MIT */
/*
 * Clearing poison after a failed fill.
 *
 * A store read error is delivered with UFFDIO_POISON: the faulting thread
 * gets SIGBUS (and a system call gets EFAULT), as with an I/O error under
 * mmap.  The marker stays in the PTE, so every access would get SIGBUS
 * forever; the kernel's page cache instead retries the read on the next
 * access.  To do the same, the evictor's tick zaps the PTE of a poisoned
 * page (MADV_DONTNEED removes the marker, verified on Linux 6.18) one to
 * two ticks after the failure, by which time the faulting thread has taken
 * its signal; the next access raises a new MISSING fault and reads again.
 * If the zap came before the thread retried, it faults again instead of
 * getting SIGBUS: one more read, never a lost signal on a lasting error.
 */
#include <sys/mman.h>

#include "common/assert.h"
#include "evict/evict.h"
#include "region/region.h"
#include "region/self_zap.h"

static void unpoison_region(struct upg_runtime *rt, struct upg_region *r,
			    uintptr_t addr)
{
	uint64_t pg;

	for (pg = 0; pg < r->npages; pg++) {
		_Atomic uint32_t *p = region_page(r, pg);
		uint32_t s = atomic_load(p);

		if (!(s & PS_POISONED))
			continue;
		if (!(s & PS_POISON_AGED)) {
			ps_cas(p, &s, s | PS_POISON_AGED);
			continue;
		}
		if (!ps_cas(p, &s, s & ~(PS_POISONED | PS_POISON_AGED)))
			continue;
		if (!atomic_load(&r->detached) &&
		    !atomic_load(&r->partly_unmapped))
			/* A huge page was poisoned whole (fault/fill.c). */
			self_zap(rt, addr + (region_unit_first(r, pg)
					     << rt->page_shift),
				 region_unit_pages(r) << rt->page_shift);
		atomic_fetch_sub(&rt->poisoned_pages, 1);
		MM_STAT_ADD(r->mm, pages_unpoisoned, 1);
	}
}

void unpoison_tick(struct upg_runtime *rt)
{
	size_t i;

	assert_role(UPG_ROLE_EVICTOR);
	pthread_rwlock_rdlock(&rt->regions_lock);
	for (i = 0; i < rt->nr_regions; i++) {
		struct upg_region *r = rt->regions[i];

		/* Only this process's mappings carry poison markers: another
		 * process's threads get SIGBUS by signal (fault/fill.c). */
		if (!atomic_load(&r->detached) && r->mm->local)
			unpoison_region(rt, r, (uintptr_t)r->addr);
	}
	pthread_rwlock_unlock(&rt->regions_lock);
}
