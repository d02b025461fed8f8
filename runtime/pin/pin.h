/* SPDX-License-Identifier: MIT */
/*
 * pin - what application threads do to managed memory besides touching it:
 * fault ranges in (fault_in.c), pin them (pin.c), copy without faulting
 * (nofault.c), prefetch in the background (prefetch.c).
 */
#ifndef UPAGER_PIN_H
#define UPAGER_PIN_H

#include <stdbool.h>
#include <stdint.h>

struct upg_runtime;
struct upg_region;
struct upg_io_queue;

/**
 * fault_in_pages() - make pages [first, end) of @r resident and mapped in
 * the application; with @write, writable and dirty.
 * Return: 0, or a negative errno (a store read error, -EAGAIN if the pages
 * kept being evicted under a budget too small for them).
 * @q:     the I/O queue to fill with (the thread must own it), or NULL for
 *         the caller I/O queue.
 * Context: no runtime lock held (it may evict on this thread); with a
 * NULL @q an application thread, since it takes the caller queue's lock.
 */
int fault_in_pages(struct upg_io_queue *q, struct upg_region *r,
		   uint64_t first, uint64_t end,
		   bool write);

/*
 * Where a nofault copy (nofault.c) finds and holds the pages: in-process,
 * through the page state words; in an upagerd client, through the marks
 * it shares with the daemon (client/client_pin.c).  Context of every
 * callback: the copying thread, rt->takeover_lock held for reading when
 * the side is the client's.
 *   lookup()  the region at @a with a reference, or NULL;
 *   hold()    hold resident page @pg against eviction with one ephemeral
 *             pin, and with @write mark it dirty in the same step (the
 *             alias bypasses write-protection); false if not resident;
 *   alias()   the page's address in the runtime's alias mapping;
 *   release() drop hold()'s pin.
 */
struct nofault_side {
	struct upg_region *(*lookup)(struct upg_runtime *rt, uintptr_t a);
	bool (*hold)(struct upg_region *r, uint64_t pg, bool write);
	char *(*alias)(struct upg_region *r, uint64_t pg);
	void (*release)(struct upg_region *r, uint64_t pg);
};

/* The first page of [first, end) that is not resident (end if none):
 * where a failed fault-in stopped. */
uint64_t first_absent_page(struct upg_region *r, uint64_t first,
			   uint64_t end);

#endif
