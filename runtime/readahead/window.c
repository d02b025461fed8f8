/* SPDX-License-Identifier: MIT */
/*
 * Counting the read-ahead pages a stream used.  (Reading a window is
 * fault/'s: fill_readahead(), fault/readahead_fill.c, carries out the
 * plan this folder makes; the comment below says how.)
 *
 * A window's elements are merged into contiguous page ranges and each
 * range goes to fill_range() with the read-ahead control: it claims only
 * the ABSENT pages that need a read (resident pages, pages being filled
 * and pages that hold no data are left alone), reserves their budget,
 * queues one read per contiguous run on the handler's io_uring (sent with
 * the fault's own read, in one submission), and maps the pages as they
 * complete, all but the trigger page.  The ranges go in the stream's
 * direction: a read-ahead gets only the room the budget has free or can
 * make without overshooting (and under upagerd's fair shares only what
 * clients at or above their share can give), and a window cut short
 * keeps the part next to the stream (and its trigger page); the detector
 * is told where it now ends (readahead_cut()).
 *
 * Use of a read-ahead page is seen directly only on its trigger page (a
 * minor fault) or when the application writes it (a WP fault): the other
 * pages are mapped and raise no fault.  So when a stream reaches a window,
 * the pages of the windows it passed count as used.  A passed page that
 * is ABSENT but still marked was evicted after the stream went by (had it
 * been evicted before, the stream's fault on it would have claimed it and
 * counted it as waste), so it counts as used too, and loses its marker.
 */
#include "readahead/readahead.h"
#include "region/region.h"

/* Clear the marker of the pages of @w; return how many had it.  A page
 * being filled keeps it: it may be a trigger page whose fault must park
 * (fault/resolve.c). */
static uint64_t clear_used(struct upg_region *r, const struct ra_window *w)
{
	unsigned unit = r->fill_pages;
	uint64_t used = 0, pg, e;
	uint32_t k;

	for (k = 1; k <= w->n; k++) {
		e = ra_element(w, k, unit, r->npages);
		if (e == RA_NONE)
			break;
		for (pg = e; pg < e + unit && pg < r->npages; pg++) {
			_Atomic uint32_t *p = region_page(r, pg);
			uint32_t s = atomic_load(p);

			while ((s & PS_READAHEAD) &&
			       ps_state(s) != PS_FILLING) {
				if (ps_cas(p, &s, s & ~PS_READAHEAD)) {
					used++;
					break;
				}
			}
		}
	}
	return used;
}

void readahead_note_used(struct upg_region *r, const struct ra_plan *plan)
{
	uint64_t used;

	used = clear_used(r, &plan->used[0]) + clear_used(r, &plan->used[1]);
	if (used)
		MM_STAT_ADD(r->mm, ra_pages_used, used);
}
