/* SPDX-License-Identifier: MIT */
/*
 * upagerd honours what its clients record in the shared marks
 * (region/marks.h): pins keep a page resident, writes through the
 * client's alias make it dirty, and a watched page's eviction is
 * announced to the client's interval notifiers.
 *
 * The marks are the client's to write, so nothing read here is trusted
 * beyond that client's own pages.  An honest client pins at most
 * mm->pin_allow pages (its library enforces it, docs/daemon.md); the clock
 * visits each page at most three times a pass, so a pass that skips more
 * than three times the allowance of one client's pinned pages meets a
 * client that lies, and stops honouring its pins for the rest of the pass
 * (its pages are written back as usual: it loses residency, never data).
 */
#include "common/log.h"
#include "daemon/daemon.h"
#include "evict/evict.h"
#include "region/marks.h"
#include "region/region.h"

static bool over_allowance(const struct upg_mm *mm)
{
	return mm->pin_skips > 3 * mm->pin_allow + 3;
}

void client_marks_pass_start(struct upg_runtime *rt)
{
	size_t i;

	for (i = 0; i < rt->nr_regions; i++)
		rt->regions[i]->mm->pin_skips = 0;
}

bool client_marks_skip(struct upg_region *r, uint64_t pg)
{
	struct upg_mm *mm = r->mm;

	if (!r->fill_marks ||
	    !(atomic_load_explicit(&r->fill_marks[pg], memory_order_relaxed) &
	      MARK_PIN_MASK))
		return false;
	if (over_allowance(mm)) {
		if (!mm->pin_warned)
			rt_warn(r->rt, "a client keeps more pages pinned than "
				       "its allowance of %llu: its pins are "
				       "not honoured while memory is short",
				(unsigned long long)mm->pin_allow);
		mm->pin_warned = true;
		return false;
	}
	mm->pin_skips++;
	return true;
}

void client_marks_claim(struct victim *v, size_t n, bool *ok)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct upg_region *r = v[i].r;
		_Atomic uint32_t *m;
		uint32_t old;

		if (!r->fill_marks)
			continue;
		m = &r->fill_marks[v[i].pg];
		/* From here a pin finds the page not resident; a pin that came
		 * first is in @old (marks.h). */
		old = atomic_fetch_and(m, ~MARK_RESIDENT);
		if ((old & MARK_PIN_MASK) && !over_allowance(r->mm)) {
			ok[i] = false; /* back to RESIDENT at the end */
			continue;
		}
		/* Written through the client's alias: no pin is held any
		 * more, so no write is in flight; the mark is cleared before
		 * the page is read for writeback. */
		if (old & MARK_DIRTY) {
			atomic_fetch_or(region_page(r, v[i].pg), PS_DIRTY);
			mark_clear(m, MARK_DIRTY);
		}
		v[i].watched = old & MARK_WATCHED;
	}
}

void region_marks_forget_client(struct upg_region *r)
{
	uint64_t pg;

	for (pg = 0; r->fill_marks && pg < r->npages; pg++)
		mark_clear(&r->fill_marks[pg], MARK_PIN_MASK | MARK_WATCHED);
}
