/* SPDX-License-Identifier: MIT */
/*
 * upg_advise(): access hints for a range of a region (docs/readahead.md).
 *
 * NORMAL, RANDOM and SEQUENTIAL are remembered as ranges and read by the
 * read-ahead detector on each fault (readahead/advice.c).  WILLNEED and
 * DONTNEED act at once: WILLNEED hands the range to the handler threads
 * as upg_prefetch() does; DONTNEED writes the range back and clears the
 * REF bit of its resident pages, so that the clock, which takes the first
 * unreferenced resident page it meets, evicts them before any page in use
 * and without a write.  Evicting them there and then would take the whole
 * eviction protocol (notifiers, write-protection, punch) out of
 * evict/evict.c for a range; "first in line" keeps one eviction path.
 *
 * In api/ (the public entry points, above every subsystem): it puts
 * read-ahead advice, writeback and prefetch together, which region/, below
 * them all, cannot.
 */
#include <errno.h>

#include "common/handles.h"
#include "notify/notifier.h"
#include "readahead/readahead.h"
#include "region/region.h"
#include "uffd/uffd.h"
#include "writeback/writeback.h"

/* Clear REF on the resident pages of [first, end). */
static void make_cold(struct upg_region *r, uint64_t first, uint64_t end)
{
	uint64_t pg;

	for (pg = first; pg < end; pg++) {
		_Atomic uint32_t *p = region_page(r, pg);
		uint32_t s = atomic_load(p);

		while (ps_state(s) == PS_RESIDENT && (s & PS_REF) &&
		       !ps_cas(p, &s, s & ~PS_REF))
			;
	}
}

static int advise_dontneed(struct upg_region *r, uint64_t first,
			   uint64_t end)
{
	struct upg_runtime *rt = r->rt;
	struct upg_io_queue *q;
	int err;

	/* A callback or a handler waiting for the writeback of pages whose
	 * faults or invalidations wait for it would deadlock. */
	if (notify_callback_depth || uffd_eagain_hook)
		return -EDEADLK;
	q = runtime_caller_queue(rt);
	err = region_writeback(r, first, end, q);
	runtime_caller_done(rt);
	/* Cold even if a write failed: those pages stay dirty, and eviction
	 * writes them again (or keeps them, on a second failure). */
	make_cold(r, first, end);
	return err;
}

UPG_API int upg_advise(struct upg_region *r, uint64_t offset, uint64_t length,
		       int advice)
{
	struct upg_runtime *rt;
	uint64_t first, end;

	if (!handle_live(r))
		return -EBADF;
	rt = r->rt;
	if (advice < UPG_ADV_NORMAL || advice > UPG_ADV_DONTNEED)
		return -EINVAL;
	if (offset & (rt->page_size - 1) || offset > r->length ||
	    (length && length > r->length - offset))
		return -EINVAL;
	if (r->torn_down)
		return -EBADF;
	if (!length)
		length = r->length - offset;
	first = offset >> rt->page_shift;
	end = rt_pages(rt, offset + length);
	if (first == end)
		return 0;

	switch (advice) {
	case UPG_ADV_WILLNEED:
		/* The application unmapped the range itself: nothing to
		 * make resident for it. */
		if (atomic_load(&r->detached))
			return 0;
		return upg_prefetch(rt, r->addr + offset,
				    (end - first) << rt->page_shift);
	case UPG_ADV_DONTNEED:
		return advise_dontneed(r, first, end);
	default:
		return ra_advice_set(r, first, end, advice);
	}
}
