/* SPDX-License-Identifier: MIT */
/*
 * Copies that never fault and never wait for I/O: each page is held with
 * an ephemeral pin for the copy (so eviction cannot take it meanwhile) and
 * copied through the alias mapping, which is not registered with
 * userfaultfd and holds the page (the state word says so).  Copying
 * through the application address could raise a minor fault on a page the
 * clock zapped; the alias cannot.
 */
#include <string.h>
#include <sys/mman.h>

#include "common/handles.h"
#include "pin/pin.h"
#include "region/region.h"

/* In-process: the page state word holds the page. */
static struct upg_region *local_lookup(struct upg_runtime *rt, uintptr_t a)
{
	return region_lookup_get(&rt->self, a);
}

static bool local_hold(struct upg_region *r, uint64_t pg, bool write)
{
	/* Writes through the alias bypass write-protection: mark the page
	 * dirty in the same CAS that pins it. */
	return ps_pin(region_page(r, pg), PS_EPIN_ONE,
		      PS_REF | (write ? PS_DIRTY : 0)) == 1;
}

static char *local_alias(struct upg_region *r, uint64_t pg)
{
	return region_alias(r, pg);
}

static void local_release(struct upg_region *r, uint64_t pg)
{
	ps_unpin(region_page(r, pg), PS_EPIN_ONE);
}

const struct nofault_side nofault_local_side = {
	.lookup = local_lookup,
	.hold = local_hold,
	.alias = local_alias,
	.release = local_release,
};

size_t nofault_copy(struct upg_runtime *rt, const struct nofault_side *side,
		    char *dst, const char *src, size_t len, bool to_region)
{
	size_t done = 0;

	while (done < len) {
		uintptr_t a = (uintptr_t)(to_region ? dst : src) + done;
		struct upg_region *r = side->lookup(rt, a);
		size_t off, chunk;
		uint64_t pg;
		char *alias;

		if (!r)
			break;
		pg = (a - (uintptr_t)r->addr) >> rt->page_shift;
		off = (a - (uintptr_t)r->addr) & (rt->page_size - 1);
		chunk = rt->page_size - off;
		if (chunk > len - done)
			chunk = len - done;
		/* The alias is writable whatever the region's protection:
		 * a read-only region is not written through it, as the
		 * kernel's copy_to_user_nofault() fails on one. */
		if ((to_region && !(r->prot & PROT_WRITE)) ||
		    !side->hold(r, pg, to_region)) {
			region_put(r);
			break;
		}
		alias = side->alias(r, pg) + off;
		if (to_region)
			memcpy(alias, src + done, chunk);
		else
			memcpy(dst + done, alias, chunk);
		side->release(r, pg);
		region_put(r);
		done += chunk;
	}
	return len - done;
}
