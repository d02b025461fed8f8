/* SPDX-License-Identifier: MIT */
/*
 * Reading a window, and counting the read-ahead pages a stream used.
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
#include "fault/fault.h"
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

void readahead_run(struct upg_io_queue *q, struct upg_region *r,
		   const struct ra_plan *plan)
{
	uint64_t cut;
	struct fill_ctl c = { .fault_pg = UINT64_MAX, .readahead = true,
			      .trigger_pg = plan->trigger,
			      .down = plan->w.step < 0, .cut = &cut };
	unsigned unit = r->fill_pages;
	uint64_t used, a = 0, b = 0;
	uint32_t k;

	used = clear_used(r, &plan->used[0]) + clear_used(r, &plan->used[1]);
	if (used)
		MM_STAT_ADD(r->mm, ra_pages_used, used);
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
