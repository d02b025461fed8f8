/* SPDX-License-Identifier: MIT */
/*
 * The public calls that reach into managed memory from application
 * threads: pins, nofault copies, fault-in, prefetch.  Each checks its
 * handle and its thread, then runs the in-process half (pin/) or, in
 * daemon mode, the client's (client/): for pins and nofault copies the
 * same code with the client's "side" (pin/pin.h), on the marks it shares
 * with upagerd.
 */
#include <errno.h>
#include <pthread.h>

#include "client/client.h"
#include "common/handles.h"
#include "notify/notifier.h"
#include "pin/pin.h"
#include "region/region.h"

/* The pins' side of @rt.  Context: rt->takeover_lock held for reading, so
 * that a takeover does not move the pins from the marks to the state
 * words under the caller. */
static const struct pin_side *pin_side(struct upg_runtime *rt)
{
	return rt_remote(rt) ? &client_pin_side : &pin_local_side;
}

static int pin_common(struct upg_runtime *rt, void *addr, size_t len,
		      bool longterm, struct upg_pin **out)
{
	uintptr_t a = (uintptr_t)addr;
	int err;

	if (!handle_live(rt))
		return -EBADF;
	if (!out || !len || a + len < a)
		return -EINVAL;
	if (notify_callback_depth)
		return -EDEADLK;
	pthread_rwlock_rdlock(&rt->takeover_lock);
	err = pin_range(rt, pin_side(rt), addr, len, longterm, out);
	pthread_rwlock_unlock(&rt->takeover_lock);
	return err;
}

UPG_API int upg_pin(struct upg_runtime *rt, void *addr, size_t len,
		    struct upg_pin **out)
{
	return pin_common(rt, addr, len, true, out);
}

UPG_API int upg_pin_ephemeral(struct upg_runtime *rt, void *addr, size_t len,
			      struct upg_pin **out)
{
	return pin_common(rt, addr, len, false, out);
}

UPG_API int upg_unpin(struct upg_pin *pin)
{
	struct pin_entry e;
	struct upg_runtime *rt;

	if (!pin_take(pin, &e))
		return -EINVAL;
	rt = e.r->rt;
	/* Daemon mode keeps the pins in the marks shared with upagerd; a
	 * takeover moves them to the state words. */
	pthread_rwlock_rdlock(&rt->takeover_lock);
	pin_side(rt)->unpin(e.r, e.first, e.first + e.n,
			    e.longterm ? PS_LPIN_ONE : PS_EPIN_ONE);
	pthread_rwlock_unlock(&rt->takeover_lock);
	pin_released(&e);
	return 0;
}

/*
 * No lock on the in-process path: the nofault copies are made from every
 * thread of an application, often under its own locks, and must not
 * contend on anything process-wide (issue 16).  The handle check is
 * lock-free (common/handles.c); the region lookup takes a reference
 * under the read side of the region table's lock; the page is held by a
 * CAS on its state word.
 *
 * Why rt_remote() may be read without rt->takeover_lock: served_remotely
 * only ever goes from true to false (a runtime created in-process is
 * never served by upagerd; a client whose daemon died services its
 * regions itself for good), and the takeover stores false (seq_cst) last,
 * after it rebuilt every region's state words, under the write side of
 * takeover_lock.  A load that reads false therefore synchronises with
 * that store and sees the regions as the takeover left them: the copy
 * needs nothing more.  A load that reads true must take the read side
 * (the copy works on the shared marks, which a takeover moves) and look
 * again, since the takeover may have finished in between.
 */
static size_t copy_nofault(struct upg_runtime *rt, char *dst,
			   const char *src, size_t len, bool to_region)
{
	size_t left;

	if (!handle_live(rt))
		return len;
	if (rt_remote(rt)) {
		pthread_rwlock_rdlock(&rt->takeover_lock);
		if (rt_remote(rt)) {
			left = nofault_copy(rt, &client_nofault_side, dst,
					    src, len, to_region);
			pthread_rwlock_unlock(&rt->takeover_lock);
			return left;
		}
		pthread_rwlock_unlock(&rt->takeover_lock);
	}
	return nofault_copy(rt, &nofault_local_side, dst, src, len,
			    to_region);
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

static size_t fault_in(struct upg_runtime *rt, const void *addr, size_t len,
		       bool write)
{
	uintptr_t a = (uintptr_t)addr;

	if (!handle_live(rt) || !len || a + len < a || notify_callback_depth)
		return len;
	if (rt_remote(rt))
		return client_fault_in(rt, addr, len, write, false);
	return fault_in_range(rt, addr, len, write);
}

UPG_API size_t upg_fault_in_readable(struct upg_runtime *rt, const void *addr,
				     size_t len)
{
	return fault_in(rt, addr, len, false);
}

UPG_API size_t upg_fault_in_writeable(struct upg_runtime *rt, void *addr,
				      size_t len)
{
	return fault_in(rt, addr, len, true);
}

UPG_API int upg_prefetch(struct upg_runtime *rt, const void *addr,
			 size_t len)
{
	uintptr_t a = (uintptr_t)addr;

	if (!handle_live(rt))
		return -EBADF;
	if (!len || a + len < a)
		return -EINVAL;
	if (rt_remote(rt))
		return client_fault_in(rt, addr, len, false, true) == len ?
			       -EFAULT :
			       0;
	return prefetch_range(rt, addr, len);
}
