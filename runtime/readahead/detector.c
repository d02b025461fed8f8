/* SPDX-License-Identifier: MIT */
/*
 * The access-pattern detector: a small table of streams per region.
 *
 * A MISSING fault at page p is matched, in this order, against
 *  1. a stream with a window whose expected range holds p: the stream
 *     reached its window or just past it (its trigger was not mapped by us,
 *     or its pages were evicted before use, which halves the window);
 *  2. a stream whose step continues to p (sequential: the next fill unit
 *     up or down; strided: exactly pos + step);
 *  3. a stream with one fault so far and p near it: that distance becomes
 *     its step (a candidate);
 *  4. none: p starts a new stream in a free slot, or in the slot of the
 *     stream least recently used (streams with a window are kept longer).
 * A sequential stream is confirmed by its second fault, a strided one by
 * its third; only a confirmed stream reads ahead, so random faults, which
 * match nothing, read nothing more than their fill unit.
 *
 * Window sizes: RA_INIT_PAGES for a new stream, doubled each time the
 * stream reaches its window, up to min(RA_MAX_PAGES, budget / 8) shared by
 * the region's streams that have a window; halved when the stream faults on
 * a page it read ahead that was evicted before use (the budget is too
 * tight for the window); set to what fit when upagerd's fair shares cut
 * a window short (readahead_cut()).  SEQUENTIAL advice starts at the
 * largest window.
 */
#include <string.h>

#include "readahead/readahead.h"
#include "region/region.h"

/* Faults of the region a stream with a window is kept beyond its last
 * fault before a new stream may take its slot ahead of older candidates. */
#define RA_KEEP_BONUS 64

static uint64_t unit_start(uint64_t pg, unsigned unit)
{
	return pg & ~(uint64_t)(unit - 1);
}

static bool is_seq(const struct ra_stream *s, unsigned unit)
{
	return s->step == (int64_t)unit || s->step == -(int64_t)unit;
}

uint64_t ra_element(const struct ra_window *w, uint32_t k, unsigned unit,
		    uint64_t npages)
{
	int64_t pg = (int64_t)w->base + (int64_t)k * w->step;

	if (pg < 0 || (uint64_t)pg >= npages)
		return RA_NONE;
	return unit_start((uint64_t)pg, unit);
}

/* The elements of @w entirely behind page @pg in the stream's direction. */
static struct ra_window behind(const struct ra_window *w, uint64_t pg,
			       unsigned unit)
{
	struct ra_window out = *w;
	int64_t d;

	if (!w->n || !w->step)
		return (struct ra_window){ 0 };
	d = ((int64_t)unit_start(pg, unit) - (int64_t)unit_start(w->base, unit)) /
	    w->step;
	/* Elements 1..d-1 lie before the one holding pg (element d). */
	if (d <= 1)
		return (struct ra_window){ 0 };
	if ((uint64_t)(d - 1) < out.n)
		out.n = (uint32_t)(d - 1);
	return out;
}

static bool continues(const struct ra_stream *s, uint64_t pg, unsigned unit)
{
	if (!s->step)
		return false;
	if (is_seq(s, unit))
		return (int64_t)(unit_start(pg, unit) - unit_start(s->pos, unit)) ==
		       s->step;
	return (int64_t)(pg - s->pos) == s->step;
}

/* The step a fault at @pg would give candidate @s, or 0. */
static int64_t candidate_step(const struct ra_stream *s, uint64_t pg,
			      unsigned unit)
{
	int64_t du = (int64_t)(unit_start(pg, unit) - unit_start(s->pos, unit));
	int64_t d = (int64_t)(pg - s->pos);

	if (du == (int64_t)unit || du == -(int64_t)unit)
		return du;
	if (!du || d > RA_MAX_STRIDE || d < -RA_MAX_STRIDE)
		return 0;
	return d;
}

