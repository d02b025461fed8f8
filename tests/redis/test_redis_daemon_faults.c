// SPDX-License-Identifier: MIT
/*
 * test_redis_daemon_faults - the failure cases of docs/far-memory.md
 * ("Failure behaviour") through upagerd, whose own store does the I/O:
 *
 *  - kill -9 of a master under a verified write workload (its replica
 *    takes over; the killed node is restarted after the promotion and
 *    rejoins as a replica);
 *  - kill -9 of a replica under the workload, restarted at once;
 *  - a full cluster (maxmemory reached, noeviction): the flush through
 *    the daemon reports -ENOSPC, the pages stay dirty and intact in the
 *    region; once maxmemory is raised a flush writes them.
 *
 * Each time the workload goes on and every page is verified, page by
 * page, in the client's memory and then read back from the cluster in
 * this process (under the uid's scoped name, where the daemon wrote).
 * The stopped master through the daemon is test_redis_daemon's.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "daemon_util.h"
#include "redis_test.h"
#include "testutil.h"

#define PAGE 4096u
#define BUDGET (2u << 20)
#define LEN (4 * BUDGET)

static char test_name[64];
static char uri[1024];
static char maxmemory[64];

static void setup(void)
{
	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "df%d-%ld", (int)getpid(),
		 (long)time(NULL));
	rt_uri(uri, sizeof(uri), test_name, NULL);
	/* The full-cluster test lowers maxmemory: what to restore. */
	rt_config_get_or_exit("maxmemory", maxmemory, sizeof(maxmemory));
}

/* The parent, whatever a test did: the cluster gets its room back. */
static void teardown(void)
{
	if (rt_config_set_all("maxmemory", maxmemory))
		fprintf(stderr, "could not restore maxmemory %s\n", maxmemory);
}

/* Every page of @p (LEN bytes) holds data set @seed; names the first
 * page that does not. */
static void check_pages(const char *p, uint64_t seed, const char *where)
{
	uint64_t pg;

	for (pg = 0; pg < LEN / PAGE; pg++)
		ck_assert_msg(tu_check(p + pg * PAGE, pg * PAGE, PAGE, seed) ==
				      UINT64_MAX,
			      "page %" PRIu64 " wrong %s", pg, where);
}

/* In this process, without the daemon: every page of the uid's scoped
 * name holds @seed; then its data is destroyed. */
static void cluster_check(uint64_t seed)
{
	struct upg_runtime *rt = tu_runtime(4 * BUDGET, 2);
	struct upg_store *st;
	struct upg_region *r;
	char u[1024], name[128];

	snprintf(name, sizeof(name), "u%u.%s", (unsigned)geteuid(), test_name);
	rt_uri(u, sizeof(u), name, NULL);
	ck_assert_int_eq(upg_store_open_uri(u, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	check_pages(upg_region_addr(r), seed, "in the cluster");
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}

struct writer {
	char *p;
	atomic_bool stop;
	_Atomic uint64_t passes; /* complete passes: pass k is seed 700 + k */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t k;

	for (k = 0; !atomic_load(&w->stop); k++) {
		tu_fill(w->p, 0, LEN, 700 + k);
		atomic_store(&w->passes, k + 1);
	}
	return NULL;
}

/* Wait (bounded: @secs) until the writer completed @n more passes. */
static void wait_passes(struct writer *w, uint64_t n, int secs)
{
	uint64_t target = atomic_load(&w->passes) + n;
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");

	/* Slower under the sanitizer passes (tools/test.sh), not wrong. */
	if (m && atoi(m) > 1)
		secs *= atoi(m);
	TU_WAIT_FOR(atomic_load(&w->passes) >= target, secs * 1000);
}

/* Wait (bounded: @secs) until @port owns no slot and 3 masters cover
 * the slots again: the failover is over. */
static void wait_failover(int port, int secs)
{
	uint64_t end = tu_now_ns() + (uint64_t)secs * 1000000000ull;
	int m[8], n, i, found;

	for (;;) {
		n = rt_masters(m, 8);
		for (found = 0, i = 0; i < n; i++)
			found |= m[i] == port;
		if (n == 3 && !found)
			return;
		ck_assert_msg(tu_now_ns() < end, "no failover of %d within %d s",
			      port, secs);
		usleep(20000); /* polling the cluster, bounded above */
	}
}

static int a_replica(void)
{
	int m[8], n = rt_masters(m, 8), i, k, is_master;

	for (i = 0; i < rt_nports; i++) {
		for (is_master = 0, k = 0; k < n; k++)
			is_master |= rt_ports[i] == m[k];
		if (!is_master)
			return rt_ports[i];
	}
	return -1;
}

/*
 * A daemon (2 MiB budget), a client region of LEN bytes through it and
 * the writer on it; @fault runs once a whole pass is done; then the
 * writer must complete a pass more, and every page holds the last pass,
 * in memory and in the cluster.
 */
static void run_with_fault(void (*fault)(void))
{
	struct writer w = { 0 };
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_region *r;
	struct upg_stats s;
	uint64_t end, last;
	pthread_t t;
	int ret;

	dt_start(&d, UPAGERD_PATH, "2M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	w.p = upg_region_addr(r);
	ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &w), 0);
	wait_passes(&w, 1, 60);

	fault();

	wait_passes(&w, 1, 60);
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	last = 700 + atomic_load(&w.passes) - 1;
	/* Writes that met their deadline during the fault left their pages
	 * dirty; a flush writes them again: bounded wait for success. */
	end = tu_now_ns() + 30ull * 1000000000ull;
	while ((ret = upg_region_flush(r, 0, 0)) != 0)
		ck_assert_msg(tu_now_ns() < end, "flush still fails: %d", ret);
	s = tu_stats(rt);
	ck_assert_uint_eq(s.read_errors, 0);
	printf("  %" PRIu64 " passes, %" PRIu64 " pages written back, %"
	       PRIu64 " write errors\n", atomic_load(&w.passes),
	       s.pages_written_back, s.write_errors);
	check_pages(w.p, last, "in memory");
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);
	upg_store_put(st);
	cluster_check(last);
	printf("  verified: all %u pages hold pass %" PRIu64 ", 0 lost\n",
	       LEN / PAGE, last - 700 + 1);
}

