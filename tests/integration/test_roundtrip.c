/* SPDX-License-Identifier: MIT */
/*
 * test_roundtrip - data written through managed regions much larger than
 * the budget comes back intact: through the region (after eviction and
 * refault), in the store after a flush, and in a new region (of the same
 * runtime and of a new one) after unmap.  File regions (with one-page and
 * 64 KiB fill units), anonymous regions, a store plugin completing from its
 * own thread, and several regions sharing one budget.
 *
 * Every page holds a known data set (tu_word()): either the store's initial
 * content (the file's pattern, or zeros for anonymous memory) or, for the
 * pages the workload wrote, a second data set; a model remembers which.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress_util.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define KiB (1ull << 10)

/* ck_assert records a location on every call: keep it out of hot loops. */
#define CHECK(cond, ...)                              \
	do {                                          \
		if (!(cond))                          \
			ck_abort_msg(__VA_ARGS__);    \
	} while (0)

/* What each page of a region holds. */
struct model {
	uint64_t len;       /* region length (a multiple of 8) */
	uint64_t npages;
	uint64_t store_off; /* data sets are indexed by store offset */
	bool zero_base;     /* unwritten pages read as zeros (anonymous) */
	uint64_t base_seed; /* else: the store's initial data set */
	uint64_t wseed;     /* data set of written pages */
	uint8_t *written;
	uint64_t nwritten;
};

static void model_init(struct model *m, uint64_t len, uint64_t store_off,
		       bool zero_base, uint64_t base_seed, uint64_t wseed)
{
	size_t ps = su_page();

	ck_assert_uint_eq(len % 8, 0);
	m->len = len;
	m->npages = (len + ps - 1) / ps;
	m->store_off = store_off;
	m->zero_base = zero_base;
	m->base_seed = base_seed;
	m->wseed = wseed;
	m->written = calloc(m->npages, 1);
	m->nwritten = 0;
	ck_assert_ptr_nonnull(m->written);
}

static void model_fini(struct model *m)
{
	free(m->written);
	m->written = NULL;
}

static uint64_t page_len(const struct model *m, uint64_t pg)
{
	size_t ps = su_page();
	uint64_t off = pg * ps;

	return m->len - off < ps ? m->len - off : ps;
}

static uint64_t first_nonzero(const char *p, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return i * 8;
	return UINT64_MAX;
}

/* Byte offset within the page where @p (the page's bytes) differs from
 * the model, or UINT64_MAX. */
static uint64_t page_diff(const struct model *m, uint64_t pg, const char *p)
{
	uint64_t off = pg * su_page(), len = page_len(m, pg);

	if (m->written[pg])
		return tu_check(p, m->store_off + off, len, m->wseed);
	if (m->zero_base)
		return first_nonzero(p, len);
	return tu_check(p, m->store_off + off, len, m->base_seed);
}

static void check_page(const struct model *m, const char *base, uint64_t pg,
		       const char *what)
{
	uint64_t off = pg * su_page();
	uint64_t bad;

	su_wd_note(0, base + off);
	bad = page_diff(m, pg, base + off);

	CHECK(bad == UINT64_MAX,
	      "%s: page %" PRIu64 " (%s) differs at byte %" PRIu64
	      ": %#" PRIx64, what, pg, m->written[pg] ? "written" : "initial",
	      bad, *(const uint64_t *)(base + off + bad));
}

static void write_page(struct model *m, char *base, uint64_t pg)
{
	uint64_t off = pg * su_page();

	su_wd_note(0, base + off);
	tu_fill(base + off, m->store_off + off, page_len(m, pg), m->wseed);
	if (!m->written[pg])
		m->nwritten++;
	m->written[pg] = 1;
}

/* One random operation on a random page: write it or read and check it. */
static void random_op(struct model *m, char *base, struct su_rng *rng,
		      const char *what)
{
	uint64_t pg = su_below(rng, m->npages);

	if (su_below(rng, 2))
		write_page(m, base, pg);
	else
		check_page(m, base, pg, what);
}

