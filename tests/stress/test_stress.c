/* SPDX-License-Identifier: MIT */
/*
 * test_stress - in the spirit of the kernel's selftests/mm/uffd-stress.
 *
 * 4 threads read and write random pages of a 4096-page region through a
 * 64-page budget (2 handler threads), for a bounded time
 * (UPAGER_STRESS_SECONDS, default 12 per variant; set it higher for a
 * soak) or a bounded number of
 * operations per thread (UPAGER_STRESS_OPS), whichever ends first; a fifth
 * thread flushes the region over and over meanwhile.
 *
 * Every page holds a counter (word 0), a checksum word (word 1) and a
 * page-wide pattern derived from the counter (the rest).  A writer takes
 * the page's spinlock (kept outside the region), checks the page, bumps
 * the counter and rewrites the whole page; a reader takes the same lock and
 * checks the page against the counter the test keeps outside the region.
 * Any lost write, torn fill or stale page shows as a mismatch.  At the end
 * every page is checked through the region, then (file regions) the
 * region is flushed, unmapped, mapped again and checked once more, and the
 * file itself is checked with pread.
 *
 * Variants: a file region; an anonymous region (checked before unmap); a
 * file region with a 16 KiB fill unit.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress_util.h"
#include "testutil.h"

#define KiB (1ull << 10)

#define NTHREADS 4
#define NPAGES 4096
#define BUDGET_PAGES 64
#define HANDLERS 2

struct stress {
	char *base;
	uint64_t npages;
	uint64_t seed;
	bool zero_base;     /* counter 0 reads as zeros (anonymous) */
	uint64_t deadline;  /* tu_now_ns() */
	uint64_t max_ops;   /* per thread */
	/* Per page, outside the region: the lock and the expected counter. */
	pthread_spinlock_t *locks;
	uint64_t *count;
	atomic_bool stop;   /* a worker failed, or the flusher must end */
	atomic_uint workers_left;
};

struct worker {
	struct stress *s;
	unsigned id;
	uint64_t reads, writes;
	char err[320];
};

/* The checksum word of page @pg at counter @c. */
static uint64_t csum(const struct stress *s, uint64_t pg, uint64_t c)
{
	return tu_word(s->seed ^ 0xc5c5c5c5ull, pg) ^ (c * 0x9e3779b97f4a7c15ull);
}

/* Word @i (>= 2) of page @pg at counter @c. */
static uint64_t pword(const struct stress *s, uint64_t pg, uint64_t c,
		      uint64_t i)
{
	return tu_word(s->seed ^ (c << 32), pg * 4096 + i * 8);
}

static void write_page(const struct stress *s, uint64_t *w, uint64_t pg,
		       uint64_t c)
{
	size_t i, n = su_page() / 8;

	for (i = 2; i < n; i++)
		w[i] = pword(s, pg, c, i);
	w[1] = csum(s, pg, c);
	w[0] = c;
}

/* Index of the first word of @w that is not page @pg at counter @c, or
 * -1. */
static long page_bad(const struct stress *s, const uint64_t *w, uint64_t pg,
		     uint64_t c)
{
	size_t i, n = su_page() / 8;

	if (!c && s->zero_base) {
		for (i = 0; i < n; i++)
			if (w[i])
				return (long)i;
		return -1;
	}
	if (w[0] != c)
		return 0;
	if (w[1] != csum(s, pg, c))
		return 1;
	for (i = 2; i < n; i++)
		if (w[i] != pword(s, pg, c, i))
			return (long)i;
	return -1;
}

