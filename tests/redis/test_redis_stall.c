// SPDX-License-Identifier: MIT
/*
 * test_redis_stall - a master that cannot acknowledge writes stalls only
 * the faults on its own slots (issue 13).  Its replica is stopped
 * (SIGSTOP), so its writes get a short WAIT and are retried; a writer
 * keeps dirtying pages on that master's slots, filling the budget with
 * pages that cannot be written back, while a second thread faults on the
 * pages of the other masters.  The second thread must complete its faults
 * (four times the budget) while the replica is still stopped: the
 * evictor passes over the stalled master's dirty pages
 * (store_write_stalled(), evict/stall.c) and the writer's fills are put
 * off at the stalled share, so the healthy masters' fills find room.
 * Then SIGCONT: everything flushes and every page reads back, in memory
 * and from the cluster.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "farmem/slot_map.h"
#include "redis_test.h"
#include "testutil.h"

#define PAGE 4096u
#define BUDGET (2u << 20)
#define LEN (8 * BUDGET)
#define NPAGES (LEN / PAGE)
#define EXTENT_PAGES 16u

/* The bounds of the waits below, in ms, times CK_TIMEOUT_MULTIPLIER (the
 * sanitizer passes of tools/test.sh set it): a sanitized runtime is
 * slower, not differently right. */
static unsigned ms(unsigned n)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");

	return m && atoi(m) > 1 ? n * (unsigned)atoi(m) : n;
}

static char test_name[64];
static char uri[1024];
/* The page's extent's slot is owned by the stalled master. */
static bool on_victim[NPAGES];
static uint64_t nr_victim;
static int victim_port, replica_port;

struct writer {
	char *p;
	atomic_bool stop;
	_Atomic uint64_t pages;   /* victim pages written, all passes */
	uint64_t last_seed;       /* of the last complete pass */
};

/* Pass after pass over the victim's pages, each pass with its own seed;
 * stops between passes. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t seed, pg;

	for (seed = 500; !atomic_load(&w->stop); seed++) {
		for (pg = 0; pg < NPAGES; pg++) {
			if (!on_victim[pg])
				continue;
			tu_fill(w->p + pg * PAGE, pg * PAGE, PAGE, seed);
			atomic_fetch_add(&w->pages, 1);
		}
		w->last_seed = seed;
	}
	return NULL;
}

struct healthy {
	char *p;
	uint64_t seed;
	_Atomic uint64_t faults;  /* pages of other masters written */
	atomic_bool done;
};

/* Write every page of the other masters, in passes, four times the
 * budget in all: most of them fault (the region is 8x the budget). */
static void *healthy_main(void *arg)
{
	struct healthy *h = arg;
	uint64_t pg, want = 4 * (BUDGET / PAGE);

	while (atomic_load(&h->faults) < want) {
		for (pg = 0; pg < NPAGES; pg++) {
			if (on_victim[pg])
				continue;
			tu_fill(h->p + pg * PAGE, pg * PAGE, PAGE, h->seed);
			atomic_fetch_add(&h->faults, 1);
		}
	}
	atomic_store(&h->done, true);
	return NULL;
}

/* The port of the replica of the master on @master_port (ROLE on every
 * node that is not a master), or -1. */
static int replica_of(int master_port)
{
	int i;

	for (i = 0; i < rt_nports; i++) {
		redisContext *c = rt_connect(rt_ports[i]);
		redisReply *r;
		int found = 0;

		if (!c)
			continue;
		r = redisCommand(c, "ROLE");
		if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    !strcmp(r->element[0]->str, "slave") &&
		    r->element[2]->type == REDIS_REPLY_INTEGER &&
		    r->element[2]->integer == master_port)
			found = 1;
		if (r)
			freeReplyObject(r);
		redisFree(c);
		if (found)
			return rt_ports[i];
	}
	return -1;
}

/* A key of our own in a slot of the victim (the hash tag of one of its
 * extents): written to see whether the master gets writes acknowledged. */
static char probe_key[160];

/* Write probe_key on the master on @port and "WAIT 1 100": the replicas
 * that acknowledged it (0 while its replica is stopped; also 0 when the
 * master refuses the write, NOREPLICAS), or -1 if it does not answer. */