static void check_all(const struct model *m, const char *base,
		      const char *what)
{
	uint64_t pg;

	for (pg = 0; pg < m->npages; pg++)
		check_page(m, base, pg, what);
}

/* The file, read with pread: the model's pages, and outside the region's
 * store range the file's own data set @file_seed. */
static void check_file(const struct model *m, int fd, uint64_t file_size,
		       uint64_t file_seed, const char *what)
{
	size_t ps = su_page();
	char *buf = malloc(ps);
	uint64_t off, bad;

	ck_assert_ptr_nonnull(buf);
	for (off = 0; off < file_size; off += ps) {
		uint64_t len = file_size - off < ps ? file_size - off : ps;

		su_pread_all(fd, buf, len, off);
		if (off >= m->store_off && off < m->store_off + m->len &&
		    (off - m->store_off) % ps == 0) {
			uint64_t pg = (off - m->store_off) / ps;
			uint64_t in = page_len(m, pg);

			bad = page_diff(m, pg, buf);
			CHECK(bad == UINT64_MAX,
			      "%s: file page at %" PRIu64 " (region page %"
			      PRIu64 ", %s) differs at byte %" PRIu64, what,
			      off, pg, m->written[pg] ? "written" : "initial",
			      bad);
			/* The rest of a partial last page is not ours. */
			if (in < len) {
				bad = tu_check(buf + in, off + in, len - in,
					       file_seed);
				CHECK(bad == UINT64_MAX,
				      "%s: file bytes past the region at %"
				      PRIu64 " changed", what, off + in + bad);
			}
		} else {
			bad = tu_check(buf, off, len, file_seed);
			CHECK(bad == UINT64_MAX,
			      "%s: file bytes outside the region at %" PRIu64
			      " changed", what, off + bad);
		}
	}
	free(buf);
}

static uint64_t t_start;

/* Each test: timed, and watched (a thread stuck in a fault for 20 s fails
 * the test with the address, rather than a bare timeout). */
static void fixture_start(void)
{
	t_start = tu_now_ns();
	su_wd_start("roundtrip", 20);
	su_wd_enter(0);
}

static void fixture_stop(void)
{
	su_wd_leave(0);
	su_wd_stop();
	fprintf(stderr, "  (%.2f s)\n", (double)(tu_now_ns() - t_start) / 1e9);
}

static void check_stats(struct upg_runtime *rt, uint64_t nwritten,
			const char *what)
{
	struct upg_stats st = tu_stats(rt);


	su_print_stats(what, &st);
	ck_assert_msg(st.pages_evicted > 0, "%s: nothing was evicted", what);
	ck_assert_msg(st.pages_written_back >= nwritten,
		      "%s: %" PRIu64 " pages written back, %" PRIu64
		      " were written", what, st.pages_written_back, nwritten);
	ck_assert_uint_eq(st.read_errors, 0);
	ck_assert_uint_eq(st.write_errors, 0);
}

static struct upg_region *map_file(struct upg_runtime *rt, int fd,
				   uint64_t len, uint64_t store_off,
				   uint64_t fill_unit)
{
	UPG_OPTS(upg_region_opts, o, .store_offset = store_off,
		 .fill_unit = fill_unit);
	struct upg_region *r = NULL;
	int err = upg_region_map_file(rt, fd, len, &o, &r);

	ck_assert_msg(!err, "upg_region_map_file: %s", strerror(-err));
	return r;
}

static struct upg_region *map_anon(struct upg_runtime *rt, uint64_t len,
				   uint64_t fill_unit)
{
	UPG_OPTS(upg_region_opts, o, .fill_unit = fill_unit);
	struct upg_region *r = NULL;
	int err = upg_region_map_anon(rt, len, &o, &r);

	ck_assert_msg(!err, "upg_region_map_anon: %s", strerror(-err));
	return r;
}

static void unmap(struct upg_region *r)
{
	int err = upg_region_unmap(r);

	ck_assert_msg(!err, "upg_region_unmap: %s", strerror(-err));
}

