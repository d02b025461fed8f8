// SPDX-License-Identifier: MIT
/*
 * test_handler_wait - struct upg_runtime_opts.handler_wait and
 * handler_spin_us (docs/handler-modes.md): every wait mode serves faults
 * from several threads with the content intact under eviction (a file 4x
 * the budget, read and written at random, then checked in the file after
 * unmap), and bad values give -EINVAL.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define BUDGET (2 * MiB)
#define FILE_SIZE (4 * BUDGET)
#define THREADS 4
/* A third under the sanitizers: the spin mode's handlers then spin beside
 * 4 workers on 2 cores and the test took 34 s instead of 6. */
#define TOUCHES_PER_THREAD (TU_UNDER_SANITIZER ? 1000 : 3000)
#define SEED 0x5eed1234ull
/* Written pages hold data set WSEED in their first word, SEED elsewhere. */
#define WSEED 0x77aa55ull

static struct upg_runtime *runtime_with(enum upg_handler_wait mode,
					unsigned spin_us)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = BUDGET,
		 .handler_threads = 2, .handler_wait = mode,
		 .handler_spin_us = spin_us);
	struct upg_runtime *rt = NULL;
	int err = upg_runtime_create(&o, &rt);

	if (err == -EPERM || err == -EACCES || err == -EOPNOTSUPP) {
		fprintf(stderr, "no usable userfaultfd here (%s): skipped\n",
			strerror(-err));
		exit(TEST_SKIP);
	}
	ck_assert_msg(!err, "upg_runtime_create(mode %d, spin %u): %s",
		      (int)mode, spin_us, strerror(-err));
	return rt;
}

struct worker {
	pthread_t tid;
	uint8_t *base;
	uint64_t npages, seed;
	_Atomic uint8_t *written; /* per page: first word rewritten */
	uint64_t bad;
};

/* Random reads and writes of the first word of pages, each checked. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t ps = tur_page();
	uint64_t x = w->seed, i;

	for (i = 0; i < TOUCHES_PER_THREAD; i++) {
		uint64_t pg, off, *p;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pg = x % w->npages;
		off = pg * ps;
		p = (uint64_t *)(void *)(w->base + off);
		/* Relaxed atomics: threads write and read the same word. */
		if ((x >> 32) % 4 == 0) {
			/* Same value from any thread: no race on content. */
			__atomic_store_n(p, tu_word(WSEED, off),
					 __ATOMIC_RELAXED);
			atomic_store(&w->written[pg], 1);
		} else {
			/* Seen written before the read: the read sees it. */
			bool was = atomic_load(&w->written[pg]);
			uint64_t v = __atomic_load_n(p, __ATOMIC_RELAXED),
				 a = tu_word(SEED, off),
				 b = tu_word(WSEED, off);

			/* Before a write, or after: never anything else. */
			if (v != a && v != b)
				w->bad++;
			if (was && v != b)
				w->bad++;
			/* A word away from the first: never written. */
			if (p[7] != tu_word(SEED, off + 56))
				w->bad++;
		}
	}
	return NULL;
}

static void run_mode(enum upg_handler_wait mode, unsigned spin_us)
{
	struct upg_runtime *rt = runtime_with(mode, spin_us);
	int fd = tur_data_file(FILE_SIZE, SEED);
	size_t ps = tur_page();
	uint64_t npages = FILE_SIZE / ps, pg;
	struct worker w[THREADS];
	_Atomic uint8_t *written = calloc(npages, 1);
	struct upg_region *r;
	struct upg_stats st;
	unsigned i;

	ck_assert_ptr_nonnull(written);
	ck_assert_int_eq(upg_region_map_file(rt, fd, FILE_SIZE, NULL, &r), 0);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .base = upg_region_addr(r),
					.npages = npages,
					.seed = 0x9e3779b97f4a7c15ull * (i + 1),
					.written = written };
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, worker_main,
						&w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		ck_assert_msg(w[i].bad == 0, "thread %u: %llu bad reads", i,
			      (unsigned long long)w[i].bad);
	}
	st = tu_stats(rt);
	/* 4x the budget touched at random: pages came and went. */
	ck_assert_uint_gt(st.pages_evicted, 0);
	ck_assert_uint_gt(st.pages_written_back, 0);
	ck_assert_uint_le(st.resident_peak_bytes,
			  BUDGET + st.budget_overshoot_pages * ps);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);

	/* Every write reached the file, nothing else changed. */
	for (pg = 0; pg < npages; pg++) {
		uint64_t head;

		tur_pread(fd, &head, sizeof(head), pg * ps);
		if (atomic_load(&written[pg]))
			ck_assert_msg(head == tu_word(WSEED, pg * ps),
				      "page %llu: write lost",
				      (unsigned long long)pg);
		else
			ck_assert_msg(head == tu_word(SEED, pg * ps),
				      "page %llu: changed unwritten",
				      (unsigned long long)pg);
		ck_assert_uint_eq(tur_file_check(fd, pg * ps + 8, ps - 8, SEED),
				  UINT64_MAX);
	}
	free(written);
	close(fd);
}

