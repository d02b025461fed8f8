// SPDX-License-Identifier: MIT
/*
 * test_notifier - interval notifiers (after the kernel's
 * mmu_interval_notifier): argument errors, EVICT callbacks made before the
 * pages become inaccessible, the read_begin / read_retry pattern under
 * races, exactly the overlapping notifiers called, inserts and removes
 * while an invalidation runs, -EDEADLK from callbacks, and non-blockable
 * callbacks that refuse.
 *
 * Every struct upg_interval_notifier is zeroed before its first insert:
 * the runtime keeps its private state in the struct and reads it to refuse
 * a double insert (-EEXIST), so an uninitialised one may be refused or,
 * worse, accepted with garbage state.  (nu_init() zeroes the helper's.)
 *
 * Callbacks run on runtime threads: they only count what they see, and the
 * test thread asserts the counts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "notify_util.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

static struct upg_runtime *runtime(uint64_t budget_pages, unsigned threads,
				   unsigned high, unsigned low,
				   unsigned batch)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget_pages * PS,
		 .handler_threads = threads, .high_watermark_pct = high,
		 .low_watermark_pct = low, .evict_batch_pages = batch);

	return nu_runtime(&o);
}

static uint64_t resident_pages(struct upg_region *r)
{
	UPG_OPTS(upg_region_stats, rs);

	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	return rs.resident_bytes / PS;
}

static uintptr_t umax(uintptr_t a, uintptr_t b)
{
	return a > b ? a : b;
}

static uintptr_t umin(uintptr_t a, uintptr_t b)
{
	return a < b ? a : b;
}

/* ---- API errors ---------------------------------------------------------- */

static bool never_called(struct upg_interval_notifier *n,
			 const struct upg_notifier_range *range,
			 uint64_t cur_seq)
{
	(void)n;
	(void)range;
	(void)cur_seq;
	abort();
}

static const struct upg_interval_notifier_ops never_ops = {
	.invalidate = never_called,
};

START_TEST(test_api_errors)
{
	static const struct upg_interval_notifier_ops no_cb = { 0 };
	struct upg_runtime *rt = tu_runtime(4 * MiB, 1);
	/* Zeroed before the first insert: required (see the top). */
	struct upg_interval_notifier n = { 0 }, m = { 0 }, k = { 0 };
	static char buf[256];
	uintptr_t a = (uintptr_t)buf, top = UINTPTR_MAX - PS + 1;
	uint64_t s;

	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 64, NULL),
			 -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 64, &no_cb),
			 -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 0, &never_ops),
			 -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, NULL, a, 64,
						      &never_ops),
			 -EINVAL);
	/* Ranges that wrap around the address space. */
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, top, 2 * PS,
						      &never_ops),
			 -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, UINTPTR_MAX, 2,
						      &never_ops),
			 -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, 1, SIZE_MAX,
						      &never_ops),
			 -EINVAL);
	/* None of that inserted anything. */
	ck_assert_int_eq(upg_interval_notifier_remove(&n), -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_remove(NULL), -EINVAL);

	/* Insert, double insert, remove, double remove, insert again. */
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 64,
						      &never_ops),
			 0);
	ck_assert_ptr_eq(n.rt, rt);
	ck_assert_uint_eq(n.start, a);
	ck_assert_uint_eq(n.end, a + 64);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 64,
						      &never_ops),
			 -EEXIST);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a + 128, 8,
						      &never_ops),
			 -EEXIST);
	/* The refused insert left the inserted range alone. */
	ck_assert_uint_eq(n.start, a);
	ck_assert_uint_eq(n.end, a + 64);
	/* No invalidation ran: nothing to retry. */
	s = upg_interval_read_begin(&n);
	ck_assert(!upg_interval_read_retry(&n, s));
	ck_assert(!upg_interval_check_retry(&n, s));
	ck_assert(upg_interval_read_retry(&n, s + 2));
	ck_assert_int_eq(upg_interval_notifier_remove(&n), 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&n), -EINVAL);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 64,
						      &never_ops),
			 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&n), 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&n), -EINVAL);

	/* The highest range that does not wrap is fine. */
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &k, top, PS - 1,
						      &never_ops),
			 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&k), 0);

	ck_assert_uint_eq(tu_stats(rt).notifier_callbacks, 0);

	/* A notifier still inserted when the runtime goes. */
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &m, a, 64,
						      &never_ops),
			 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	memset(&n, 0, sizeof(n));
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &n, a, 64,
						      &never_ops),
			 -EBADF);
	ck_assert_int_eq(upg_interval_notifier_insert(NULL, &n, a, 64,
						      &never_ops),
			 -EBADF);
	/* Its runtime is gone: not inserted any more. */
	ck_assert_int_lt(upg_interval_notifier_remove(&m), 0);
}
END_TEST

/* ---- EVICT callbacks ----------------------------------------------------- */

#define MARK(pg) (0xC0FFEE0000000000ull | (pg))

struct evict_ctx {
	char *a;
	uint64_t len, seed;
	bool write_marker;
	_Atomic unsigned long checked, bad_data, absent, nonblock, bad_event;
	_Atomic unsigned char marked[64];
};

/*
 * A blockable EVICT callback may touch the pages being invalidated: they
 * are still there.  Check their contents through the application address
 * (and with write_marker, write into them: the write must not be lost).
 */
static bool evict_hook(struct nu_notifier *nn,
		       const struct upg_notifier_range *rg, uint64_t seq)
{
	struct evict_ctx *c = nn->priv;
	uintptr_t a = (uintptr_t)c->a, lo, hi, p;

	(void)seq;
	if (rg->event != UPG_NOTIFY_EVICT) {
		if (rg->event != UPG_NOTIFY_REMOVE)
			atomic_fetch_add(&c->bad_event, 1);
		return true;
	}
	if (!rg->blockable) {
		atomic_fetch_add(&c->nonblock, 1);
		return true;
	}
	lo = umax(umax(rg->start, nn->n.start), a);
	hi = umin(umin(rg->end, nn->n.end), a + c->len);
	for (p = lo & ~(uintptr_t)(PS - 1); p < hi; p += PS) {
		uint64_t off = p - a, pg = off / PS, i;
		volatile uint64_t *w = (volatile uint64_t *)p;

		if (!nu_resident((void *)p))
			atomic_fetch_add(&c->absent, 1);
		if (c->write_marker && pg < 64) {
			w[1] = MARK(pg);
			atomic_store(&c->marked[pg], 1);
		}
		for (i = 0; i < PS / 8; i++) {
			uint64_t want = tu_word(c->seed, off + i * 8);

			if (i == 1 && pg < 64 && atomic_load(&c->marked[pg]))
				want = MARK(pg);
			if (w[i] != want) {
				atomic_fetch_add(&c->bad_data, 1);
				break;
			}
		}
		atomic_fetch_add(&c->checked, 1);
	}
	return true;
}

static uint64_t max_seq(struct nu_notifier *nn)
{
	size_t n, i;
	struct nu_call *c = nu_calls(nn, &n);
	uint64_t m = 0;

	for (i = 0; i < n; i++)
		if (c[i].accepted && c[i].seq > m)
			m = c[i].seq;
	free(c);
	return m;
}

static void check_evict_calls(struct nu_notifier *nn, char *a, uint64_t len)
{
	size_t n, i;
	struct nu_call *c = nu_calls(nn, &n);

	for (i = 0; i < n; i++) {
		/* (The application discarded nothing: REMOVE calls, if any,
		 * are test_app_events' business.) */
		if (c[i].event == UPG_NOTIFY_REMOVE)
			continue;
		ck_assert_int_eq(c[i].event, UPG_NOTIFY_EVICT);
		ck_assert(c[i].blockable);
		ck_assert(c[i].accepted);
		ck_assert_msg(c[i].seq & 1, "cur_seq %llu is even",
			      (unsigned long long)c[i].seq);
		ck_assert_uint_eq(c[i].start % PS, 0);
		ck_assert_uint_eq(c[i].end % PS, 0);
		ck_assert_uint_lt(c[i].start, c[i].end);
		ck_assert_uint_ge(c[i].start, (uintptr_t)a);
		ck_assert_uint_le(c[i].end, (uintptr_t)a + len);
		ck_assert(nu_overlaps(c[i].start, c[i].end, nn->n.start,
				      nn->n.end));
	}
	free(c);
}

