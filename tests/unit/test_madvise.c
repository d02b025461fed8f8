/* SPDX-License-Identifier: MIT */
/*
 * The application's own madvise on a region (UFFD_EVENT_REMOVE):
 * MADV_DONTNEED keeps the data (shared memory), MADV_REMOVE discards the
 * resident pages of the range: they read back as zeros, in memory, after
 * eviction, and in the file, whose range is punched.  (Pages not resident
 * when MADV_REMOVE is issued keep their store contents: see
 * docs/app-events.md.)  upg_region_discard() discards every page.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

#define PAGE 4096ull
#define NPAGES 64ull

static struct upg_region *map_file(struct upg_runtime *rt, int fd)
{
	struct upg_region *r;

	ck_assert_int_eq(upg_region_map_file(rt, fd, NPAGES * PAGE, NULL, &r),
			 0);
	return r;
}

START_TEST(test_dontneed_keeps_data)
{
	struct upg_runtime *rt = tu_runtime(1 << 20, 2);
	int fd = tu_tmpfile(NPAGES * PAGE);
	struct upg_region *r = map_file(rt, fd);
	char *p = upg_region_addr(r);
	uint64_t pg;

	for (pg = 0; pg < NPAGES; pg++)
		tu_fill(p + pg * PAGE, pg * PAGE, PAGE, 7);
	ck_assert_int_eq(madvise(p, NPAGES * PAGE, MADV_DONTNEED), 0);
	ck_assert_uint_eq(tu_check(p, 0, NPAGES * PAGE, 7), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* Discard pages 8..23 (resident, dirty) of a file region whose data is in
 * the file. */
