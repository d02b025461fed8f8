/* SPDX-License-Identifier: MIT */
/*
 * Pins (after pin_user_pages() and FOLL_LONGTERM).
 *
 * A pin is a count in the state word of each page (page_state.h): the
 * clock never picks a page with a long-term pin, and waits for ephemeral
 * ones.  A pin is added with compare-and-swap only to a RESIDENT page, so
 * it can never land on a page the evictor has already claimed:
 *
 *   pin                            evictor
 *   CAS RESIDENT -> RESIDENT+pin   CAS RESIDENT(no pins) -> EVICTING
 *
 * exactly one of the two wins; a pin that loses faults the page in again.
 *
 * Handles are not pointers to memory that could be reused: a handle is a
 * slot of a process-wide table plus the slot's generation, so a double or
 * stale unpin is recognised and refused (-EINVAL) instead of dropping
 * somebody else's pin.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/handles.h"
#include "fault/fault.h"
#include "notify/notifier.h"
#include "pin/pin.h"
#include "region/region.h"

#define PIN_TRIES 32

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pin_entry *table;
static size_t table_len, table_cap;
static uint32_t *free_slots;
static size_t nr_free;

static struct upg_pin *encode(size_t slot, uint32_t gen)
{
	return (struct upg_pin *)(uintptr_t)(((uint64_t)gen << 32) |
					     (uint64_t)(slot + 1));
}

static int table_add(const struct pin_entry *e, struct upg_pin **out)
{
	size_t slot = 0;
	bool fresh = false;
	int err = 0;

	pthread_mutex_lock(&table_lock);
	if (nr_free) {
		slot = free_slots[--nr_free];
	} else if (table_len == UINT32_MAX) {
		err = -ENOMEM;
	} else {
		if (table_len == table_cap) {
			size_t cap = table_cap ? table_cap * 2 : 64;
			struct pin_entry *t = realloc(table, cap * sizeof(*t));
			uint32_t *f = t ? realloc(free_slots,
						  cap * sizeof(*f)) :
					  NULL;

			if (t)
				table = t;
			if (f)
				free_slots = f;
			if (!t || !f)
				err = -ENOMEM;
			else
				table_cap = cap;
		}
		slot = table_len;
		fresh = !err;
		if (!err)
			table_len++;
	}
	if (!err) {
		/* A new slot starts at a scrambled generation, so that a small
		 * integer (or another slot's handle) is never valid by
		 * accident. */
		uint32_t gen = fresh ? ((uint32_t)slot * 2654435761u) ^
					       0x5bd1e995u :
				       table[slot].gen;

		table[slot] = *e;
		table[slot].gen = gen;
		table[slot].used = true;
		*out = encode(slot, gen);
	}
	pthread_mutex_unlock(&table_lock);
	return err;
}

bool pin_take(struct upg_pin *h, struct pin_entry *out)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	size_t slot = (size_t)(v & 0xffffffffu);
	uint32_t gen = (uint32_t)(v >> 32);
	bool ok = false;

	pthread_mutex_lock(&table_lock);
	if (slot && --slot < table_len && table[slot].used &&
	    table[slot].gen == gen) {
		*out = table[slot];
		table[slot].used = false;
		table[slot].gen++;
		free_slots[nr_free++] = (uint32_t)slot;
		ok = true;
	}
	pthread_mutex_unlock(&table_lock);
	return ok;
}

static void unpin_pages(struct upg_region *r, uint64_t first, uint64_t end,
			uint32_t one)
{
	for (; first < end; first++)
		ps_unpin(region_page(r, first), one);
}

static struct upg_region *lookup(struct upg_runtime *rt, uintptr_t a)
{
	return region_lookup_get(&rt->self, a);
}

/* Fault in and pin every page of [first, end), or none.  Chunk by chunk:
 * a chunk is pinned right after it is faulted in, before the faulting in
 * of the next one can make room by evicting it. */
