// SPDX-License-Identifier: MIT
/*
 * test_region_concurrency - several application threads at once: the
 * budget holds (within its documented slack) while threads fault and a
 * sampler reads the counters; threads faulting the same page see the same
 * data and cause one fill; threads faulting different pages each get
 * their own.
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
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define NTHREADS 4

static size_t PS;

/* Log sink that counts messages by level and keeps stderr quiet for
 * info and debug. */
struct log_count {
	atomic_uint by_level[UPG_LOG_DEBUG + 1];
	atomic_uint refills; /* "vanished from its memfd" */
};

static void count_log(enum upg_log_level level, const char *msg, void *ctx)
{
	struct log_count *lc = ctx;

	if ((unsigned)level <= UPG_LOG_DEBUG)
		atomic_fetch_add(&lc->by_level[level], 1);
	if (strstr(msg, "vanished"))
		atomic_fetch_add(&lc->refills, 1);
	if (level <= UPG_LOG_WARN)
		fprintf(stderr, "upager: %s\n", msg);
}

static struct upg_runtime *runtime_counting(uint64_t budget, unsigned threads,
					    struct log_count *lc)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget,
		 .handler_threads = threads, .log_fn = count_log,
		 .log_ctx = lc, .log_level = UPG_LOG_INFO);
	struct upg_runtime *rt;

	memset(lc, 0, sizeof(*lc));
	ck_assert_int_eq(upg_runtime_create(&o, &rt), 0);
	return rt;
}

/* ---- budget under concurrent faults ------------------------------------ */

struct budget_arg {
	char *base;
	uint64_t first, n; /* pages */
	uint64_t seed;
	uint64_t bad;      /* out: first bad byte offset, or UINT64_MAX */
};

static void *budget_worker(void *p)
{
	struct budget_arg *w = p;
	uint64_t pg;
	int pass;

	w->bad = UINT64_MAX;
	for (pass = 0; pass < 2; pass++) {
		for (pg = w->first; pg < w->first + w->n; pg++) {
			char *a = w->base + pg * PS;

			/* Every 4th page written (after a read: its write is
			 * a WP fault), every page checked. */
			if (pass == 0 && pg % 4 == 0) {
				tur_touch_read(a, PS);
				tu_fill(a, pg * PS, PS, w->seed + 1);
			}
			if (tu_check(a, pg * PS, PS,
				     pg % 4 == 0 ? w->seed + 1 : w->seed) !=
				    UINT64_MAX &&
			    w->bad == UINT64_MAX)
				w->bad = pg * PS;
		}
	}
	return NULL;
}

struct sampler_arg {
	struct upg_runtime *rt;
	atomic_bool stop;
	uint64_t bound, max_seen, samples, over;
};

static void *sampler(void *p)
{
	struct sampler_arg *s = p;

	while (!atomic_load(&s->stop)) {
		UPG_OPTS(upg_stats, st);

		if (upg_runtime_stats(s->rt, &st))
			break;
		s->samples++;
		if (st.resident_bytes > s->max_seen)
			s->max_seen = st.resident_bytes;
		if (st.resident_bytes > s->bound)
			s->over++;
	}
	return NULL;
}