static void kill_master(void)
{
	int m[8], n = rt_masters(m, 8);
	char arg[64];

	ck_assert_int_eq(n, 3);
	printf("kill -9 of master %d through upagerd\n", m[1]);
	snprintf(arg, sizeof(arg), "%d KILL", m[1]);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	wait_failover(m[1], 30);
	/* Restarted only after the failover (docs/far-memory.md). */
	snprintf(arg, sizeof(arg), "%d", m[1]);
	ck_assert_int_eq(rt_script("restart", arg), 0);
	ck_assert_int_eq(rt_script("wait-ok", "30"), 0);
}

static void kill_replica(void)
{
	int replica = a_replica();
	char arg[64];

	ck_assert_int_gt(replica, 0);
	printf("kill -9 of replica %d through upagerd\n", replica);
	snprintf(arg, sizeof(arg), "%d KILL", replica);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	snprintf(arg, sizeof(arg), "%d", replica);
	ck_assert_int_eq(rt_script("restart", arg), 0);
	ck_assert_int_eq(rt_script("wait-ok", "30"), 0);
}

START_TEST(daemon_kill9_master_loses_nothing)
{
	run_with_fault(kill_master);
}
END_TEST

START_TEST(daemon_kill9_replica_loses_nothing)
{
	run_with_fault(kill_replica);
}
END_TEST

START_TEST(daemon_full_cluster_is_enospc_and_keeps_pages)
{
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_region *r;
	uint64_t end;
	char *p;
	int ret;

	/* A budget that holds the whole region: the pages that cannot be
	 * written must stay somewhere (the daemon never drops one). */
	dt_start(&d, UPAGERD_PATH, "16M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	p = upg_region_addr(r);

	ck_assert_int_eq(rt_config_set_all("maxmemory", "1"), 0);
	tu_fill(p, 0, LEN, 77);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -ENOSPC);
	/* Nothing dropped: every page is still here, still dirty. */
	check_pages(p, 77, "in memory after -ENOSPC");

	ck_assert_int_eq(rt_config_set_all("maxmemory", maxmemory), 0);
	end = tu_now_ns() + 20ull * 1000000000ull;
	while ((ret = upg_region_flush(r, 0, 0)) != 0)
		ck_assert_msg(tu_now_ns() < end, "flush still fails: %d", ret);
	check_pages(p, 77, "in memory after the flush");
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);
	upg_store_put(st);
	cluster_check(77);
}
END_TEST

static Suite *redis_daemon_faults_suite(void)
{
	Suite *s = suite_create("redis_daemon_faults");
	TCase *tc = tcase_create("daemon_faults");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, daemon_full_cluster_is_enospc_and_keeps_pages);
	tcase_add_test(tc, daemon_kill9_replica_loses_nothing);
	tcase_add_test(tc, daemon_kill9_master_loses_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dt_main(redis_daemon_faults_suite(), UPAGERD_PATH);
}
