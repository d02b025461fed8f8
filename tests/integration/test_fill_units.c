/* SPDX-License-Identifier: MIT */
/*
 * test_fill_units - every fill unit from 16 KiB to 2 MiB, on file and
 * anonymous regions four times the budget (see budget_for()): every byte checked after
 * forward, backward, strided and random passes of reads and writes (so
 * units are filled, dirtied in part, evicted and read back), after a
 * flush in the file, and in a fresh region after unmap.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "page_model.h"
#include "testutil.h"

#define MiB ((uint64_t)1 << 20)
#define KiB ((uint64_t)1 << 10)
/* Regions are four times the budget, and the budget holds at least two
 * fill units (four up to 512 KiB): budget 2 MiB and region 8 MiB for units
 * up to 512 KiB, 4 MiB and 16 MiB for 1 and 2 MiB.  A larger region for
 * the small units exercised nothing more (the same fills, partial dirtying,
 * evictions and read-backs, on more pages) and took twice as long. */
#define BUDGET (4 * MiB)
#define SMALL_UNITS_MAX (512 * KiB)
#define budget_for(unit) ((unit) <= SMALL_UNITS_MAX ? BUDGET / 2 : BUDGET)
#define region_for(unit) (4 * budget_for(unit))
/* 16 KiB << 0 .. 16 KiB << 7 = 2 MiB; file and anonymous each. */
#define NR_UNITS 8

static struct upg_region *map(struct upg_runtime *rt, int fd, uint64_t unit,
			      uint64_t len)
{
	UPG_OPTS(upg_region_opts, o, .fill_unit = unit);
	struct upg_region *r = NULL;
	int err = fd >= 0 ? upg_region_map_file(rt, fd, len, &o, &r) :
			    upg_region_map_anon(rt, len, &o, &r);

	ck_assert_msg(!err, "map, fill unit %" PRIu64 ": %s", unit,
		      strerror(-err));
	return r;
}

START_TEST(test_fill_unit_content)
{
	uint64_t unit = (16 * KiB) << (_i / 2);
	bool anon = _i % 2;
	uint64_t fseed = 0xf111 + (uint64_t)_i, wseed = 0x3717e ^ unit;
	char what[64];
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_stats st;
	struct su_rng rng;
	struct pm_model m;
	int fd = -1, p;

	snprintf(what, sizeof(what), "%s, fill unit %" PRIu64 " KiB",
		 anon ? "anon" : "file", unit / KiB);
	if (!anon) {
		fd = tu_tmpfile(region_for(unit));
		su_fill_file(fd, 0, region_for(unit), fseed);
	}
	pm_init(&m, region_for(unit), 0, anon, fseed, wseed);
	/* Most random visits miss and fill a whole unit: keep the I/O per
	 * test about the same (~a few hundred MiB) whatever the unit. */
	m.random_ops = 2 * m.npages * 4 * KiB / unit * 4;
	if (m.random_ops > 2 * m.npages)
		m.random_ops = 2 * m.npages;
	su_rng_init(&rng, 0x5eed ^ unit, (unsigned)_i);
	rt = tu_runtime(budget_for(unit), 2);
	r = map(rt, fd, unit, region_for(unit));
	for (p = 0; p < PM_NR_PATTERNS; p++)
		pm_run(&m, upg_region_addr(r), (enum pm_pattern)p, 3, &rng,
		       what);
	pm_check_all(&m, upg_region_addr(r), what);
	st = tu_stats(rt);
	ck_assert_msg(st.pages_evicted > 0, "%s: nothing evicted", what);
	ck_assert_msg(st.pages_written_back > 0, "%s: nothing written back",
		      what);
	ck_assert_uint_eq(st.read_errors, 0);
	ck_assert_uint_eq(st.write_errors, 0);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	if (!anon) {
		pm_check_file(&m, fd, what);
		ck_assert_int_eq(upg_region_unmap(r), 0);
		/* A new region, one-page fills: what the file holds now. */
		r = map(rt, fd, 0, region_for(unit));
		pm_check_all(&m, upg_region_addr(r), what);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	if (fd >= 0)
		close(fd);
	pm_fini(&m);
}
END_TEST

/* Every value that is not a power of two from the page size to 2 MiB, or
 * exceeds the budget, is refused, for every map call, and maps nothing. */
START_TEST(test_fill_unit_bad_values)
{
	const uint64_t bad[] = { 1, 512, 2048, 3 * 4096, 24 * KiB,
				 (2 * MiB) - 4096, (2 * MiB) + 4096, 4 * MiB,
				 1ull << 40, UINT64_MAX };
	struct upg_runtime *rt = tu_runtime(BUDGET, 1);
	int fd = tu_tmpfile(MiB);
	struct upg_stats st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		UPG_OPTS(upg_region_opts, o, .fill_unit = bad[i]);
		struct upg_region *r = NULL;

		ck_assert_int_eq(upg_region_map_file(rt, fd, MiB, &o, &r),
				 -EINVAL);
		ck_assert_int_eq(upg_region_map_anon(rt, MiB, &o, &r),
				 -EINVAL);
		ck_assert_ptr_null(r);
	}
	/* Over a budget of 1 MiB: 2 MiB is refused, 1 MiB is not. */
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	rt = tu_runtime(MiB, 1);
	{
		UPG_OPTS(upg_region_opts, big, .fill_unit = 2 * MiB);
		UPG_OPTS(upg_region_opts, fits, .fill_unit = MiB);
		struct upg_region *r = NULL;

		ck_assert_int_eq(upg_region_map_anon(rt, MiB, &big, &r),
				 -EINVAL);
		ck_assert_int_eq(upg_region_map_anon(rt, MiB, &fits, &r), 0);
		ck_assert_int_eq(upg_region_unmap(r), 0);
	}
	st = tu_stats(rt);
	ck_assert_uint_eq(st.resident_bytes, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

static Suite *fill_units_suite(void)
{
	Suite *s = suite_create("fill_units");
	TCase *tc = tcase_create("fill_units");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_fill_unit_content, 0, 2 * NR_UNITS);
	tcase_add_test(tc, test_fill_unit_bad_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(fill_units_suite());
}
