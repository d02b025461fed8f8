/* SPDX-License-Identifier: MIT */
/*
 * upg_prefetch(): fault a range in without waiting.  The request goes to
 * the handler threads (an eventfd in their poll set), which fill it like a
 * fault nobody waits for: asynchronously, on their own io_uring queues
 * (the queue: fault/prefetch.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/handles.h"
#include "fault/prefetch.h"
#include "pin/pin.h"
#include "region/region.h"

int prefetch_range(struct upg_runtime *rt, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, end = a + len;

	while (a < end) {
		struct upg_region *r = region_lookup_get(&rt->self, a);
		struct prefetch_req *req;
		uintptr_t base, stop;

		if (!r) {
			/* Past the managed memory: what was queued still
			 * runs; report the rest. */
			if (a != (uintptr_t)addr) {
				int err = prefetch_queue_kick(rt);

				if (err)
					return err;
			}
			return -EFAULT;
		}
		base = (uintptr_t)r->addr;
		stop = end < base + r->map_len ? end : base + r->map_len;
		req = malloc(sizeof(*req));
		if (!req) {
			region_put(r);
			return -ENOMEM;
		}
		*req = (struct prefetch_req){
			r, (a - base) >> rt->page_shift,
			rt_pages(rt, stop - base), NULL };
		prefetch_queue_push(rt, req);
		a = stop;
	}
	return prefetch_queue_kick(rt);
}
