// SPDX-License-Identifier: MIT
/*
 * test_anon - anonymous regions paged to the runtime's swap file: zeros
 * without I/O, round trips through the swap under a small budget, and
 * reuse of swap space without stale data.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region/region.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

static bool all_zero(const void *p, uint64_t len, uint64_t *where)
{
	const unsigned char *c = p;
	uint64_t i;

	for (i = 0; i < len; i++) {
		if (c[i]) {
			*where = i;
			return false;
		}
	}
	return true;
}

START_TEST(test_anon_zero_no_io)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_region *r;
	struct upg_stats s0, s1;
	uint64_t len = 64 * PS, where = 0;
	char *a;

	s0 = tu_stats(rt);
	ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_ptr_nonnull(a);
	ck_assert_msg(all_zero(a, len, &where), "byte %llu not zero",
		      (unsigned long long)where);
	s1 = tu_stats(rt);
	ck_assert_uint_eq(s1.bytes_read, s0.bytes_read);
	ck_assert_uint_eq(s1.pages_filled, s0.pages_filled);
	ck_assert_uint_eq(s1.pages_zero_filled - s0.pages_zero_filled, 64);
	/* Clean zero pages have nothing to write. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	s1 = tu_stats(rt);
	ck_assert_uint_eq(s1.bytes_written, 0);
	ck_assert_uint_eq(s1.bytes_read, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * Never-written pages must stay I/O-free after they are evicted too: an
 * evicted clean page that was never written holds nothing in the swap.
 * One page at the end is written (and swapped out), so that the swap file
 * is long enough for a read of the others to move bytes if one is issued.
 */
