/* SPDX-License-Identifier: MIT */
/*
 * The prefetch queue (prefetch.h): requests that upg_prefetch() queued,
 * run by the handler threads a step at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault/fault.h"
#include "fault/prefetch.h"
#include "region/region.h"

/* Pages a handler fills per prefetch step before it looks at faults
 * again: faults must not wait behind a large prefetch. */
#define PREFETCH_STEP 64

void prefetch_queue_push(struct upg_runtime *rt, struct prefetch_req *req)
{
	pthread_mutex_lock(&rt->prefetch->lock);
	*rt->prefetch->tail = req;
	rt->prefetch->tail = &req->next;
	pthread_mutex_unlock(&rt->prefetch->lock);
}

int prefetch_queue_kick(struct upg_runtime *rt)
{
	uint64_t one = 1;

	if (write(rt->prefetch->efd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

static struct prefetch_req *pop(struct upg_runtime *rt)
{
	struct prefetch_req *req;

	pthread_mutex_lock(&rt->prefetch->lock);
	req = rt->prefetch->head;
	if (req) {
		rt->prefetch->head = req->next;
		if (!rt->prefetch->head)
			rt->prefetch->tail = &rt->prefetch->head;
	}
	pthread_mutex_unlock(&rt->prefetch->lock);
	return req;
}

/* Put a partly done request back at the head. */
static void push_front(struct upg_runtime *rt, struct prefetch_req *req)
{
	uint64_t one = 1;

	pthread_mutex_lock(&rt->prefetch->lock);
	req->next = rt->prefetch->head;
	rt->prefetch->head = req;
	if (!req->next)
		rt->prefetch->tail = &req->next;
	pthread_mutex_unlock(&rt->prefetch->lock);
	if (write(rt->prefetch->efd, &one, sizeof(one)) != sizeof(one))
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
	pthread_mutex_lock(&rt->prefetch->lock);
	if (rt->prefetch->head) {
		uint64_t one = 1;

		if (write(rt->prefetch->efd, &one, sizeof(one)) != sizeof(one))
			(void)0; /* already non-zero */
	}
	pthread_mutex_unlock(&rt->prefetch->lock);
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

	pthread_mutex_lock(&rt->prefetch->lock);
	pp = &rt->prefetch->head;
	while ((req = *pp)) {
		if (req->r != r) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		req->next = dropped;
		dropped = req;
	}
	rt->prefetch->tail = pp;
	pthread_mutex_unlock(&rt->prefetch->lock);
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