START_TEST(test_evict_callbacks)
{
	/* Background eviction only: above 60% of 32 pages, down to 50%;
	 * never a full budget, so never a non-blockable callback. */
	struct upg_runtime *rt = runtime(32, 2, 60, 50, 0);
	const uint64_t npg = 64, len = npg * PS, seed = 701;
	int fd = tur_data_file(len, seed);
	struct nu_notifier A, B, C;
	struct evict_ctx ctx = { .len = len, .seed = seed };
	struct upg_region *r;
	static char unmanaged[4 * 4096];
	uint64_t sa, sb, sc, s2;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = ctx.a = upg_region_addr(r);
	nu_init(&A, NULL);
	nu_init(&B, NULL);
	nu_init(&C, NULL);
	A.hook = evict_hook;
	A.priv = &ctx;
	/* A: pages 8..23, not page aligned; B: pages never touched; C: not
	 * managed memory at all. */
	ck_assert_int_eq(nu_insert(rt, &A, (uintptr_t)a + 8 * PS + 100,
				   16 * PS - 200),
			 0);
	ck_assert_int_eq(nu_insert(rt, &B, (uintptr_t)a + 40 * PS, 24 * PS), 0);
	ck_assert_int_eq(nu_insert(rt, &C, (uintptr_t)unmanaged,
				   sizeof(unmanaged)),
			 0);
	sa = upg_interval_read_begin(&A.n);
	sb = upg_interval_read_begin(&B.n);
	sc = upg_interval_read_begin(&C.n);

	/* 24 pages: above the high watermark (19), so the evictor runs down
	 * towards the low one (16), the clock hand from page 0 on.  It may
	 * have reached 16 while the touches went on, and stopped at up to 19
	 * with only pages below A's evicted (seen on a loaded machine: the
	 * evictor runs only above 19).  So until A has seen an eviction, one
	 * more page (24..39: neither A's nor B's) at a time raises the
	 * pressure again, and the hand moves on into A's range. */
	tur_touch_read(a, 24 * PS);
	for (uint64_t more = 24;; more++) {
		TU_WAIT_FOR(resident_pages(r) <= 19, 5000);
		if (nu_count(&A, UPG_NOTIFY_EVICT) > 0)
			break;
		ck_assert_msg(more < 40, "A saw no eviction after %llu pages",
			      (unsigned long long)more);
		tur_touch_read(a + more * PS, PS);
	}
	/* The batch that evicted them is over once read_begin returns. */
	s2 = upg_interval_read_begin(&A.n);

	check_evict_calls(&A, a, len);
	ck_assert_uint_eq(nu_violations(&A), 0);
	ck_assert_uint_eq(ctx.bad_event, 0);
	ck_assert_uint_eq(ctx.nonblock, 0);
	ck_assert_uint_gt(ctx.checked, 0);
	ck_assert_msg(!ctx.absent, "%lu pages already gone from the memfd "
				   "when their callback ran",
		      (unsigned long)ctx.absent);
	ck_assert_msg(!ctx.bad_data, "%lu pages read wrong in the callback",
		      (unsigned long)ctx.bad_data);
	/* The invalidation is visible to a reader that began before it... */
	ck_assert(upg_interval_check_retry(&A.n, sa));
	ck_assert(upg_interval_read_retry(&A.n, sa));
	/* ...and not to one that begins after it (unless another
	 * invalidation came since, which then called A). */
	ck_assert(!upg_interval_read_retry(&A.n, s2) || max_seq(&A) > s2);
	/* Nothing of B's or C's range went. */
	ck_assert_uint_eq(nu_total(&B), 0);
	ck_assert_uint_eq(nu_total(&C), 0);
	ck_assert(!upg_interval_read_retry(&B.n, sb));
	ck_assert(!upg_interval_read_retry(&C.n, sc));
	ck_assert_uint_eq(tu_stats(rt).notifier_callbacks, nu_total(&A));
	ck_assert_int_eq(nu_remove(&A), 0);
	ck_assert_int_eq(nu_remove(&B), 0);
	ck_assert_int_eq(nu_remove(&C), 0);
	/* Every page reads back, evicted or not.  (With A removed first: an
	 * application thread and a callback faulting on one page at once is
	 * test_callback_fault_not_deduplicated's business.) */
	ck_assert_uint_eq(tu_check(a, 0, len, seed), UINT64_MAX);
	ck_assert_uint_eq(nu_violations(&B) + nu_violations(&C), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&A);
	nu_fini(&B);
	nu_fini(&C);
	close(fd);
}
END_TEST

static uint64_t file_word(int fd, uint64_t off)
{
	uint64_t w;

	tur_pread(fd, &w, sizeof(w), off);
	return w;
}

/* A blockable callback writes into the pages being evicted: the eviction
 * must write those writes back, not punch them away. */
START_TEST(test_evict_callback_writes)
{
	struct upg_runtime *rt = runtime(32, 2, 60, 50, 0);
	const uint64_t npg = 64, len = npg * PS, seed = 702;
	int fd = tur_data_file(len, seed);
	struct nu_notifier A;
	struct evict_ctx ctx = { .len = len, .seed = seed,
				 .write_marker = true };
	struct upg_region *r;
	uint64_t pg, nmarked = 0;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = ctx.a = upg_region_addr(r);
	nu_init(&A, NULL);
	A.hook = evict_hook;
	A.priv = &ctx;
	ck_assert_int_eq(nu_insert(rt, &A, (uintptr_t)a, 20 * PS), 0);

	/* As in test_evict_callbacks: until A (pages 0..19) has seen an
	 * eviction, one more page (24..39, not A's) at a time raises the
	 * pressure again; waiting for the low watermark was not safe. */
	tur_touch_read(a, 24 * PS);
	for (uint64_t more = 24;; more++) {
		TU_WAIT_FOR(resident_pages(r) <= 19, 5000);
		if (nu_count(&A, UPG_NOTIFY_EVICT) > 0)
			break;
		ck_assert_msg(more < 40, "A saw no eviction after %llu pages",
			      (unsigned long long)more);
		tur_touch_read(a + more * PS, PS);
	}
	(void)upg_interval_read_begin(&A.n); /* that eviction is over */
	ck_assert_uint_eq(ctx.bad_data, 0);
	ck_assert_uint_eq(ctx.absent, 0);
	ck_assert_uint_eq(ctx.nonblock, 0);
	for (pg = 0; pg < npg; pg++) {
		if (!ctx.marked[pg])
			continue;
		nmarked++;
		/* Its eviction wrote the callback's write to the file.  (The
		 * page may be back in memory: the last pages touched can be
		 * zapped and evicted under the toucher, which refaults.) */
		TU_WAIT_FOR(file_word(fd, pg * PS + 8) == MARK(pg), 5000);
	}
	ck_assert_uint_gt(nmarked, 0);
	ck_assert_uint_ge(tu_stats(rt).pages_written_back, nmarked);
	ck_assert_int_eq(nu_remove(&A), 0);
	/* And in memory, refaulted. */
	for (pg = 0; pg < npg; pg++) {
		uint64_t *w = (uint64_t *)(a + pg * PS);

		ck_assert_uint_eq(w[0], tu_word(seed, pg * PS));
		ck_assert_uint_eq(w[1], ctx.marked[pg] ?
						MARK(pg) :
						tu_word(seed, pg * PS + 8));
		ck_assert_uint_eq(tu_check(w + 2, pg * PS + 16, PS - 16, seed),
				  UINT64_MAX);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&A);
	close(fd);
}
END_TEST

