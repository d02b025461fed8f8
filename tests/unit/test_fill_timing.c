// SPDX-License-Identifier: MIT
/*
 * test_fill_timing - UPG_RT_FILL_TIMING (docs/fault-latency.md,
 * "Breakdown"): with the flag every demand fill of a MISSING fault that
 * reads the store is timed (fills_timed = pages filled, one thread, one
 * page per fault, no read-ahead), each step took some time, the steps of
 * fills served one at a time add up to less than the faulting loop's wall
 * time, and the content is intact; without the flag the counters stay 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define FILE_SIZE (2 * MiB)
#define SEED 0x71e1ull

/* Read the first word of every page of a fresh file region once, in
 * order, checking it; returns the loop's wall time and the stats. */
static uint64_t touch_all(unsigned flags, struct upg_stats *st)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 4 * MiB,
		 .handler_threads = 2, .flags = flags | UPG_RT_NO_READAHEAD);
	struct upg_runtime *rt = NULL;
	struct upg_region *r;
	size_t ps = tur_page();
	uint64_t npages = FILE_SIZE / ps, pg, t0, t;
	int fd, err = upg_runtime_create(&o, &rt);

	if (err == -EPERM || err == -EACCES || err == -EOPNOTSUPP) {
		fprintf(stderr, "no usable userfaultfd here (%s): skipped\n",
			strerror(-err));
		exit(TEST_SKIP);
	}
	ck_assert_msg(!err, "upg_runtime_create: %s", strerror(-err));
	fd = tur_data_file(FILE_SIZE, SEED);
	ck_assert_int_eq(upg_region_map_file(rt, fd, FILE_SIZE, NULL, &r), 0);
	t0 = tu_now_ns();
	for (pg = 0; pg < npages; pg++) {
		volatile uint64_t *p = (volatile uint64_t *)(void *)
			((char *)upg_region_addr(r) + pg * ps);

		ck_assert_msg(*p == tu_word(SEED, pg * ps), "page %llu: bad data",
			      (unsigned long long)pg);
	}
	t = tu_now_ns() - t0;
	*st = tu_stats(rt);
	/* A fill's times are added after its mapping ioctl returns, which
	 * already woke the faulting thread: the last one may still be on
	 * its way. */
	if (flags & UPG_RT_FILL_TIMING)
		TU_WAIT_FOR((*st = tu_stats(rt)).fills_timed >= npages, 5000);
	ck_assert_uint_eq(st->pages_filled, npages);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
	return t;
}

START_TEST(test_timed)
{
	struct upg_stats st;
	uint64_t wall = touch_all(UPG_RT_FILL_TIMING, &st), sum;

	/* One faulting thread: every fill is its own demand fill. */
	ck_assert_uint_eq(st.fills_timed, st.pages_filled);
	ck_assert_uint_gt(st.fill_ns_wake, 0);
	ck_assert_uint_gt(st.fill_ns_handler, 0);
	ck_assert_uint_gt(st.fill_ns_store, 0);
	ck_assert_uint_gt(st.fill_ns_map, 0);
	/* One page per fill: staged, then written into the memfd. */
	ck_assert_uint_gt(st.fill_ns_copy, 0);
	ck_assert_uint_ge(st.fill_submits, 1);
	ck_assert_uint_le(st.fill_submits, st.fills_timed);
	ck_assert_uint_gt(st.fill_ns_submit, 0);
	ck_assert_uint_le(st.fill_ns_submit, st.fill_ns_store);
	/* The thread waits for each fill in turn: the handler's steps fit
	 * in the time it waited. */
	sum = st.fill_ns_wake + st.fill_ns_handler + st.fill_ns_store +
	      st.fill_ns_copy + st.fill_ns_map;
	ck_assert_msg(sum < wall, "steps %llu ns > the loop's %llu ns",
		      (unsigned long long)sum, (unsigned long long)wall);
}
END_TEST

START_TEST(test_untimed)
{
	struct upg_stats st;

	touch_all(0, &st);
	ck_assert_uint_eq(st.fills_timed, 0);
	ck_assert_uint_eq(st.fill_ns_wake + st.fill_ns_handler +
				  st.fill_ns_store + st.fill_ns_copy +
				  st.fill_ns_map + st.fill_ns_submit,
			  0);
	ck_assert_uint_eq(st.fill_submits, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fill_timing");
	TCase *tc = tcase_create("fill_timing");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_timed);
	tcase_add_test(tc, test_untimed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	unsetenv("UPAGER_SOCKET");
	return tu_run(suite());
}