static long long master_acks(int port)
{
	redisContext *c = rt_connect(port);
	redisReply *r;
	long long n = -1;

	if (!c)
		return -1;
	r = redisCommand(c, "SET %s %lld", probe_key, (long long)tu_now_ns());
	if (r && r->type == REDIS_REPLY_ERROR &&
	    !strncmp(r->str, "NOREPLICAS", 10))
		n = 0;
	if (r && r->type != REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		r = redisCommand(c, "WAIT 1 100");
		if (r && r->type == REDIS_REPLY_INTEGER)
			n = r->integer;
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return n;
}

static void probe_key_delete(int port)
{
	redisContext *c = rt_connect(port);
	redisReply *r;

	ck_assert_ptr_nonnull(c);
	r = redisCommand(c, "DEL %s", probe_key);
	ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "DEL %s failed",
		      probe_key);
	freeReplyObject(r);
	redisFree(c);
}

/* In the parent, before the test's process forks off: the victim (the
 * first master) and its replica, so that the teardown (the parent too)
 * knows which node to continue.  The test asserts they were found. */
static void setup(void)
{
	int masters[8];

	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "s%d-%ld", (int)getpid(),
		 (long)time(NULL));
	rt_uri(uri, sizeof(uri), test_name, NULL);
	if (rt_masters(masters, 8) == 3) {
		victim_port = masters[0];
		replica_port = replica_of(victim_port);
	}
}

/* Choose the victim: the first master; mark its pages (the store's
 * key layout, docs/far-memory.md). */
static void choose_victim(void)
{
	struct slot_map *m = malloc(sizeof(*m));
	redisContext *c;
	redisReply *r;
	char key[128];
	uint64_t pg;
	int i, idx = -1;

	ck_assert_ptr_nonnull(m);
	ck_assert_msg(victim_port > 0 && replica_port > 0,
		      "no master with a replica found");
	c = rt_connect(victim_port);
	ck_assert_ptr_nonnull(c);
	r = redisCommand(c, "CLUSTER SLOTS");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(slot_map_parse(r, m), 0);
	freeReplyObject(r);
	redisFree(c);
	for (i = 0; i < m->nmasters; i++)
		if (m->masters[i].port == victim_port)
			idx = i;
	ck_assert_int_ge(idx, 0);
	nr_victim = 0;
	for (pg = 0; pg < NPAGES; pg++) {
		unsigned slot = key_slot(key, (size_t)snprintf(key, sizeof(key),
					 "upg:%s:{%" PRIu64 "}", test_name,
					 pg / EXTENT_PAGES));

		on_victim[pg] = m->owner[slot] == idx;
		nr_victim += on_victim[pg];
		if (on_victim[pg] && !probe_key[0])
			snprintf(probe_key, sizeof(probe_key),
				 "upg-stall-probe:%s:{%" PRIu64 "}", test_name,
				 pg / EXTENT_PAGES);
	}
	free(m);
	/* A third of the extents, give or take: enough to fill the budget
	 * several times over, and the others too. */
	ck_assert_uint_gt(nr_victim * PAGE, 2 * BUDGET);
	ck_assert_uint_gt((NPAGES - nr_victim) * PAGE, 2 * BUDGET);
}

static void replica_signal(const char *sig)
{
	char arg[64];

	snprintf(arg, sizeof(arg), "%d %s", replica_port, sig);
	ck_assert_int_eq(rt_script("signal", arg), 0);
}

/* Unchecked teardown (the parent, after a failure too): never leave the
 * replica stopped. */
static void teardown(void)
{
	char arg[64];

	if (replica_port > 0) {
		snprintf(arg, sizeof(arg), "%d CONT", replica_port);
		rt_script("signal", arg);
	}
}