static bool confirmed(const struct ra_stream *s, unsigned unit)
{
	return s->step && s->seen >= (is_seq(s, unit) ? 1u : 2u);
}

/*
 * Match a fault at @pg (@marked: a read-ahead page evicted unused) to a
 * stream.  A window's expected range takes only faults that tell of the
 * stream itself: on one of its evicted pages, or on the element right
 * after its window (the trigger could not be left unmapped, or the stream
 * skipped it); any other fault there may be random and must not be read
 * ahead for.
 */
static struct ra_stream *match(struct ra_state *ra, uint64_t pg, bool marked,
			       unsigned unit, bool *in_window,
			       int64_t *new_step)
{
	struct ra_stream *best = NULL;
	int64_t best_d = 0;
	unsigned i;

	*in_window = false;
	*new_step = 0;
	for (i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *s = &ra->streams[i];

		/* A window, or one cut to nothing (readahead_cut()): its
		 * expected range is not empty. */
		if (s->live && pg >= s->exp_lo && pg < s->exp_hi &&
		    (marked || unit_start(pg, unit) == s->next) &&
		    (!best || s->stamp > best->stamp))
			best = s;
	}
	if (best) {
		*in_window = true;
		return best;
	}
	for (i = 0; i < RA_STREAMS; i++)
		if (ra->streams[i].live && continues(&ra->streams[i], pg, unit))
			return &ra->streams[i];
	for (i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *s = &ra->streams[i];
		int64_t d;

		if (!s->live || s->step)
			continue;
		d = candidate_step(s, pg, unit);
		if (d && (!best || (d < 0 ? -d : d) < (best_d < 0 ? -best_d :
								     best_d))) {
			best = s;
			best_d = d;
		}
	}
	*new_step = best_d;
	return best;
}

/* A slot for a new stream: a free one, else the least recently used,
 * where a stream with a window counts as RA_KEEP_BONUS faults younger. */
static struct ra_stream *new_stream(struct ra_state *ra, uint64_t pg)
{
	struct ra_stream *victim = NULL;
	uint64_t victim_age = 0;
	unsigned i;

	for (i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *s = &ra->streams[i];
		uint64_t age;

		if (!s->live) {
			victim = s;
			break;
		}
		age = ra->clock - s->stamp;
		if (s->cur.n)
			age = age > RA_KEEP_BONUS ? age - RA_KEEP_BONUS : 0;
		if (!victim || age > victim_age) {
			victim = s;
			victim_age = age;
		}
	}
	*victim = (struct ra_stream){ .pos = pg, .trigger = RA_NONE,
				      .live = true };
	return victim;
}

/* Largest window for @self, in elements (0: no read-ahead fits). */
static uint32_t cap_elements(const struct upg_region *r,
			     const struct ra_state *ra,
			     const struct ra_stream *self)
{
	uint64_t cap = r->rt->budget_pages / 8;
	unsigned i, sharing = 1;

	/* An upagerd client at a cap of its own: an eighth of that, or a
	 * window as large as the cap would be all in flight at once and
	 * leave nothing of its own to evict (test_client_cap). */
	if (r->mm->cap_pages && cap > r->mm->cap_pages / 8)
		cap = r->mm->cap_pages / 8;
	if (cap > RA_MAX_PAGES)
		cap = RA_MAX_PAGES;
	for (i = 0; i < RA_STREAMS; i++)
		if (&ra->streams[i] != self && ra->streams[i].live &&
		    ra->streams[i].cur.n)
			sharing++;
	return (uint32_t)(cap / sharing / r->fill_pages);
}

/* The page of window @w the stream touches first. */
static uint64_t trigger_of(const struct ra_window *w, unsigned unit)
{
	if (w->step == (int64_t)unit)
		return w->base + unit;
	if (w->step == -(int64_t)unit)
		return w->base - 1;
	return (uint64_t)((int64_t)w->base + w->step);
}

