/* SPDX-License-Identifier: MIT */
/*
 * The eviction protocol (DESIGN.md section 3, and docs/architecture.md
 * "An eviction", numbered the same), for a batch of victims:
 *
 *  1. select: clock_select() moved them RESIDENT -> EVICTING: handlers no
 *     longer lift write-protection on them (they park the faults instead);
 *  2. notify: the interval notifiers overlapping them are called (EVICT),
 *     while the pages are still accessible; a non-blockable caller (a
 *     handler evicting on the fault path) backs off from the pages a
 *     callback refuses.  Until this step ends the pages are NOTIFYING, and
 *     a fault of a thread inside a callback is served rather than parked;
 *  3. write-protect them in the application: from here no write can land
 *     unseen (a write to a page still dirty from before is in the memfd and
 *     is copied in step 4);
 *  4. write the dirty ones from the alias to the store, and wait;
 *  5. punch them out of the memfd (this zaps every mapping of them), mark
 *     them ABSENT and wake the faults parked on them, which fault again
 *     and read the page back from the store.
 *
 * A page whose write failed is not punched: it goes back to RESIDENT,
 * still dirty (and write-protected, so its next write faults and is seen
 * again), the error is recorded for the next flush, and nothing is lost.
 * A write that gave up because its store part cannot take it now
 * (-EAGAIN, store_submit_nowait(), evict/stall.c) is the same without an
 * error recorded: the page is simply written later.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/assert.h"
#include "common/log.h"
#include "evict/evict.h"
#include "fork/fork.h"
#include "notify/notifier.h"
#include "region/marks.h"
#include "region/region.h"
#include "writeback/writeback.h"

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	if (x->r != y->r)
		return (uintptr_t)x->r < (uintptr_t)y->r ? -1 : 1;
	return x->pg < y->pg ? -1 : x->pg > y->pg;
}

/* Length of the run of contiguous pages of one region starting at v[i]. */
static size_t run_len(const struct victim *v, size_t i, size_t n)
{
	size_t j = i + 1;

	while (j < n && v[j].r == v[i].r && v[j].pg == v[j - 1].pg + 1)
		j++;
	return j - i;
}

/* An invalidation a client of upagerd must be told the end of. */
struct remote_inval {
	struct upg_mm *mm;
	uint64_t cookie;
};

#define HUGE_UNIT_PAGES 512u

/*
 * The arrays one thread's evictions work in, allocated once per thread and
 * kept: a handler thread must not allocate while it evicts.  With
 * UPG_RT_FORK_EVENTS, glibc's fork() holds every malloc arena lock while
 * the kernel waits for a handler to read the FORK event; a handler inside
 * calloc() then would never read it (docs/app-events.md).  Handler threads
 * take theirs when they start (evict_thread_prepare()); other threads on
 * their first eviction.  A batch never wants more than @cap victims.
 */
struct evict_scratch {
	size_t cap;
	struct victim *v;
	struct wb_page *wb;
	bool *ok;
	struct remote_inval *ri;
};

static __thread struct evict_scratch scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *arg)
{
	struct evict_scratch *s = arg;

	free(s->v);
	free(s->wb);
	free(s->ok);
	free(s->ri);
	*s = (struct evict_scratch){ 0 };
}

static void scratch_key_init(void)
{
	/* Freed at thread exit; if the key cannot be had, only a thread
	 * that exits leaks its arrays. */
	if (pthread_key_create(&scratch_key, scratch_free))
		scratch_key = (pthread_key_t)-1;
}

int evict_thread_prepare(struct upg_runtime *rt)
{
	size_t cap = rt->evict_batch > HUGE_UNIT_PAGES ? rt->evict_batch :
							 HUGE_UNIT_PAGES;
	struct evict_scratch s = { .cap = cap };

	if (scratch.cap >= cap)
		return 0;
	s.v = calloc(cap, sizeof(*s.v));
	s.wb = calloc(cap, sizeof(*s.wb));
	s.ok = calloc(cap, sizeof(*s.ok));
	s.ri = calloc(cap, sizeof(*s.ri));
	if (!s.v || !s.wb || !s.ok || !s.ri) {
		scratch_free(&s);
		return -ENOMEM;
	}
	scratch_free(&scratch);
	scratch = s;
	pthread_once(&scratch_once, scratch_key_init);
	if (scratch_key != (pthread_key_t)-1)
		pthread_setspecific(scratch_key, &scratch);
	return 0;
}

