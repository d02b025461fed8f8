/* SPDX-License-Identifier: MIT */
/*
 * upg_prefetch(): fault a range in without waiting.  The request goes to
 * the handler threads (an eventfd in their poll set), which fill it like a
 * fault nobody waits for: asynchronously, on their own io_uring queues.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/handles.h"
#include "fault/fault.h"
#include "pin/pin.h"
#include "region/region.h"

/* Pages a handler fills per prefetch step before it looks at faults
 * again: faults must not wait behind a large prefetch. */
#define PREFETCH_STEP 64

int prefetch_range(struct upg_runtime *rt, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, end = a + len;
	uint64_t one = 1;

	while (a < end) {
		struct upg_region *r = region_lookup_get(&rt->self, a);
		struct prefetch_req *req;
		uintptr_t base, stop;

		if (!r) {
			/* Past the managed memory: what was queued still
			 * runs; report the rest. */
			if (a != (uintptr_t)addr &&
			    write(rt->prefetch_efd, &one, sizeof(one)) < 0)
				return -errno;
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
		pthread_mutex_lock(&rt->prefetch_lock);
		*rt->prefetch_tail = req;
		rt->prefetch_tail = &req->next;
		pthread_mutex_unlock(&rt->prefetch_lock);
		a = stop;
	}
	if (write(rt->prefetch_efd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

static struct prefetch_req *pop(struct upg_runtime *rt)
{
	struct prefetch_req *req;

	pthread_mutex_lock(&rt->prefetch_lock);
	req = rt->prefetch_head;
	if (req) {
		rt->prefetch_head = req->next;
		if (!rt->prefetch_head)
			rt->prefetch_tail = &rt->prefetch_head;
	}
	pthread_mutex_unlock(&rt->prefetch_lock);
	return req;
}

/* Put a partly done request back at the head. */
static void push_front(struct upg_runtime *rt, struct prefetch_req *req)
{
	uint64_t one = 1;

	pthread_mutex_lock(&rt->prefetch_lock);
	req->next = rt->prefetch_head;
	rt->prefetch_head = req;
	if (!req->next)
		rt->prefetch_tail = &req->next;
	pthread_mutex_unlock(&rt->prefetch_lock);
	if (write(rt->prefetch_efd, &one, sizeof(one)) != sizeof(one))
		return; /* the counter is already non-zero */
}

void prefetch_run(struct handler *h)
{
	struct upg_runtime *rt = h->rt;
	struct prefetch_req *req = pop(rt);
	struct fill_ctl c = { .fault_pg = UINT64_MAX };
	uint64_t end, filled;

	if (!req)
		return;
	/* More queued behind this one: keep the eventfd readable. */
	pthread_mutex_lock(&rt->prefetch_lock);
	if (rt->prefetch_head) {
		uint64_t one = 1;

		if (write(rt->prefetch_efd, &one, sizeof(one)) != sizeof(one))
			(void)0; /* already non-zero */
	}
	pthread_mutex_unlock(&rt->prefetch_lock);
	end = req->end - req->first > PREFETCH_STEP ?
		      req->first + PREFETCH_STEP :
		      req->end;
	filled = fill_range(&h->q, req->r, req->first, end, &c);
	MM_STAT_ADD(req->r->mm, bytes_faulted_in, filled << rt->page_shift);
	req->first = end;
	if (req->first < req->end) {
		push_front(rt, req);
		return;
	}
	region_put(req->r);
	free(req);
}

void prefetch_drop_region(struct upg_runtime *rt, struct upg_region *r)
{
	struct prefetch_req **pp, *dropped = NULL, *req;

	pthread_mutex_lock(&rt->prefetch_lock);
	pp = &rt->prefetch_head;
	while ((req = *pp)) {
		if (req->r != r) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		req->next = dropped;
		dropped = req;
	}
	rt->prefetch_tail = pp;
	pthread_mutex_unlock(&rt->prefetch_lock);
	while ((req = dropped)) {
		dropped = req->next;
		region_put(req->r);
		free(req);
	}
}

void prefetch_drop_all(struct upg_runtime *rt)
{
	struct prefetch_req *req;

	while ((req = pop(rt))) {
		region_put(req->r);
		free(req);
	}
}