static void destroy(struct upg_runtime *rt)
{
	int err = upg_runtime_destroy(rt);

	ck_assert_msg(!err, "upg_runtime_destroy: %s", strerror(-err));
}

static void flush(struct upg_region *r)
{
	int err = upg_region_flush(r, 0, 0);

	ck_assert_msg(!err, "upg_region_flush: %s", strerror(-err));
}

/* ---- (a) a file region 4x the budget ---------------------------------- */

#define BUDGET (4 * MiB)
#define REGION (16 * MiB)

/*
 * The region of (a) and (b), four times the budget: 16 MiB with one-page
 * fills; 4 MiB (budget 1 MiB: sixteen 64 KiB units) with a larger fill
 * unit.  Every random miss there moves a whole unit, so the 16 MiB region
 * took sixteen times the I/O of the one-page case for the same operations
 * per page (test_file_roundtrip_fill64k: 11 s, the longest case of the
 * file); the smaller one keeps the ratios (region to budget, operations
 * per page) with a quarter of that.
 */
static uint64_t region_len(uint64_t fill_unit)
{
	return fill_unit > 4 * KiB ? REGION / 4 : REGION;
}

static void file_roundtrip(uint64_t fill_unit, const char *what)
{
	uint64_t seed = su_seed(what, 0x726f756e64747269ull);
	uint64_t fseed = seed ^ 0xf11e, wseed = seed ^ 0x3717e;
	uint64_t len = region_len(fill_unit);
	struct upg_runtime *rt;
	struct upg_region *r;
	struct su_rng rng;
	struct model m;
	uint64_t i;
	int fd;

	fd = tu_tmpfile(len);
	su_fill_file(fd, 0, len, fseed);
	model_init(&m, len, 0, false, fseed, wseed);
	su_rng_init(&rng, seed, 1);

	rt = tu_runtime(len / 4, 2);
	r = map_file(rt, fd, len, 0, fill_unit);
	for (i = 0; i < 2 * m.npages; i++)
		random_op(&m, upg_region_addr(r), &rng, what);
	ck_assert_uint_gt(m.nwritten, m.npages / 2);
	check_all(&m, upg_region_addr(r), what);
	flush(r);
	check_file(&m, fd, len, fseed, what);
	check_stats(rt, m.nwritten, what);

	/* A new region of the same runtime sees it all... */
	unmap(r);
	r = map_file(rt, fd, len, 0, fill_unit);
	check_all(&m, upg_region_addr(r), what);
	unmap(r);
	destroy(rt);
	check_file(&m, fd, len, fseed, what);

	/* ... and so does a new runtime. */
	rt = tu_runtime(len / 4, 2);
	r = map_file(rt, fd, len, 0, fill_unit);
	check_all(&m, upg_region_addr(r), what);
	unmap(r);
	destroy(rt);

	model_fini(&m);
	close(fd);
}

START_TEST(test_file_roundtrip)
{
	file_roundtrip(0, "file");
}
END_TEST

START_TEST(test_file_roundtrip_fill64k)
{
	file_roundtrip(64 * KiB, "file, fill unit 64 KiB");
}
END_TEST

/* ---- (b) an anonymous region 4x the budget ------------------------------ */

static void anon_roundtrip(uint64_t fill_unit, const char *what)
{
	uint64_t seed = su_seed(what, 0x616e6f6eull);
	uint64_t len = region_len(fill_unit);
	struct upg_runtime *rt;
	struct upg_region *r;
	struct su_rng rng;
	struct model m;
	uint64_t i;

	model_init(&m, len, 0, true, 0, seed ^ 0x3717e);
	su_rng_init(&rng, seed, 2);
	rt = tu_runtime(len / 4, 2);
	r = map_anon(rt, len, fill_unit);
	for (i = 0; i < 2 * m.npages; i++)
		random_op(&m, upg_region_addr(r), &rng, what);
	check_all(&m, upg_region_addr(r), what);
	flush(r);
	check_all(&m, upg_region_addr(r), what);
	check_stats(rt, m.nwritten, what);
	unmap(r);
	destroy(rt);
	model_fini(&m);
}

