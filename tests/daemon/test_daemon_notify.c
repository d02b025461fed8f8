// SPDX-License-Identifier: MIT
/*
 * test_daemon_notify - interval notifiers in daemon mode, with a real
 * upagerd: the daemon asks the client (INVALIDATE) before it evicts pages
 * a notifier watches, the callback runs in the client with a sequence
 * number that read_retry() sees, a callback may touch the pages being
 * invalidated, unmap and MADV_REMOVE are told, and a client whose
 * callback hangs is evicted anyway after the ack timeout, losing nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon_util.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define REGION_LEN (16 * MiB)

static size_t PS;

struct watch {
	struct upg_interval_notifier n;
	_Atomic unsigned calls, evicts, unmaps, removes;
	_Atomic uintptr_t first_start, first_end;
	/* Write the first page of the range from the callback. */
	bool touch;
	_Atomic uint64_t touched_sum;
	/* Block in the callback until released. */
	_Atomic bool block, blocked;
};

static bool invalidate(struct upg_interval_notifier *n,
		       const struct upg_notifier_range *range,
		       uint64_t cur_seq)
{
	struct watch *w = (struct watch *)n;

	upg_interval_set_seq(n, cur_seq);
	if (!atomic_fetch_add(&w->calls, 1)) {
		atomic_store(&w->first_start, range->start);
		atomic_store(&w->first_end, range->end);
	}
	if (range->event == UPG_NOTIFY_EVICT) {
		atomic_fetch_add(&w->evicts, 1);
		/* The page is still there: a driver would flush its cache
		 * into it now (the same bytes: the data stays checkable).
		 * A clean page is write-protected, so this is a WP fault the
		 * daemon must serve while it waits for this very callback. */
		if (w->touch) {
			/* Relaxed atomics: the test thread checks the
			 * same words meanwhile (tu_check()). */
			uint64_t *p = (uint64_t *)range->start;
			uint64_t v = __atomic_load_n(p, __ATOMIC_RELAXED);

			__atomic_store_n(p, v, __ATOMIC_RELAXED);
			atomic_fetch_add(&w->touched_sum, v);
		}
	}
	if (range->event == UPG_NOTIFY_UNMAP)
		atomic_fetch_add(&w->unmaps, 1);
	if (range->event == UPG_NOTIFY_REMOVE)
		atomic_fetch_add(&w->removes, 1);
	if (atomic_load(&w->block)) {
		atomic_store(&w->blocked, true);
		while (atomic_load(&w->block))
			sched_yield();
	}
	return true;
}

static const struct upg_interval_notifier_ops ops = { .invalidate = invalidate };

/* Read the region (verified) until a page of [off, off + len) is gone
 * from memory: the daemon evicted a watched page.  Bounded. */
static void thrash_until_evicted(const char *a, uint64_t seed, uint64_t off,
				 uint64_t len)
{
	int round;

	for (round = 0; round < 20; round++) {
		ck_assert_uint_eq(tu_check(a, 0, REGION_LEN, seed), UINT64_MAX);
		if (dt_resident_pages(a + off, len) < len / PS)
			return;
	}
	ck_abort_msg("the watched pages were never evicted (%llu of %llu "
		     "resident after %d rounds)",
		     (unsigned long long)dt_resident_pages(a + off, len),
		     (unsigned long long)(len / PS), round);
}

