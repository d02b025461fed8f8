/* SPDX-License-Identifier: MIT */
/*
 * prefetch - the queue of prefetch requests that the handler threads run
 * (upg_prefetch(), pin/prefetch.c, fills it).  The handlers poll its
 * eventfd and fill each request like a fault nobody waits for.
 */
#ifndef UPAGER_PREFETCH_H
#define UPAGER_PREFETCH_H

#include <pthread.h>
#include <stdint.h>

struct upg_runtime;
struct upg_region;
struct handler;

struct prefetch_req {
	struct upg_region *r; /* with a reference */
	uint64_t first, end;
	struct prefetch_req *next;
};

/* The queue (rt->prefetch). */
struct prefetch_queue {
	pthread_mutex_t lock;
	struct prefetch_req *head, **tail;
	int efd; /* readable while requests are queued */
};

/**
 * prefetch_queue_push() - queue @req (its region reference goes with it)
 * at the tail; the handlers are not woken: prefetch_queue_kick() does.
 * Context: any thread; takes the queue's lock.
 */
void prefetch_queue_push(struct upg_runtime *rt, struct prefetch_req *req);

/**
 * prefetch_queue_kick() - make the queue's eventfd readable, so that a
 * handler runs what is queued.
 * Return: 0, or the negative errno of the eventfd write.
 * Context: any thread.
 */
int prefetch_queue_kick(struct upg_runtime *rt);

/**
 * prefetch_run() - run a step of the first queued prefetch request.
 * @h: the handler, whose I/O queue fills it.
 * Context: handler thread @h, no runtime lock held.
 */
void prefetch_run(struct handler *h);

/**
 * prefetch_drop_all() - drop every queued request (destroy).
 * prefetch_drop_region() - drop the queued requests of region @r (unmap).
 * Context: any thread; takes the queue's lock.
 */
void prefetch_drop_all(struct upg_runtime *rt);
void prefetch_drop_region(struct upg_runtime *rt, struct upg_region *r);

#endif
