/* SPDX-License-Identifier: MIT */
/*
 * test_concurrency - several application threads on one region while the
 * runtime evicts and refaults under them.
 *
 *  - owners: 4 threads read and write at random over a file region 4x the
 *    budget; each thread writes only the pages it owns (so every page's
 *    content is known) but reads any page.  Everything is verified after
 *    the join, in the file after a flush, and in a new runtime;
 *  - counters: every thread increments (__atomic_fetch_add) 64-bit counters
 *    in the same 8 pages while the budget is 4 pages, so the pages are
 *    evicted and refaulted all the time.  No increment may be lost: that
 *    is the test of the eviction protocol's write-protect step.  Each
 *    thread also checks that no counter ever goes backwards;
 *  - counters with readers: the same with two threads only reading the
 *    counters (read faults mixed with write faults on the same pages);
 *  - two interleavings forced with a store plugin that holds writes (so a
 *    handler thread waits where the test wants it) and /proc wchan (to
 *    know a thread sleeps in a fault): a stale MISSING message for a page
 *    filled meanwhile must not refill it over newer data; a fill unit
 *    whose first page its own eviction emptied must still fill the page
 *    that faulted.
 *
 * A watchdog turns a thread stuck in a fault into a failure that names
 * the address.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress_util.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define KiB (1ull << 10)

#define CHECK(cond, ...)                              \
	do {                                          \
		if (!(cond))                          \
			ck_abort_msg(__VA_ARGS__);    \
	} while (0)

static uint64_t t_start;

/* Each test: timed, and watched (a thread stuck in a fault for 20 s fails
 * the test with the address, rather than a bare timeout).  Slot 0 is the
 * test's own thread, 1 + i worker i. */
static void fixture_start(void)
{
	t_start = tu_now_ns();
	su_wd_start("concurrency", 20);
	su_wd_enter(0);
}

static void fixture_stop(void)
{
	su_wd_leave(0);
	su_wd_stop();
	fprintf(stderr, "  (%.2f s)\n", (double)(tu_now_ns() - t_start) / 1e9);
}

static struct upg_region *map_file(struct upg_runtime *rt, int fd,
				   uint64_t len, uint64_t fill_unit)
{
	UPG_OPTS(upg_region_opts, o, .fill_unit = fill_unit);
	struct upg_region *r = NULL;
	int err = upg_region_map_file(rt, fd, len, &o, &r);

	ck_assert_msg(!err, "upg_region_map_file: %s", strerror(-err));
	return r;
}

static struct upg_region *map_anon(struct upg_runtime *rt, uint64_t len)
{
	struct upg_region *r = NULL;
	int err = upg_region_map_anon(rt, len, NULL, &r);

	ck_assert_msg(!err, "upg_region_map_anon: %s", strerror(-err));
	return r;
}

/* ---- owners -------------------------------------------------------------- */

#define NTHREADS 4
#define OWN_BUDGET (4 * MiB)
#define OWN_REGION (16 * MiB)
#define OWN_OPS 6000

/*
 * Version v > 0 of page pg: word i is (pg << 40 | (v & 0xffff) << 24 |
 * h(pg, v, i) & 0xffffff).  A reader racing with the owner may see a mix of
 * two versions, but every word it sees must be a word of *this* page at
 * *this* index, of some version, or of the file's initial data set.
 */
static uint64_t vword(uint64_t seed, uint64_t pg, uint64_t v, uint64_t i)
{
	return pg << 40 | (v & 0xffff) << 24 |
	       (tu_word(seed ^ (v << 20), pg * 4096 + i * 8) & 0xffffff);
}

struct owners {
	char *base;
	uint64_t npages;
	uint64_t fseed, vseed;
	/* Version of each page; written only by the page's owner. */
	uint64_t *ver;
	uint64_t seed;
};

struct owner_arg {
	struct owners *o;
	unsigned id;
	uint64_t writes, own_reads, foreign_reads;
	char err[256];
};

