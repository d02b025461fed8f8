/* SPDX-License-Identifier: MIT */
/*
 * Carrying out a read-ahead plan (readahead/ makes it: readahead_on_miss(),
 * readahead_on_use()): the window's elements are merged into contiguous
 * page ranges, in the stream's direction, and each range goes to
 * fill_range() with the read-ahead control.  A range the budget cuts
 * short ends the window there: readahead_cut() tells the detector.
 * readahead/window.c has the whole story.
 */
#include "fault/fault.h"
#include "readahead/readahead.h"
#include "region/region.h"

/* Fill [a, b) of @plan's window; false if the budget cut it short (fair
 * shares, busy pages: fault/fill.c): the stream is told where its window now ends and
 * nothing more of it is read. */
static bool fill_part(struct upg_io_queue *q, struct upg_region *r,
		      const struct ra_plan *plan, uint64_t a, uint64_t b,
		      const struct fill_ctl *c)
{
	uint64_t u;
	uint32_t k;

	*c->cut = RA_NONE;
	fill_range(q, r, a, b, c);
	if (*c->cut == RA_NONE)
		return true;
	u = *c->cut & ~(uint64_t)(r->fill_pages - 1);
	for (k = 1; k <= plan->w.n; k++)
		if (ra_element(&plan->w, k, r->fill_pages, r->npages) == u)
			break;
	readahead_cut(r, plan, k - 1);
	return false;
}

void fill_readahead(struct upg_io_queue *q, struct upg_region *r,
		    const struct ra_plan *plan)
{
	uint64_t cut;
	struct fill_ctl c = { .fault_pg = UINT64_MAX, .readahead = true,
			      .trigger_pg = plan->trigger,
			      .down = plan->w.step < 0, .cut = &cut };
	unsigned unit = r->fill_pages;
	uint64_t a = 0, b = 0;
	uint32_t k;

	readahead_note_used(r, plan);
	if (!plan->issue)
		return;
	/* Merge the elements into contiguous ranges [a, b), in the stream's
	 * direction (up or down): each range is read after the ones nearer
	 * the stream, so a window the budget cuts short keeps its start. */
	for (k = 1; k <= plan->w.n; k++) {
		uint64_t e = ra_element(&plan->w, k, unit, r->npages);
		uint64_t end;

		if (e == RA_NONE)
			break;
		end = e + unit < r->npages ? e + unit : r->npages;
		if (a == b) {
			a = e;
			b = end;
		} else if (e == b) {
			b = end;
		} else if (end == a) {
			a = e;
		} else {
			if (!fill_part(q, r, plan, a, b, &c))
				return;
			a = e;
			b = end;
		}
	}
	if (a < b)
		fill_part(q, r, plan, a, b, &c);
}