START_TEST(test_eviction_asks_the_client)
{
	const uint64_t off = 3 * MiB, len = 64 * 1024;
	struct watch *w = calloc(1, sizeof(*w));
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	int fd = tur_data_file(REGION_LEN, 71);
	uint64_t seq;
	char *a;

	/* A callback whose faults were parked would hold each eviction of
	 * watched pages for the whole ack timeout: longer than the 20
	 * rounds of reading take, so the watched pages would never go.
	 * (Not longer: a stall of the unmap's request behind an eviction,
	 * seen once in ~10 loaded runs and not found yet, must end within
	 * the request's own timeout; see the closing note of issue 4.) */
	dt_start_opt(&d, UPAGERD_PATH, "4M", "--ack-timeout=30000");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);
	w->touch = true;
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w->n,
						      (uintptr_t)a + off, len,
						      &ops),
			 0);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w->n,
						      (uintptr_t)a, PS, &ops),
			 -EEXIST);
	seq = upg_interval_read_begin(&w->n);
	ck_assert(!upg_interval_read_retry(&w->n, seq));
	thrash_until_evicted(a, 71, off, len);
	ck_assert_uint_gt(atomic_load(&w->evicts), 0);
	ck_assert(upg_interval_read_retry(&w->n, seq));
	ck_assert_uint_ge(atomic_load(&w->first_start), (uintptr_t)a + off);
	ck_assert_uint_le(atomic_load(&w->first_end), (uintptr_t)a + off + len);
	ck_assert_uint_ne(atomic_load(&w->touched_sum), 0);
	/* Pages nobody watches are evicted without asking: far more
	 * evictions than callbacks. */
	ck_assert_uint_lt(atomic_load(&w->calls), REGION_LEN / PS / 4);

	/* Removed: no more calls, and read_begin does not wait. */
	ck_assert_int_eq(upg_interval_notifier_remove(&w->n), 0);
	atomic_store(&w->calls, 0);
	thrash_until_evicted(a, 71, off, len);
	ck_assert_uint_eq(atomic_load(&w->calls), 0);

	/* Unmap tells a notifier over the region. */
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w->n, (uintptr_t)a,
						      REGION_LEN, &ops),
			 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_gt(atomic_load(&w->unmaps), 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&w->n), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
	free(w);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

/* MADV_REMOVE on a region's memory reaches the daemon as a uffd event;
 * it tells the client's notifiers (after the fact, no ack). */
START_TEST(test_madv_remove_is_told)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	uint64_t deadline;
	char *a;

	dt_start(&d, UPAGERD_PATH, "4M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_anon(rt, 1 * MiB, NULL, &r), 0);
	a = upg_region_addr(r);
	memset(a, 0x5a, 16 * PS);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w->n, (uintptr_t)a,
						      16 * PS, &ops),
			 0);
	ck_assert_int_eq(madvise(a, 4 * PS, MADV_REMOVE), 0);
	deadline = tu_now_ns() + 30ull * 1000000000;
	while (!atomic_load(&w->removes) && tu_now_ns() < deadline)
		sched_yield();
	ck_assert_uint_gt(atomic_load(&w->removes), 0);
	ck_assert_uint_eq(atomic_load(&w->first_start), (uintptr_t)a);
	ck_assert_int_eq(upg_interval_notifier_remove(&w->n), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	free(w);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

/* A client whose callback never returns: after --ack-timeout the daemon
 * evicts anyway; the data of every page stays right. */
START_TEST(test_hung_client_evicted_anyway)
{
	const uint64_t off = 5 * MiB, len = 64 * 1024;
	struct watch *w = calloc(1, sizeof(*w));
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	int fd = tur_data_file(REGION_LEN, 81);
	char *a;

	dt_start_opt(&d, UPAGERD_PATH, "4M", "--ack-timeout=300");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);
	atomic_store(&w->block, true);
	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w->n,
						      (uintptr_t)a + off, len,
						      &ops),
			 0);
	thrash_until_evicted(a, 81, off, len);
	ck_assert(atomic_load(&w->blocked));
	atomic_store(&w->block, false);
	ck_assert_int_eq(upg_interval_notifier_remove(&w->n), 0);
	tu_fill(a + off, off, len, 82);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(tur_file_check(fd, off, len, 82), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 0, off, 81), UINT64_MAX);
	close(fd);
	free(w);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_notify");
	TCase *tc = tcase_create("notify");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_eviction_asks_the_client);
	tcase_add_test(tc, test_madv_remove_is_told);
	tcase_add_test(tc, test_hung_client_evicted_anyway);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return dt_main(suite(), UPAGERD_PATH);
}