/* Where stream @s, at page @from, expects its next miss: up to the
 * element after its window, @s->cur (s->next). */
static void expect_next(const struct upg_region *r, struct ra_stream *s,
			uint64_t from)
{
	unsigned unit = r->fill_pages;
	int64_t next = (int64_t)s->cur.base +
		       (int64_t)(s->cur.n + 1) * s->cur.step;
	int64_t a, b;

	s->next = next >= 0 && (uint64_t)next < r->npages ?
			  unit_start((uint64_t)next, unit) :
			  RA_NONE;
	a = (int64_t)from < next ? (int64_t)from : next;
	b = (int64_t)from < next ? next : (int64_t)from;
	a = a < 0 ? 0 : a;
	b = b < 0 ? 0 : b;
	s->exp_lo = unit_start((uint64_t)a, unit);
	s->exp_hi = unit_start((uint64_t)b, unit) + unit;
	if (s->exp_hi > r->npages)
		s->exp_hi = r->npages;
}

/*
 * Size and record the next window of @s, starting after page @base (the
 * fault, or the last element of the window just reached), within the
 * advice span [lo, hi); @from is where the stream is now.
 */
static void plan_window(const struct upg_region *r, struct ra_state *ra,
			struct ra_stream *s, uint64_t base, uint64_t from,
			uint64_t lo, uint64_t hi, int advice,
			struct ra_plan *plan)
{
	unsigned unit = r->fill_pages;
	uint32_t cap = cap_elements(r, ra, s), init, k;
	struct ra_window w = { base, s->step, 0 };

	init = RA_INIT_PAGES / unit ? RA_INIT_PAGES / unit : 1;
	if (advice == UPG_ADV_SEQUENTIAL || !s->win)
		s->win = advice == UPG_ADV_SEQUENTIAL ? cap : init;
	if (s->win > cap)
		s->win = cap;
	for (k = 1; k <= s->win; k++) {
		uint64_t e = ra_element(&w, k, unit, r->npages);

		if (e == RA_NONE || e < lo || e >= hi)
			break;
		w.n = k;
	}
	s->prev = s->cur;
	s->cur = w;
	if (!w.n) {
		/* End of the region or of the advice span: no window. */
		s->trigger = RA_NONE;
		s->exp_lo = s->exp_hi = 0;
		return;
	}
	s->trigger = trigger_of(&w, unit);
	expect_next(r, s, from);
	plan->issue = true;
	plan->w = w;
	plan->trigger = s->trigger;
}

void readahead_on_miss(struct upg_region *r, uint64_t pg,
		       struct ra_plan *plan)
{
	struct ra_state *ra = r->ra;
	unsigned unit = r->fill_pages;
	/* A page read ahead and evicted before use keeps its marker. */
	bool evicted_unused = atomic_load(region_page(r, pg)) & PS_READAHEAD;
	struct ra_stream *s;
	bool in_window;
	int64_t step;
	uint64_t lo, hi, base;
	int advice;

	memset(plan, 0, sizeof(*plan));
	/* Turned off (UPG_RT_NO_READAHEAD): do not take the region's lock
	 * for an empty plan on every miss. */
	if (!(r->rt->flags & UPG_RT_READAHEAD))
		return;
	pthread_mutex_lock(&ra->lock);
	advice = ra_advice_span(ra, pg, r->npages, &lo, &hi);
	if (advice == UPG_ADV_RANDOM)
		goto out;
	plan->cold = advice == UPG_ADV_SEQUENTIAL;
	ra->clock++;
	s = match(ra, pg, evicted_unused, unit, &in_window, &step);
	if (s && in_window) {
		/* Whatever the stream passed on its way here was used. */
		plan->used[0] = s->prev;
		plan->used[1] = behind(&s->cur, pg, unit);
		s->seen++;
		if (evicted_unused)
			s->win /= 2;
		else
			s->win *= 2;
	} else if (s && !step) {
		s->seen++;
	} else if (s) {
		s->step = step;
		s->seen = 1;
	} else {
		s = new_stream(ra, pg);
		if (advice == UPG_ADV_SEQUENTIAL) {
			s->step = unit;
			s->seen = 1;
		}
	}
	s->pos = pg;
	s->stamp = ra->clock;
	if (!confirmed(s, unit))
		goto out;
	base = is_seq(s, unit) ? unit_start(pg, unit) : pg;
	plan_window(r, ra, s, base, pg, lo, hi, advice, plan);
out:
	pthread_mutex_unlock(&ra->lock);
}

