// SPDX-License-Identifier: MIT
/*
 * test_redis_oom - a full cluster (maxmemory reached, noeviction): writes
 * fail -ENOSPC, the flush reports it, the pages stay dirty and intact;
 * once there is room again a flush writes them and they read back.
 */
#include <inttypes.h>
#include <stdint.h>
#include <time.h>

#include "redis_test.h"
#include "testutil.h"

#define PAGE 4096u
#define LEN (1u << 20)

static char test_name[64];
static char uri[1024];
static char maxmemory[64];

static void setup(void)
{
	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "o%d-%ld", (int)getpid(),
		 (long)time(NULL));
	rt_uri(uri, sizeof(uri), test_name, NULL);
	rt_config_get_or_exit("maxmemory", maxmemory, sizeof(maxmemory));
}

/* Runs in the parent whatever the test did: the cluster gets its room
 * back for the tests after this one. */
static void teardown(void)
{
	if (rt_config_set_all("maxmemory", maxmemory))
		fprintf(stderr, "could not restore maxmemory %s\n", maxmemory);
}

START_TEST(full_cluster_is_enospc_and_keeps_pages)
{
	struct upg_runtime *rt = tu_runtime(8u << 20, 2);
	struct upg_store *st;
	struct upg_region *r;
	struct upg_stats s;
	uint64_t end;
	char *p;
	int ret;

	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	p = upg_region_addr(r);

	ck_assert_int_eq(rt_config_set_all("maxmemory", "1"), 0);
	tu_fill(p, 0, LEN, 7);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -ENOSPC);
	s = tu_stats(rt);
	ck_assert_uint_gt(s.write_errors, 0);
	/* Nothing dropped: the pages are still here, still dirty. */
	ck_assert_uint_eq(tu_check(p, 0, LEN, 7), UINT64_MAX);

	ck_assert_int_eq(rt_config_set_all("maxmemory", maxmemory), 0);
	end = tu_now_ns() + 20ull * 1000000000ull;
	while ((ret = upg_region_flush(r, 0, 0)) != 0)
		ck_assert_msg(tu_now_ns() < end, "flush still fails: %d", ret);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);

	ck_assert_uint_eq(rt_read_back_and_destroy(rt, uri, LEN, 7), UINT64_MAX);
	upg_runtime_destroy(rt);
}
END_TEST

static Suite *redis_oom_suite(void)
{
	Suite *s = suite_create("redis_oom");
	TCase *tc = tcase_create("oom");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, full_cluster_is_enospc_and_keeps_pages);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(redis_oom_suite());
}