static void defer_watched(struct upg_region *r, uint64_t first, uint64_t n)
{
	struct upg_runtime *rt = r->rt;
	bool queued = false;

	pthread_mutex_lock(&rt->evict->watch_lock);
	if (rt->evict->nr_watch_defer < WATCH_DEFER_MAX) {
		region_get(r);
		rt->evict->watch_defer[rt->evict->nr_watch_defer++] =
			(struct watch_defer){ r, first, n };
		queued = true;
	}
	pthread_mutex_unlock(&rt->evict->watch_lock);
	/* A full queue: the pages stay, the clock comes back to them. */
	if (queued)
		evictor_kick(rt);
}

/* Step 2 for a run of another process's pages (upagerd): its notifiers
 * are in that process, asked only for the pages it watches. */
static void notify_remote_run(struct victim *v, size_t len, bool *ok,
			      bool blockable, struct remote_inval *ri,
			      size_t *nri)
{
	struct upg_mm *mm = v[0].r->mm;
	size_t k, first = len, last = 0;
	bool run_ok = true;
	uint64_t cookie;

	for (k = 0; k < len; k++)
		if (ok[k] && v[k].watched) {
			if (first == len)
				first = k;
			last = k;
		}
	if (first == len)
		return;
	if (!blockable) {
		/* A fault path cannot wait for a client: leave the pages to
		 * the evictor, which can (evict_deferred_watched()). */
		defer_watched(v[0].r, v[first].pg,
			      v[last].pg - v[first].pg + 1);
		for (k = first; k <= last; k++)
			ok[k] = false;
		return;
	}
	cookie = mm->notify_ops->start(mm, v[0].r, v[first].pg,
				       v[last].pg - v[first].pg + 1,
				       UPG_NOTIFY_EVICT, blockable, &run_ok);
	if (cookie)
		ri[(*nri)++] = (struct remote_inval){ mm, cookie };
	if (!run_ok)
		for (k = first; k <= last; k++)
			ok[k] = false;
}

/*
 * Step 2: call the notifiers of each run; a refusal clears ok[] for the
 * run.  Returns the number of invalidations started (each needs an end);
 * those of upagerd's clients are in @ri.
 */
static unsigned notify_victims(struct upg_runtime *rt, struct victim *v,
			       size_t n, bool *ok, bool blockable,
			       struct remote_inval *ri, size_t *nri)
{
	unsigned started = 0;
	size_t i = 0, k;

	while (i < n) {
		size_t len = run_len(v, i, n);
		struct upg_region *r = v[i].r;
		uintptr_t a = (uintptr_t)r->addr;

		if (r->mm->notify_ops) {
			if (!atomic_load(&r->detached))
				notify_remote_run(&v[i], len, &ok[i],
						  blockable, ri, nri);
		} else if (a && r->mm->local && !atomic_load(&r->detached)) {
			a += v[i].pg << rt->page_shift;
			started++;
			if (!notify_invalidate_start(rt->notify, a,
						     a + (len << rt->page_shift),
						     UPG_NOTIFY_EVICT,
						     blockable))
				for (k = i; k < i + len; k++)
					ok[k] = false;
		}
		i += len;
	}
	return started;
}

/* End step 2 for one victim: from here its faults are parked again. */
static void end_notifying(struct victim *v)
{
	_Atomic uint32_t *p = region_page(v->r, v->pg);
	uint32_t s = atomic_load(p);

	while (s & PS_NOTIFYING) {
		if (s & PS_LOCK) { /* a callback's fault being served */
			ps_wait(p, s);
			s = atomic_load(p);
			continue;
		}
		if (ps_cas(p, &s, s & ~(PS_NOTIFYING | PS_WAITERS)))
			ps_wake(p, s);
	}
}

/* Victims the application discarded with MADV_REMOVE since (their region
 * has a marked range, region/discard.c): nothing to write back. */
static void drop_discarded(struct victim *v, size_t n, bool *ok)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct upg_region *r = v[i].r;

		/* Hugetlb: discards are not tracked (upager.h). */
		if (!ok[i] || r->huge || !r->remove_ticks ||
		    page_in_memfd(r, v[i].pg))
			continue;
		if (region_discard_page(r, v[i].pg, PS_EVICTING)) {
			v[i].gone = true;
			ok[i] = false;
		}
	}
}

/* Step 3.  Clears ok[] for victims that could not be protected: they must
 * not be evicted. */