START_TEST(test_anon_roundtrip)
{
	anon_roundtrip(0, "anon");
}
END_TEST

START_TEST(test_anon_roundtrip_fill64k)
{
	anon_roundtrip(64 * KiB, "anon, fill unit 64 KiB");
}
END_TEST

/* ---- (c) a store plugin completing on its own thread ----------------- */

struct astore {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct upg_io **q;
	size_t n, cap;
	char *data;
	uint64_t size;
	bool stop, closed;
	pthread_t worker;
	/* 1 in inline_one_in requests completes inside submit() (0: none). */
	unsigned inline_one_in;
	struct su_rng rng;
	uint64_t batches;
	_Atomic uint64_t reads, writes, flushes, completed_inline,
		completed_worker;
};

/* Lock held. */
static ssize_t astore_do(struct astore *s, struct upg_io *io)
{
	if (io->offset > s->size)
		return io->op == UPG_IO_READ ? 0 : -ENOSPC;
	if (io->op == UPG_IO_READ) {
		uint64_t n = s->size - io->offset < io->len ?
				     s->size - io->offset : io->len;

		memcpy(io->buf, s->data + io->offset, n);
		s->reads++;
		return (ssize_t)n;
	}
	if (io->len > s->size - io->offset)
		return -ENOSPC;
	memcpy(s->data + io->offset, io->buf, io->len);
	s->writes++;
	return (ssize_t)io->len;
}