void readahead_cut(struct upg_region *r, const struct ra_plan *plan,
		   uint32_t n)
{
	struct ra_state *ra = r->ra;
	unsigned i;

	pthread_mutex_lock(&ra->lock);
	for (i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *s = &ra->streams[i];

		/* Still the window planned (not replaced by a later fault
		 * of the stream, nor the slot taken by another stream). */
		if (!s->live || s->trigger != plan->trigger ||
		    s->cur.base != plan->w.base ||
		    s->cur.step != plan->w.step || s->cur.n != plan->w.n)
			continue;
		/* What fit is the size to grow from; none: the first. */
		s->cur.n = n;
		s->win = n;
		/* Cut to nothing: no trigger page was claimed, and the
		 * stream's fault on its first element is matched as the one
		 * right after its window (the expected range stays). */
		if (!n)
			s->trigger = RA_NONE;
		expect_next(r, s, s->pos);
		break;
	}
	pthread_mutex_unlock(&ra->lock);
}

void readahead_on_use(struct upg_region *r, uint64_t pg,
		      struct ra_plan *plan)
{
	struct ra_state *ra = r->ra;
	/* A hugetlb region's page was mapped with its whole huge page: the
	 * unit is used, and its trigger may be any page of it. */
	uint64_t u = region_unit_first(r, pg), unit = region_unit_pages(r);
	struct ra_stream *s = NULL;
	uint64_t lo, hi, base, k, used = 0;
	uint32_t word;
	int advice;
	unsigned i;

	/* Not on a page being filled: since the fault read its state the page
	 * may have been evicted and claimed again by another window, maybe as
	 * its trigger, and fill.c's wait_for_readahead() parks a fault on a
	 * FILLING trigger page only if it still carries the marker. */
	for (k = 0; k < unit; k++) {
		_Atomic uint32_t *p = region_page(r, u + k);

		word = atomic_load(p);
		while ((word & PS_READAHEAD) && ps_state(word) != PS_FILLING) {
			if (ps_cas(p, &word, word & ~PS_READAHEAD)) {
				used++;
				break;
			}
		}
	}
	if (used)
		MM_STAT_ADD(r->mm, ra_pages_used, used);
	memset(plan, 0, sizeof(*plan));
	pthread_mutex_lock(&ra->lock);
	for (i = 0; i < RA_STREAMS && !s; i++)
		if (ra->streams[i].live && ra->streams[i].cur.n &&
		    ra->streams[i].trigger != RA_NONE &&
		    region_unit_first(r, ra->streams[i].trigger) == u)
			s = &ra->streams[i];
	if (!s)
		goto out;
	advice = ra_advice_span(ra, pg, r->npages, &lo, &hi);
	if (advice == UPG_ADV_RANDOM) {
		s->trigger = RA_NONE;
		goto out;
	}
	/* The stream reached its window: the one before is behind it. */
	ra->clock++;
	s->stamp = ra->clock;
	s->pos = pg;
	s->seen++;
	s->win *= 2;
	plan->used[0] = s->prev;
	base = (uint64_t)((int64_t)s->cur.base +
			  (int64_t)s->cur.n * s->cur.step);
	plan_window(r, ra, s, base, pg, lo, hi, advice, plan);
out:
	pthread_mutex_unlock(&ra->lock);
}