static void protect(struct upg_runtime *rt, struct victim *v, size_t n,
		    bool *ok)
{
	size_t i = 0, k;

	while (i < n) {
		size_t len = run_len(v, i, n);
		struct upg_region *r = v[i].r;
		int err = 0;

		/* Runs refused by a notifier are not evicted. */
		for (k = i; k < i + len && ok[k]; k++)
			;
		if (k == i) {
			i++;
			continue;
		}
		len = k - i;
		/* -EAGAIN: the application may be writing these pages at an
		 * address not known yet (an mremap in flight): not evicted. */
		err = region_writeprotect(r, v[i].pg, len);
		if (err && err != -EAGAIN)
			rt_err(rt, "write-protect for eviction: %s",
			       strerror(-err));
		/* Fork children's mappings too (fork/fork.h). */
		if (!err)
			err = views_writeprotect(r, v[i].pg, len);
		for (k = i; k < i + len; k++)
			ok[k] = !err;
		i += len;
	}
}

static void finish_evicted(struct upg_runtime *rt, struct victim *v)
{
	_Atomic uint32_t *p = region_page(v->r, v->pg);
	uint32_t s = atomic_load(p), new;

	atomic_fetch_add_explicit(&v->r->n_evicted, 1, memory_order_relaxed);
	if (v->wrote)
		atomic_fetch_add_explicit(&v->r->n_written, 1,
					  memory_order_relaxed);
	do {
		new = (s & PS_KEEP_ACROSS_EVICTION) | PS_ABSENT;
		if (v->wrote)
			new |= PS_HAS_DATA;
	} while (!ps_cas(p, &s, new));
	if (s & PS_PARKED)
		uffd_wake(region_uffd(v->r), region_page_addr(v->r, v->pg),
			  rt->page_size);
	ps_wake(p, s);
}

static void abort_eviction(struct upg_runtime *rt, struct victim *v)
{
	_Atomic uint32_t *p = region_page(v->r, v->pg);
	uint32_t s = atomic_load(p), new;

	do {
		new = ps_with_state(s, PS_RESIDENT) &
		      ~(PS_PARKED | PS_WAITERS);
	} while (!ps_cas(p, &s, new));
	if (v->r->fill_marks)
		mark_set(&v->r->fill_marks[v->pg], MARK_RESIDENT);
	if (s & PS_PARKED)
		uffd_wake(region_uffd(v->r), region_page_addr(v->r, v->pg),
			  rt->page_size);
	ps_wake(p, s);
}

/*
 * A huge page is punched whole or not at all: punching part of one would
 * zero that part, not free it (hugetlbfs), and the pages of a unit must
 * change state together (region.h).  So if any page of a unit may not be
 * punched (its writeback failed, a notifier refused it), none is.  The
 * clock chose units whole, so they are whole runs of @v here.
 */
static void punch_units_whole(struct victim *v, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		uint64_t unit = region_unit_pages(v[i].r);
		bool all = true;

		if (unit == 1 || i + unit > n) {
			i++;
			continue;
		}
		for (k = i; k < i + unit; k++)
			all &= v[k].punch && !v[k].gone;
		for (k = i; k < i + unit && !all; k++)
			v[k].punch = false;
		i += unit;
	}
}

/* Step 5 for the runs of victims marked punch. */
static unsigned punch(struct upg_runtime *rt, struct victim *v, size_t n)
{
	unsigned evicted = 0;
	size_t i = 0, k;

	while (i < n) {
		size_t len = run_len(v, i, n);
		struct upg_region *r = v[i].r;

		/* Split the run where a page is not to be punched. */
		for (k = i; k < i + len && v[k].punch; k++)
			;
		if (k > i) {
			size_t cnt = k - i;

			if (fallocate(r->memfd,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(v[i].pg << rt->page_shift),
				      (off_t)(cnt << rt->page_shift))) {
				rt_err(rt, "punch for eviction: %s",
				       strerror(errno));
				for (; i < k; i++)
					abort_eviction(rt, &v[i]);
				continue;
			}
			for (; i < k; i++) {
				finish_evicted(rt, &v[i]);
				evicted++;
			}
			region_resident_add(r, -(int64_t)cnt);
			budget_release(rt, cnt);
			MM_STAT_ADD(r->mm, pages_evicted, cnt);
			continue;
		}
		if (!v[i].gone)
			abort_eviction(rt, &v[i]);
		i++;
	}
	return evicted;
}

/*
 * Pages the clock chose but found held by ephemeral pins (an I/O in
 * flight): wait for the unpin, up to ephemeral_pin_wait_ms in all, then
 * take the ones that became free as victims.  Only the background evictor
 * waits; the fault path skips them (it must not wait on application
 * threads).  Returns the victims added to @out (at most @room).
 */