START_TEST(test_anon_zero_after_eviction_no_io)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64;
	struct upg_region *r;
	struct upg_stats st;
	uint64_t where = 0;
	char *a;
	int pass;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r), 0);
	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	a = upg_region_addr(r);
	memset(a + (n - 1) * PS, 0x3c, PS);
	for (pass = 0; pass < 3; pass++)
		ck_assert_msg(all_zero(a, (n - 1) * PS, &where),
			      "pass %d: byte %llu not zero", pass,
			      (unsigned long long)where);
	st = tu_stats(rt);
	ck_assert_uint_gt(st.pages_evicted, 0);
	/* The written page went to the swap once. */
	ck_assert_uint_eq(st.pages_written_back, 1);
	ck_assert_msg(st.bytes_read == 0,
		      "never-written anonymous pages were read from the swap "
		      "after eviction: bytes_read %llu, pages_zero_filled "
		      "%llu, pages_filled %llu",
		      (unsigned long long)st.bytes_read,
		      (unsigned long long)st.pages_zero_filled,
		      (unsigned long long)st.pages_filled);
	ck_assert_int_eq(((unsigned char *)a)[(n - 1) * PS], 0x3c);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_anon_swap_roundtrip)
{
	const uint64_t budget = 256 * 1024, len = 4 * budget;
	struct upg_runtime *rt = tu_runtime(budget, 2);
	struct upg_region *r;
	struct upg_stats st;
	char *a;
	int pass;

	ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, len, 301);
	for (pass = 0; pass < 2; pass++) {
		uint64_t bad = tu_check(a, 0, len, 301);

		ck_assert_msg(bad == UINT64_MAX, "pass %d: byte %llu differs",
			      pass, (unsigned long long)bad);
	}
	st = tu_stats(rt);
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_gt(st.pages_written_back, 0);
	ck_assert_uint_gt(st.bytes_read, 0);
	ck_assert_uint_le(st.resident_peak_bytes, budget + 2 * PS);
	/* Rewrite half, read everything back once more. */
	tu_fill(a, 0, len / 2, 302);
	ck_assert_uint_eq(tu_check(a, 0, len / 2, 302), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + len / 2, len / 2, len / 2, 301),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_anon_fill_unit_mixed)
{
	/* Units of 4 pages where only page 1 of each unit was ever
	 * written: a fill reads that page and zero-fills the others. */
	UPG_OPTS(upg_region_opts, o, .fill_unit = 4 * PS);
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64;
	struct upg_region *r;
	uint64_t pg, where = 0;
	char *a;
	int pass;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, &o, &r), 0);
	a = upg_region_addr(r);
	for (pg = 1; pg < n; pg += 4)
		tu_fill(a + pg * PS, pg * PS, PS, 303);
	for (pass = 0; pass < 2; pass++) {
		for (pg = 0; pg < n; pg++) {
			if (pg % 4 == 1)
				ck_assert_uint_eq(tu_check(a + pg * PS, pg * PS,
							   PS, 303),
						  UINT64_MAX);
			else
				ck_assert_msg(all_zero(a + pg * PS, PS, &where),
					      "pass %d page %llu byte %llu",
					      pass, (unsigned long long)pg,
					      (unsigned long long)where);
		}
	}
	ck_assert_uint_gt(tu_stats(rt).pages_written_back, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_anon_swap_reuse_no_stale)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64;
	struct upg_region *r1, *r2;
	uint64_t off1, where = 0, pg;
	struct upg_stats st;
	char *a;
	int pass;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r1), 0);
	a = upg_region_addr(r1);
	tu_fill(a, 0, n * PS, 304);
	ck_assert_uint_eq(tu_check(a, 0, n * PS, 304), UINT64_MAX);
	st = tu_stats(rt);
	/* Most of it went through the swap. */
	ck_assert_uint_ge(st.pages_written_back, n - 16);
	off1 = r1->store_off;
	ck_assert_int_eq(upg_region_unmap(r1), 0);

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r2), 0);
	/* The freed extent is handed out again. */
	ck_assert_uint_eq(r2->store_off, off1);
	a = upg_region_addr(r2);
	for (pass = 0; pass < 2; pass++)
		ck_assert_msg(all_zero(a, n * PS, &where),
			      "pass %d: stale byte at %llu", pass,
			      (unsigned long long)where);
	/* One byte per page, then through the swap and back: the rest of
	 * each page is still zero, not the old region's data. */
	for (pg = 0; pg < n; pg++)
		a[pg * PS + 100] = (char)(pg + 1);
	for (pass = 0; pass < 2; pass++) {
		for (pg = 0; pg < n; pg++) {
			ck_assert_int_eq(a[pg * PS + 100], (char)(pg + 1));
			a[pg * PS + 100] = 0;
			ck_assert_msg(all_zero(a + pg * PS, PS, &where),
				      "page %llu: stale byte at %llu",
				      (unsigned long long)pg,
				      (unsigned long long)where);
			a[pg * PS + 100] = (char)(pg + 1);
		}
	}
	ck_assert_int_eq(upg_region_unmap(r2), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_anon_regions_independent)
{
	/* Two anonymous regions share the swap file, not their data. */
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 48;
	struct upg_region *r1, *r2;
	char *a, *b;
	int pass;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r1), 0);
	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r2), 0);
	a = upg_region_addr(r1);
	b = upg_region_addr(r2);
	ck_assert_ptr_ne(a, b);
	tu_fill(a, 0, n * PS, 305);
	tu_fill(b, 0, n * PS, 306);
	for (pass = 0; pass < 2; pass++) {
		ck_assert_uint_eq(tu_check(a, 0, n * PS, 305), UINT64_MAX);
		ck_assert_uint_eq(tu_check(b, 0, n * PS, 306), UINT64_MAX);
	}
	ck_assert_int_eq(upg_region_unmap(r1), 0);
	ck_assert_uint_eq(tu_check(b, 0, n * PS, 306), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r2), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("anon");
	TCase *tc = tcase_create("anon");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_anon_zero_no_io);
	tcase_add_test(tc, test_anon_zero_after_eviction_no_io);
	tcase_add_test(tc, test_anon_swap_roundtrip);
	tcase_add_test(tc, test_anon_fill_unit_mixed);
	tcase_add_test(tc, test_anon_swap_reuse_no_stale);
	tcase_add_test(tc, test_anon_regions_independent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