/*
 * Touching from another thread, for tests whose callbacks wait for the
 * test thread: a touch that meets a page of the blocked eviction waits
 * for that eviction, so the test thread itself must not touch.
 */
struct toucher {
	pthread_t th;
	char *p;
	uint64_t len, seed; /* seed != 0: write data set @seed */
	_Atomic bool done;
};

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;

	if (t->seed)
		tu_fill(t->p, 0, t->len, t->seed);
	else
		tur_touch_read(t->p, t->len);
	atomic_store(&t->done, true);
	return NULL;
}

static void toucher_start(struct toucher *t, void *p, uint64_t len,
			  uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->p = p;
	t->len = len;
	t->seed = seed;
	ck_assert_int_eq(pthread_create(&t->th, NULL, toucher_main, t), 0);
}

static void toucher_join(struct toucher *t)
{
	TU_WAIT_FOR(atomic_load(&t->done), 10000);
	pthread_join(t->th, NULL);
}

/*
 * An application thread and an invalidate callback fault on the same page
 * of the range being invalidated, and the handler reads both faults in
 * one batch.  The application's fault is parked until the eviction ends;
 * the callback's must be served (the runtime says so: "a fault of a thread
 * inside a callback is served rather than parked"), or the callback waits
 * for its own eviction.
 *
 * Made deterministic with one handler thread, held inside a store read
 * while both faults queue up, the application's first.
 */
struct dd {
	char *a;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool entered, go;
	uint64_t P;
	_Atomic pid_t cb_tid;
	_Atomic bool read_done;
	uint64_t val;
};

static bool dd_hook(struct nu_notifier *nn,
		    const struct upg_notifier_range *rg, uint64_t seq)
{
	struct dd *d = nn->priv;
	uint64_t P;

	(void)seq;
	if (rg->event != UPG_NOTIFY_EVICT || !rg->blockable)
		return true;
	pthread_mutex_lock(&d->m);
	if (d->entered) {
		pthread_mutex_unlock(&d->m);
		return true;
	}
	d->entered = true;
	d->P = P = (rg->start - (uintptr_t)d->a) / PS;
	atomic_store(&d->cb_tid, nu_gettid());
	pthread_cond_broadcast(&d->c);
	while (!d->go)
		pthread_cond_wait(&d->c, &d->m);
	pthread_mutex_unlock(&d->m);
	d->val = *(volatile uint64_t *)(d->a + P * PS);
	atomic_store(&d->read_done, true);
	return true;
}

static bool dd_entered(struct dd *d)
{
	bool e;

	pthread_mutex_lock(&d->m);
	e = d->entered;
	pthread_mutex_unlock(&d->m);
	return e;
}

struct reader {
	pthread_t th;
	volatile uint64_t *p;
	uint64_t val;
	_Atomic pid_t tid;
	_Atomic bool done;
};

static void *reader_main(void *arg)
{
	struct reader *t = arg;

	atomic_store(&t->tid, nu_gettid());
	t->val = *t->p;
	atomic_store(&t->done, true);
	return NULL;
}

static void reader_start(struct reader *t, void *p)
{
	memset(t, 0, sizeof(*t));
	t->p = p;
	ck_assert_int_eq(pthread_create(&t->th, NULL, reader_main, t), 0);
	TU_WAIT_FOR(atomic_load(&t->tid) != 0, 5000);
}

