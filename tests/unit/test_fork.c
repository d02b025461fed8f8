// SPDX-License-Identifier: MIT
/*
 * test_fork - UPG_RT_FORK_EVENTS: fork children inherit the regions and
 * share their data with the parent.  Each case forks real children that
 * read and write regions larger than the budget (so most of their faults
 * need the store), and the parent verifies everything afterwards: in
 * memory, in the file, and that no child left a zero page in its memfd.
 * (The default, regions not inherited, is tested in test_region_events.)
 *
 * Children report through their exit status (0, or the number of the
 * check that failed): Check's assertions belong to the test process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

static size_t PS;

static struct upg_runtime *fork_runtime(uint64_t budget_pages)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget_pages * PS,
		 .handler_threads = 2, .flags = UPG_RT_FORK_EVENTS);
	struct upg_runtime *rt = NULL;
	int err = upg_runtime_create(&o, &rt);

	if (err == -EOPNOTSUPP || err == -EPERM || err == -EACCES) {
		fprintf(stderr, "no userfaultfd with EVENT_FORK here (%s): "
				"skipped\n",
			strerror(-err));
		exit(TEST_SKIP);
	}
	ck_assert_msg(!err, "upg_runtime_create: %s", strerror(-err));
	return rt;
}

/* Wait for child @pid; its wait status. */
static int wait_child(pid_t pid)
{
	int status = 0;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exit0(int status, const char *what)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: child %s %d", what,
		      WIFSIGNALED(status) ? "killed by signal" :
					    "failed check",
		      WIFSIGNALED(status) ? WTERMSIG(status) :
					    WEXITSTATUS(status));
}

/* In a child: does [p, p+len) hold data set @seed as at offset @off? */
static bool child_ok(const char *p, uint64_t off, uint64_t len, uint64_t seed)
{
	return tu_check(p, off, len, seed) == UINT64_MAX;
}

START_TEST(test_fork_child_reads_and_writes)
{
	struct upg_runtime *rt = fork_runtime(16);
	const uint64_t n = 64;
	int fd = tur_data_file(n * PS, 601);
	struct upg_region *r;
	struct upg_stats st;
	pid_t pid;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	/* Pages 0..31 rewritten (most are evicted dirty by the time the
	 * child runs, a few are resident and dirty), 32..63 as in the file. */
	tu_fill(a, 0, 32 * PS, 602);
	tur_touch_read(a, n * PS);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		if (!child_ok(a, 0, 32 * PS, 602))
			_exit(1);
		if (!child_ok(a + 32 * PS, 32 * PS, 32 * PS, 601))
			_exit(2);
		tu_fill(a + 16 * PS, 16 * PS, 32 * PS, 603);
		if (!child_ok(a + 16 * PS, 16 * PS, 32 * PS, 603))
			_exit(3);
		_exit(0);
	}
	assert_exit0(wait_child(pid), "read and write");

	/* The child's writes are the parent's: shared memory. */
	ck_assert_uint_eq(tu_check(a, 0, 16 * PS, 602), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 16 * PS, 16 * PS, 32 * PS, 603),
			  UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 48 * PS, 48 * PS, 16 * PS, 601),
			  UINT64_MAX);
	st = tu_stats(rt);
	ck_assert_uint_gt(st.faults_forked, 0);
	ck_assert_uint_le(st.resident_peak_bytes,
			  st.budget_bytes + st.budget_overshoot_pages * PS);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, 16 * PS, 602), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 16 * PS, 32 * PS, 603),
			  UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 48 * PS, 16 * PS, 601),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_fork_anon)
{
	struct upg_runtime *rt = fork_runtime(16);
	const uint64_t n = 64;
	struct upg_region *r;
	pid_t pid;
	uint64_t i;
	char *a;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, 32 * PS, 611);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		if (!child_ok(a, 0, 32 * PS, 611))
			_exit(1);
		/* Never written: zeros, in the child as in the parent. */
		for (i = 32 * PS; i < n * PS; i++)
			if (a[i])
				_exit(2);
		tu_fill(a + 40 * PS, 40 * PS, 8 * PS, 612);
		_exit(0);
	}
	assert_exit0(wait_child(pid), "anon");
	ck_assert_uint_eq(tu_check(a, 0, 32 * PS, 611), UINT64_MAX);
	for (i = 32 * PS; i < 40 * PS; i++)
		ck_assert_int_eq(a[i], 0);
	ck_assert_uint_eq(tu_check(a + 40 * PS, 40 * PS, 8 * PS, 612),
			  UINT64_MAX);
	for (i = 48 * PS; i < n * PS; i++)
		ck_assert_int_eq(a[i], 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- parent and child both busy, eviction all the time -------------------- */

struct churn {
	char *a;
	uint64_t pages;
	uint64_t seed;
	atomic_bool stop;
	uint64_t rounds;
};

/* Parent thread: rewrite and re-verify its half again and again. */
static void *churn_main(void *arg)
{
	struct churn *c = arg;

	while (!atomic_load(&c->stop)) {
		uint64_t s = c->seed + c->rounds % 2;

		tu_fill(c->a, 0, c->pages * PS, s);
		if (tu_check(c->a, 0, c->pages * PS, s) != UINT64_MAX)
			return (void *)1;
		c->rounds++;
	}
	return NULL;
}

START_TEST(test_fork_under_eviction)
{
	struct upg_runtime *rt = fork_runtime(24);
	const uint64_t n = 128;
	struct churn c = { 0 };
	struct upg_region *r;
	pthread_t t;
	void *res;
	int round;
	char *a;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	c.a = a;
	c.pages = n / 2;
	c.seed = 620;
	ck_assert_int_eq(pthread_create(&t, NULL, churn_main, &c), 0);
	/* The parent's thread churns pages 0..63 under a 24-page budget
	 * while children rewrite 64..127: every eviction write-protects
	 * the children's mappings too, or a child's write is lost. */
	for (round = 0; round < 4; round++) {
		uint64_t seed = 630 + (uint64_t)round;
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (!pid) {
			int k;

			for (k = 0; k < 3; k++) {
				tu_fill(a + 64 * PS, 64 * PS, 64 * PS, seed);
				if (!child_ok(a + 64 * PS, 64 * PS, 64 * PS,
					      seed))
					_exit(1);
			}
			_exit(0);
		}
		assert_exit0(wait_child(pid), "under eviction");
		ck_assert_uint_eq(tu_check(a + 64 * PS, 64 * PS, 64 * PS, seed),
				  UINT64_MAX);
	}
	atomic_store(&c.stop, true);
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_uint_gt(c.rounds, 0);
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, n);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_fork_grandchild)
{
	struct upg_runtime *rt = fork_runtime(16);
	const uint64_t n = 48;
	int fd = tur_data_file(n * PS, 641);
	struct upg_region *r;
	pid_t pid;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		pid_t g;
		int status = 0;

		tu_fill(a, 0, 16 * PS, 642);
		g = fork();
		if (g < 0)
			_exit(10);
		if (!g) {
			/* The grandchild sees its parent's writes, and
			 * writes a part of its own. */
			if (!child_ok(a, 0, 16 * PS, 642))
				_exit(1);
			tu_fill(a + 16 * PS, 16 * PS, 16 * PS, 643);
			_exit(0);
		}
		if (waitpid(g, &status, 0) != g || !WIFEXITED(status))
			_exit(11);
		if (WEXITSTATUS(status))
			_exit(20 + WEXITSTATUS(status));
		if (!child_ok(a + 16 * PS, 16 * PS, 16 * PS, 643))
			_exit(12);
		_exit(0);
	}
	assert_exit0(wait_child(pid), "grandchild");
	ck_assert_uint_eq(tu_check(a, 0, 16 * PS, 642), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 16 * PS, 16 * PS, 16 * PS, 643),
			  UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 32 * PS, 32 * PS, 16 * PS, 641),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, 16 * PS, 642), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 16 * PS, 16 * PS, 643),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* A child that exits is noticed: its view is dropped, its uffd closed. */