static int pin_pages(struct upg_region *r, uint64_t first, uint64_t end,
		     uint32_t one)
{
	uint64_t chunk = r->rt->budget_pages / 4, c0, c1, pg;
	unsigned tries;
	int err = 0;

	if (!chunk)
		chunk = 1;
	for (c0 = first; c0 < end; c0 = c1) {
		c1 = end - c0 > chunk ? c0 + chunk : end;
		for (tries = 0; tries < PIN_TRIES; tries++) {
			err = fault_in_pages(NULL, r, c0, c1, false);
			if (err)
				break;
			for (pg = c0; pg < c1; pg++) {
				err = ps_pin(region_page(r, pg), one, PS_REF);
				if (err != 1)
					break;
			}
			if (pg == c1) {
				err = 0;
				break;
			}
			/* Evicted between fault-in and pin, or too many
			 * pins on a page. */
			unpin_pages(r, c0, pg, one);
			if (err < 0)
				break;
			err = -EAGAIN;
		}
		if (err) {
			unpin_pages(r, first, c0, one);
			return err;
		}
	}
	/* Map them all (the clock may have zapped one before it was
	 * pinned), writable and dirty in a writable region, as
	 * pin_user_pages(FOLL_WRITE) does: pinned memory then raises no
	 * fault, for loads, stores, or a system call writing into it.  A
	 * flush write-protects again (it must, to see later writes). */
	for (pg = first; pg < end; pg++)
		map_resident_page(r, pg, r->prot & PROT_WRITE,
				  r->prot & PROT_WRITE);
	return 0;
}

const struct pin_side pin_local_side = {
	.lookup = lookup,
	.pin = pin_pages,
	.unpin = unpin_pages,
};

int pin_range(struct upg_runtime *rt, const struct pin_side *side,
	      void *addr, size_t len, bool longterm, struct upg_pin **out)
{
	uint32_t one = longterm ? PS_LPIN_ONE : PS_EPIN_ONE;
	uintptr_t a = (uintptr_t)addr, base;
	struct pin_entry e = { .longterm = longterm };
	struct upg_region *r, *tail;
	uint64_t n, cur;
	int err;

	r = side->lookup(rt, a);
	if (!r)
		return -EFAULT;
	base = (uintptr_t)r->addr;
	if (a + len > base + r->map_len) {
		/* Past this region: another region (-EINVAL, pin each) or
		 * unmanaged memory (-EFAULT). */
		tail = side->lookup(rt, a + len - 1);
		err = tail ? -EINVAL : -EFAULT;
		if (tail)
			region_put(tail);
		goto out_put;
	}
	e.r = r;
	e.first = (a - base) >> rt->page_shift;
	n = rt_pages(rt, a + len - base) - e.first;
	e.n = n;
	if (longterm) {
		/* Reserve against the limit first: over it, nothing is
		 * pinned. */
		cur = atomic_load(&rt->pinned_pages);
		do {
			if (cur + n > rt->pin_limit_pages) {
				err = -ENOMEM;
				goto out_put;
			}
		} while (!atomic_compare_exchange_weak(&rt->pinned_pages, &cur,
						       cur + n));
	}
	err = side->pin(r, e.first, e.first + n, one);
	if (!err) {
		err = table_add(&e, out);
		if (err)
			side->unpin(r, e.first, e.first + n, one);
	}
	if (err) {
		if (longterm)
			atomic_fetch_sub(&rt->pinned_pages, n);
		goto out_put;
	}
	atomic_fetch_add(&r->pins, 1);
	STAT_ADD(rt, pins_acquired, 1);
out_put:
	region_put(r);
	return err;
}

void pin_released(const struct pin_entry *pe)
{
	struct pin_entry e = *pe;
	struct upg_region *r = e.r;
	struct upg_runtime *rt = r->rt;

	if (e.longterm)
		atomic_fetch_sub(&rt->pinned_pages, e.n);
	STAT_ADD(rt, pins_released, 1);
	if (atomic_fetch_sub(&r->pins, 1) == 1)
		futex_wake_all(&r->pins);
}