static void write_version(struct owners *o, uint64_t pg, uint64_t v)
{
	uint64_t *w = (uint64_t *)(o->base + pg * su_page());
	size_t i, n = su_page() / 8;

	for (i = 0; i < n; i++)
		w[i] = vword(o->vseed, pg, v, i);
}

/* Exact check: @w (page @pg's bytes) holds version @v.  Returns the bad
 * word or -1. */
static long check_version(const struct owners *o, uint64_t pg, uint64_t v,
			  const uint64_t *w)
{
	size_t i, n = su_page() / 8;

	if (!v) {
		uint64_t bad = tu_check(w, pg * su_page(), su_page(),
					o->fseed);

		return bad == UINT64_MAX ? -1 : (long)(bad / 8);
	}
	for (i = 0; i < n; i++)
		if (w[i] != vword(o->vseed, pg, v, i))
			return (long)i;
	return -1;
}

/* Racy check of a page someone else may be writing: each word is of this
 * page and index.  Returns the bad word or -1. */
static long check_consistent(const struct owners *o, uint64_t pg)
{
	const volatile uint64_t *w =
		(const volatile uint64_t *)(o->base + pg * su_page());
	size_t i, n = su_page() / 8;

	for (i = 0; i < n; i++) {
		uint64_t x = w[i];

		if (x == tu_word(o->fseed, pg * su_page() + i * 8))
			continue;
		if (x >> 40 == pg &&
		    x == vword(o->vseed, pg, (x >> 24) & 0xffff, i))
			continue;
		return (long)i;
	}
	return -1;
}

static void *owner_main(void *arg)
{
	struct owner_arg *a = arg;
	struct owners *o = a->o;
	struct su_rng rng;
	unsigned i;

	su_rng_init(&rng, o->seed, 100 + a->id);
	su_wd_enter(1 + a->id);
	for (i = 0; i < OWN_OPS; i++) {
		uint64_t pg = su_below(&rng, o->npages);
		bool own = pg % NTHREADS == a->id;
		long bad;

		su_wd_note(1 + a->id, o->base + pg * su_page());

		if (own && su_below(&rng, 2)) {
			/* Version numbers wrap at 16 bits in the words; keep
			 * them below that. */
			uint64_t v = o->ver[pg] % 0xfff0 + 1;

			write_version(o, pg, v);
			o->ver[pg] = v;
			a->writes++;
			continue;
		}
		if (own) {
			bad = check_version(o, pg, o->ver[pg],
					    (uint64_t *)(o->base +
							 pg * su_page()));
			a->own_reads++;
		} else {
			bad = check_consistent(o, pg);
			a->foreign_reads++;
		}
		if (bad >= 0) {
			snprintf(a->err, sizeof(a->err),
				 "thread %u: %s page %" PRIu64 " (version %"
				 PRIu64 ") bad at word %ld: %#" PRIx64,
				 a->id, own ? "own" : "foreign", pg,
				 own ? o->ver[pg] : 0, bad,
				 ((uint64_t *)(o->base + pg * su_page()))[bad]);
			break;
		}
	}
	su_wd_leave(1 + a->id);
	return NULL;
}

static void owners_check_all(const struct owners *o, const char *what)
{
	uint64_t pg;

	for (pg = 0; pg < o->npages; pg++) {
		long bad;

		su_wd_note(0, o->base + pg * su_page());
		bad = check_version(o, pg, o->ver[pg],
				    (uint64_t *)(o->base + pg * su_page()));

		CHECK(bad < 0, "%s: page %" PRIu64 " (version %" PRIu64
		      ") bad at word %ld: %#" PRIx64, what, pg, o->ver[pg],
		      bad, ((uint64_t *)(o->base + pg * su_page()))[bad]);
	}
}