START_TEST(test_callback_fault_not_deduplicated)
{
	/* A batch of 64, larger than the budget (the default before small
	 * budgets scaled it down), as this race was written for: the
	 * evictor's first batch reaches page P. */
	struct upg_runtime *rt = runtime(32, 1, 60, 50, 64);
	const uint64_t npg = 64, len = npg * PS, seed = 710;
	struct nu_store *ns = nu_store_create(len, seed);
	struct dd d = { 0 };
	struct reader t1, t3;
	struct toucher tt;
	struct nu_notifier N;
	struct upg_region *r;
	uint64_t t0;
	char *a;

	pthread_mutex_init(&d.m, NULL);
	pthread_cond_init(&d.c, NULL);
	ck_assert_int_eq(upg_region_map_store(rt, ns->st, len, NULL, &r), 0);
	a = d.a = upg_region_addr(r);
	nu_init(&N, NULL);
	N.hook = dd_hook;
	N.priv = &d;
	ck_assert_int_eq(nu_insert(rt, &N, (uintptr_t)a, len), 0);

	/* The evictor's first callback waits for us. */
	toucher_start(&tt, a, 24 * PS, 0);
	TU_WAIT_FOR(dd_entered(&d), 5000);
	ck_assert_uint_lt(d.P, 24);
	/* The only handler thread: held in the fill of page 40. */
	nu_store_close_gate(ns, UPG_IO_READ, 40 * PS, PS);
	reader_start(&t3, a + 40 * PS);
	TU_WAIT_FOR(nu_store_blocked(ns, UPG_IO_READ, NULL) == 1, 5000);
	/* An application thread faults on page P (zapped by the clock, now
	 * being evicted); nobody reads its fault yet. */
	reader_start(&t1, a + d.P * PS);
	TU_WAIT_FOR(nu_thread_in_fault(t1.tid) || atomic_load(&t1.done), 5000);
	ck_assert_msg(!atomic_load(&t1.done),
		      "page %llu was still mapped: nothing to race on",
		      (unsigned long long)d.P);
	/* The callback faults on it too. */
	pthread_mutex_lock(&d.m);
	d.go = true;
	pthread_cond_broadcast(&d.c);
	pthread_mutex_unlock(&d.m);
	TU_WAIT_FOR(nu_thread_in_fault(d.cb_tid) || atomic_load(&d.read_done),
		    5000);
	/* The handler reads both at once. */
	nu_store_open_gate(ns, UPG_IO_READ);
	TU_WAIT_FOR(atomic_load(&t3.done), 5000);
	t0 = tu_now_ns();
	while (!atomic_load(&d.read_done)) {
		ck_assert_msg(tu_now_ns() - t0 < 5000000000ull,
			      "the callback's fault on page %llu was never "
			      "served (read in one batch with an application "
			      "thread's fault on the same page, which is "
			      "parked until the eviction ends): the callback "
			      "waits for its own eviction",
			      (unsigned long long)d.P);
		sched_yield();
	}
	TU_WAIT_FOR(atomic_load(&t1.done), 5000);
	pthread_join(t1.th, NULL);
	pthread_join(t3.th, NULL);
	toucher_join(&tt);
	ck_assert_uint_eq(d.val, tu_word(seed, d.P * PS));
	ck_assert_uint_eq(t1.val, tu_word(seed, d.P * PS));
	ck_assert_uint_eq(t3.val, tu_word(seed, 40 * PS));
	ck_assert_uint_eq(nu_violations(&N), 0);
	ck_assert_int_eq(nu_remove(&N), 0);
	ck_assert_uint_eq(tu_check(a, 0, len, seed), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_store_free(ns);
	nu_fini(&N);
}
END_TEST

/* ---- the read side under races ------------------------------------------- */

#define RK 4 /* pages under the notifier */

struct race {
	struct upg_runtime *rt;
	char *a;
	uint64_t npg;
	struct nu_store *ns;
	pthread_mutex_t lock; /* the "user lock" of the pattern */
	struct nu_notifier nn;
	uint64_t version[RK]; /* under lock */
	uint64_t tver[64];    /* toucher's pages, its own */
	_Atomic bool stop;
	_Atomic unsigned long ok, retries, viol_resident, viol_frame,
		viol_version, writes, write_faults, touches;
};

/*
 * The kernel's read side: begin, look at the pages (caching what only
 * holds while the page is the same page: here its "frame", the count of
 * store reads that filled it), lock, retry if invalidated.  A section that
 * is not retried must find its pages still resident, never refilled since
 * it looked: an eviction in between had to invalidate first.
 */
static void *race_reader(void *arg)
{
	struct race *x = arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	while (!atomic_load(&x->stop)) {
		uint64_t seq = upg_interval_read_begin(&x->nn.n);
		uint64_t rv = nu_rand(&rng);
		unsigned pg[2] = { rv % RK, (rv % RK + 1) % RK }, i;
		uint64_t v[2], frame[2];

		for (i = 0; i < 2; i++) {
			v[i] = *(volatile uint64_t *)(x->a + pg[i] * PS);
			frame[i] = nu_store_reads(x->ns, pg[i]);
		}
		if (!(rv & 0x700))
			sched_yield(); /* widen the window now and then */
		pthread_mutex_lock(&x->lock);
		if (upg_interval_read_retry(&x->nn.n, seq)) {
			pthread_mutex_unlock(&x->lock);
			atomic_fetch_add(&x->retries, 1);
			continue;
		}
		for (i = 0; i < 2; i++) {
			if (!nu_resident(x->a + pg[i] * PS))
				atomic_fetch_add(&x->viol_resident, 1);
			if (nu_store_reads(x->ns, pg[i]) != frame[i])
				atomic_fetch_add(&x->viol_frame, 1);
			if (v[i] > x->version[pg[i]])
				atomic_fetch_add(&x->viol_version, 1);
		}
		pthread_mutex_unlock(&x->lock);
		atomic_fetch_add(&x->ok, 1);
	}
	return NULL;
}

/* Updates the pages under the user lock, without faulting there (the
 * nofault pattern: a fault under a lock the callback takes could wait for
 * an eviction that waits for the lock). */
static void *race_writer(void *arg)
{
	struct race *x = arg;
	uint64_t rng = 0xdeadbeefcafef00dull;

	while (!atomic_load(&x->stop)) {
		unsigned p = nu_rand(&rng) % RK;
		uint64_t nv;
		size_t left;

		pthread_mutex_lock(&x->lock);
		nv = x->version[p] + 1;
		left = upg_copy_to_nofault(x->rt, x->a + p * PS, &nv,
					   sizeof(nv));
		if (!left)
			x->version[p] = nv;
		pthread_mutex_unlock(&x->lock);
		if (left) {
			atomic_fetch_add(&x->write_faults, 1);
			(void)upg_fault_in_writeable(x->rt, x->a + p * PS,
						     sizeof(nv));
		} else {
			atomic_fetch_add(&x->writes, 1);
		}
		sched_yield();
	}
	return NULL;
}

/* Keeps the budget full with the other pages. */
static void *race_toucher(void *arg)
{
	struct race *x = arg;
	uint64_t rng = 0x0123456789abcdefull;

	while (!atomic_load(&x->stop)) {
		uint64_t rv = nu_rand(&rng);
		uint64_t p = RK + rv % (x->npg - RK);
		volatile uint64_t *w = (volatile uint64_t *)(x->a + p * PS);

		if (rv & 0x10000)
			w[0] = ++x->tver[p];
		else if (w[0] != x->tver[p])
			atomic_fetch_add(&x->viol_version, 1);
		atomic_fetch_add(&x->touches, 1);
	}
	return NULL;
}

START_TEST(test_read_side_races)
{
	struct race *x = calloc(1, sizeof(*x));
	const uint64_t npg = 64, seed = 703;
	struct upg_region *r;
	pthread_t th[3];
	uint64_t t0, pg, refills = 0;
	unsigned i;

	ck_assert_ptr_nonnull(x);
	x->npg = npg;
	x->rt = runtime(8, 2, 0, 0, 2);
	x->ns = nu_store_create(npg * PS, seed);
	ck_assert_int_eq(upg_region_map_store(x->rt, x->ns->st, npg * PS, NULL,
					      &r),
			 0);
	x->a = upg_region_addr(r);
	pthread_mutex_init(&x->lock, NULL);
	for (pg = 0; pg < npg; pg++)
		*(volatile uint64_t *)(x->a + pg * PS) = 0; /* version 0 */
	nu_init(&x->nn, &x->lock);
	ck_assert_int_eq(nu_insert(x->rt, &x->nn, (uintptr_t)x->a, RK * PS), 0);

	ck_assert_int_eq(pthread_create(&th[0], NULL, race_reader, x), 0);
	ck_assert_int_eq(pthread_create(&th[1], NULL, race_writer, x), 0);
	ck_assert_int_eq(pthread_create(&th[2], NULL, race_toucher, x), 0);
	t0 = tu_now_ns();
	while (tu_now_ns() - t0 < 2500000000ull &&
	       (atomic_load(&x->ok) < 20000 || atomic_load(&x->retries) < 500))
		sched_yield();
	atomic_store(&x->stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	for (pg = 0; pg < RK; pg++)
		refills += nu_store_reads(x->ns, pg) - 1;
	fprintf(stderr,
		"read side: %lu sections ok, %lu retried; %lu invalidations "
		"(%lu refused), %llu refills of the %u pages; writer %lu "
		"(%lu faulted in); toucher %lu\n",
		(unsigned long)x->ok, (unsigned long)x->retries,
		(unsigned long)nu_count(&x->nn, UPG_NOTIFY_EVICT),
		(unsigned long)x->nn.refused, (unsigned long long)refills, RK,
		(unsigned long)x->writes, (unsigned long)x->write_faults,
		(unsigned long)x->touches);
	ck_assert_msg(!x->viol_resident,
		      "%lu read sections passed read_retry() with a page "
		      "already evicted",
		      (unsigned long)x->viol_resident);
	ck_assert_msg(!x->viol_frame,
		      "%lu read sections passed read_retry() although a page "
		      "was evicted and refilled since they looked at it",
		      (unsigned long)x->viol_frame);
	ck_assert_msg(!x->viol_version, "%lu reads saw data never written",
		      (unsigned long)x->viol_version);
	ck_assert_uint_eq(nu_violations(&x->nn), 0);
	/* The race was run: the pages were evicted under the reader. */
	ck_assert_uint_gt(refills, 0);
	ck_assert_uint_gt(nu_count(&x->nn, UPG_NOTIFY_EVICT), 0);
	ck_assert_uint_gt(x->retries, 0);
	ck_assert_uint_gt(x->ok, 0);
	ck_assert_uint_gt(x->writes, 0);

	/* No write lost, in memory and in the store. */
	for (pg = 0; pg < npg; pg++)
		ck_assert_uint_eq(*(volatile uint64_t *)(x->a + pg * PS),
				  pg < RK ? x->version[pg] : x->tver[pg]);
	ck_assert_int_eq(nu_remove(&x->nn), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	for (pg = 0; pg < npg; pg++) {
		uint64_t w;

		memcpy(&w, x->ns->data + pg * PS, sizeof(w));
		ck_assert_uint_eq(w, pg < RK ? x->version[pg] : x->tver[pg]);
		ck_assert_uint_eq(tu_check(x->ns->data + pg * PS + 8,
					   pg * PS + 8, PS - 8, seed),
				  UINT64_MAX);
	}
	ck_assert_int_eq(upg_runtime_destroy(x->rt), 0);
	nu_store_free(x->ns);
	nu_fini(&x->nn);
	pthread_mutex_destroy(&x->lock);
	free(x);
}
END_TEST

/* ---- exactly the overlapping notifiers ----------------------------------- */

#define NRAND 200
#define NEDGE 6
#define NCHURN 16

struct key {
	uintptr_t start, end;
	int event;
};

static int key_cmp(const void *pa, const void *pb)
{
	const struct nu_call *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	return (int)a->event - (int)b->event;
}

/* Number of calls in sorted @v (length @n) with @k's range and event. */
static size_t key_count(const struct nu_call *v, size_t n,
			const struct nu_call *k)
{
	size_t lo = 0, hi = n, c = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&v[mid], k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + c < n && !key_cmp(&v[lo + c], k))
		c++;
	return c;
}

struct churn {
	struct upg_runtime *rt;
	uintptr_t a;
	uint64_t len;
	struct nu_notifier nn[NCHURN];
	_Atomic bool stop;
	_Atomic unsigned long ops, errors;
};

/* Inserts and removes notifiers over the region while evictions run. */
static void *churn_main(void *arg)
{
	struct churn *c = arg;
	uint64_t rng = 0x5151515151515151ull;

	while (!atomic_load(&c->stop)) {
		struct nu_notifier *nn = &c->nn[nu_rand(&rng) % NCHURN];
		int err;

		if (atomic_load(&nn->live)) {
			err = nu_remove(nn);
		} else {
			uint64_t s = nu_rand(&rng) % c->len;

			err = nu_insert(c->rt, nn, c->a + s,
					1 + nu_rand(&rng) % (16 * PS));
		}
		if (err)
			atomic_fetch_add(&c->errors, 1);
		atomic_fetch_add(&c->ops, 1);
	}
	return NULL;
}

START_TEST(test_exactly_overlapping)
{
	struct upg_runtime *rt = runtime(16, 2, 0, 0, 8);
	const uint64_t npg = 128, len = npg * PS, seed = 704;
	int fd = tur_data_file(len, seed);
	struct nu_notifier *nn = calloc(NRAND + NEDGE + 1, sizeof(*nn));
	struct nu_notifier *S = &nn[NRAND + NEDGE];
	struct churn *ch = calloc(1, sizeof(*ch));
	struct upg_region *r;
	struct nu_call *sv, *keys;
	size_t ns, nkeys, i, j, k;
	uint64_t rng = 20240601, it;
	unsigned long mismatches = 0, total_calls = 0;
	pthread_t cth;
	uintptr_t a;

	ck_assert_ptr_nonnull(nn);
	ck_assert_ptr_nonnull(ch);
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = (uintptr_t)upg_region_addr(r);
	for (i = 0; i < NRAND + NEDGE + 1; i++)
		nu_init(&nn[i], NULL);
	/* Random intervals, byte granular, some partly outside the region. */
	for (i = 0; i < NRAND; i++) {
		uintptr_t s = a - 8 * PS + nu_rand(&rng) % (len + 16 * PS);
		size_t l = 1 + nu_rand(&rng) % (32 * PS);

		ck_assert_int_eq(nu_insert(rt, &nn[i], s, l), 0);
	}
	/* Edges: the last byte of page 9, the first byte of page 10, just
	 * before the region, just after it, its last byte, one page. */
	ck_assert_int_eq(nu_insert(rt, &nn[NRAND + 0], a + 10 * PS - 1, 1), 0);
	ck_assert_int_eq(nu_insert(rt, &nn[NRAND + 1], a + 10 * PS, 1), 0);
	ck_assert_int_eq(nu_insert(rt, &nn[NRAND + 2], a - PS, PS), 0);
	ck_assert_int_eq(nu_insert(rt, &nn[NRAND + 3], a + len, PS), 0);
	ck_assert_int_eq(nu_insert(rt, &nn[NRAND + 4], a + len - 1, 1), 0);
	ck_assert_int_eq(nu_insert(rt, &nn[NRAND + 5], a + 77 * PS, PS), 0);
	/* The reference: sees every invalidation of the region. */
	ck_assert_int_eq(nu_insert(rt, S, a, len), 0);

	ch->rt = rt;
	ch->a = a;
	ch->len = len;
	for (i = 0; i < NCHURN; i++)
		nu_init(&ch->nn[i], NULL);
	ck_assert_int_eq(pthread_create(&cth, NULL, churn_main, ch), 0);

	for (it = 0; it < 3000; it++) {
		uint64_t rv = nu_rand(&rng);
		volatile uint64_t *w =
			(volatile uint64_t *)(a + (rv % npg) * PS);

		if (rv & 0x100000)
			w[1] = w[1] + 0; /* write: dirty */
		else
			(void)w[0];
	}
	atomic_store(&ch->stop, true);
	pthread_join(cth, NULL);
	/* Unmap: UNMAP to all of them, and every eviction of the region is
	 * over when it returns. */
	ck_assert_int_eq(upg_region_unmap(r), 0);

	sv = nu_calls(S, &ns);
	qsort(sv, ns, sizeof(*sv), key_cmp);
	keys = malloc((ns ? ns : 1) * sizeof(*keys));
	ck_assert_ptr_nonnull(keys);
	for (i = 0, nkeys = 0; i < ns; i++)
		if (!nkeys || key_cmp(&keys[nkeys - 1], &sv[i]))
			keys[nkeys++] = sv[i];
	fprintf(stderr,
		"overlap: %lu invalidations of the region (%zu distinct "
		"ranges), %lu churn operations\n",
		nu_count(S, UPG_NOTIFY_EVICT), nkeys,
		(unsigned long)atomic_load(&ch->ops));
	ck_assert_uint_gt(nu_count(S, UPG_NOTIFY_EVICT), 50);
	ck_assert_uint_eq(nu_count(S, UPG_NOTIFY_UNMAP), 1);

	for (i = 0; i < NRAND + NEDGE; i++) {
		size_t nc;
		struct nu_call *cv = nu_calls(&nn[i], &nc);

		qsort(cv, nc, sizeof(*cv), key_cmp);
		total_calls += nc;
		ck_assert_uint_eq(nu_violations(&nn[i]), 0);
		for (k = 0; k < nkeys; k++) {
			size_t want = nu_overlaps(keys[k].start, keys[k].end,
						  nn[i].n.start, nn[i].n.end) ?
					      key_count(sv, ns, &keys[k]) :
					      0;
			size_t got = key_count(cv, nc, &keys[k]);

			if (got != want && mismatches++ < 5)
				fprintf(stderr,
					"notifier %zu [%#lx, %#lx): %zu calls "
					"for range [%#lx, %#lx) event %d, "
					"expected %zu\n",
					i, (unsigned long)nn[i].n.start,
					(unsigned long)nn[i].n.end, got,
					(unsigned long)keys[k].start,
					(unsigned long)keys[k].end,
					keys[k].event, want);
		}
		/* No call for a range the reference never saw. */
		for (j = 0; j < nc; j++)
			if (!key_count(sv, ns, &cv[j]) && mismatches++ < 5)
				fprintf(stderr,
					"notifier %zu called for [%#lx, %#lx), "
					"an invalidation nobody else saw\n",
					i, (unsigned long)cv[j].start,
					(unsigned long)cv[j].end);
		free(cv);
	}
	ck_assert_msg(!mismatches, "%lu mismatches between the calls made "
				   "and the notifiers overlapping them",
		      mismatches);
	ck_assert_uint_eq(nu_total(&nn[NRAND + 2]), 0);
	ck_assert_uint_eq(nu_total(&nn[NRAND + 3]), 0);
	for (i = 0; i < NCHURN; i++)
		total_calls += nu_total(&ch->nn[i]);
	/* Every callback made is one the notifiers logged. */
	ck_assert_uint_eq(tu_stats(rt).notifier_callbacks, total_calls + ns);
	/* The churned ones: only called while inserted, for their range. */
	ck_assert_uint_eq(ch->errors, 0);
	ck_assert_uint_gt(ch->ops, 10);
	for (i = 0; i < NCHURN; i++) {
		ck_assert_uint_eq(nu_violations(&ch->nn[i]), 0);
		if (atomic_load(&ch->nn[i].live))
			ck_assert_int_eq(nu_remove(&ch->nn[i]), 0);
		nu_fini(&ch->nn[i]);
	}
	for (i = 0; i < NRAND + NEDGE + 1; i++) {
		ck_assert_int_eq(nu_remove(&nn[i]), 0);
		nu_fini(&nn[i]);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	free(sv);
	free(keys);
	free(nn);
	free(ch);
	close(fd);
}
END_TEST

/* ---- inserts and removes while an invalidation runs ---------------------- */

struct blocker {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool armed, entered, released;
};

static bool block_hook(struct nu_notifier *nn,
		       const struct upg_notifier_range *rg, uint64_t seq)
{
	struct blocker *b = nn->priv;

	(void)seq;
	if (rg->event != UPG_NOTIFY_EVICT || !rg->blockable)
		return true;
	pthread_mutex_lock(&b->m);
	if (b->armed) {
		b->armed = false;
		b->entered = true;
		pthread_cond_broadcast(&b->c);
		while (!b->released)
			pthread_cond_wait(&b->c, &b->m);
	}
	pthread_mutex_unlock(&b->m);
	return true;
}

static bool blocker_entered(struct blocker *b)
{
	bool e;

	pthread_mutex_lock(&b->m);
	e = b->entered;
	pthread_mutex_unlock(&b->m);
	return e;
}

static void blocker_release(struct blocker *b)
{
	pthread_mutex_lock(&b->m);
	b->released = true;
	pthread_cond_broadcast(&b->c);
	pthread_mutex_unlock(&b->m);
}

enum op_kind { OP_READ_BEGIN, OP_REMOVE };

struct op {
	pthread_t th;
	enum op_kind kind;
	struct nu_notifier *nn;
	_Atomic pid_t tid;
	_Atomic bool done;
	uint64_t seq;
	int ret;
};

static void *op_main(void *arg)
{
	struct op *o = arg;

	atomic_store(&o->tid, nu_gettid());
	if (o->kind == OP_READ_BEGIN)
		o->seq = upg_interval_read_begin(&o->nn->n);
	else
		o->ret = nu_remove(o->nn);
	atomic_store(&o->done, true);
	return NULL;
}

static void op_start(struct op *o, enum op_kind kind, struct nu_notifier *nn)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->nn = nn;
	ck_assert_int_eq(pthread_create(&o->th, NULL, op_main, o), 0);
	TU_WAIT_FOR(atomic_load(&o->tid) != 0, 5000);
}

/* The call of @o is asleep and stays so while others run. */
static void op_assert_blocked(struct op *o, const char *what)
{
	int i;

	TU_WAIT_FOR(atomic_load(&o->done) || nu_thread_state(o->tid) == 'S',
		    5000);
	for (i = 0; i < 200 && !atomic_load(&o->done); i++)
		sched_yield();
	ck_assert_msg(!atomic_load(&o->done),
		      "%s returned while the invalidation was still running",
		      what);
}

START_TEST(test_insert_remove_during_invalidation)
{
	struct upg_runtime *rt = runtime(32, 2, 60, 50, 0);
	const uint64_t npg = 64, len = npg * PS, seed = 705;
	int fd = tur_data_file(len, seed);
	struct blocker b = { .armed = true };
	struct nu_notifier BL, EX, NEW, NEW2, OUT;
	struct op o_new, o_out, o_bl, o_ex, o_new2;
	struct toucher tt;
	static char unmanaged[4096];
	unsigned long bl_calls, ex_calls;
	struct upg_region *r;
	uint64_t t0;
	char *a;

	pthread_mutex_init(&b.m, NULL);
	pthread_cond_init(&b.c, NULL);
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&BL, NULL);
	nu_init(&EX, NULL);
	nu_init(&NEW, NULL);
	nu_init(&NEW2, NULL);
	nu_init(&OUT, NULL);
	BL.hook = block_hook;
	BL.priv = &b;
	ck_assert_int_eq(nu_insert(rt, &BL, (uintptr_t)a, len), 0);
	ck_assert_int_eq(nu_insert(rt, &EX, (uintptr_t)a, 8 * PS), 0);
	ck_assert_int_eq(nu_insert(rt, &OUT, (uintptr_t)unmanaged, 64), 0);

	/* Over the high watermark: the evictor's first callback blocks. */
	toucher_start(&tt, a, 24 * PS, 0);
	TU_WAIT_FOR(blocker_entered(&b), 5000);

	/* An insert now takes effect when the invalidation ends... */
	ck_assert_int_eq(nu_insert(rt, &NEW, (uintptr_t)a, 8 * PS), 0);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &NEW.n, (uintptr_t)a,
						      PS, &nu_ops),
			 -EEXIST);
	/* ...and read_begin() on it waits for that. */
	op_start(&o_new, OP_READ_BEGIN, &NEW);
	op_assert_blocked(&o_new, "read_begin() of a notifier inserted "
				  "during an invalidation");
	/* A notifier the invalidation does not cover does not wait. */
	op_start(&o_out, OP_READ_BEGIN, &OUT);
	TU_WAIT_FOR(atomic_load(&o_out.done), 5000);
	/* Removing the notifier whose callback runs waits for it. */
	op_start(&o_bl, OP_REMOVE, &BL);
	op_assert_blocked(&o_bl, "remove() of the notifier being called");
	/* So does removing another one the invalidation covers. */
	op_start(&o_ex, OP_REMOVE, &EX);
	op_assert_blocked(&o_ex, "remove() of a notifier being invalidated");
	/* An insert not yet in effect is undone at once. */
	ck_assert_int_eq(nu_insert(rt, &NEW2, (uintptr_t)a, len), 0);
	op_start(&o_new2, OP_REMOVE, &NEW2);
	TU_WAIT_FOR(atomic_load(&o_new2.done), 5000);
	ck_assert_int_eq(o_new2.ret, 0);
	/* Still all held. */
	ck_assert(!atomic_load(&o_new.done));
	ck_assert(!atomic_load(&o_bl.done));
	ck_assert(!atomic_load(&o_ex.done));
	ck_assert_uint_eq(nu_total(&BL), 0); /* logged when it returns */

	blocker_release(&b);
	TU_WAIT_FOR(atomic_load(&o_new.done) && atomic_load(&o_bl.done) &&
			    atomic_load(&o_ex.done),
		    5000);
	pthread_join(o_new.th, NULL);
	pthread_join(o_out.th, NULL);
	pthread_join(o_bl.th, NULL);
	pthread_join(o_ex.th, NULL);
	pthread_join(o_new2.th, NULL);
	toucher_join(&tt);
	ck_assert_int_eq(o_bl.ret, 0);
	ck_assert_int_eq(o_ex.ret, 0);
	/* The callback that was running had returned (it is logged then);
	 * the same batch may have called BL again for another run of
	 * victims, but nothing after the remove returned. */
	ck_assert_uint_ge(nu_count(&BL, UPG_NOTIFY_EVICT), 1);
	bl_calls = nu_total(&BL);
	ex_calls = nu_total(&EX);
	ck_assert_uint_eq(nu_total(&NEW2), 0);
	/* NEW's section began after that invalidation; a later one, if any,
	 * called it. */
	ck_assert(!upg_interval_read_retry(&NEW.n, o_new.seq) ||
		  nu_total(&NEW) > 0);

	/* More evictions over the whole region: NEW is in effect, the
	 * removed ones are never called again. */
	t0 = tu_now_ns();
	while (nu_count(&NEW, UPG_NOTIFY_EVICT) == 0) {
		ck_assert_msg(tu_now_ns() - t0 < 10000000000ull,
			      "the notifier inserted during an invalidation "
			      "never saw an eviction");
		tur_touch_read(a, len);
	}
	ck_assert_uint_eq(nu_total(&BL), bl_calls);
	ck_assert_uint_eq(nu_total(&EX), ex_calls);
	ck_assert_uint_eq(nu_total(&NEW2), 0);
	ck_assert_uint_eq(nu_total(&OUT), 0);
	ck_assert_uint_eq(nu_violations(&BL) + nu_violations(&EX) +
				  nu_violations(&NEW) + nu_violations(&NEW2) +
				  nu_violations(&OUT),
			  0);
	ck_assert_uint_eq(tu_check(a, 0, len, seed), UINT64_MAX);
	ck_assert_int_eq(nu_remove(&NEW), 0);
	ck_assert_int_eq(nu_remove(&OUT), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&BL);
	nu_fini(&EX);
	nu_fini(&NEW);
	nu_fini(&NEW2);
	nu_fini(&OUT);
	close(fd);
}
END_TEST

