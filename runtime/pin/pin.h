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
struct upg_pin;

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
 * The public calls upg_pin(), upg_unpin(), the nofault copies, fault-in and
 * prefetch have their entry points in runtime/api/, which checks the
 * handle and the thread and picks in-process or daemon mode; what is here
 * is their in-process half, and the generic parts that both modes share
 * through a "side" (the in-process side works on the page state words; a
 * daemon-mode client brings its own side, on the marks it shares with
 * upagerd).
 */

/*
 * Where a nofault copy (nofault.c) finds and holds the pages.  Context of
 * every callback: the copying thread (the caller keeps the side valid:
 * api/ holds rt->takeover_lock for reading around a daemon-mode side).
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

/* The in-process side: the page state words. */
extern const struct nofault_side nofault_local_side;

/**
 * nofault_copy() - copy @len bytes page by page, through @side, while each
 * page of the region end (@dst if @to_region, else @src) is resident and
 * (@to_region) writable; never faults, never waits for I/O.
 * Return: the bytes not copied (from the first page that is not resident
 * or not in a region, to the end).
 * Context: any application thread, no runtime lock needed.
 */
size_t nofault_copy(struct upg_runtime *rt, const struct nofault_side *side,
		    char *dst, const char *src, size_t len, bool to_region);

/*
 * Where a pin (pin.c) finds and pins the pages.  Context of every
 * callback: the pinning or unpinning thread (the caller keeps the side
 * valid, as for struct nofault_side).
 *   lookup()  the region at @a with a reference, or NULL;
 *   pin()     fault in and pin pages [first, end) of @r, @one each
 *             (PS_LPIN_ONE or PS_EPIN_ONE, the same bits in the marks):
 *             all or none; 0 or a negative errno;
 *   unpin()   drop those pins.
 */
struct pin_side {
	struct upg_region *(*lookup)(struct upg_runtime *rt, uintptr_t a);
	int (*pin)(struct upg_region *r, uint64_t first, uint64_t end,
		   uint32_t one);
	void (*unpin)(struct upg_region *r, uint64_t first, uint64_t end,
		      uint32_t one);
};

/* The in-process side: pins in the page state words. */
extern const struct pin_side pin_local_side;

/* A live pin: what its handle (struct upg_pin *) stands for. */
struct pin_entry {
	struct upg_region *r;
	uint64_t first, n;
	uint32_t gen;
	bool longterm, used;
};

/**
 * pin_range() - pin [@addr, @addr + @len) (checked non-empty, no
 * overflow) through @side: counted against rt->pin_limit_pages if
 * @longterm, entered in the table of pin handles.
 * Return: 0 with *@out set; -EFAULT (not managed memory), -EINVAL (the
 * range spans regions), -ENOMEM (pin limit, or no memory), or the side's
 * pin() error; on error nothing is pinned.
 * Context: an application thread, not a notifier callback.
 */
int pin_range(struct upg_runtime *rt, const struct pin_side *side,
	      void *addr, size_t len, bool longterm, struct upg_pin **out);

/**
 * pin_take() - remove pin handle @h from the table into @out.
 * Return: false if @h is not a live pin (a stale, double or forged
 * handle).  Context: any thread.
 */
bool pin_take(struct upg_pin *h, struct pin_entry *out);

/**
 * pin_released() - account for the pin of @e, which its side has dropped
 * (pin limit, stats, the region's count of pins, which unmap waits on).
 * Context: any thread.
 */
void pin_released(const struct pin_entry *e);

/**
 * fault_in_range() - upg_fault_in_readable()/upg_fault_in_writeable() in
 * this process: fault in [@addr, @addr + @len) (checked) region by region.
 * Return: the bytes not faulted in, from the first page that is not in.
 * Context: an application thread, not a notifier callback.
 */
size_t fault_in_range(struct upg_runtime *rt, const void *addr, size_t len,
		      bool write);

/**
 * prefetch_range() - upg_prefetch() in this process: queue
 * [@addr, @addr + @len) (checked) for the handler threads.
 * Return: 0; -EFAULT (part of the range is not managed memory: what
 * precedes it is queued), -ENOMEM, or the eventfd's errno.
 * Context: an application thread.
 */
int prefetch_range(struct upg_runtime *rt, const void *addr, size_t len);

/* The first page of [first, end) that is not resident (end if none):
 * where a failed fault-in stopped. */
uint64_t first_absent_page(struct upg_region *r, uint64_t first,
			   uint64_t end);

#endif