static void owners_check_file(const struct owners *o, int fd)
{
	size_t ps = su_page();
	uint64_t *buf = malloc(ps);
	uint64_t pg;

	ck_assert_ptr_nonnull(buf);
	for (pg = 0; pg < o->npages; pg++) {
		long bad;

		su_pread_all(fd, buf, ps, pg * ps);
		bad = check_version(o, pg, o->ver[pg], buf);
		CHECK(bad < 0, "file: page %" PRIu64 " (version %" PRIu64
		      ") bad at word %ld", pg, o->ver[pg], bad);
	}
	free(buf);
}

static void owners_run(uint64_t fill_unit, const char *what)
{
	uint64_t seed = su_seed(what, 0x6f776e657273ull);
	struct owner_arg args[NTHREADS];
	pthread_t th[NTHREADS];
	struct owners o = { 0 };
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_stats st;
	uint64_t writes = 0;
	unsigned i;
	int fd;

	o.npages = OWN_REGION / su_page();
	o.seed = seed;
	o.fseed = seed ^ 0xf11e;
	o.vseed = seed ^ 0x7e25;
	o.ver = calloc(o.npages, sizeof(*o.ver));
	ck_assert_ptr_nonnull(o.ver);
	fd = tu_tmpfile(OWN_REGION);
	su_fill_file(fd, 0, OWN_REGION, o.fseed);

	rt = tu_runtime(OWN_BUDGET, 2);
	r = map_file(rt, fd, OWN_REGION, fill_unit);
	o.base = upg_region_addr(r);
	su_wd_leave(0); /* joins below: the workers are watched */
	for (i = 0; i < NTHREADS; i++) {
		args[i] = (struct owner_arg){ .o = &o, .id = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, owner_main,
						&args[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	su_wd_enter(0);
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_msg(!args[i].err[0], "%s: %s", what, args[i].err);
		writes += args[i].writes;
	}
	owners_check_all(&o, what);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	owners_check_file(&o, fd);
	st = tu_stats(rt);
	su_print_stats(what, &st);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_eq(st.read_errors, 0);
	ck_assert_uint_eq(st.write_errors, 0);
	ck_assert_uint_gt(writes, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);

	rt = tu_runtime(OWN_BUDGET, 2);
	r = map_file(rt, fd, OWN_REGION, fill_unit);
	o.base = upg_region_addr(r);
	owners_check_all(&o, what);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	free(o.ver);
	close(fd);
}

START_TEST(test_owners)
{
	owners_run(0, "owners");
}
END_TEST

START_TEST(test_owners_fill16k)
{
	owners_run(16 * KiB, "owners, fill unit 16 KiB");
}
END_TEST

/* ---- counters ------------------------------------------------------------ */

#define CNT_PAGES 8
#define CNT_PER_PAGE 16 /* at a 256-byte stride */
#define CNT_TOTAL (CNT_PAGES * CNT_PER_PAGE)
#define CNT_OPS 12000

struct counters {
	char *base;
	uint64_t seed;
	unsigned nthreads, nreaders;
};

struct counter_arg {
	struct counters *c;
	unsigned id;
	bool reader;
	uint64_t incs[CNT_TOTAL];
	uint64_t last[CNT_TOTAL];
	char err[256];
};

static uint64_t *counter(const struct counters *c, unsigned k)
{
	return (uint64_t *)(c->base + (k / CNT_PER_PAGE) * su_page() +
			    (k % CNT_PER_PAGE) * 256);
}

static void *counter_main(void *arg)
{
	struct counter_arg *a = arg;
	struct counters *c = a->c;
	struct su_rng rng;
	unsigned i = 0;

	su_rng_init(&rng, c->seed, 200 + a->id);
	su_wd_enter(1 + a->id);
	while (i < CNT_OPS) {
		/* Bursts on one page: threads meet on pages being evicted. */
		unsigned pg = (unsigned)su_below(&rng, CNT_PAGES);
		unsigned burst = 1 + (unsigned)su_below(&rng, 8), j;

		for (j = 0; j < burst && i < CNT_OPS; j++, i++) {
			unsigned k = pg * CNT_PER_PAGE +
				     (unsigned)su_below(&rng, CNT_PER_PAGE);
			uint64_t v;

			su_wd_note(1 + a->id, counter(c, k));
			if (a->reader)
				v = __atomic_load_n(counter(c, k),
						    __ATOMIC_ACQUIRE);
			else
				v = __atomic_fetch_add(counter(c, k), 1,
						       __ATOMIC_ACQ_REL);
			if (v < a->last[k]) {
				snprintf(a->err, sizeof(a->err),
					 "thread %u: counter %u went back "
					 "from %" PRIu64 " to %" PRIu64
					 " (a lost write)", a->id, k,
					 a->last[k], v);
				su_wd_leave(1 + a->id);
				return NULL;
			}
			a->last[k] = a->reader ? v : v + 1;
			if (!a->reader)
				a->incs[k]++;
		}
	}
	su_wd_leave(1 + a->id);
	return NULL;
}

static void counters_check(const struct counters *c, const uint64_t *want,
			   const char *what)
{
	unsigned k;

	for (k = 0; k < CNT_TOTAL; k++)
		ck_assert_msg(*counter(c, k) == want[k],
			      "%s: counter %u is %" PRIu64 ", %" PRIu64
			      " increments were made (%" PRId64 " lost)",
			      what, k, *counter(c, k), want[k],
			      (int64_t)(want[k] - *counter(c, k)));
}

/*
 * @anon: anonymous region, else a file.  @batch: eviction batch (0:
 * default, which is larger than the budget: every eviction empties it).
 */
static void counters_run(bool anon, unsigned batch, unsigned nreaders,
			 const char *what)
{
	uint64_t seed = su_seed(what, 0x636f756e74ull);
	struct counter_arg *args;
	pthread_t th[NTHREADS];
	struct counters c = { .nthreads = NTHREADS, .nreaders = nreaders };
	uint64_t want[CNT_TOTAL] = { 0 }, total = 0;
	size_t ps = su_page();
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_stats st;
	unsigned i, k;
	int fd = -1;

	c.seed = seed;
	args = calloc(NTHREADS, sizeof(*args));
	ck_assert_ptr_nonnull(args);
	rt = su_runtime(4 * ps, 2, 0, 0, batch);
	if (anon) {
		r = map_anon(rt, CNT_PAGES * ps);
	} else {
		fd = tu_tmpfile(CNT_PAGES * ps); /* zeros */
		r = map_file(rt, fd, CNT_PAGES * ps, 0);
	}
	c.base = upg_region_addr(r);
	su_wd_leave(0);
	for (i = 0; i < NTHREADS; i++) {
		args[i].c = &c;
		args[i].id = i;
		args[i].reader = i < nreaders;
		ck_assert_int_eq(pthread_create(&th[i], NULL, counter_main,
						&args[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	su_wd_enter(0);
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_msg(!args[i].err[0], "%s: %s", what, args[i].err);
		for (k = 0; k < CNT_TOTAL; k++)
			want[k] += args[i].incs[k];
	}
	for (k = 0; k < CNT_TOTAL; k++)
		total += want[k];
	st = tu_stats(rt);
	su_print_stats(what, &st);
	fprintf(stderr, "%s: %" PRIu64 " increments\n", what, total);
	counters_check(&c, want, what);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_eq(st.read_errors, 0);
	ck_assert_uint_eq(st.write_errors, 0);
	/* Through another eviction cycle, then the store. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	counters_check(&c, want, what);
	if (!anon) {
		uint64_t *buf = malloc(CNT_PAGES * ps);

		ck_assert_int_eq(upg_region_unmap(r), 0);
		su_pread_all(fd, buf, CNT_PAGES * ps, 0);
		for (k = 0; k < CNT_TOTAL; k++) {
			uint64_t *p = (uint64_t *)((char *)buf +
						   (k / CNT_PER_PAGE) * ps +
						   (k % CNT_PER_PAGE) * 256);

			ck_assert_msg(*p == want[k],
				      "%s: counter %u in the file is %" PRIu64
				      ", want %" PRIu64, what, k, *p, want[k]);
		}
		free(buf);
		r = map_file(rt, fd, CNT_PAGES * ps, 0);
		c.base = upg_region_addr(r);
		counters_check(&c, want, what);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	if (fd >= 0)
		close(fd);
	free(args);
}

START_TEST(test_counters_file)
{
	counters_run(false, 0, 0, "counters, file");
}
END_TEST

START_TEST(test_counters_file_batch1)
{
	counters_run(false, 1, 0, "counters, file, eviction batch 1");
}
END_TEST

START_TEST(test_counters_anon)
{
	counters_run(true, 0, 0, "counters, anon");
}
END_TEST

START_TEST(test_counters_anon_batch1)
{
	counters_run(true, 1, 0, "counters, anon, eviction batch 1");
}
END_TEST

START_TEST(test_counters_file_readers)
{
	counters_run(false, 1, 2, "counters and readers, file");
}
END_TEST

START_TEST(test_counters_anon_readers)
{
	counters_run(true, 1, 2, "counters and readers, anon");
}
END_TEST

/* ---- a stale MISSING fault on a page filled meanwhile ------------------ */

/*
 * A store whose reads complete inside submit() and whose writes can be
 * held until the test releases them: a handler thread that evicts waits
 * for its write, so the test decides what it reads from the uffd next.
 */
struct gstore {
	pthread_mutex_t lock;
	char *data;
	uint64_t size;
	bool hold_writes;
	struct upg_io *held[16];
	unsigned nheld;
};

static ssize_t gstore_do(struct gstore *g, struct upg_io *io)
{
	uint64_t n;

	if (io->offset >= g->size)
		return io->op == UPG_IO_READ ? 0 : -ENOSPC;
	n = g->size - io->offset < io->len ? g->size - io->offset : io->len;
	if (io->op == UPG_IO_READ)
		memcpy(io->buf, g->data + io->offset, n);
	else
		memcpy(g->data + io->offset, io->buf, n);
	return (ssize_t)n;
}

static int gstore_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct gstore *g = ctx;
	ssize_t res;

	(void)q;
	pthread_mutex_lock(&g->lock);
	if (io->op == UPG_IO_WRITE && g->hold_writes && g->nheld < 16) {
		g->held[g->nheld++] = io;
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	res = gstore_do(g, io);
	pthread_mutex_unlock(&g->lock);
	upg_io_complete(io, res);
	return 0;
}

static unsigned gstore_nheld(struct gstore *g)
{
	unsigned n;

	pthread_mutex_lock(&g->lock);
	n = g->nheld;
	pthread_mutex_unlock(&g->lock);
	return n;
}

/* Complete the held writes (from this thread) and stop holding. */
static void gstore_release(struct gstore *g)
{
	struct upg_io *held[16];
	ssize_t res[16];
	unsigned i, n;

	pthread_mutex_lock(&g->lock);
	g->hold_writes = false;
	n = g->nheld;
	for (i = 0; i < n; i++) {
		held[i] = g->held[i];
		res[i] = gstore_do(g, held[i]);
	}
	g->nheld = 0;
	pthread_mutex_unlock(&g->lock);
	for (i = 0; i < n; i++)
		upg_io_complete(held[i], res[i]);
}

struct toucher {
	char *page;
	bool write;
	uint64_t wseed, off;
	_Atomic pid_t tid;
	uint64_t sum;
};

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;

	atomic_store(&t->tid, su_gettid());
	if (t->write)
		tu_fill(t->page, t->off, su_page(), t->wseed);
	else
		t->sum = *(volatile uint64_t *)t->page;
	return NULL;
}

static void toucher_start(struct toucher *t, pthread_t *th)
{
	ck_assert_int_eq(pthread_create(th, NULL, toucher_main, t), 0);
	TU_WAIT_FOR(atomic_load(&t->tid) != 0, 10000);
	/* It sleeps in the fault, not yet read by the (busy) handler. */
	TU_WAIT_FOR(su_in_userfault(atomic_load(&t->tid)), 10000);
}

/*
 * The interleaving, with one handler thread, a budget of 2 pages and
 * pages 0 and 1 resident and dirty:
 *
 *  T0 writes page 2: the handler evicts page 0 and waits for its write,
 *     which the store holds;
 *  T1 writes page 3, then T2 reads page 3: two MISSING faults on one
 *     page, a write and a read, queued behind the busy handler;
 *  the write is released: the handler fills page 2, then reads both
 *     faults in one batch.  The first fills page 3, writable and dirty,
 *     and wakes T1 and T2; T1 writes.  The second is now stale: the page
 *     is resident.  It must be dropped (woken), and T1's data must reach
 *     the store.
 */
START_TEST(test_stale_missing_fault)
{
	static const struct upg_store_ops ops = {
		.sz = sizeof(struct upg_store_ops),
		.submit = gstore_submit,
	};
	uint64_t seed = su_seed("stale missing fault", 0x7374616c65ull);
	size_t ps = su_page();
	struct gstore g = { .size = 4 * ps };
	struct toucher t0 = { .write = true }, t1 = { .write = true },
		       t2 = { .write = false };
	pthread_t th0, th1, th2;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_store *st;
	struct upg_stats stats;
	uint64_t bad;
	char *base;

	pthread_mutex_init(&g.lock, NULL);
	g.data = malloc(g.size);
	ck_assert_ptr_nonnull(g.data);
	tu_fill(g.data, 0, g.size, seed);
	ck_assert_int_eq(upg_store_create(&ops, &g, &st), 0);
	/* Budget 2 pages; the background evictor stays out of it (it starts
	 * above 100% only); evictions take one page. */
	rt = su_runtime(2 * ps, 1, 100, 50, 1);
	ck_assert_int_eq(upg_region_map_store(rt, st, g.size, NULL, &r), 0);
	base = upg_region_addr(r);

	tu_fill(base, 0, ps, seed ^ 1);
	tu_fill(base + ps, ps, ps, seed ^ 1);

	pthread_mutex_lock(&g.lock);
	g.hold_writes = true;
	pthread_mutex_unlock(&g.lock);
	t0 = (struct toucher){ .page = base + 2 * ps, .write = true,
			       .wseed = seed ^ 2, .off = 2 * ps };
	ck_assert_int_eq(pthread_create(&th0, NULL, toucher_main, &t0), 0);
	TU_WAIT_FOR(gstore_nheld(&g) == 1, 10000);

	t1 = (struct toucher){ .page = base + 3 * ps, .write = true,
			       .wseed = seed ^ 3, .off = 3 * ps };
	toucher_start(&t1, &th1);
	t2 = (struct toucher){ .page = base + 3 * ps, .write = false };
	toucher_start(&t2, &th2);
	gstore_release(&g);
	pthread_join(th0, NULL);
	pthread_join(th1, NULL);
	pthread_join(th2, NULL);

	stats = tu_stats(rt);
	su_print_stats("stale missing fault", &stats);
	bad = tu_check(base + 3 * ps, 3 * ps, ps, seed ^ 3);
	ck_assert_msg(bad == UINT64_MAX,
		      "page 3 lost the write made right after its fill: "
		      "differs at byte %" PRIu64
		      " (a stale MISSING fault refilled it from the store)",
		      bad);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	bad = tu_check(g.data + 3 * ps, 3 * ps, ps, seed ^ 3);
	ck_assert_msg(bad == UINT64_MAX,
		      "page 3 in the store after unmap: differs at byte %" PRIu64
		      " (the write was not seen: a stale MISSING fault "
		      "refilled the page and cleared DIRTY)", bad);
	bad = tu_check(g.data + 2 * ps, 2 * ps, ps, seed ^ 2);
	ck_assert_uint_eq(bad, UINT64_MAX);
	bad = tu_check(g.data, 0, ps, seed ^ 1);
	ck_assert_uint_eq(bad, UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	upg_store_put(st);
	free(g.data);
}
END_TEST

/* ---- a fill unit whose faulting page is not claimed ------------------- */

struct flush_arg {
	struct upg_region *r;
	uint64_t off, len;
	int err;
	atomic_bool done;
};

static void *flush_main(void *arg)
{
	struct flush_arg *f = arg;

	f->err = upg_region_flush(f->r, f->off, f->len);
	atomic_store(&f->done, true);
	return NULL;
}

struct reader {
	volatile uint64_t *p;
	uint64_t v;
	atomic_bool done;
};

static void *reader_main(void *arg)
{
	struct reader *t = arg;

	t->v = *t->p;
	atomic_store(&t->done, true);
	return NULL;
}

/* Wait for @flag, at most @ms; false on timeout. */
static bool wait_flag(atomic_bool *flag, unsigned ms)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)ms * 1000000ull;

	while (!atomic_load(flag)) {
		if (tu_now_ns() >= deadline)
			return false;
		sched_yield();
	}
	return true;
}

/*
 * A fault on the second page of a two-page fill unit whose first page is
 * resident: the fill counts one absent page, and evicts to make room for
 * it.  If the eviction takes the unit's first page, the fill must still
 * fill the page that faulted (or at least wake its thread), not only the
 * first absent page it meets.
 *
 * Region A: 2 pages, fill unit 8 KiB.  Region B: 1 page.  Budget: 2 pages,
 * evictions of one page, one handler thread, no background eviction.  A
 * flush whose write the store holds keeps a page out of the eviction's
 * reach (WRITEBACK), which steers the victims:
 *
 *  1. write A0: the unit fills A0 (dirty) and A1 (clean);
 *  2. flush A0, write held: A0 is under writeback;
 *  3. read B0: the budget is full, the only victim is A1;  release;
 *  4. write B0, flush B0, write held: B0 is under writeback;
 *  5. read A1: one page absent in the unit, the budget is full, the only
 *     victim is A0.  The reader must get A1.
 */
START_TEST(test_fill_unit_faulting_page)
{
	static const struct upg_store_ops ops = {
		.sz = sizeof(struct upg_store_ops),
		.submit = gstore_submit,
	};
	uint64_t seed = su_seed("fill unit, faulting page", 0x66696c6cull);
	size_t ps = su_page();
	struct gstore g = { .size = 3 * ps };
	UPG_OPTS(upg_region_opts, oa, .fill_unit = 2 * ps);
	UPG_OPTS(upg_region_opts, ob, .store_offset = 2 * ps);
	struct flush_arg f1 = { 0 }, f2 = { 0 };
	struct reader t = { 0 }, t2 = { 0 };
	pthread_t th, fth1, fth2, th2;
	struct upg_region *ra, *rb;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_stats stats;
	char *a, *b;

	pthread_mutex_init(&g.lock, NULL);
	g.data = malloc(g.size);
	ck_assert_ptr_nonnull(g.data);
	tu_fill(g.data, 0, g.size, seed);
	ck_assert_int_eq(upg_store_create(&ops, &g, &st), 0);
	rt = su_runtime(2 * ps, 1, 100, 50, 1);
	ck_assert_int_eq(upg_region_map_store(rt, st, 2 * ps, &oa, &ra), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, ps, &ob, &rb), 0);
	a = upg_region_addr(ra);
	b = upg_region_addr(rb);

	/* 1. */
	tu_fill(a, 0, 8, seed ^ 1);
	/* 2. */
	pthread_mutex_lock(&g.lock);
	g.hold_writes = true;
	pthread_mutex_unlock(&g.lock);
	f1 = (struct flush_arg){ .r = ra, .off = 0, .len = ps };
	ck_assert_int_eq(pthread_create(&fth1, NULL, flush_main, &f1), 0);
	TU_WAIT_FOR(gstore_nheld(&g) == 1, 10000);
	/* 3. */
	t.p = (volatile uint64_t *)b;
	ck_assert_int_eq(pthread_create(&th, NULL, reader_main, &t), 0);
	ck_assert_msg(wait_flag(&t.done, 10000), "the read of B0 never ended");
	pthread_join(th, NULL);
	ck_assert_uint_eq(t.v, tu_word(seed, 2 * ps));
	/* The scenario holds: A1 was the victim, A0 stayed. */
	{
		UPG_OPTS(upg_region_stats, rs);

		ck_assert_int_eq(upg_region_stats(ra, &rs), 0);
		ck_assert_uint_eq(rs.resident_bytes, ps);
	}
	gstore_release(&g);
	ck_assert(wait_flag(&f1.done, 10000));
	pthread_join(fth1, NULL);
	ck_assert_int_eq(f1.err, 0);
	/* 4. */
	tu_fill(b, 2 * ps, 8, seed ^ 2);
	pthread_mutex_lock(&g.lock);
	g.hold_writes = true;
	pthread_mutex_unlock(&g.lock);
	f2 = (struct flush_arg){ .r = rb, .off = 0, .len = ps };
	ck_assert_int_eq(pthread_create(&fth2, NULL, flush_main, &f2), 0);
	TU_WAIT_FOR(gstore_nheld(&g) == 1, 10000);
	/* 5. */
	t2.p = (volatile uint64_t *)(a + ps);
	ck_assert_int_eq(pthread_create(&th2, NULL, reader_main, &t2), 0);
	if (!wait_flag(&t2.done, 5000)) {
		stats = tu_stats(rt);
		su_print_stats("fill unit, faulting page", &stats);
		ck_abort_msg("the read of A1 (second page of a fill unit) "
			     "never ended: the fill claimed only A0, which "
			     "its own eviction had just emptied, and left "
			     "the faulting page absent with its thread "
			     "asleep");
	}
	pthread_join(th2, NULL);
	ck_assert_uint_eq(t2.v, tu_word(seed, ps));
	gstore_release(&g);
	ck_assert(wait_flag(&f2.done, 10000));
	pthread_join(fth2, NULL);
	ck_assert_int_eq(f2.err, 0);

	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(tu_check(g.data, 0, 8, seed ^ 1), UINT64_MAX);
	ck_assert_uint_eq(tu_check(g.data + 2 * ps, 2 * ps, 8, seed ^ 2),
			  UINT64_MAX);
	upg_store_put(st);
	free(g.data);
}
END_TEST

static Suite *concurrency_suite(void)
{
	Suite *s = suite_create("concurrency");
	TCase *tc = tcase_create("concurrency");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, fixture_start, fixture_stop);
	tcase_add_test(tc, test_owners);
	tcase_add_test(tc, test_owners_fill16k);
	tcase_add_test(tc, test_counters_file);
	tcase_add_test(tc, test_counters_file_batch1);
	tcase_add_test(tc, test_counters_anon);
	tcase_add_test(tc, test_counters_anon_batch1);
	tcase_add_test(tc, test_counters_file_readers);
	tcase_add_test(tc, test_counters_anon_readers);
	tcase_add_test(tc, test_stale_missing_fault);
	tcase_add_test(tc, test_fill_unit_faulting_page);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(concurrency_suite());
}
