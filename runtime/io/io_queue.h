/* SPDX-License-Identifier: MIT */
/*
 * io_queue - one io_uring ring owned by one thread.
 *
 * Every thread that moves pages to or from a store (each fault handler
 * thread, the background evictor, an application thread inside flush or
 * unmap) owns a queue, so submission needs no lock and a completion runs
 * on the owner's thread when it reaps.  Stores built on file descriptors
 * queue their requests here through upg_io_queue_fd(); other stores
 * complete requests themselves (upg_io_complete() from any thread).
 *
 * A queue keeps at most as many requests in flight as its completion ring
 * holds, so that the kernel never has to park a completion on its overflow
 * list (an allocation that may fail, and then the completion is lost).
 *
 * Short transfers are finished here: a read or write that moved fewer bytes
 * than asked is resubmitted for the rest; a read that reaches end of file
 * (res == 0) completes with the bytes moved so far; a write that moves
 * nothing completes with -EIO.
 */
#ifndef UPAGER_IO_QUEUE_H
#define UPAGER_IO_QUEUE_H

#include <liburing.h>
#include <stdbool.h>

#include "common/futex.h"
#include "upager.h"

struct upg_io_queue {
	struct io_uring ring;
	unsigned depth;
	unsigned queued;   /* SQEs prepared, not yet submitted */
	unsigned inflight; /* SQEs submitted, CQE not yet reaped */
	int node;          /* NUMA node asked for the ring's memory */
	bool ready;
};

/* io_queue_init_node(): the node of the CPU calling it. */
#define IO_QUEUE_NODE_LOCAL (-1)

/**
 * io_queue_init() - set up a ring of @depth entries for the calling
 * thread, its memory on the thread's node (io_queue_init_node() with
 * IO_QUEUE_NODE_LOCAL; see io_queue.c for why local).
 * Return: 0 or a negative errno from io_uring_queue_init().
 */
int io_queue_init(struct upg_io_queue *q, unsigned depth);

/**
 * io_queue_init_node() - io_queue_init() with the ring's memory preferred
 * on NUMA node @node (IO_QUEUE_NODE_LOCAL: the calling CPU's node).  The
 * calling thread's memory policy is set for the setup and put back after.
 * Return: 0; -EINVAL (bad @depth, or @node not a node of this machine);
 * or a negative errno from io_uring_queue_init().
 */
int io_queue_init_node(struct upg_io_queue *q, unsigned depth, int node);

/**
 * io_queue_ring_node() - the node the ring's memory is on now (its SQ and
 * CQ rings and SQE array, asked with move_pages() in query mode).
 * Return: the node; -EXDEV if they are on different nodes; -EINVAL if @q
 * is not set up; another negative errno from move_pages().
 */
int io_queue_ring_node(const struct upg_io_queue *q);

/**
 * io_queue_fini() - wait for every request in flight, then free the ring.
 */
void io_queue_fini(struct upg_io_queue *q);

/**
 * io_queue_submit() - hand every prepared request to the kernel.
 * Return: 0 or a negative errno.
 */
int io_queue_submit(struct upg_io_queue *q);

/**
 * io_queue_reap() - run the completions that are ready.
 * @wait: if true and requests are in flight but none is complete, wait for
 *        one first.  Submits prepared requests before waiting.
 * Return: number of requests completed (their done() callbacks were run),
 * or a negative errno.
 */
int io_queue_reap(struct upg_io_queue *q, bool wait);

/**
 * io_queue_pending() - requests prepared or in flight.
 */
static inline unsigned io_queue_pending(const struct upg_io_queue *q)
{
	return q->queued + q->inflight;
}

/**
 * io_queue_pollfd() - a descriptor that polls readable when completions
 * are ready (the ring's own fd).
 */
static inline int io_queue_pollfd(const struct upg_io_queue *q)
{
	return q->ring.ring_fd;
}

/*
 * Run by io_queue_wait_counter() on the thread that set it, between short
 * waits for completions that are not on its ring (a store completing on
 * its own threads).  Fault handler threads set it to read userfaultfd
 * events: such a store's thread may be inside an uffd ioctl that fails
 * with -EAGAIN until a pending event (a madvise's REMOVE, say) is read,
 * and if every handler waited for that thread without reading events,
 * nobody would ever read it:
 *
 *   store thread          handlers               evictor
 *                         evict: write victims,
 *                         wait for the store
 *                                                sample zap: REMOVE,
 *                                                waits for a handler
 *   fill done: CONTINUE
 *   -EAGAIN, retry...     (waiting)              (waiting)
 */
extern __thread void (*io_queue_wait_hook)(void *arg);
extern __thread void *io_queue_wait_arg;

/**
 * io_queue_wait_counter() - wait until *@pending, a count of requests the
 * caller started (decremented and futex-woken by their completions), is 0.
 * Reaps @q meanwhile; requests of stores that complete on their own threads
 * are waited for on the futex (running io_queue_wait_hook between waits).
 */
static inline void io_queue_wait_counter(struct upg_io_queue *q,
					 _Atomic uint32_t *pending)
{
	io_queue_submit(q);
	for (;;) {
		uint32_t seq0 = futex_net_begin(pending);
		uint32_t left = atomic_load(pending);

		if (!left)
			return;
		if (io_queue_pending(q)) {
			io_queue_reap(q, true);
		} else if (io_queue_wait_hook) {
			io_queue_wait_hook(io_queue_wait_arg);
			/* Not a net: the hook must run every 1 ms. */
			futex_wait(pending, left, 1000 * 1000);
		} else if (futex_wait_net(pending, left, 10 * 1000 * 1000) &&
			   !atomic_load(pending)) {
			/* The last completion wakes us at 0. */
			futex_net_lost_wakeup(pending, seq0);
		}
	}
}

#endif