static unsigned wait_ephemeral(struct upg_runtime *rt, struct victim *ew,
			       unsigned n, struct victim *out, unsigned room)
{
	uint64_t deadline = 0;
	unsigned i, got = 0;
	uint32_t evicting = PS_EVICTING | PS_NOTIFYING;

	for (i = 0; i < n; i++) {
		_Atomic uint32_t *p = region_page(ew[i].r, ew[i].pg);
		uint32_t s = atomic_load(p);
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (!deadline)
			deadline = now + rt->ephemeral_wait_ms * 1000000ull;
		if (s & PS_EPIN_MASK)
			MM_STAT_ADD(ew[i].r->mm, evict_pin_waits, 1);
		while ((s & PS_EPIN_MASK) && now < deadline) {
			ps_wait(p, s);
			s = atomic_load(p);
			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (uint64_t)ts.tv_sec * 1000000000ull +
			      (uint64_t)ts.tv_nsec;
		}
		if (got < room && ps_state(s) == PS_RESIDENT &&
		    !(s & (PS_LOCK | PS_WRITEBACK | PS_REF | PS_LPIN_MASK |
			   PS_EPIN_MASK)) &&
		    ps_cas(p, &s, ps_with_state(s, PS_RESIDENT) | evicting)) {
			atomic_fetch_add(&ew[i].r->mm->evicting, 1);
			out[got++] = ew[i]; /* keeps the region reference */
			continue;
		}
		region_put(ew[i].r);
	}
	return got;
}

/* Huge page units are evicted whole: a batch has room for one at least. */

/*
 * Steps 2-5 for victims already moved to EVICTING (with a region
 * reference and mm->evicting counted each); drops both.  @n is at most
 * scratch.cap: the other arrays are this thread's scratch.  Returns the
 * pages evicted.
 */
void evict_set_policy(struct upg_runtime *rt, const struct evict_policy *pol)
{
	atomic_store_explicit(&rt->evict->policy, pol, memory_order_release);
}

static unsigned evict_victims(struct upg_runtime *rt, struct upg_io_queue *q,
			      struct victim *v, size_t n, bool background,
			      bool avoid_slow)
{
	struct wb_page *wb = scratch.wb;
	bool *ok = scratch.ok;
	struct remote_inval *ri = scratch.ri;
	const struct evict_policy *pol;
	size_t i, nwb = 0, nri = 0;
	unsigned evicted = 0, notified = 0;

	qsort(v, n, sizeof(*v), victim_cmp);

	for (i = 0; i < n; i++)
		ok[i] = true;
	pol = evict_policy(rt);
	if (pol)
		pol->claim(v, n, ok);
	/* Always, as the kernel always calls invalidate_range_start: a
	 * notifier inserted after the victims were chosen is then either
	 * called or deferred to the end of this invalidation, and its
	 * read_begin() waits for it. */
	notified = notify_victims(rt, v, n, ok, background, ri, &nri);
	for (i = 0; i < n; i++)
		end_notifying(&v[i]);
	drop_discarded(v, n, ok);
	protect(rt, v, n, ok);
	for (i = 0; i < n; i++) {
		uint32_t s = atomic_load(region_page(v[i].r, v[i].pg));

		/* Its store part stalled since the clock chose it: do not
		 * start a write that would be retried until the store's
		 * deadline with this thread waiting (evict/stall.c); it
		 * stays resident and dirty.  A fault's eviction does not
		 * start a write that may be slow either. */
		if (ok[i] && (s & PS_DIRTY) &&
		    (avoid_slow ? evict_page_slow(v[i].r, v[i].pg)
				: evict_page_stalled(v[i].r, v[i].pg)))
			ok[i] = false;
		if (ok[i] && (s & PS_DIRTY))
			wb[nwb++] = (struct wb_page){ v[i].r, v[i].pg, 0, false };
		else
			v[i].punch = ok[i];
	}
	/* A write whose store part cannot take it now gives up (-EAGAIN)
	 * instead of holding this thread for the store's deadline. */
	write_pages_nowait(q, wb, nwb);
	/* Both arrays are sorted by (region, page): match them in one pass. */
	for (i = 0, nwb = 0; i < n; i++) {
		if (!ok[i] || v[i].punch)
			continue;
		v[i].punch = v[i].wrote = !wb[nwb].err;
		if (wb[nwb].err == -EAGAIN) {
			/* Its store part stalled: kept dirty, for later;
			 * no data error (evict/stall.c). */
		} else if (wb[nwb].err) {
			region_record_error(v[i].r, wb[nwb].err);
			rt_warn(rt, "writeback of an evicted page failed (%s): "
				    "kept resident and dirty",
				strerror(-wb[nwb].err));
		}
		nwb++;
	}
	punch_units_whole(v, n);
	evicted = punch(rt, v, n);
	while (notified--)
		notify_invalidate_end(rt->notify);
	for (i = 0; i < nri; i++)
		ri[i].mm->notify_ops->end(ri[i].mm, ri[i].cookie);
	if (background)
		STAT_ADD(rt, evict_batches_background, 1);
	else
		STAT_ADD(rt, evict_batches_sync, 1);
	for (i = 0; i < n; i++) {
		atomic_fetch_sub(&v[i].r->mm->evicting, 1);
		region_put(v[i].r);
	}
	return evicted;
}