START_TEST(test_default_mode)
{
	run_mode(UPG_WAIT_DEFAULT, 0);
}
END_TEST

START_TEST(test_epoll_mode)
{
	run_mode(UPG_WAIT_EPOLL, 0);
}
END_TEST

START_TEST(test_poll_mode)
{
	run_mode(UPG_WAIT_POLL, 0);
}
END_TEST

START_TEST(test_spin_mode)
{
	/* The default window, and a short one that makes the handlers fall
	 * asleep and wake up again many times during the run. */
	run_mode(UPG_WAIT_SPIN, 0);
	run_mode(UPG_WAIT_SPIN, 1);
}
END_TEST

static int create_with(int mode, unsigned spin_us)
{
	UPG_OPTS(upg_runtime_opts, o, .handler_wait = (enum upg_handler_wait)mode,
		 .handler_spin_us = spin_us);
	struct upg_runtime *rt = (struct upg_runtime *)0x1;
	int err = upg_runtime_create(&o, &rt);

	if (!err)
		upg_runtime_destroy(rt);
	else
		ck_assert_ptr_eq(rt, (struct upg_runtime *)0x1);
	return err;
}

START_TEST(test_bad_values)
{
	struct upg_runtime *rt = (struct upg_runtime *)0x1;
	int ok = create_with(UPG_WAIT_SPIN, 1000000);

	if (ok == -EPERM || ok == -EACCES || ok == -EOPNOTSUPP)
		exit(TEST_SKIP);
	ck_assert_int_eq(ok, 0);
	/* Unknown modes. */
	ck_assert_int_eq(create_with(UPG_WAIT_SPIN + 1, 0), -EINVAL);
	ck_assert_int_eq(create_with(-1, 0), -EINVAL);
	/* A spin window longer than a second. */
	ck_assert_int_eq(create_with(UPG_WAIT_SPIN, 1000001), -EINVAL);
	/* A spin window for a mode that does not spin. */
	ck_assert_int_eq(create_with(UPG_WAIT_DEFAULT, 10), -EINVAL);
	ck_assert_int_eq(create_with(UPG_WAIT_EPOLL, 10), -EINVAL);
	ck_assert_int_eq(create_with(UPG_WAIT_POLL, 10), -EINVAL);
	/* Daemon mode checks them too, before it looks for a daemon. */
	{
		UPG_OPTS(upg_runtime_opts, o,
			 .handler_wait = (enum upg_handler_wait)7);

		ck_assert_int_eq(upg_runtime_connect("/nonexistent/upagerd.sock",
						     &o, &rt),
				 -EINVAL);
		ck_assert_ptr_eq(rt, (struct upg_runtime *)0x1);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("handler_wait");
	TCase *modes = tcase_create("modes");
	TCase *bad = tcase_create("bad_values");

	tcase_set_timeout(modes, 120);
	tcase_add_test(modes, test_default_mode);
	tcase_add_test(modes, test_epoll_mode);
	tcase_add_test(modes, test_poll_mode);
	tcase_add_test(modes, test_spin_mode);
	tcase_add_test(bad, test_bad_values);
	suite_add_tcase(s, modes);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	/* One run of the application's environment: no daemon. */
	unsetenv("UPAGER_SOCKET");
	return tu_run(suite());
}