static void describe(const struct stress *s, char *buf, size_t len,
		     const char *what, const uint64_t *w, uint64_t pg,
		     uint64_t c, long bad)
{
	snprintf(buf, len,
		 "%s: page %" PRIu64 " should hold counter %" PRIu64
		 ": word %ld is %#" PRIx64 " (page counter word %" PRIu64
		 "%s)", what, pg, c, bad, w[bad], w[0],
		 w[0] < c ? ": an older version, a lost write" : "");
	(void)s;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct stress *s = wk->s;
	struct su_rng rng;
	uint64_t op;

	su_rng_init(&rng, s->seed, 300 + wk->id);
	su_wd_enter(1 + wk->id);
	for (op = 0; op < s->max_ops; op++) {
		uint64_t pg = su_below(&rng, s->npages);
		uint64_t *w = (uint64_t *)(s->base + pg * su_page());
		bool write = su_below(&rng, 2);
		uint64_t c;
		long bad;

		su_wd_note(1 + wk->id, w);
		if ((op & 63) == 0 &&
		    (atomic_load(&s->stop) || tu_now_ns() >= s->deadline))
			break;
		pthread_spin_lock(&s->locks[pg]);
		c = s->count[pg];
		bad = page_bad(s, w, pg, c);
		if (bad >= 0) {
			describe(s, wk->err, sizeof(wk->err),
				 write ? "before a write" : "read", w, pg, c,
				 bad);
			pthread_spin_unlock(&s->locks[pg]);
			atomic_store(&s->stop, true);
			break;
		}
		if (write) {
			write_page(s, w, pg, c + 1);
			s->count[pg] = c + 1;
			wk->writes++;
		} else {
			wk->reads++;
		}
		pthread_spin_unlock(&s->locks[pg]);
	}
	su_wd_leave(1 + wk->id);
	atomic_fetch_sub(&s->workers_left, 1);
	return NULL;
}

struct flusher {
	struct upg_region *r;
	struct stress *s;
	uint64_t flushes;
	int err;
};

/* Flush the whole region again and again while the workers run. */
static void *flusher_main(void *arg)
{
	struct flusher *f = arg;

	su_wd_enter(1 + NTHREADS);
	while (atomic_load(&f->s->workers_left) && !atomic_load(&f->s->stop)) {
		int err;

		su_wd_note(1 + NTHREADS, f->r);
		err = upg_region_flush(f->r, 0, 0);

		if (err) {
			f->err = err;
			break;
		}
		f->flushes++;
	}
	su_wd_leave(1 + NTHREADS);
	return NULL;
}

static void check_all(const struct stress *s, const char *what)
{
	char msg[320];
	uint64_t pg;

	for (pg = 0; pg < s->npages; pg++) {
		const uint64_t *w =
			(const uint64_t *)(s->base + pg * su_page());
		long bad;

		su_wd_note(0, w);
		bad = page_bad(s, w, pg, s->count[pg]);

		if (bad >= 0) {
			describe(s, msg, sizeof(msg), what, w, pg,
				 s->count[pg], bad);
			ck_abort_msg("%s", msg);
		}
	}
}

static void check_file(const struct stress *s, int fd)
{
	size_t ps = su_page();
	uint64_t *buf = malloc(ps);
	char msg[320];
	uint64_t pg;

	ck_assert_ptr_nonnull(buf);
	for (pg = 0; pg < s->npages; pg++) {
		long bad;

		su_pread_all(fd, buf, ps, pg * ps);
		bad = page_bad(s, buf, pg, s->count[pg]);
		if (bad >= 0) {
			describe(s, msg, sizeof(msg), "file", buf, pg,
				 s->count[pg], bad);
			ck_abort_msg("%s", msg);
		}
	}
	free(buf);
}

static struct upg_region *map_region(struct upg_runtime *rt, int fd,
				     uint64_t len, uint64_t fill_unit)
{
	UPG_OPTS(upg_region_opts, o, .fill_unit = fill_unit);
	struct upg_region *r = NULL;
	int err;

	if (fd >= 0)
		err = upg_region_map_file(rt, fd, len, &o, &r);
	else
		err = upg_region_map_anon(rt, len, &o, &r);
	ck_assert_msg(!err, "map: %s", strerror(-err));
	return r;
}

