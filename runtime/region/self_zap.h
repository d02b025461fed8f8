/* SPDX-License-Identifier: MIT */
/*
 * self_zap - the runtime's own MADV_DONTNEED of application pages, and
 * how the REMOVE events it raises are told from the application's.
 *
 * The evictor (evict/clock.c, evict/unpoison.c) zaps; the handler threads
 * (fault/handler.c) and the REMOVE event handling (region/discard.c)
 * compare.  All of them are at or above region/, so the ring lives here.
 */
#ifndef UPAGER_SELF_ZAP_H
#define UPAGER_SELF_ZAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct upg_runtime;

/*
 * The ranges the evictor zapped last: their REMOVE events are ours, not
 * the application's (region/discard.c).  A ring, not one slot: madvise()
 * returns once the event is read, possibly before the handler that read
 * it has compared it.
 */
#define SELF_ZAP_RING 16

struct self_zap_ring {
	struct {
		_Atomic uintptr_t start, end;
	} slot[SELF_ZAP_RING];
	unsigned next; /* evictor thread only */
};

/**
 * self_zap() - drop the application's PTEs of [addr, addr+len) of a
 * region (MADV_DONTNEED: shared memory keeps the data), marked as the
 * runtime's own so that its REMOVE event is ignored.
 * @rt:   the runtime; @addr, @len: the range (page aligned).
 * Return: 0, or the negative errno of madvise().
 * Context: the evictor thread only (the event blocks the caller until a
 * handler reads it; the last SELF_ZAP_RING ranges are remembered).
 */
int self_zap(struct upg_runtime *rt, uintptr_t addr, size_t len);

/**
 * is_self_zap() - was [start, end) one of the evictor's recent zaps?
 * @rt: the runtime; @start, @end: the range of a REMOVE event.
 * Return: true if it was (the event is the runtime's own).
 * Context: any thread; reads atomics only.
 */
bool is_self_zap(struct upg_runtime *rt, uintptr_t start, uintptr_t end);

#endif
