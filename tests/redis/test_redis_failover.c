// SPDX-License-Identifier: MIT
/*
 * test_redis_failover - a write-heavy verified workload on a region four
 * times its budget while the cluster loses nodes: kill -9 of a master
 * (its replica takes over; the killed node is restarted and rejoins as a
 * replica), then SIGSTOP of a master for longer than cluster-node-timeout
 * and SIGCONT, then kill -9 of a replica (restarted at once).  The
 * workload goes on throughout; afterwards every page
 * must hold the last pass's data, in memory and read back from the
 * cluster by a fresh store: 0 lost pages.
 */
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "redis_test.h"
#include "testutil.h"

#define PAGE 4096u
#define BUDGET (4u << 20)
#define LEN (4 * BUDGET)

static char test_name[64];
static char uri[1024];

struct workload {
	char *p;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned passes;        /* completed */
	atomic_bool stop;
	uint64_t last_seed;     /* of the last completed pass */
};

static void *writer(void *arg)
{
	struct workload *w = arg;
	uint64_t seed;

	for (seed = 100; !atomic_load(&w->stop); seed++) {
		tu_fill(w->p, 0, LEN, seed);
		pthread_mutex_lock(&w->lock);
		w->passes++;
		w->last_seed = seed;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

/* Wait (at most @secs) until the writer completed @n more passes. */
static void wait_passes(struct workload *w, unsigned n, int secs)
{
	struct timespec ts;
	unsigned target;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	pthread_mutex_lock(&w->lock);
	target = w->passes + n;
	while (w->passes < target && ret == 0)
		ret = pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	pthread_mutex_unlock(&w->lock);
	ck_assert_msg(ret == 0, "the workload made no progress in %d s", secs);
}

/* Wait (at most @secs) until @port owns no slot and 3 masters cover the
 * slots again: the failover is over.  Returns the seconds it took. */
static double wait_failover(int port, int secs)
{
	uint64_t t0 = tu_now_ns(), end = t0 + (uint64_t)secs * 1000000000ull;
	int m[8], n, i, found;

	for (;;) {
		n = rt_masters(m, 8);
		for (found = 0, i = 0; i < n; i++)
			found |= m[i] == port;
		if (n == 3 && !found)
			return (double)(tu_now_ns() - t0) / 1e9;
		ck_assert_msg(tu_now_ns() < end, "no failover of %d within %d s",
			      port, secs);
		usleep(20000);
	}
}

static void setup(void)
{
	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "f%d-%ld", (int)getpid(),
		 (long)time(NULL));
	rt_uri(uri, sizeof(uri), test_name, NULL);
}

START_TEST(kill_and_stop_masters_lose_nothing)
{
	struct upg_runtime *rt = tu_runtime(BUDGET, 2);
	struct workload w = { 0 };
	struct upg_store *st;
	struct upg_region *r;
	struct upg_stats s;
	pthread_t th;
	int m[8], n, ret, i, replica;
	char arg[64];
	uint64_t end, bad;
	double fo;

	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	w.p = upg_region_addr(r);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	ck_assert_int_eq(pthread_create(&th, NULL, writer, &w), 0);
	wait_passes(&w, 1, 30);

	/* 1. kill -9 a master mid-workload. */
	n = rt_masters(m, 8);
	ck_assert_int_eq(n, 3);
	snprintf(arg, sizeof(arg), "%d KILL", m[0]);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	fo = wait_failover(m[0], 20);
	printf("kill -9 of master %d: promotion seen %.2f s after the kill command returned\n", m[0], fo);
	/* Restarted only after the failover: a master restarted before it
	 * would reload its AOF (up to 1 s behind) and lead again. */
	snprintf(arg, sizeof(arg), "%d", m[0]);
	ck_assert_int_eq(rt_script("restart", arg), 0);
	ck_assert_int_eq(rt_script("wait-ok", "30"), 0);
	wait_passes(&w, 1, 30);

	/* 2. SIGSTOP a master for twice the node timeout, then SIGCONT. */
	n = rt_masters(m, 8);
	ck_assert_int_eq(n, 3);
	snprintf(arg, sizeof(arg), "%d STOP", m[1]);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	/* The fault lasts 4 s (cluster-node-timeout is 2 s): this sleep is
	 * the length of the fault, not a wait for an event. */
	usleep(4000000);
	snprintf(arg, sizeof(arg), "%d CONT", m[1]);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	ck_assert_int_eq(rt_script("wait-ok", "30"), 0);
	wait_passes(&w, 1, 30);

	/* 3. kill -9 a replica, restart it at once (a replica has nothing
	 * to lose): its master's writes wait for it meanwhile. */
	n = rt_masters(m, 8);
	ck_assert_int_eq(n, 3);
	replica = -1;
	for (i = 0; i < rt_nports && replica < 0; i++) {
		int k, is_master = 0;

		for (k = 0; k < n; k++)
			is_master |= rt_ports[i] == m[k];
		if (!is_master)
			replica = rt_ports[i];
	}
	ck_assert_int_gt(replica, 0);
	snprintf(arg, sizeof(arg), "%d KILL", replica);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	snprintf(arg, sizeof(arg), "%d", replica);
	ck_assert_int_eq(rt_script("restart", arg), 0);
	ck_assert_int_eq(rt_script("wait-ok", "30"), 0);
	wait_passes(&w, 1, 30);

	atomic_store(&w.stop, true);
	pthread_join(th, NULL);

	/* Writes that met their deadline during the failover left their
	 * pages dirty; a flush retries them: wait (bounded) for success. */
	end = tu_now_ns() + 30ull * 1000000000ull;
	while ((ret = upg_region_flush(r, 0, 0)) != 0)
		ck_assert_msg(tu_now_ns() < end, "flush still fails: %d", ret);
	s = tu_stats(rt);
	printf("passes %u, written back %" PRIu64 " pages, write errors %"
	       PRIu64 ", read errors %" PRIu64 "\n", w.passes,
	       s.pages_written_back, s.write_errors, s.read_errors);
	ck_assert_uint_eq(s.read_errors, 0);
	bad = tu_check(w.p, 0, LEN, w.last_seed);
	ck_assert_msg(bad == UINT64_MAX, "page %" PRIu64 " wrong in memory",
		      bad / PAGE);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);

	/* Read back through a fresh store: the cluster has every page. */
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	bad = tu_check(upg_region_addr(r), 0, LEN, w.last_seed);
	ck_assert_msg(bad == UINT64_MAX, "page %" PRIu64 " lost", bad / PAGE);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	upg_runtime_destroy(rt);
}
END_TEST

static Suite *redis_failover_suite(void)
{
	Suite *s = suite_create("redis_failover");
	TCase *tc = tcase_create("failover");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 110);
	tcase_add_test(tc, kill_and_stop_masters_lose_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(redis_failover_suite());
}