static void remove_and_check(bool evict_first)
{
	struct upg_runtime *rt = tu_runtime(evict_first ? 40 * PAGE : 1 << 20,
					    2);
	int fd = tu_tmpfile(NPAGES * PAGE);
	struct upg_region *r;
	char *p, buf[PAGE], zero[PAGE];
	struct upg_stats st;
	uint64_t pg;

	memset(zero, 0, sizeof(zero));
	for (pg = 0; pg < NPAGES; pg++) {
		tu_fill(buf, pg * PAGE, PAGE, 9);
		ck_assert_int_eq(pwrite(fd, buf, PAGE, (off_t)(pg * PAGE)),
				 (ssize_t)PAGE);
	}
	r = map_file(rt, fd);
	p = upg_region_addr(r);
	/* Make 8..23 resident and dirty (a write the discard throws away). */
	for (pg = 8; pg < 24; pg++)
		p[pg * PAGE] = 1;
	ck_assert_int_eq(madvise(p + 8 * PAGE, 16 * PAGE, MADV_REMOVE), 0);
	if (evict_first) {
		/* Touch the rest twice so that eviction meets the discarded
		 * pages before any access does. */
		int round;

		for (round = 0; round < 2; round++)
			for (pg = 24; pg < NPAGES; pg++)
				ck_assert_uint_eq(tu_check(p + pg * PAGE,
							   pg * PAGE, PAGE, 9),
						  UINT64_MAX);
	}
	for (pg = 8; pg < 24; pg++)
		ck_assert_msg(!memcmp(p + pg * PAGE, zero, PAGE),
			      "page %llu not zero after MADV_REMOVE",
			      (unsigned long long)pg);
	for (pg = 0; pg < 8; pg++)
		ck_assert_uint_eq(tu_check(p + pg * PAGE, pg * PAGE, PAGE, 9),
				  UINT64_MAX);
	st = tu_stats(rt);
	ck_assert_uint_ge(st.pages_discarded, 1);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	/* The file range was discarded too. */
	for (pg = 8; pg < 24; pg++) {
		ck_assert_int_eq(pread(fd, buf, PAGE, (off_t)(pg * PAGE)),
				 (ssize_t)PAGE);
		ck_assert_msg(!memcmp(buf, zero, PAGE),
			      "file page %llu not zero",
			      (unsigned long long)pg);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}

START_TEST(test_remove_reads_zeros)
{
	remove_and_check(false);
}
END_TEST

START_TEST(test_remove_then_eviction)
{
	remove_and_check(true);
}
END_TEST

START_TEST(test_remove_anon)
{
	struct upg_runtime *rt = tu_runtime(32 * PAGE, 2);
	struct upg_pin *pin;
	struct upg_region *r;
	char zero[PAGE];
	uint64_t pg;
	char *p;

	memset(zero, 0, sizeof(zero));
	ck_assert_int_eq(upg_region_map_anon(rt, NPAGES * PAGE, NULL, &r), 0);
	p = upg_region_addr(r);
	/* Written everywhere, so that most pages go to swap. */
	for (pg = 0; pg < NPAGES; pg++)
		tu_fill(p + pg * PAGE, pg * PAGE, PAGE, 3);
	/* Discard pages that are certainly resident (a page evicted meanwhile
	 * would keep its swap contents, the documented limit): pin them, 8
	 * pages = the default pin limit of a 32-page budget. */
	ck_assert_int_eq(upg_pin(rt, p + 56 * PAGE, 8 * PAGE, &pin), 0);
	ck_assert_int_eq(madvise(p + 56 * PAGE, 8 * PAGE, MADV_REMOVE), 0);
	for (pg = 0; pg < 56; pg++)
		ck_assert_uint_eq(tu_check(p + pg * PAGE, pg * PAGE, PAGE, 3),
				  UINT64_MAX);
	for (pg = 56; pg < NPAGES; pg++)
		ck_assert_msg(!memcmp(p + pg * PAGE, zero, PAGE),
			      "page %llu not zero after MADV_REMOVE",
			      (unsigned long long)pg);
	/* The evictor's tick may have discarded a page and the fault on it
	 * filled it with zeros before the tick counted it (it punches the
	 * store in between): wait for the count. */
	TU_WAIT_FOR(tu_stats(rt).pages_discarded >= 8, 10000);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- upg_region_discard(): every page, resident or not ----------------- */

static bool all_zero(const char *p, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(test_discard_file_resident_and_not)
{
	/* 16-page budget over 64 pages: most of the range is evicted (in
	 * the file only), the rest resident, some of it dirty. */
	struct upg_runtime *rt = tu_runtime(16 * PAGE, 2);
	int fd = tu_tmpfile(NPAGES * PAGE);
	struct upg_region *r = map_file(rt, fd);
	char *p = upg_region_addr(r);
	char *buf = malloc(NPAGES * PAGE);

	ck_assert_ptr_nonnull(buf);
	tu_fill(p, 0, NPAGES * PAGE, 31);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	tu_fill(p + 36 * PAGE, 36 * PAGE, 4 * PAGE, 32); /* dirty, resident */
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);

	ck_assert_int_eq(upg_region_discard(r, 8 * PAGE, 32 * PAGE), 0);
	ck_assert_uint_ge(tu_stats(rt).pages_discarded, 32);
	ck_assert(all_zero(p + 8 * PAGE, 32 * PAGE));
	ck_assert_uint_eq(tu_check(p, 0, 8 * PAGE, 31), UINT64_MAX);
	ck_assert_uint_eq(tu_check(p + 40 * PAGE, 40 * PAGE, 24 * PAGE, 31),
			  UINT64_MAX);
	/* Evicted again after the discard: still zeros (read back from the
	 * punched file). */
	tur_touch_read(p + 40 * PAGE, 24 * PAGE);
	tur_touch_read(p, 8 * PAGE);
	ck_assert(all_zero(p + 8 * PAGE, 32 * PAGE));
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(pread(fd, buf, NPAGES * PAGE, 0),
			 (ssize_t)(NPAGES * PAGE));
	ck_assert(all_zero(buf + 8 * PAGE, 32 * PAGE));
	ck_assert_uint_eq(tu_check(buf, 0, 8 * PAGE, 31), UINT64_MAX);
	ck_assert_uint_eq(tu_check(buf + 40 * PAGE, 40 * PAGE, 24 * PAGE, 31),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	free(buf);
	close(fd);
}
END_TEST

START_TEST(test_discard_anon)
{
	struct upg_runtime *rt = tu_runtime(16 * PAGE, 2);
	struct upg_region *r;
	char *p;

	ck_assert_int_eq(upg_region_map_anon(rt, NPAGES * PAGE, NULL, &r), 0);
	p = upg_region_addr(r);
	tu_fill(p, 0, NPAGES * PAGE, 33); /* most of it in the swap store */
	ck_assert_int_eq(upg_region_discard(r, 0, 48 * PAGE), 0);
	ck_assert(all_zero(p, 48 * PAGE));
	ck_assert_uint_eq(tu_check(p + 48 * PAGE, 48 * PAGE, 16 * PAGE, 33),
			  UINT64_MAX);
	/* Written again after the discard: the new data, not zeros. */
	tu_fill(p, 0, 8 * PAGE, 34);
	tur_touch_read(p + 8 * PAGE, 56 * PAGE);
	ck_assert_uint_eq(tu_check(p, 0, 8 * PAGE, 34), UINT64_MAX);
	ck_assert(all_zero(p + 8 * PAGE, 40 * PAGE));
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_discard_errors)
{
	struct upg_runtime *rt = tu_runtime(1 << 20, 2);
	int fd = tu_tmpfile(NPAGES * PAGE);
	UPG_OPTS(upg_region_opts, ro, .prot = PROT_READ);
	struct upg_region *r = map_file(rt, fd), *rr;
	char *p = upg_region_addr(r);
	struct upg_pin *pin;

	tu_fill(p, 0, NPAGES * PAGE, 35);
	ck_assert_int_eq(upg_region_discard(r, 1, PAGE), -EINVAL);
	ck_assert_int_eq(upg_region_discard(r, 0, (NPAGES + 1) * PAGE),
			 -EINVAL);
	ck_assert_int_eq(upg_region_discard(r, (NPAGES + 1) * PAGE, 0),
			 -EINVAL);
	ck_assert_int_eq(upg_region_discard(NULL, 0, PAGE), -EBADF);
	/* A pinned page: nothing discarded at all. */
	ck_assert_int_eq(upg_pin(rt, p + 5 * PAGE, PAGE, &pin), 0);
	ck_assert_int_eq(upg_region_discard(r, 0, 8 * PAGE), -EBUSY);
	ck_assert_uint_eq(tu_check(p, 0, NPAGES * PAGE, 35), UINT64_MAX);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_discard(r, 0, 8 * PAGE), 0);
	ck_assert(all_zero(p, 8 * PAGE));
	ck_assert_int_eq(upg_region_map_file(rt, fd, NPAGES * PAGE, &ro, &rr),
			 0);
	ck_assert_int_eq(upg_region_discard(rr, 0, PAGE), -EACCES);
	ck_assert_int_eq(upg_region_unmap(rr), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_region_discard(r, 0, PAGE), -EBADF);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

static Suite *madvise_suite(void)
{
	Suite *s = suite_create("madvise");
	TCase *tc = tcase_create("madvise");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dontneed_keeps_data);
	tcase_add_test(tc, test_remove_reads_zeros);
	tcase_add_test(tc, test_remove_then_eviction);
	tcase_add_test(tc, test_remove_anon);
	suite_add_tcase(s, tc);

	tc = tcase_create("discard");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_discard_file_resident_and_not);
	tcase_add_test(tc, test_discard_anon);
	tcase_add_test(tc, test_discard_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(madvise_suite());
}