/*
 * A notifier inserted while an eviction is under way that began when no
 * notifier existed.  The contract: invalidate is called before pages that
 * overlap the notifier become inaccessible, and read_begin() waits for a
 * running invalidation (the kernel inserts such a notifier with the
 * running sequence).  So a read section that begins and passes
 * read_retry() before the page is punched must see a retry afterwards.
 */
struct late {
	struct upg_runtime *rt;
	uintptr_t a;
	uint64_t len;
	struct nu_notifier nn;
	pthread_mutex_t lock;
	_Atomic pid_t tid;
	_Atomic bool done;
	uint64_t seq;
	bool retry;
	int err;
};

static void *late_main(void *arg)
{
	struct late *l = arg;

	atomic_store(&l->tid, nu_gettid());
	l->err = nu_insert(l->rt, &l->nn, l->a, l->len);
	if (!l->err) {
		l->seq = upg_interval_read_begin(&l->nn.n);
		pthread_mutex_lock(&l->lock);
		l->retry = upg_interval_read_retry(&l->nn.n, l->seq);
		pthread_mutex_unlock(&l->lock);
	}
	atomic_store(&l->done, true);
	return NULL;
}

START_TEST(test_insert_during_unnotified_eviction)
{
	struct upg_runtime *rt = runtime(32, 2, 60, 50, 0);
	const uint64_t npg = 64, len = npg * PS, seed = 706;
	struct nu_store *ns = nu_store_create(len, seed);
	struct late l = { .rt = rt, .len = len };
	struct toucher tt;
	uint64_t held_off = 0, evicted0;
	bool early;
	struct upg_region *r;
	pthread_t th;
	char *a;

	pthread_mutex_init(&l.lock, NULL);
	nu_init(&l.nn, &l.lock);
	ck_assert_int_eq(upg_region_map_store(rt, ns->st, len, NULL, &r), 0);
	a = upg_region_addr(r);
	l.a = (uintptr_t)a;
	/* Dirty pages over the high watermark, their writeback held: the
	 * evictor stops inside an eviction, between victim selection and the
	 * punch, with no notifier in the runtime. */
	nu_store_close_gate(ns, UPG_IO_WRITE, 0, len);
	toucher_start(&tt, a, 24 * PS, seed + 1);
	TU_WAIT_FOR(nu_store_blocked(ns, UPG_IO_WRITE, &held_off) > 0, 5000);
	ck_assert(nu_resident(a + held_off));
	evicted0 = tu_stats(rt).pages_evicted;

	ck_assert_int_eq(pthread_create(&th, NULL, late_main, &l), 0);
	TU_WAIT_FOR(atomic_load(&l.tid) != 0, 5000);
	TU_WAIT_FOR(atomic_load(&l.done) || nu_thread_state(l.tid) == 'S',
		    5000);
	early = atomic_load(&l.done);

	nu_store_open_gate(ns, UPG_IO_WRITE);
	TU_WAIT_FOR(tu_stats(rt).pages_evicted > evicted0, 5000);
	pthread_join(th, NULL);
	toucher_join(&tt);
	ck_assert_int_eq(l.err, 0);
	if (early && !l.retry) {
		pthread_mutex_lock(&l.lock);
		ck_assert_msg(upg_interval_read_retry(&l.nn.n, l.seq),
			      "page at offset %#llx was evicted (punched) "
			      "after a notifier over it was inserted and a "
			      "read section on it passed read_retry(); its "
			      "invalidate was never called (%lu calls) and "
			      "read_retry() still says the section is valid "
			      "(neither did read_begin() wait for the running "
			      "eviction, nor did that eviction call the new "
			      "notifier)",
			      (unsigned long long)held_off,
			      nu_total(&l.nn));
		pthread_mutex_unlock(&l.lock);
	}
	ck_assert_uint_eq(nu_violations(&l.nn), 0);
	ck_assert_int_eq(nu_remove(&l.nn), 0);
	ck_assert_uint_eq(tu_check(a, 0, 24 * PS, seed + 1), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_store_free(ns);
	nu_fini(&l.nn);
	pthread_mutex_destroy(&l.lock);
}
END_TEST

/* ---- -EDEADLK from callbacks --------------------------------------------- */

struct dl {
	struct upg_runtime *rt;
	struct upg_region *r;
	char *a;
	struct nu_notifier *other;
	struct upg_interval_notifier fresh; /* zeroed: never inserted */
	_Atomic bool done;
	bool blockable;
	int rm_self, rm_other, ins, pin, pin_e, flush, unmap, unmap_f;
	size_t fir, fiw;
	uint64_t rb_seq;
	struct upg_pin *p1, *p2;
};

static bool deadlk_hook(struct nu_notifier *nn,
			const struct upg_notifier_range *rg, uint64_t seq)
{
	struct dl *d = nn->priv;
	char *far;

	(void)seq;
	if (atomic_load(&d->done) || rg->event != UPG_NOTIFY_EVICT)
		return true;
	far = d->a + 40 * PS; /* never touched */
	d->blockable = rg->blockable;
	d->rm_self = upg_interval_notifier_remove(&nn->n);
	d->rm_other = upg_interval_notifier_remove(&d->other->n);
	d->ins = upg_interval_notifier_insert(d->rt, &d->fresh,
					      (uintptr_t)d->a, PS, &nu_ops);
	d->pin = upg_pin(d->rt, far, PS, &d->p1);
	d->pin_e = upg_pin_ephemeral(d->rt, far, PS, &d->p2);
	d->flush = upg_region_flush(d->r, 0, 0);
	d->unmap = upg_region_unmap(d->r);
	d->unmap_f = upg_region_unmap_flags(d->r, UPG_UNMAP_WAIT_PINS);
	d->fir = upg_fault_in_readable(d->rt, far, 2 * PS);
	d->fiw = upg_fault_in_writeable(d->rt, far, 2 * PS);
	/* Must not wait for the invalidation this very call is part of;
	 * the sequence it returns predates it. */
	d->rb_seq = upg_interval_read_begin(&nn->n);
	atomic_store(&d->done, true);
	return true;
}

START_TEST(test_edeadlk_in_callback)
{
	struct upg_runtime *rt = runtime(32, 2, 60, 50, 0);
	const uint64_t npg = 64, len = npg * PS, seed = 707;
	int fd = tur_data_file(len, seed);
	struct dl *d = calloc(1, sizeof(*d));
	struct nu_notifier E, O;
	struct upg_region *r;
	char *a;

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&E, NULL);
	nu_init(&O, NULL);
	d->rt = rt;
	d->r = r;
	d->a = a;
	d->other = &O;
	E.hook = deadlk_hook;
	E.priv = d;
	ck_assert_int_eq(nu_insert(rt, &E, (uintptr_t)a, 32 * PS), 0);
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a + 60 * PS, PS), 0);

	tur_touch_read(a, 24 * PS);
	TU_WAIT_FOR(atomic_load(&d->done), 5000);
	TU_WAIT_FOR(nu_count(&E, UPG_NOTIFY_EVICT) > 0, 5000);

	ck_assert(d->blockable);
	ck_assert_int_eq(d->rm_self, -EDEADLK);
	ck_assert_int_eq(d->rm_other, -EDEADLK);
	ck_assert_int_eq(d->ins, -EDEADLK);
	ck_assert_int_eq(d->pin, -EDEADLK);
	ck_assert_int_eq(d->pin_e, -EDEADLK);
	ck_assert_int_eq(d->flush, -EDEADLK);
	ck_assert_int_eq(d->unmap, -EDEADLK);
	ck_assert_int_eq(d->unmap_f, -EDEADLK);
	ck_assert_uint_eq(d->fir, 2 * PS);
	ck_assert_uint_eq(d->fiw, 2 * PS);
	/* Nothing was faulted in or pinned. */
	ck_assert(!nu_resident(a + 40 * PS));
	ck_assert(!nu_resident(a + 41 * PS));
	ck_assert_uint_eq(tu_stats(rt).pins_acquired, 0);
	/* The callback then set the sequence: that section must retry. */
	ck_assert(upg_interval_read_retry(&E.n, d->rb_seq));
	ck_assert_uint_eq(nu_violations(&E) + nu_violations(&O), 0);

	/* Everything refused is still usable afterwards. */
	ck_assert_uint_eq(tu_check(a, 0, len, seed), UINT64_MAX);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &d->fresh,
						      (uintptr_t)a, PS,
						      &nu_ops),
			 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&d->fresh), 0);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_int_eq(nu_remove(&E), 0);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&E);
	nu_fini(&O);
	free(d);
	close(fd);
}
END_TEST

