// SPDX-License-Identifier: MIT
/*
 * test_redis_region - regions on the Redis Cluster store: a region four
 * times its budget round-trips in-process (evicted pages come back from
 * the cluster), and a second process that opens the same store name maps
 * the pages written by the first.
 */
#include <stdint.h>
#include <time.h>

#include "redis_test.h"
#include "testutil.h"

#define PAGE 4096u
#define BUDGET (4u << 20)
#define LEN (4 * BUDGET)

static char test_name[64];
static char uri[1024];

static void setup(void)
{
	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "r%d-%ld", (int)getpid(),
		 (long)time(NULL));
	rt_uri(uri, sizeof(uri), test_name, NULL);
}

/* Map LEN bytes of the store named in uri; *@st and *@r returned. */
static struct upg_runtime *map_on_redis(struct upg_store **st,
					struct upg_region **r)
{
	struct upg_runtime *rt = tu_runtime(BUDGET, 2);

	ck_assert_int_eq(upg_store_open_uri(uri, st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, *st, LEN, NULL, r), 0);
	return rt;
}

static void unmap_all(struct upg_runtime *rt, struct upg_store *st,
		      struct upg_region *r)
{
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_runtime_destroy(rt);
	upg_store_put(st);
}

/* 0 if the region holds data set @seed, else 1 + the page that differs. */
static uint64_t verify(const char *p, uint64_t seed)
{
	uint64_t off = tu_check(p, 0, LEN, seed);

	return off == UINT64_MAX ? 0 : 1 + off / PAGE;
}

START_TEST(four_times_budget_round_trip)
{
	struct upg_store *st;
	struct upg_region *r;
	struct upg_runtime *rt = map_on_redis(&st, &r);
	char *p = upg_region_addr(r);
	struct upg_stats s;

	tu_fill(p, 0, LEN, 13);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(verify(p, 13), 0);
	s = tu_stats(rt);
	/* Most of it had to go to the cluster and come back. */
	ck_assert_uint_ge(s.pages_written_back, (LEN - BUDGET) / PAGE);
	ck_assert_uint_ge(s.pages_filled, (LEN - BUDGET) / PAGE);
	ck_assert_uint_eq(s.io_errors, 0);
	ck_assert_uint_le(s.resident_peak_bytes, BUDGET + BUDGET / 4);
	unmap_all(rt, st, r);

	/* A fresh store object and runtime: what reads back is the
	 * cluster's, not anything cached here. */
	rt = map_on_redis(&st, &r);
	ck_assert_uint_eq(verify(upg_region_addr(r), 13), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	unmap_all(rt, st, r);
}
END_TEST

START_TEST(second_process_sees_the_pages)
{
	struct upg_store *st;
	struct upg_region *r;
	struct upg_runtime *rt = map_on_redis(&st, &r);
	int status;
	pid_t pid;

	tu_fill(upg_region_addr(r), 0, LEN, 29);
	unmap_all(rt, st, r);

	/* The child maps the same name with its own runtime and store and
	 * checks every page; its exit status says which page failed. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		uint64_t bad;

		rt = map_on_redis(&st, &r);
		bad = verify(upg_region_addr(r), 29);
		unmap_all(rt, st, r);
		_exit(bad ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the second process did not read the pages back");

	/* Destroyed data is gone for the next opener. */
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	rt = map_on_redis(&st, &r);
	{
		const uint64_t *w = upg_region_addr(r);
		uint64_t i;

		for (i = 0; i < LEN / 8; i += PAGE / 8)
			ck_assert_uint_eq(w[i], 0);
	}
	unmap_all(rt, st, r);
}
END_TEST

static Suite *redis_region_suite(void)
{
	Suite *s = suite_create("redis_region");
	TCase *tc = tcase_create("region");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, four_times_budget_round_trip);
	tcase_add_test(tc, second_process_sees_the_pages);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(redis_region_suite());
}