START_TEST(stalled_master_does_not_stall_the_others)
{
	struct upg_runtime *rt = tu_runtime(BUDGET, 2);
	struct writer w = { 0 };
	struct healthy h = { .seed = 900 }, base = { .seed = 800 };
	double t_base;
	struct upg_store *st;
	struct upg_region *r;
	struct upg_stats s;
	pthread_t wt, ht;
	uint64_t end, bad, pg, w_before, t0;
	int ret;

	choose_victim();
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	w.p = h.p = base.p = upg_region_addr(r);

	/* The same faults with nothing stalled first: the figure to hold
	 * the stalled run's against (printed, not asserted: the machine is
	 * shared). */
	t0 = tu_now_ns();
	ck_assert_int_eq(pthread_create(&ht, NULL, healthy_main, &base), 0);
	TU_WAIT_FOR(atomic_load(&base.done), ms(40000));
	pthread_join(ht, NULL);
	t_base = (double)(tu_now_ns() - t0) / 1e9;

	/* The victim's replica stops: its master can no longer get a write
	 * acknowledged (WAIT counts 0). */
	replica_signal("STOP");
	TU_WAIT_FOR(master_acks(victim_port) == 0, ms(10000));

	ck_assert_int_eq(pthread_create(&wt, NULL, writer_main, &w), 0);
	/* The writer has dirtied half the budget on the stalled master (the
	 * stalled share) and goes on: without the stall handling, the budget
	 * fills with pages whose writes are retried until the store's
	 * deadline, and evicting them waits for it. */
	TU_WAIT_FOR(atomic_load(&w.pages) >= BUDGET / PAGE / 2, ms(30000));
	w_before = atomic_load(&w.pages);

	t0 = tu_now_ns();
	ck_assert_int_eq(pthread_create(&ht, NULL, healthy_main, &h), 0);
	/* The condition: the other masters' faults complete while the
	 * stalled master still cannot acknowledge a write. */
	TU_WAIT_FOR(atomic_load(&h.done), ms(40000));
	printf("%" PRIu64 " faults on the other masters in %.2f s with "
	       "master %d stalled (replica %d stopped), %.2f s with none; "
	       "the writer dirtied %" PRIu64 " pages on it, %" PRIu64
	       " meanwhile\n",
	       atomic_load(&h.faults), (double)(tu_now_ns() - t0) / 1e9,
	       victim_port, replica_port, t_base, atomic_load(&w.pages),
	       atomic_load(&w.pages) - w_before);
	ck_assert_int_eq(master_acks(victim_port), 0);
	s = tu_stats(rt);
	printf("resident peak %.1f MiB of a %.1f MiB budget, overshoot %"
	       PRIu64 " pages, write errors %" PRIu64 "\n",
	       (double)s.resident_peak_bytes / (1 << 20),
	       (double)BUDGET / (1 << 20), s.budget_overshoot_pages,
	       s.write_errors);
	fflush(stdout);

	/* The replica comes back: the writer goes on, everything flushes. */
	replica_signal("CONT");
	pthread_join(ht, NULL);
	TU_WAIT_FOR(master_acks(victim_port) == 1, ms(30000));
	w_before = atomic_load(&w.pages);
	TU_WAIT_FOR(atomic_load(&w.pages) > w_before + nr_victim, ms(60000));
	atomic_store(&w.stop, true);
	pthread_join(wt, NULL);
	end = tu_now_ns() + 30ull * 1000000000ull;
	while ((ret = upg_region_flush(r, 0, 0)) != 0)
		ck_assert_msg(tu_now_ns() < end, "flush still fails: %d", ret);
	s = tu_stats(rt);
	ck_assert_uint_eq(s.read_errors, 0);
	for (pg = 0; pg < NPAGES; pg++) {
		bad = tu_check(w.p + pg * PAGE, pg * PAGE, PAGE,
			       on_victim[pg] ? w.last_seed : h.seed);
		ck_assert_msg(bad == UINT64_MAX, "page %" PRIu64 " wrong in "
			      "memory", pg);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);

	/* Read back through a fresh store and region: page by page. */
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	for (pg = 0; pg < NPAGES; pg++) {
		bad = tu_check((char *)upg_region_addr(r) + pg * PAGE,
			       pg * PAGE, PAGE,
			       on_victim[pg] ? w.last_seed : h.seed);
		ck_assert_msg(bad == UINT64_MAX, "page %" PRIu64 " lost", pg);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	probe_key_delete(victim_port);
	upg_store_put(st);
	printf("verified: all %u pages, 0 lost\n", NPAGES);
	upg_runtime_destroy(rt);
}
END_TEST

static Suite *redis_stall_suite(void)
{
	Suite *s = suite_create("redis_stall");
	TCase *tc = tcase_create("stall");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, stalled_master_does_not_stall_the_others);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(redis_stall_suite());
}
