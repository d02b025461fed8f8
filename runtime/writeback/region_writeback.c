/* SPDX-License-Identifier: MIT */
/*
 * Writing back a range of a region without evicting it (flush, unmap).
 *
 * For each dirty page: clear DIRTY and set WRITEBACK in one CAS, then
 * write-protect, then copy from the alias.  Clearing DIRTY *before* the
 * protection is what keeps writes safe:
 *
 *   flush                          application
 *   CAS DIRTY -> WRITEBACK
 *                                  write lands (page still writable)
 *   write-protect
 *                                  write: WP fault -> DIRTY again
 *   copy alias -> store            (copy holds the first write; the
 *                                   second is dirty, written next time)
 *
 * Had DIRTY been cleared after the protection, a WP fault in between would
 * set DIRTY and the clear would drop it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "fork/fork.h"
#include "region/marks.h"
#include "region/region.h"
#include "writeback/writeback.h"

#define WB_BATCH 1024

/*
 * Claim page @pg for writeback if dirty.  Waits out a page in transition
 * (locked for an instant, being evicted or written by another flusher):
 * when we return, anything dirty before the call is claimed or has been
 * written by someone else.
 */
static bool claim_dirty(struct upg_region *r, uint64_t pg, bool *pinned)
{
	_Atomic uint32_t *p = region_page(r, pg);
	uint32_t s = atomic_load(p), m;

	for (;;) {
		uint32_t st = ps_state(s);

		/* FILLING too: its CONTINUE may have let a write land before
		 * RESIDENT | DIRTY is published. */
		if (st == PS_EVICTING || st == PS_FILLING ||
		    (st == PS_RESIDENT && (s & (PS_LOCK | PS_WRITEBACK)))) {
			ps_wait(p, s);
			s = atomic_load(p);
			continue;
		}
		if (st != PS_RESIDENT)
			return false;
		m = r->fill_marks ? atomic_load(&r->fill_marks[pg]) : 0;
		/* upagerd: written through the client's alias (marks.h).
		 * Unpinned, no such write is in flight: make it ours before
		 * the page is read, so a later one sets the mark again. */
		if ((m & MARK_DIRTY) && !(m & MARK_PIN_MASK)) {
			atomic_fetch_or(p, PS_DIRTY);
			mark_clear(&r->fill_marks[pg], MARK_DIRTY);
			s = atomic_load(p);
			continue;
		}
		if (!(s & PS_DIRTY) && !(m & MARK_DIRTY))
			return false;
		/* A pinned page stays mapped writable (pins raise no fault,
		 * docs/pins.md) or is written through the alias by a nofault
		 * copy under an ephemeral pin: write it back but keep it
		 * dirty, since writes may land during and after the copy
		 * unseen. */
		*pinned = (s & PS_PIN_MASK) || (m & MARK_PIN_MASK);
		if (ps_cas(p, &s,
			   (*pinned ? s | PS_DIRTY : s & ~PS_DIRTY) |
				   PS_WRITEBACK))
			return true;
	}
}

static void finish(struct upg_region *r, struct wb_page *w)
{
	_Atomic uint32_t *p = region_page(r, w->pg);
	uint32_t s = atomic_load(p), new;

	do {
		new = s & ~(PS_WRITEBACK | PS_WAITERS);
		if (w->err)
			new |= PS_DIRTY;
		else
			new |= PS_HAS_DATA;
	} while (!ps_cas(p, &s, new));
	atomic_fetch_add_explicit(w->err ? &r->n_errors : &r->n_written, 1,
				  memory_order_relaxed);
	ps_wake(p, s);
}

static int write_batch(struct upg_region *r, struct wb_page *w, size_t n,
		       struct upg_io_queue *q)
{
	struct upg_runtime *rt = r->rt;
	uint64_t first, last;
	size_t i = 0, j;
	int ret = 0;

	/* Protect each contiguous run so that later writes fault (pinned
	 * pages excepted: they stay dirty). */
	while (i < n) {
		int err;

		if (w[i].keep_dirty) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && w[j].pg == w[j - 1].pg + 1 &&
				!w[j].keep_dirty;
		     j++)
			;
		/* A hugetlb region is protected by whole huge pages (the
		 * kernel refuses less).  Pages of the unit not being written
		 * stay dirty: protected, their next write faults and is
		 * seen, so nothing is lost; pinned ones included, which then
		 * take that one fault (docs in upager.h). */
		first = region_unit_first(r, w[i].pg);
		last = region_unit_first(r, w[j - 1].pg) +
		       region_unit_pages(r);
		err = region_writeprotect(r, first, last - first);
		if (err == -EAGAIN) {
			/* Perhaps writable at an address not known yet (an
			 * mremap in flight): written, but kept dirty, as a
			 * pinned page is. */
			for (; i < j; i++)
				atomic_fetch_or(region_page(r, w[i].pg),
						PS_DIRTY);
			continue;
		}
		if (err) {
			/* Unprotected pages cannot be cleaned safely: keep
			 * them dirty and report. */
			rt_err(rt, "write-protect for writeback: %s",
			       strerror(-err));
			for (; i < j; i++)
				w[i].err = err;
		}
		i = j;
	}
	/* Fork children's mappings, whatever the parent's state: after an
	 * unmap their writes must fault (and get SIGBUS), not be lost. */
	for (i = 0; i < n && r->rt->fork->enabled;) {
		int err;

		if (w[i].keep_dirty || w[i].err) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && w[j].pg == w[j - 1].pg + 1 &&
				!w[j].keep_dirty && !w[j].err;
		     j++)
			;
		err = views_writeprotect(r, w[i].pg, j - i);
		for (; err && i < j; i++)
			w[i].err = err;
		i = j;
	}
	for (i = 0, j = 0; i < n; i++) {
		if (!w[i].err) {
			w[j++] = w[i];
			continue;
		}
		ret = ret ? ret : w[i].err;
		finish(r, &w[i]); /* dirty again, not written */
	}
	write_pages(q, w, j);
	for (i = 0; i < j; i++) {
		if (w[i].err && !ret)
			ret = w[i].err;
		if (w[i].err)
			region_record_error(r, w[i].err);
		finish(r, &w[i]);
	}
	return ret;
}

int region_writeback(struct upg_region *r, uint64_t first, uint64_t end,
		     struct upg_io_queue *q)
{
	struct wb_page *w = malloc(WB_BATCH * sizeof(*w));
	size_t n = 0;
	uint64_t pg;
	int ret = 0, err;

	if (!w)
		return -ENOMEM;
	for (pg = first; pg < end; pg++) {
		bool pinned = false;

		if (!claim_dirty(r, pg, &pinned))
			continue;
		w[n++] = (struct wb_page){ r, pg, 0, pinned };
		if (n == WB_BATCH) {
			err = write_batch(r, w, n, q);
			ret = ret ? ret : err;
			n = 0;
		}
	}
	if (n) {
		err = write_batch(r, w, n, q);
		ret = ret ? ret : err;
	}
	free(w);
	return ret;
}