/* ---- non-blockable callbacks --------------------------------------------- */

struct nb {
	_Atomic unsigned long rm_calls, rm_not_edeadlk;
};

static bool nb_hook(struct nu_notifier *nn,
		    const struct upg_notifier_range *rg, uint64_t seq)
{
	struct nb *x = nn->priv;

	(void)seq;
	(void)rg;
	/* Also refused from a handler thread's callback. */
	if (upg_interval_notifier_remove(&nn->n) != -EDEADLK)
		atomic_fetch_add(&x->rm_not_edeadlk, 1);
	atomic_fetch_add(&x->rm_calls, 1);
	return true;
}

/*
 * One handler thread, a tiny budget and no background eviction (high
 * watermark 100%): every fault past the budget evicts on the handler
 * thread, where callbacks are not blockable.  A notifier that refuses
 * keeps its pages: never written back, never refilled, still resident;
 * the faults still complete.
 */
START_TEST(test_nonblockable_refusal)
{
	struct upg_runtime *rt = runtime(8, 1, 100, 99, 4);
	const uint64_t npg = 64, len = npg * PS, seed = 708;
	struct nu_store *ns = nu_store_create(len, seed);
	struct nu_notifier R;
	struct nb x = { 0 };
	struct upg_region *r;
	struct upg_stats st;
	uint64_t pg, others = 0;
	size_t n, i;
	struct nu_call *calls;
	int round;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, ns->st, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&R, NULL);
	R.hook = nb_hook;
	R.priv = &x;
	atomic_store(&R.refuse, true);
	ck_assert_int_eq(nu_insert(rt, &R, (uintptr_t)a, 4 * PS), 0);

	tu_fill(a, 0, 4 * PS, seed + 1); /* dirty */
	for (round = 0; round < 3; round++)
		tur_touch_read(a + 4 * PS, len - 4 * PS);

	st = tu_stats(rt);
	ck_assert_uint_gt(R.nonblockable_calls, 0);
	ck_assert_uint_eq(R.blockable_calls, 0);
	ck_assert_uint_eq(R.refused, R.nonblockable_calls);
	ck_assert_uint_eq(x.rm_not_edeadlk, 0);
	ck_assert_uint_eq(st.evict_batches_background, 0);
	ck_assert_uint_gt(st.pages_evicted, 3 * 60 - 8 - 8);
	for (pg = 0; pg < 4; pg++) {
		ck_assert_msg(nu_store_writes(ns, pg) == 0,
			      "page %llu written back although its notifier "
			      "refused", (unsigned long long)pg);
		ck_assert_uint_eq(nu_store_reads(ns, pg), 1);
		ck_assert(nu_resident(a + pg * PS));
	}
	for (pg = 4; pg < npg; pg++)
		others += nu_store_reads(ns, pg);
	ck_assert_uint_gt(others, 2 * 60); /* refilled: evicted */
	calls = nu_calls(&R, &n);
	for (i = 0; i < n; i++) {
		ck_assert(!calls[i].blockable);
		ck_assert(!calls[i].accepted);
		ck_assert_int_eq(calls[i].event, UPG_NOTIFY_EVICT);
	}
	free(calls);

	/* Once it accepts, its pages go like the others, written back. */
	atomic_store(&R.refuse, false);
	for (round = 0; round < 3; round++)
		tur_touch_read(a + 4 * PS, len - 4 * PS);
	for (pg = 0; pg < 4; pg++) {
		ck_assert_uint_eq(nu_store_writes(ns, pg), 1);
		ck_assert(!nu_resident(a + pg * PS));
	}
	ck_assert_uint_eq(tu_check(a, 0, 4 * PS, seed + 1), UINT64_MAX);
	for (pg = 0; pg < 4; pg++)
		ck_assert_uint_eq(nu_store_reads(ns, pg), 2);
	ck_assert_uint_eq(tu_check(a + 4 * PS, 4 * PS, len - 4 * PS, seed),
			  UINT64_MAX);
	ck_assert_uint_eq(nu_violations(&R), 0);
	ck_assert_uint_eq(x.rm_not_edeadlk, 0);
	ck_assert_int_eq(nu_remove(&R), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_store_free(ns);
	nu_fini(&R);
}
END_TEST

