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

#include "client/client.h"
#include "common/handles.h"
#include "pin/pin.h"
#include "region/region.h"

static size_t copy_nofault(struct upg_runtime *rt, char *dst,
			   const char *src, size_t len, bool to_region)
{
	size_t done = 0;

	if (!handle_live(rt))
		return len;
	/* Daemon mode: through the marks shared with upagerd; a takeover
	 * waits for the copy. */
	pthread_rwlock_rdlock(&rt->takeover_lock);
	if (rt_remote(rt)) {
		done = len - client_copy_nofault(rt, dst, src, len, to_region);
		pthread_rwlock_unlock(&rt->takeover_lock);
		return len - done;
	}
	pthread_rwlock_unlock(&rt->takeover_lock);
	while (done < len) {
		uintptr_t a = (uintptr_t)(to_region ? dst : src) + done;
		struct upg_region *r = region_lookup_get(&rt->self, a);
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
		/* Writes through the alias bypass write-protection: mark the
		 * page dirty in the same CAS that pins it. */
		if (ps_pin(region_page(r, pg), PS_EPIN_ONE,
			   PS_REF | (to_region ? PS_DIRTY : 0)) != 1) {
			region_put(r);
			break;
		}
		alias = region_alias(r, pg) + off;
		if (to_region)
			memcpy(alias, src + done, chunk);
		else
			memcpy(dst + done, alias, chunk);
		ps_unpin(region_page(r, pg), PS_EPIN_ONE);
		region_put(r);
		done += chunk;
	}
	return len - done;
}

UPG_API size_t upg_copy_from_nofault(struct upg_runtime *rt, void *dst,
				     const void *src, size_t len)
{
	return copy_nofault(rt, dst, src, len, false);
}

UPG_API size_t upg_copy_to_nofault(struct upg_runtime *rt, void *dst,
				   const void *src, size_t len)
{
	return copy_nofault(rt, dst, src, len, true);
}