START_TEST(test_fork_child_exit_dropped)
{
	struct upg_runtime *rt = fork_runtime(16);
	struct upg_region *r;
	int fds_before;
	pid_t pid;
	char *a;

	ck_assert_int_eq(upg_region_map_anon(rt, 32 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, 32 * PS, 651);
	fds_before = tur_open_fds();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(child_ok(a, 0, 32 * PS, 651) ? 0 : 1);
	assert_exit0(wait_child(pid), "exit");
	TU_WAIT_FOR(tu_stats(rt).fork_children == 0, 10000);
	ck_assert_int_eq(tur_open_fds(), fds_before);
	/* Eviction goes on without it. */
	tu_fill(a, 0, 32 * PS, 652);
	ck_assert_uint_eq(tu_check(a, 0, 32 * PS, 652), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* Once the parent unmapped a region, a child's access gets SIGBUS: never
 * a zero page, never a write that nothing would write back. */
START_TEST(test_fork_unmapped_region_sigbus)
{
	struct upg_runtime *rt = fork_runtime(16);
	int go[2], status, i;
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_anon(rt, 32 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, 32 * PS, 661);
	for (i = 0; i < 2; i++) {
		pid_t pid;

		ck_assert_int_eq(pipe(go), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (!pid) {
			char ch;

			signal(SIGBUS, SIG_DFL);
			close(go[1]);
			if (read(go[0], &ch, 1) != 1)
				_exit(1);
			if (i)
				a[3 * PS] = 1;
			else
				(void)*(volatile char *)(a + 5 * PS);
			_exit(0);
		}
		close(go[0]);
		if (i == 0) {
			ck_assert_int_eq(upg_region_unmap(r), 0);
			ck_assert_int_eq(upg_region_map_anon(rt, 32 * PS, NULL,
							     &r),
					 0);
		}
		ck_assert_int_eq(write(go[1], "x", 1), 1);
		close(go[1]);
		status = wait_child(pid);
		if (i == 0) {
			ck_assert_msg(WIFSIGNALED(status) &&
					      WTERMSIG(status) == SIGBUS,
				      "child status %#x, expected SIGBUS",
				      status);
		} else {
			/* The new region is the child's too (forked after
			 * it was mapped): a write simply works. */
			assert_exit0(status, "new region");
			ck_assert_int_eq(((char *)upg_region_addr(r))[3 * PS],
					 1);
		}
		a = upg_region_addr(r);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("fork_events");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fork_child_reads_and_writes);
	tcase_add_test(tc, test_fork_anon);
	tcase_add_test(tc, test_fork_under_eviction);
	tcase_add_test(tc, test_fork_grandchild);
	tcase_add_test(tc, test_fork_child_exit_dropped);
	tcase_add_test(tc, test_fork_unmapped_region_sigbus);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