/* A notifier over everything refuses every non-blockable call: a fault
 * past the budget cannot evict on the handler thread and must still
 * complete (over the budget, bounded), and eviction resumes in the
 * background, where callbacks may block and so accept. */
START_TEST(test_nonblockable_refuse_all)
{
	struct upg_runtime *rt = runtime(8, 1, 100, 99, 4);
	const uint64_t npg = 32, len = npg * PS, seed = 709;
	struct nu_store *ns = nu_store_create(len, seed);
	struct nu_notifier R;
	struct upg_region *r;
	struct upg_stats st;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, ns->st, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&R, NULL);
	atomic_store(&R.refuse, true);
	ck_assert_int_eq(nu_insert(rt, &R, (uintptr_t)a, len), 0);

	tu_fill(a, 0, len, seed + 1);
	ck_assert_uint_eq(tu_check(a, 0, len, seed + 1), UINT64_MAX);
	st = tu_stats(rt);
	ck_assert_uint_gt(R.refused, 0);
	ck_assert_uint_eq(R.refused, R.nonblockable_calls);
	ck_assert_uint_gt(st.budget_overshoot_pages + R.blockable_calls, 0);
	/* The evictor brings residency back to the budget. */
	TU_WAIT_FOR(tu_stats(rt).resident_bytes <= 8 * PS, 5000);
	ck_assert_uint_eq(nu_violations(&R), 0);
	atomic_store(&R.refuse, false);
	ck_assert_uint_eq(tu_check(a, 0, len, seed + 1), UINT64_MAX);
	ck_assert_int_eq(nu_remove(&R), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_check(ns->data, 0, len, seed + 1), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_store_free(ns);
	nu_fini(&R);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("notifier");
	TCase *tc = tcase_create("api");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_api_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("evict");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_evict_callbacks);
	tcase_add_test(tc, test_evict_callback_writes);
	tcase_add_test(tc, test_callback_fault_not_deduplicated);
	tcase_add_test(tc, test_edeadlk_in_callback);
	suite_add_tcase(s, tc);

	tc = tcase_create("races");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_read_side_races);
	tcase_add_test(tc, test_exactly_overlapping);
	tcase_add_test(tc, test_insert_remove_during_invalidation);
	tcase_add_test(tc, test_insert_during_unnotified_eviction);
	suite_add_tcase(s, tc);

	tc = tcase_create("nonblockable");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_nonblockable_refusal);
	tcase_add_test(tc, test_nonblockable_refuse_all);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
