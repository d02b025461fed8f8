/* SPDX-License-Identifier: MIT */
/*
 * writeback/write_pages.c alone: pages handed to write_pages() directly,
 * on a region whose store records every write.  Contiguous pages are
 * merged into one write of at most WB_MAX_RUN_PAGES, gaps split runs, the
 * data written is the alias's, and a failed write sets err on exactly the
 * pages of its run.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region/region.h"
#include "testutil.h"
#include "writeback/writeback.h"

#define PS 4096u
#define NPAGES 600u
#define MAX_WRITES 64

/* A store in memory that records its writes; reads give zeros. */
struct rec_store {
	pthread_mutex_t lock;
	char *data;
	uint64_t fail_off; /* a write starting here fails -EIO (0: none) */
	unsigned nw;
	struct { uint64_t off, len; } w[MAX_WRITES];
};

static int rec_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct rec_store *st = ctx;
	ssize_t res = (ssize_t)io->len;

	(void)q;
	pthread_mutex_lock(&st->lock);
	if (io->op == UPG_IO_READ) {
		memset(io->buf, 0, io->len);
	} else {
		if (st->nw < MAX_WRITES) {
			st->w[st->nw].off = io->offset;
			st->w[st->nw].len = io->len;
		}
		st->nw++;
		if (st->fail_off && io->offset == st->fail_off)
			res = -EIO;
		else
			memcpy(st->data + io->offset, io->buf, io->len);
	}
	pthread_mutex_unlock(&st->lock);
	upg_io_complete(io, res);
	return 0;
}

static const struct upg_store_ops rec_ops = {
	.sz = sizeof(struct upg_store_ops),
	.submit = rec_submit,
};

static struct rec_store rs;
static struct upg_runtime *rt;
static struct upg_region *r;
static struct upg_store *store;
static char *base;

static void setup(void)
{
	uint64_t i;

	memset(&rs, 0, sizeof(rs));
	pthread_mutex_init(&rs.lock, NULL);
	rs.data = calloc(NPAGES, PS);
	ck_assert_ptr_nonnull(rs.data);
	/* A budget far above the region: nothing is evicted meanwhile. */
	rt = tu_runtime(64 << 20, 1);
	ck_assert_int_eq(upg_store_create(&rec_ops, &rs, &store), 0);
	ck_assert_int_eq(upg_region_map_store(rt, store, NPAGES * PS, NULL,
					      &r), 0);
	base = upg_region_addr(r);
	for (i = 0; i < NPAGES; i++)
		tu_fill(base + i * PS, i * PS, PS, 42);
}

static void teardown(void)
{
	upg_region_unmap(r);
	upg_store_put(store);
	upg_runtime_destroy(rt);
	free(rs.data);
}

/* write_pages() on @pgs (sorted), from a queue of this thread. */
static void write_now(const uint64_t *pgs, size_t n, struct wb_page *wb)
{
	struct upg_io_queue q;
	size_t i;

	for (i = 0; i < n; i++)
		wb[i] = (struct wb_page){ r, pgs[i], 1, false };
	ck_assert_int_eq(io_queue_init(&q, 32), 0);
	write_pages(&q, wb, n);
	io_queue_fini(&q);
}

START_TEST(test_runs_merged_and_split)
{
	static uint64_t pgs[NPAGES];
	static struct wb_page wb[NPAGES];
	size_t n = 0, i;
	uint64_t p;

	/* 0-2, 5-6, 10, then 300 contiguous from 100: five writes, the
	 * last run split at WB_MAX_RUN_PAGES (256 + 44). */
	pgs[n++] = 0, pgs[n++] = 1, pgs[n++] = 2;
	pgs[n++] = 5, pgs[n++] = 6;
	pgs[n++] = 10;
	for (p = 100; p < 400; p++)
		pgs[n++] = p;
	write_now(pgs, n, wb);

	for (i = 0; i < n; i++)
		ck_assert_int_eq(wb[i].err, 0);
	ck_assert_uint_eq(rs.nw, 5);
	ck_assert_uint_eq(rs.w[0].off, 0);
	ck_assert_uint_eq(rs.w[0].len, 3 * PS);
	ck_assert_uint_eq(rs.w[1].off, 5 * PS);
	ck_assert_uint_eq(rs.w[1].len, 2 * PS);
	ck_assert_uint_eq(rs.w[2].off, 10 * PS);
	ck_assert_uint_eq(rs.w[2].len, PS);
	ck_assert_uint_eq(rs.w[3].off, 100 * PS);
	ck_assert_uint_eq(rs.w[3].len, WB_MAX_RUN_PAGES * PS);
	ck_assert_uint_eq(rs.w[4].off, (100 + WB_MAX_RUN_PAGES) * PS);
	ck_assert_uint_eq(rs.w[4].len, (300 - WB_MAX_RUN_PAGES) * PS);
	/* The store got the alias's data, page by page. */
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(tu_check(rs.data + pgs[i] * PS, pgs[i] * PS,
					   PS, 42), UINT64_MAX);
	/* Pages not handed over were not written. */
	ck_assert_int_eq(rs.data[3 * PS], 0);
	ck_assert_int_eq(rs.data[99 * PS], 0);
}
END_TEST

START_TEST(test_failed_run_marks_its_pages)
{
	static const uint64_t pgs[] = { 1, 2, 3, 7, 8, 20 };
	struct wb_page wb[6];
	size_t i;

	rs.fail_off = 7 * PS; /* the run 7-8 */
	write_now(pgs, 6, wb);
	ck_assert_uint_eq(rs.nw, 3);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(wb[i].err,
				 pgs[i] == 7 || pgs[i] == 8 ? -EIO : 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("write_pages");
	TCase *tc = tcase_create("write_pages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_runs_merged_and_split);
	tcase_add_test(tc, test_failed_run_marks_its_pages);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
