/* SPDX-License-Identifier: MIT */
/*
 * fault - the handler threads: read userfaultfd messages, resolve page
 * faults (fault/resolve.c), start fills (fault/fill.c) and complete them
 * when their store I/O finishes on the thread's own io_uring queue.
 */
#ifndef UPAGER_FAULT_H
#define UPAGER_FAULT_H

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdbool.h>

#include "core/runtime.h"
#include "io/io_queue.h"

struct upg_region;

#define HANDLER_MSG_BATCH 64
#define HANDLER_BACKLOG 256

struct handler {
	struct upg_runtime *rt;
	pthread_t thread;
	struct upg_io_queue q;
	/* Page faults read while draining events (see drain_events()): they
	 * are handled from the main loop, in order. */
	struct uffd_msg backlog[HANDLER_BACKLOG];
	unsigned backlog_head, backlog_len;
	bool started;
};

int handlers_start(struct upg_runtime *rt);
void handlers_stop(struct upg_runtime *rt);

/**
 * fault_resolve() - act on one page fault message.
 * Context: handler thread @h.
 */
void fault_resolve(struct handler *h, const struct uffd_msg *msg);

/**
 * fill_start() - make the fill unit around page @pg of @r resident, for a
 * MISSING fault at @pg (@write: the fault was a write).  Reserves budget
 * (evicting synchronously if it must), claims the absent pages, and starts
 * their store reads or zero-fills.  Resolution completes asynchronously.
 * @tid: faulting thread (0 if unknown), for error delivery.
 * Context: handler thread @h.
 */
void fill_start(struct handler *h, struct upg_region *r, uint64_t pg,
		bool write, pid_t tid);

/**
 * fill_refill() - a page the table calls resident is gone from the memfd
 * (the application punched it): read it again in place.
 */
void fill_refill(struct handler *h, struct upg_region *r, uint64_t pg,
		 bool write, pid_t tid);

#endif