static void stress_run(bool anon, uint64_t fill_unit, const char *what)
{
	uint64_t seconds = su_env_u64("UPAGER_STRESS_SECONDS", 12);
	uint64_t max_ops = su_env_u64("UPAGER_STRESS_OPS", 100000000ull);
	struct stress s = { .npages = NPAGES, .zero_base = anon,
			    .max_ops = max_ops };
	size_t ps = su_page(), len = NPAGES * ps;
	struct worker wk[NTHREADS];
	pthread_t th[NTHREADS], fth;
	struct flusher fl = { 0 };
	uint64_t reads = 0, writes = 0, written_pages = 0, t0, pg;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_stats st;
	unsigned i;
	int fd = -1;

	s.seed = su_seed(what, 0x7374726573737473ull);
	/* A thread stuck for 30 s fails the test with its address. */
	su_wd_start(what, 30);
	su_wd_enter(0);
	s.locks = calloc(NPAGES, sizeof(*s.locks));
	s.count = calloc(NPAGES, sizeof(*s.count));
	ck_assert(s.locks != NULL);
	ck_assert_ptr_nonnull(s.count);
	for (pg = 0; pg < NPAGES; pg++)
		pthread_spin_init(&s.locks[pg], PTHREAD_PROCESS_PRIVATE);
	if (!anon) {
		/* The file starts with every page at counter 0. */
		uint64_t *buf = malloc(len);

		ck_assert_ptr_nonnull(buf);
		for (pg = 0; pg < NPAGES; pg++)
			write_page(&s, (uint64_t *)((char *)buf + pg * ps), pg,
				   0);
		fd = tu_tmpfile(len);
		su_pwrite_all(fd, buf, len, 0);
		free(buf);
	}

	rt = tu_runtime(BUDGET_PAGES * ps, HANDLERS);
	r = map_region(rt, fd, len, fill_unit);
	s.base = upg_region_addr(r);
	fprintf(stderr, "%s: %u threads, %d pages, budget %d pages, %" PRIu64
		" s or %" PRIu64 " operations per thread\n", what, NTHREADS,
		NPAGES, BUDGET_PAGES, seconds, max_ops);

	su_wd_leave(0); /* joins below: the workers are watched */
	t0 = tu_now_ns();
	s.deadline = t0 + seconds * 1000000000ull;
	atomic_store(&s.workers_left, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		wk[i] = (struct worker){ .s = &s, .id = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main,
						&wk[i]), 0);
	}
	fl = (struct flusher){ .r = r, .s = &s };
	ck_assert_int_eq(pthread_create(&fth, NULL, flusher_main, &fl), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_join(fth, NULL);
	su_wd_enter(0);

	st = tu_stats(rt);
	for (i = 0; i < NTHREADS; i++) {
		reads += wk[i].reads;
		writes += wk[i].writes;
	}
	for (pg = 0; pg < NPAGES; pg++)
		written_pages += s.count[pg] != 0;
	fprintf(stderr, "%s: %.1f s, %" PRIu64 " reads, %" PRIu64
		" writes (%" PRIu64 " pages), %" PRIu64 " flushes\n", what,
		(double)(tu_now_ns() - t0) / 1e9, reads, writes, written_pages,
		fl.flushes);
	su_print_stats(what, &st);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_msg(!wk[i].err[0], "%s: thread %u: %s", what, i,
			      wk[i].err);
	ck_assert_msg(!fl.err, "%s: flush: %s", what, strerror(-fl.err));
	ck_assert_uint_eq(st.read_errors, 0);
	ck_assert_uint_eq(st.write_errors, 0);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_gt(writes, 0);

	check_all(&s, what);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	check_all(&s, what);
	if (!anon) {
		check_file(&s, fd);
		ck_assert_int_eq(upg_region_unmap(r), 0);
		check_file(&s, fd);
		r = map_region(rt, fd, len, fill_unit);
		s.base = upg_region_addr(r);
		check_all(&s, what);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	st = tu_stats(rt);
	ck_assert_uint_ge(st.pages_written_back, written_pages);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	if (fd >= 0) {
		check_file(&s, fd);
		close(fd);
	}
	su_wd_leave(0);
	su_wd_stop();
	for (pg = 0; pg < NPAGES; pg++)
		pthread_spin_destroy(&s.locks[pg]);
	free((void *)s.locks);
	free(s.count);
}

START_TEST(test_stress_file)
{
	stress_run(false, 0, "stress, file");
}
END_TEST

START_TEST(test_stress_anon)
{
	stress_run(true, 0, "stress, anon");
}
END_TEST

START_TEST(test_stress_file_fill16k)
{
	stress_run(false, 16 * KiB, "stress, file, fill unit 16 KiB");
}
END_TEST

static Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stress_file);
	tcase_add_test(tc, test_stress_anon);
	tcase_add_test(tc, test_stress_file_fill16k);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(stress_suite());
}