static void budget_run(uint64_t fill_unit)
{
	const uint64_t budget = 1 * MiB, len = 8 * budget;
	const unsigned handlers = 2;
	struct log_count lc;
	struct upg_runtime *rt = runtime_counting(budget, handlers, &lc);
	int fd = tur_data_file(len, 601);
	UPG_OPTS(upg_region_opts, o, .fill_unit = fill_unit);
	struct budget_arg w[2];
	struct sampler_arg s = { .rt = rt };
	pthread_t tw[2], ts;
	struct upg_region *r;
	struct upg_stats st;
	uint64_t npages = len / PS;
	unsigned i;

	s.bound = budget + handlers * fill_unit;
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, &o, &r), 0);
	ck_assert_int_eq(pthread_create(&ts, NULL, sampler, &s), 0);
	for (i = 0; i < 2; i++) {
		w[i] = (struct budget_arg){ upg_region_addr(r), i * npages / 2,
					    npages / 2, 601, 0 };
		ck_assert_int_eq(pthread_create(&tw[i], NULL, budget_worker,
						&w[i]), 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(tw[i], NULL);
	atomic_store(&s.stop, true);
	pthread_join(ts, NULL);

	for (i = 0; i < 2; i++)
		ck_assert_msg(w[i].bad == UINT64_MAX,
			      "worker %u: wrong data at byte %llu", i,
			      (unsigned long long)w[i].bad);
	st = tu_stats(rt);
	ck_assert_uint_gt(s.samples, 0);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_msg(!s.over,
		      "resident_bytes above budget + slack (%llu) in %llu of "
		      "%llu samples; max %llu",
		      (unsigned long long)s.bound, (unsigned long long)s.over,
		      (unsigned long long)s.samples,
		      (unsigned long long)s.max_seen);
	ck_assert_uint_le(st.resident_peak_bytes, s.bound);
	ck_assert_uint_le(st.resident_bytes, s.bound);
	ck_assert_uint_eq(st.budget_bytes, budget);
	ck_assert_uint_le(st.budget_overshoot_pages * PS,
			  handlers * fill_unit);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	{
		uint64_t pg;

		for (pg = 0; pg < npages; pg += 4)
			ck_assert_uint_eq(tur_file_check(fd, pg * PS, PS, 602),
					  UINT64_MAX);
		ck_assert_uint_eq(tur_file_check(fd, PS, 3 * PS, 601),
				  UINT64_MAX);
	}
	ck_assert_uint_eq(atomic_load(&lc.by_level[UPG_LOG_ERROR]), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}

START_TEST(test_budget_bound_page_unit)
{
	budget_run(PS);
}
END_TEST

START_TEST(test_budget_bound_64k_unit)
{
	budget_run(64 * 1024);
}
END_TEST

/* ---- the same page from several threads -------------------------------- */

struct same_arg {
	char *base;
	uint64_t npages, seed;
	unsigned id;
	bool write;
	pthread_barrier_t *bar;
	uint64_t bad;
};

static void *same_page_worker(void *p)
{
	struct same_arg *w = p;
	uint64_t pg;

	w->bad = UINT64_MAX;
	for (pg = 0; pg < w->npages; pg++) {
		char *a = w->base + pg * PS;

		pthread_barrier_wait(w->bar);
		if (w->write) {
			/* Each thread its own word, all on a page nobody
			 * touched before: every thread's write must stay. */
			((volatile uint64_t *)a)[w->id] = pg << 8 | (w->id + 1);
		} else if (tu_check(a, pg * PS, PS, w->seed) != UINT64_MAX &&
			   w->bad == UINT64_MAX) {
			w->bad = pg * PS + tu_check(a, pg * PS, PS, w->seed);
		}
	}
	return NULL;
}

static void run_same_page(struct upg_region *r, uint64_t npages, bool write,
			  uint64_t seed, struct same_arg *w)
{
	pthread_barrier_t bar;
	pthread_t t[NTHREADS];
	unsigned i;

	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct same_arg){ upg_region_addr(r), npages, seed, i,
					  write, &bar, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, same_page_worker,
						&w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
}

START_TEST(test_same_page_read)
{
	struct log_count lc;
	struct upg_runtime *rt = runtime_counting(16 * MiB, 4, &lc);
	const uint64_t n = 512;
	int fd = tur_data_file(n * PS, 610);
	struct same_arg w[NTHREADS];
	struct upg_region *r;
	struct upg_stats s0, s1;
	unsigned i;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	s0 = tu_stats(rt);
	run_same_page(r, n, false, 610, w);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_msg(w[i].bad == UINT64_MAX,
			      "thread %u read wrong data at byte %llu", i,
			      (unsigned long long)w[i].bad);
	s1 = tu_stats(rt);
	/* One fill per page, however many threads faulted on it. */
	ck_assert_msg(s1.pages_filled - s0.pages_filled == n &&
			      !atomic_load(&lc.refills),
		      "%llu pages filled for %llu pages faulted by %d threads "
		      "each (%u \"vanished\" refills of resident pages)",
		      (unsigned long long)(s1.pages_filled - s0.pages_filled),
		      (unsigned long long)n, NTHREADS,
		      atomic_load(&lc.refills));
	ck_assert_uint_eq(s1.bytes_read - s0.bytes_read, n * PS);
	ck_assert_uint_eq(s1.pages_evicted, 0);
	ck_assert_uint_ge(s1.faults_missing - s0.faults_missing, n);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).bytes_written, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_same_page_write)
{
	struct log_count lc;
	struct upg_runtime *rt = runtime_counting(16 * MiB, 4, &lc);
	const uint64_t n = 512;
	int fd = tur_data_file(n * PS, 611);
	struct same_arg w[NTHREADS];
	struct upg_region *r;
	uint64_t pg, lost = 0, first_lost = UINT64_MAX;
	unsigned i;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	run_same_page(r, n, true, 611, w);
	for (pg = 0; pg < n; pg++) {
		const uint64_t *words = (const uint64_t *)(a + pg * PS);

		for (i = 0; i < NTHREADS; i++) {
			if (words[i] != (pg << 8 | (i + 1))) {
				lost++;
				if (first_lost == UINT64_MAX)
					first_lost = pg;
			}
		}
		/* The rest of the page is the file's. */
		ck_assert_uint_eq(tu_check(a + pg * PS + NTHREADS * 8,
					   pg * PS + NTHREADS * 8,
					   PS - NTHREADS * 8, 611),
				  UINT64_MAX);
	}
	ck_assert_msg(!lost,
		      "%llu of %llu concurrent writes lost (first on page "
		      "%llu); %u \"vanished\" refills of resident pages",
		      (unsigned long long)lost,
		      (unsigned long long)(n * NTHREADS),
		      (unsigned long long)first_lost,
		      atomic_load(&lc.refills));
	ck_assert_int_eq(upg_region_unmap(r), 0);
	for (pg = 0; pg < n; pg++) {
		uint64_t words[NTHREADS];

		tur_pread(fd, words, sizeof(words), pg * PS);
		for (i = 0; i < NTHREADS; i++)
			ck_assert_uint_eq(words[i], pg << 8 | (i + 1));
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- different pages in parallel ----------------------------------------- */

struct spread_arg {
	char *base;
	uint64_t npages, seed;
	unsigned id;
	uint64_t bad;
};

static void *spread_worker(void *p)
{
	struct spread_arg *w = p;
	uint64_t pg;
	int pass;

	w->bad = UINT64_MAX;
	/* Thread t owns pages t, t+N, ...: writes them, then checks
	 * them (twice, with evictions in between). */
	for (pg = w->id; pg < w->npages; pg += NTHREADS) {
		tur_touch_read(w->base + pg * PS, PS);
		tu_fill(w->base + pg * PS, pg * PS, PS, w->seed + w->id);
	}
	for (pass = 0; pass < 2; pass++)
		for (pg = w->id; pg < w->npages; pg += NTHREADS)
			if (tu_check(w->base + pg * PS, pg * PS, PS,
				     w->seed + w->id) != UINT64_MAX &&
			    w->bad == UINT64_MAX)
				w->bad = pg;
	return NULL;
}

START_TEST(test_different_pages_parallel)
{
	struct log_count lc;
	struct upg_runtime *rt = runtime_counting(64 * PS, 2, &lc);
	const uint64_t n = 512;
	struct spread_arg w[NTHREADS];
	pthread_t t[NTHREADS];
	struct upg_region *r;
	struct upg_stats st;
	unsigned i;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r), 0);
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct spread_arg){ upg_region_addr(r), n, 620, i, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, spread_worker,
						&w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_msg(w[i].bad == UINT64_MAX,
			      "thread %u: wrong data on page %llu", i,
			      (unsigned long long)w[i].bad);
	st = tu_stats(rt);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_gt(st.bytes_read, 0);
	ck_assert_uint_eq(st.read_errors + st.write_errors, 0);
	ck_assert_uint_eq(atomic_load(&lc.by_level[UPG_LOG_ERROR]), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- flushes racing writes ---------------------------------------------- */

struct racer {
	char *base;
	uint64_t npages;
	atomic_bool stop;
	_Atomic uint64_t done; /* rounds finished so far */
	uint64_t rounds;
};

static void *racing_writer(void *p)
{
	struct racer *w = p;
	uint64_t seq = 1, pg;

	while (!atomic_load(&w->stop)) {
		for (pg = 0; pg < w->npages; pg++)
			((volatile uint64_t *)(w->base + pg * PS))[pg % 8] =
				seq << 16 | pg;
		atomic_store(&w->done, seq);
		seq++;
	}
	w->rounds = seq - 1;
	return NULL;
}

/*
 * One thread keeps writing every page while this one flushes, under a
 * budget that keeps eviction busy too.  Whatever interleaving: after the
 * writer stops, one flush leaves the file equal to memory.
 */
START_TEST(test_flush_races_writes)
{
	struct log_count lc;
	struct upg_runtime *rt = runtime_counting(24 * PS, 2, &lc);
	const uint64_t n = 64;
	int fd = tur_data_file(n * PS, 640);
	struct racer w;
	struct upg_region *r;
	pthread_t t;
	char *a, *b;
	uint64_t pg, deadline;
	int i;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	a = upg_region_addr(r);
	w = (struct racer){ .base = a, .npages = n };
	ck_assert_int_eq(pthread_create(&t, NULL, racing_writer, &w), 0);
	/* At least 20 flushes, and at least one whole round of writes
	 * among them: on a loaded machine 20 flushes may end before the
	 * writer's first round does. */
	deadline = tu_now_ns() + 30ull * 1000 * 1000 * 1000;
	for (i = 0; i < 20 || !atomic_load(&w.done); i++) {
		ck_assert_msg(tu_now_ns() < deadline,
			      "the writer finished no round in 30 s");
		ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	}
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	ck_assert_uint_gt(w.rounds, 0);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	b = malloc(PS);
	ck_assert_ptr_nonnull(b);
	for (pg = 0; pg < n; pg++) {
		tur_pread(fd, b, PS, pg * PS);
		ck_assert_msg(!memcmp(b, a + pg * PS, PS),
			      "page %llu: the file differs from memory after "
			      "the last flush (word %llu: file %#llx, memory "
			      "%#llx)",
			      (unsigned long long)pg,
			      (unsigned long long)(pg % 8),
			      (unsigned long long)((uint64_t *)b)[pg % 8],
			      (unsigned long long)((uint64_t *)(a + pg * PS))[pg % 8]);
		/* The last round reached every page. */
		ck_assert_uint_eq(((uint64_t *)b)[pg % 8] >> 16, w.rounds);
	}
	free(b);
	ck_assert_uint_eq(atomic_load(&lc.by_level[UPG_LOG_ERROR]), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- a fault message handled after its page was filled ------------------ */

/*
 * A store plugin over a buffer whose reads of "gated" pages block inside
 * submit() until the test opens the gate: the handler thread that submits
 * such a read is stuck there, with the rest of the batch of fault messages
 * it read still unprocessed.  That lets the test hold a fault message for
 * page P on one handler thread while the other handler fills P for
 * somebody else, then release it.
 */
#define GS_PAGES 64

struct gstore {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *data;
	uint64_t gated, open; /* page bit masks */
	unsigned waiting[GS_PAGES], reads[GS_PAGES];
};

static int gs_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct gstore *g = ctx;
	uint64_t pg = io->offset / PS;
	size_t len = io->len;

	(void)q;
	if (io->offset + len > GS_PAGES * PS)
		len = io->offset >= GS_PAGES * PS ? 0 :
						    GS_PAGES * PS - io->offset;
	pthread_mutex_lock(&g->mu);
	if (io->op == UPG_IO_READ && pg < GS_PAGES) {
		g->reads[pg]++;
		if ((g->gated >> pg) & 1) {
			g->waiting[pg]++;
			pthread_cond_broadcast(&g->cv);
			while (!((g->open >> pg) & 1))
				pthread_cond_wait(&g->cv, &g->mu);
			g->waiting[pg]--;
		}
	}
	if (io->op == UPG_IO_READ)
		memcpy(io->buf, g->data + io->offset, len);
	else
		memcpy(g->data + io->offset, io->buf, len);
	pthread_mutex_unlock(&g->mu);
	upg_io_complete(io, (ssize_t)len);
	return 0;
}

static unsigned gs_waiting(struct gstore *g, uint64_t pg)
{
	unsigned n;

	pthread_mutex_lock(&g->mu);
	n = g->waiting[pg];
	pthread_mutex_unlock(&g->mu);
	return n;
}

static unsigned gs_reads(struct gstore *g, uint64_t pg)
{
	unsigned n;

	pthread_mutex_lock(&g->mu);
	n = g->reads[pg];
	pthread_mutex_unlock(&g->mu);
	return n;
}

static void gs_open(struct gstore *g, uint64_t pg)
{
	pthread_mutex_lock(&g->mu);
	g->open |= 1ull << pg;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

struct toucher {
	pthread_t t;
	volatile char *p;
	atomic_int tid;
	atomic_bool done;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;

	atomic_store(&t->tid, (int)gettid());
	(void)*t->p;
	atomic_store(&t->done, true);
	return NULL;
}

/* Is thread @tid asleep in a userfaultfd fault (its message queued)?
 * Its wchan names the kernel function it sleeps in (handle_userfault). */
static bool in_uffd_wait(int tid)
{
	char path[64], buf[64] = "";
	FILE *f;

	if (!tid)
		return false;
	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strstr(buf, "userfault") != NULL;
}

static void touch_start(struct toucher *t, volatile char *p)
{
	t->p = p;
	atomic_store(&t->tid, 0);
	atomic_store(&t->done, false);
	ck_assert_int_eq(pthread_create(&t->t, NULL, touch_main, t), 0);
}

START_TEST(test_stale_fault_refill_loses_write)
{
	enum { Z = 1, Y = 2, X = 3, P = 4, W = 5 };
	struct log_count lc;
	struct upg_runtime *rt = runtime_counting(16 * MiB, 2, &lc);
	UPG_OPTS(upg_store_ops, ops, .submit = gs_submit);
	struct gstore g = { .gated = 1u << Z | 1u << Y | 1u << X | 1u << W };
	struct toucher tz, ty, tx, t2, tw;
	struct upg_store *st;
	struct upg_region *r;
	volatile char *a;

	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	g.data = malloc(GS_PAGES * PS);
	ck_assert_ptr_nonnull(g.data);
	tu_fill(g.data, 0, GS_PAGES * PS, 630);
	ck_assert_int_eq(upg_store_create(&ops, &g, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, GS_PAGES * PS, NULL, &r),
			 0);
	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	a = upg_region_addr(r);

	/* Both handler threads stuck in the store (pages Z and Y). */
	touch_start(&tz, a + Z * PS);
	TU_WAIT_FOR(gs_waiting(&g, Z) == 1, 5000);
	touch_start(&ty, a + Y * PS);
	TU_WAIT_FOR(gs_waiting(&g, Y) == 1, 5000);
	/* Three faults queue up unread: X, then P (thread t2), then W. */
	touch_start(&tx, a + X * PS);
	TU_WAIT_FOR(in_uffd_wait(atomic_load(&tx.tid)), 5000);
	touch_start(&t2, a + P * PS);
	TU_WAIT_FOR(in_uffd_wait(atomic_load(&t2.tid)), 5000);
	touch_start(&tw, a + W * PS);
	TU_WAIT_FOR(in_uffd_wait(atomic_load(&tw.tid)), 5000);
	/* Handler A finishes Z, reads [X, P, W] in one batch and is stuck
	 * on X, holding P's message. */
	gs_open(&g, Z);
	TU_WAIT_FOR(gs_waiting(&g, X) == 1, 5000);
	TU_WAIT_FOR(atomic_load(&tz.done), 5000);
	ck_assert_uint_eq(gs_reads(&g, P), 0);
	/* Handler B is free again: this thread faults P in, reads it and
	 * writes it.  t2 is woken by that fill too. */
	gs_open(&g, Y);
	TU_WAIT_FOR(atomic_load(&ty.done), 5000);
	ck_assert_uint_eq(tu_check((const void *)(a + P * PS), P * PS, PS, 630),
			  UINT64_MAX);
	TU_WAIT_FOR(atomic_load(&t2.done), 5000);
	memset((void *)(a + P * PS), 0x77, 64);
	ck_assert_int_eq(a[P * PS], 0x77);
	/* Handler A goes on: X, then the old message for P (the page has
	 * been resident for a while: nothing to do), then W, where it
	 * stops again: P's message has been handled when W waits. */
	gs_open(&g, X);
	TU_WAIT_FOR(gs_waiting(&g, W) == 1, 5000);
	ck_assert_msg(a[P * PS] == 0x77 && a[P * PS + 63] == 0x77,
		      "a write to a resident page was lost: the page was read "
		      "again from the store (%u reads of it, %u \"vanished\" "
		      "refills logged) because a fault message read before it "
		      "was filled was handled after",
		      gs_reads(&g, P), atomic_load(&lc.refills));
	ck_assert_uint_eq(gs_reads(&g, P), 1);
	gs_open(&g, W);
	pthread_join(tz.t, NULL);
	pthread_join(ty.t, NULL);
	pthread_join(tx.t, NULL);
	pthread_join(t2.t, NULL);
	pthread_join(tw.t, NULL);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(((unsigned char *)g.data)[P * PS], 0x77);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	free(g.data);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("region_concurrency");
	TCase *tc = tcase_create("budget");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_budget_bound_page_unit);
	tcase_add_test(tc, test_budget_bound_64k_unit);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_same_page_read);
	tcase_add_test(tc, test_same_page_write);
	tcase_add_test(tc, test_different_pages_parallel);
	tcase_add_test(tc, test_stale_fault_refill_loses_write);
	tcase_add_test(tc, test_flush_races_writes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
