/* SPDX-License-Identifier: MIT */
/*
 * Fault-in: make a range resident through the fill path, from an
 * application thread, without touching the pages (after the kernel's
 * fault_in_readable()/fault_in_writeable()).  The range goes in chunks no
 * bigger than half the budget, each filled with batched reads on the
 * caller I/O queue; pages already resident are only mapped (the clock may
 * have zapped their PTE), so that the application then faults on nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/handles.h"
#include "fault/fault.h"
#include "notify/notifier.h"
#include "pin/pin.h"
#include "region/region.h"

#define FAULT_IN_CHUNK 256
#define FAULT_IN_TRIES 64

/* One chunk: fill what is absent, map what was resident, until all of it
 * is resident at once. */
static int fault_in_chunk(struct upg_io_queue *own_q, struct upg_region *r,
			  uint64_t first, uint64_t end, bool write)
{
	struct upg_runtime *rt = r->rt;
	uint64_t was_absent[FAULT_IN_CHUNK / 64];
	unsigned tries;

	for (tries = 0; tries < FAULT_IN_TRIES; tries++) {
		_Atomic uint32_t pending = 0;
		_Atomic int err = 0;
		struct fill_ctl c = { .fault_pg = UINT64_MAX,
				      .write_all = write,
				      .pending = &pending,
				      .err = &err };
		struct upg_io_queue *q;
		uint64_t pg, filled;
		bool again = false;

		for (pg = first; pg < end; pg++) {
			uint64_t bit = 1ull << ((pg - first) % 64);
			uint64_t *w = &was_absent[(pg - first) / 64];
			uint32_t s = atomic_load(region_page(r, pg));

			if ((pg - first) % 64 == 0)
				*w = 0;
			if (ps_state(s) == PS_ABSENT)
				*w |= bit;
		}
		q = own_q ? own_q : runtime_caller_queue(rt);
		filled = fill_range(q, r, first, end, &c);
		io_queue_wait_counter(q, &pending);
		if (!own_q)
			runtime_caller_done(rt);
		if (atomic_load(&err))
			return atomic_load(&err);
		MM_STAT_ADD(r->mm, bytes_faulted_in, filled << rt->page_shift);

		for (pg = first; pg < end; pg++) {
			_Atomic uint32_t *p = region_page(r, pg);
			uint32_t s = atomic_load(p);
			bool absent_before = was_absent[(pg - first) / 64] &
					     (1ull << ((pg - first) % 64));

			while (ps_state(s) == PS_FILLING ||
			       ps_state(s) == PS_EVICTING) {
				ps_wait(p, s);
				s = atomic_load(p);
			}
			if (ps_state(s) != PS_RESIDENT) {
				again = true; /* evicted again, or poisoned */
				continue;
			}
			/* A fill (ours or a fault's) mapped it already. */
			if (absent_before && (!write || (s & PS_DIRTY)))
				continue;
			if (!map_resident_page(r, pg, write, write))
				again = true;
		}
		if (!again)
			return 0;
	}
	return -EAGAIN;
}

int fault_in_pages(struct upg_io_queue *q, struct upg_region *r,
		   uint64_t first, uint64_t end, bool write)
{
	uint64_t chunk = r->rt->budget_pages / 2;
	int err;

	if (chunk > FAULT_IN_CHUNK)
		chunk = FAULT_IN_CHUNK;
	if (!chunk)
		chunk = 1;
	while (first < end) {
		uint64_t e = end - first > chunk ? first + chunk : end;

		err = fault_in_chunk(q, r, first, e, write);
		if (err)
			return err;
		first = e;
	}
	return 0;
}

uint64_t first_absent_page(struct upg_region *r, uint64_t first,
			   uint64_t end)
{
	for (; first < end; first++)
		if (ps_state(atomic_load(region_page(r, first))) != PS_RESIDENT)
			break;
	return first;
}

size_t fault_in_range(struct upg_runtime *rt, const void *addr, size_t len,
		      bool write)
{
	uintptr_t a = (uintptr_t)addr, end = a + len;

	while (a < end) {
		struct upg_region *r = region_lookup_get(&rt->self, a);
		uintptr_t base, stop;
		uint64_t first, last;
		int err;

		if (!r)
			break;
		base = (uintptr_t)r->addr;
		stop = end < base + r->map_len ? end : base + r->map_len;
		first = (a - base) >> rt->page_shift;
		last = rt_pages(rt, stop - base);
		/* A read-only region cannot be faulted in for writing. */
		err = write && !(r->prot & PROT_WRITE) ?
			      -EFAULT :
			      fault_in_pages(NULL, r, first, last, write);
		if (err) {
			/* Like the kernel: the bytes from the first page that
			 * is not in, to the end. */
			uintptr_t at = base + (first_absent_page(r, first, last)
					       << rt->page_shift);

			if (err != -EFAULT && at > a)
				a = at < end ? at : end;
			region_put(r);
			break;
		}
		region_put(r);
		a = stop;
	}
	return end - a;
}