static int astore_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct astore *s = ctx;

	(void)q;
	pthread_mutex_lock(&s->lock);
	if (s->inline_one_in && !su_below(&s->rng, s->inline_one_in)) {
		ssize_t res = astore_do(s, io);

		pthread_mutex_unlock(&s->lock);
		s->completed_inline++;
		upg_io_complete(io, res);
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct upg_io **nq = realloc(s->q, cap * sizeof(*nq));

		if (!nq) {
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
		s->q = nq;
		s->cap = cap;
	}
	s->q[s->n++] = io;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Complete whatever is queued, in batches, every other batch in reverse
 * order: completions arrive out of submission order. */
static void *astore_worker(void *arg)
{
	struct astore *s = arg;
	struct upg_io **batch = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		size_t n, i;
		bool reverse;

		while (!s->n && !s->stop)
			pthread_cond_wait(&s->cv, &s->lock);
		if (!s->n && s->stop)
			break;
		if (cap < s->n) {
			cap = s->cap;
			batch = realloc(batch, cap * sizeof(*batch));
			if (!batch)
				abort();
		}
		n = s->n;
		memcpy(batch, s->q, n * sizeof(*batch));
		s->n = 0;
		reverse = s->batches++ & 1;
		for (i = 0; i < n; i++) {
			struct upg_io *io = batch[reverse ? n - 1 - i : i];
			ssize_t res = astore_do(s, io);

			/* Complete without our lock: the runtime may submit
			 * again from the completion. */
			pthread_mutex_unlock(&s->lock);
			s->completed_worker++;
			upg_io_complete(io, res);
			pthread_mutex_lock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	free(batch);
	return NULL;
}

static int astore_flush(void *ctx)
{
	struct astore *s = ctx;

	s->flushes++;
	return 0;
}

static void astore_close(void *ctx)
{
	struct astore *s = ctx;

	ck_assert(!pthread_equal(pthread_self(), s->worker));
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->worker, NULL);
	s->closed = true;
}

static struct upg_store *astore_create(struct astore *s, uint64_t size,
				       uint64_t seed, unsigned inline_one_in)
{
	static const struct upg_store_ops ops = {
		.sz = sizeof(struct upg_store_ops),
		.submit = astore_submit,
		.flush = astore_flush,
		.close = astore_close,
	};
	struct upg_store *st = NULL;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->size = size;
	s->data = malloc(size);
	ck_assert_ptr_nonnull(s->data);
	tu_fill(s->data, 0, size, seed);
	s->inline_one_in = inline_one_in;
	su_rng_init(&s->rng, seed, 3);
	ck_assert_int_eq(pthread_create(&s->worker, NULL, astore_worker, s), 0);
	ck_assert_int_eq(upg_store_create(&ops, s, &st), 0);
	return st;
}

static void astore_check(struct astore *s, const struct model *m,
			 const char *what)
{
	uint64_t pg;

	pthread_mutex_lock(&s->lock);
	for (pg = 0; pg < m->npages; pg++) {
		uint64_t bad = page_diff(m, pg, s->data + pg * su_page());

		if (bad != UINT64_MAX) {
			pthread_mutex_unlock(&s->lock);
			ck_abort_msg("%s: store page %" PRIu64 " (%s) differs "
				     "at byte %" PRIu64, what, pg,
				     m->written[pg] ? "written" : "initial",
				     bad);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static void plugin_roundtrip(unsigned inline_one_in, const char *what)
{
	uint64_t seed = su_seed(what, 0x706c7567ull);
	uint64_t sseed = seed ^ 0x5707e, wseed = seed ^ 0x3717e;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_store *st;
	struct astore s;
	struct su_rng rng;
	struct model m;
	uint64_t i;
	int err;

	st = astore_create(&s, REGION, sseed, inline_one_in);
	model_init(&m, REGION, 0, false, sseed, wseed);
	su_rng_init(&rng, seed, 4);

	rt = tu_runtime(BUDGET, 2);
	err = upg_region_map_store(rt, st, REGION, NULL, &r);
	ck_assert_msg(!err, "upg_region_map_store: %s", strerror(-err));
	for (i = 0; i < 2 * m.npages; i++)
		random_op(&m, upg_region_addr(r), &rng, what);
	check_all(&m, upg_region_addr(r), what);
	flush(r);
	ck_assert_uint_gt(s.flushes, 0);
	astore_check(&s, &m, what);
	check_stats(rt, m.nwritten, what);

	unmap(r);
	err = upg_region_map_store(rt, st, REGION, NULL, &r);
	ck_assert_msg(!err, "upg_region_map_store: %s", strerror(-err));
	check_all(&m, upg_region_addr(r), what);
	unmap(r);
	destroy(rt);
	astore_check(&s, &m, what);

	rt = tu_runtime(BUDGET, 2);
	err = upg_region_map_store(rt, st, REGION, NULL, &r);
	ck_assert_msg(!err, "upg_region_map_store: %s", strerror(-err));
	check_all(&m, upg_region_addr(r), what);
	unmap(r);
	destroy(rt);

	fprintf(stderr, "%s: store reads %" PRIu64 " writes %" PRIu64
		", completed by the worker %" PRIu64 ", inline %" PRIu64 "\n",
		what, s.reads, s.writes, s.completed_worker,
		s.completed_inline);
	ck_assert_uint_gt(s.completed_worker, 0);
	ck_assert(!s.closed);
	upg_store_put(st); /* the last reference: closes the store */
	ck_assert(s.closed);
	model_fini(&m);
	free(s.q);
	free(s.data);
}

START_TEST(test_plugin_roundtrip)
{
	plugin_roundtrip(0, "plugin store, worker completions");
}
END_TEST

START_TEST(test_plugin_roundtrip_mixed)
{
	plugin_roundtrip(4, "plugin store, worker and inline completions");
}
END_TEST

/* ---- (d) several regions sharing one budget ------------------------------ */

struct multi {
	struct upg_region *r;
	struct model m;
	int fd;             /* -1: anonymous */
	uint64_t file_size;
	uint64_t fseed;
	uint64_t fill_unit;
};

static void multi_map(struct upg_runtime *rt, struct multi *x)
{
	if (x->fd >= 0)
		x->r = map_file(rt, x->fd, x->m.len, x->m.store_off,
				x->fill_unit);
	else
		x->r = map_anon(rt, x->m.len, x->fill_unit);
}

START_TEST(test_multi_region)
{
	const char *what = "four regions, one budget";
	uint64_t seed = su_seed(what, 0x6d756c7469ull);
	/* File A: 8 MiB.  File B: a region of 4 MiB + 296 bytes (a partial
	 * last page) at 1 MiB into a 6 MiB file.  File C: 6 MiB, 32 KiB fill
	 * unit.  D: 4 MiB anonymous. */
	struct multi x[4] = {
		{ .fd = -1, .file_size = 8 * MiB },
		{ .fd = -1, .file_size = 6 * MiB },
		{ .fd = -1, .file_size = 6 * MiB, .fill_unit = 32 * KiB },
		{ .fd = -1 },
	};
	const uint64_t len[4] = { 8 * MiB, 4 * MiB + 296, 6 * MiB, 4 * MiB };
	const uint64_t off[4] = { 0, 1 * MiB, 0, 0 };
	uint64_t total = 0, nwritten = 0, i, k;
	struct upg_runtime *rt;
	struct su_rng rng;

	su_rng_init(&rng, seed, 5);
	for (k = 0; k < 4; k++) {
		x[k].fseed = seed ^ (0xf11e + k);
		if (x[k].file_size) {
			x[k].fd = tu_tmpfile(x[k].file_size);
			su_fill_file(x[k].fd, 0, x[k].file_size, x[k].fseed);
		}
		model_init(&x[k].m, len[k], off[k], x[k].fd < 0, x[k].fseed,
			   seed ^ (0x3717e + k));
		total += x[k].m.npages;
	}

	rt = tu_runtime(BUDGET, 2);
	for (k = 0; k < 4; k++)
		multi_map(rt, &x[k]);
	/* Interleaved: each operation on a region chosen by size. */
	for (i = 0; i < 2 * total; i++) {
		uint64_t pick = su_below(&rng, total);

		for (k = 0; pick >= x[k].m.npages; k++)
			pick -= x[k].m.npages;
		random_op(&x[k].m, upg_region_addr(x[k].r), &rng, what);
	}
	for (k = 0; k < 4; k++)
		check_all(&x[k].m, upg_region_addr(x[k].r), what);
	for (k = 0; k < 4; k++) {
		flush(x[k].r);
		nwritten += x[k].m.nwritten;
		if (x[k].fd >= 0)
			check_file(&x[k].m, x[k].fd, x[k].file_size,
				   x[k].fseed, what);
	}
	check_all(&x[3].m, upg_region_addr(x[3].r), what);
	check_stats(rt, nwritten, what);
	for (k = 0; k < 3; k++)
		unmap(x[k].r);
	/* The anonymous region goes with the runtime. */
	destroy(rt);

	/* The files, in a new runtime. */
	rt = tu_runtime(BUDGET, 2);
	for (k = 0; k < 3; k++)
		multi_map(rt, &x[k]);
	for (k = 0; k < 3; k++)
		check_all(&x[k].m, upg_region_addr(x[k].r), what);
	destroy(rt);
	for (k = 0; k < 4; k++) {
		if (x[k].fd >= 0) {
			check_file(&x[k].m, x[k].fd, x[k].file_size,
				   x[k].fseed, what);
			close(x[k].fd);
		}
		model_fini(&x[k].m);
	}
}
END_TEST

static Suite *roundtrip_suite(void)
{
	Suite *s = suite_create("roundtrip");
	TCase *tc = tcase_create("roundtrip");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, fixture_start, fixture_stop);
	tcase_add_test(tc, test_file_roundtrip);
	tcase_add_test(tc, test_file_roundtrip_fill64k);
	tcase_add_test(tc, test_anon_roundtrip);
	tcase_add_test(tc, test_anon_roundtrip_fill64k);
	tcase_add_test(tc, test_plugin_roundtrip);
	tcase_add_test(tc, test_plugin_roundtrip_mixed);
	tcase_add_test(tc, test_multi_region);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(roundtrip_suite());
}