unsigned evict_batch(struct upg_runtime *rt, struct upg_io_queue *q,
		     struct evict_req *req)
{
	unsigned want = req->want;
	struct victim *v;
	size_t n, i;
	unsigned evicted = 0, nr_ewait = 0;
	struct victim ewait[EPHEMERAL_WAITS];

	/* A callback that evicted would call notifiers - its own among
	 * them, maybe - from inside an invalidation. */
	assert_not_role(UPG_ROLE_NOTIFIER_CB);

	/* No memory for this thread's arrays: nothing to evict with. */
	if (evict_thread_prepare(rt))
		return 0;
	if (atomic_load(&rt->huge_regions) && want < HUGE_UNIT_PAGES)
		want = HUGE_UNIT_PAGES;
	if (want > scratch.cap)
		want = (unsigned)scratch.cap;
	v = scratch.v;
	n = clock_select(rt, v, want, req, ewait, &nr_ewait);
	if (n < want) {
		n += wait_ephemeral(rt, ewait, nr_ewait, v + n, want - n);
	} else {
		/* Enough victims without them: nothing to wait for. */
		for (i = 0; i < nr_ewait; i++)
			region_put(ewait[i].r);
	}
	if (n)
		evicted = evict_victims(rt, q, v, n,
					req->flags & EVICT_BACKGROUND,
					!(req->flags & (EVICT_BACKGROUND |
							EVICT_TAKE_SLOW)) &&
						!req->own);
	return evicted;
}

/* Deferred victims of @r are still wanted: memory is still short, and
 * neither the runtime nor the region is going away. */
static bool deferred_still_wanted(struct upg_runtime *rt,
				  struct upg_region *r)
{
	return !atomic_load(&rt->evict->stopping) &&
	       !atomic_load(&r->detached) &&
	       atomic_load(&rt->resident_pages) > rt->low_pages;
}

void evict_deferred_watched(struct upg_runtime *rt, struct upg_io_queue *q)
{
	struct watch_defer d[WATCH_DEFER_MAX];
	unsigned nd, i;

	assert_role(UPG_ROLE_EVICTOR);
	pthread_mutex_lock(&rt->evict->watch_lock);
	nd = rt->evict->nr_watch_defer;
	memcpy(d, rt->evict->watch_defer, nd * sizeof(*d));
	rt->evict->nr_watch_defer = 0;
	pthread_mutex_unlock(&rt->evict->watch_lock);
	if (evict_thread_prepare(rt)) {
		/* Nothing to evict with: the pages stay, as if not wanted. */
		for (i = 0; i < nd; i++)
			region_put(d[i].r);
		return;
	}
	for (i = 0; i < nd; i++) {
		struct upg_region *r = d[i].r;
		struct victim *v = scratch.v;
		uint64_t pg, end = d[i].first + d[i].n;
		size_t n = 0;

		/* Only while memory is still short, and only pages still as
		 * the fault path left them (resident, unreferenced since). */
		for (pg = d[i].first;
		     pg < end && deferred_still_wanted(rt, r); pg++) {
			_Atomic uint32_t *p = region_page(r, pg);
			uint32_t s = atomic_load(p);

			if (ps_state(s) != PS_RESIDENT ||
			    (s & (PS_LOCK | PS_WRITEBACK | PS_REF | PS_PIN_MASK)) ||
			    !ps_cas(p, &s, s | PS_EVICTING | PS_NOTIFYING))
				continue;
			region_get(r);
			atomic_fetch_add(&r->mm->evicting, 1);
			v[n++] = (struct victim){ .r = r, .pg = pg };
			if (n == scratch.cap) {
				evict_victims(rt, q, v, n, true, false);
				n = 0;
			}
		}
		if (n)
			evict_victims(rt, q, v, n, true, false);
		region_put(r);
	}
}
