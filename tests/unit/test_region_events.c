// SPDX-License-Identifier: MIT
/*
 * test_region_events - what the application does to a region's mapping
 * behind the runtime's back: fork (the child gets no mapping), mremap of
 * a whole region (the region follows), munmap (no written data lost).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "regionutil.h"
#include "sigguard.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

/* ---- fork ---------------------------------------------------------------- */

/* Fork a child that reads (or writes) @p; return how it ended. */
static int child_touch(volatile char *p, bool write)
{
	pid_t pid = fork();
	int status = 0;

	ck_assert_int_ge(pid, 0);
	if (!pid) {
		/* The default action, whoever installed a handler (a
		 * sanitizer). */
		signal(SIGSEGV, SIG_DFL);
		if (write)
			*p = 0x55;
		else
			(void)*p;
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_segv(int status, const char *what)
{
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
		      "%s: child %s %d, expected SIGSEGV", what,
		      WIFSIGNALED(status) ? "killed by signal" : "exited with",
		      WIFSIGNALED(status) ? WTERMSIG(status) :
					    WEXITSTATUS(status));
}

START_TEST(test_fork_child_has_no_mapping)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64;
	int fd = tur_data_file(n * PS, 501);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	/* Pages 0..31 rewritten, all read: the early ones are evicted by
	 * now, the last ones resident. */
	tu_fill(a, 0, 32 * PS, 502);
	tur_touch_read(a, n * PS);
	/* (The page just touched is published resident a moment after the
	 * access returns.) */
	TU_WAIT_FOR(upg_region_stats(r, &rs) == 0 && rs.resident_bytes > 0,
		    5000);
	ck_assert_uint_lt(rs.resident_bytes, n * PS);

	assert_segv(child_touch(a, false), "read of an evicted page");
	assert_segv(child_touch(a + (n - 1) * PS, false),
		    "read of a resident page");
	assert_segv(child_touch(a + 5 * PS, true), "write of an evicted page");
	assert_segv(child_touch(a + (n - 2) * PS, true),
		    "write of a resident page");

	/* The parent's data is intact, resident at fork time or not. */
	ck_assert_uint_eq(tu_check(a, 0, 32 * PS, 502), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 32 * PS, 32 * PS, 32 * PS, 501),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, 32 * PS, 502), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 32 * PS, 32 * PS, 501),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_fork_anon_intact)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64;
	struct upg_region *r;
	char *a;
	uint64_t pg;

	ck_assert_int_eq(upg_region_map_anon(rt, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, 48 * PS, 503);
	/* Never-written pages (48..63) too: none may become the child's
	 * page in the parent's memfd. */
	for (pg = 0; pg < n; pg += 4)
		assert_segv(child_touch(a + pg * PS, pg & 4), "anon");
	ck_assert_uint_eq(tu_check(a, 0, 48 * PS, 503), UINT64_MAX);
	for (pg = 48 * PS; pg < n * PS; pg++)
		ck_assert_int_eq(a[pg], 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- mremap ------------------------------------------------------------- */

/* An address range of @len nobody uses, for mremap to move onto. */
static void *reserve(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

static void *move_region(struct upg_region *r, void *to, uint64_t map_len)
{
	void *from = upg_region_addr(r);
	void *got = mremap(from, map_len, map_len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, to);

	ck_assert_msg(got == to, "mremap: %s", strerror(errno));
	/* The handler thread that read the REMAP event updates the table. */
	TU_WAIT_FOR(upg_region_addr(r) == to, 5000);
	return to;
}

START_TEST(test_mremap_whole_region)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64, len = n * PS;
	int fd = tur_data_file(len, 510);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	struct tu_sigfault info;
	unsigned char v;
	char *a, *b;
	int round;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, 32 * PS, 511);   /* dirty; many evicted */
	tur_touch_read(a, len);        /* the tail resident */
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);

	b = move_region(r, reserve(len), len);
	ck_assert_ptr_ne(a, b);
	/* The old range is gone. */
	ck_assert_int_eq(tu_guarded_read8(a, &v, &info), SIGSEGV);
	/* Every page reads back at the new address, evicted or not. */
	ck_assert_uint_eq(tu_check(b, 0, 32 * PS, 511), UINT64_MAX);
	ck_assert_uint_eq(tu_check(b + 32 * PS, 32 * PS, 32 * PS, 510),
			  UINT64_MAX);
	/* Writes at the new address, including evictions of them. */
	tu_fill(b + 32 * PS, 32 * PS, 32 * PS, 512);
	ck_assert_uint_eq(tu_check(b, 0, 32 * PS, 511), UINT64_MAX);
	ck_assert_uint_eq(tu_check(b + 32 * PS, 32 * PS, 32 * PS, 512),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_gt(rs.resident_bytes, 0);

	/* And once more, back and forth. */
	for (round = 0; round < 2; round++) {
		b = move_region(r, reserve(len), len);
		ck_assert_uint_eq(tu_check(b, 0, 32 * PS, 511), UINT64_MAX);
		ck_assert_uint_eq(tu_check(b + 32 * PS, 32 * PS, 32 * PS, 512),
				  UINT64_MAX);
	}
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, 32 * PS, 511), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 32 * PS, 32 * PS, 512),
			  UINT64_MAX);
	/* A last write after the flush reaches the file through unmap. */
	tu_fill(b + 3 * PS, 3 * PS, PS, 513);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(tu_guarded_read8(b, &v, &info), SIGSEGV);
	ck_assert_uint_eq(tur_file_check(fd, 3 * PS, PS, 513), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 0, 3 * PS, 511), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 4 * PS, 28 * PS, 511),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_mremap_anon)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t len = 48 * PS;
	struct upg_region *r;
	char *a, *b;

	ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, len, 514);
	b = move_region(r, reserve(len), len);
	ck_assert_uint_eq(tu_check(b, 0, len, 514), UINT64_MAX);
	tu_fill(b, 0, len / 2, 515);
	ck_assert_uint_eq(tu_check(b, 0, len / 2, 515), UINT64_MAX);
	ck_assert_uint_eq(tu_check(b + len / 2, len / 2, len / 2, 514),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

static void count_log(enum upg_log_level level, const char *msg, void *ctx)
{
	(void)msg;
	if (level == UPG_LOG_ERROR)
		__atomic_add_fetch((unsigned *)ctx, 1, __ATOMIC_RELAXED);
}

/*
 * mremap after mremap, each followed at once by a touch of a page never
 * touched before.  mremap returns as soon as a handler thread has *read*
 * the REMAP event; the region must be found at its new address by the
 * very next fault, and successive moves must be applied in the order they
 * happened, whichever handler thread read each event.
 */
START_TEST(test_mremap_back_and_forth)
{
	unsigned errors = 0;
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 64 * MiB,
		 .handler_threads = 2, .log_fn = count_log, .log_ctx = &errors);
	const uint64_t n = 512, len = n * PS;
	struct upg_runtime *rt;
	struct upg_region *r;
	unsigned sigbus = 0, first = ~0u;
	char *a, *s1, *s2;
	uint64_t i;

	ck_assert_int_eq(upg_runtime_create(&o, &rt), 0);
	ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r), 0);
	a = upg_region_addr(r);
	s1 = reserve(len);
	s2 = reserve(len);
	for (i = 0; i < n; i++) {
		char *to = a == s2 ? s1 : s2;
		unsigned char v = 1;

		ck_assert_ptr_eq(mremap(a, len, len,
					MREMAP_MAYMOVE | MREMAP_FIXED, to),
				 to);
		a = to;
		if (tu_guarded_read8(a + i * PS, &v, NULL) || v) {
			sigbus++;
			if (first == ~0u)
				first = (unsigned)i;
		}
	}
	ck_assert_msg(!sigbus,
		      "%u of %u first touches after an mremap failed (first "
		      "at move %u); %u runtime errors logged (\"fault outside "
		      "every region\"); region table says %p, mapping is at %p",
		      sigbus, (unsigned)n, first, errors, upg_region_addr(r),
		      (void *)a);
	TU_WAIT_FOR(upg_region_addr(r) == a, 3000);
	ck_assert_uint_eq(errors, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- munmap ------------------------------------------------------------- */

START_TEST(test_app_munmap_whole)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64, len = n * PS;
	int fd = tur_data_file(len, 520);
	int maps = tur_region_mappings();
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, len, 521); /* some evicted (written), some dirty */
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);
	ck_assert_int_eq(munmap(a, len), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(tur_region_mappings(), maps);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, 521), UINT64_MAX);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_app_munmap_then_flush)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	const uint64_t n = 32, len = n * PS;
	int fd = tur_data_file(len, 522);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, len);
	tu_fill(a + 4 * PS, 4 * PS, 8 * PS, 523);
	ck_assert_int_eq(munmap(a, len), 0);
	/* The dirty pages live on in the region until it is unmapped. */
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.dirty_bytes, 8 * PS);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tur_file_check(fd, 4 * PS, 8 * PS, 523), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 0, 4 * PS, 522), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_app_munmap_part)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64, len = n * PS;
	int fd = tur_data_file(len, 524);
	int maps = tur_region_mappings();
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, len, 525);
	/* The first half goes; the rest is still usable. */
	ck_assert_int_eq(munmap(a, len / 2), 0);
	ck_assert_uint_eq(tu_check(a + len / 2, len / 2, len / 2, 525),
			  UINT64_MAX);
	tu_fill(a + len / 2, len / 2, PS, 526);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(tur_region_mappings(), maps);
	ck_assert_uint_eq(tur_file_check(fd, 0, len / 2, 525), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, len / 2, PS, 526), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, len / 2 + PS, len / 2 - PS, 525),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_app_munmap_anon)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t len = 64 * PS;
	struct upg_region *r, *r2;
	char *a;

	ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tu_fill(a, 0, len, 527);
	ck_assert_int_eq(munmap(a, len), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	/* The runtime goes on with a new region. */
	ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r2), 0);
	a = upg_region_addr(r2);
	tu_fill(a, 0, len, 528);
	ck_assert_uint_eq(tu_check(a, 0, len, 528), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r2), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * munmap() returns once a handler has read the UNMAP event, and the handler
 * applies it to the region table a moment later.  A region mapped at once
 * in the same place (mmap() gives the freed range back) must not be taken
 * for the one the event was about: it would be detached, its faults found
 * in no region and answered with SIGBUS.  Seen once in 36 runs of
 * test_app_munmap_anon on a loaded machine; here the sequence runs many
 * times, and each new region must sit where the old one was at least once.
 */
START_TEST(test_app_munmap_then_new_region_there)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t len = 32 * PS;
	unsigned i, same = 0;

	for (i = 0; i < 200; i++) {
		struct upg_region *r, *r2;
		char *a, *b;

		ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r), 0);
		a = upg_region_addr(r);
		tu_fill(a, 0, PS, 529);
		ck_assert_int_eq(munmap(a, len), 0);
		ck_assert_int_eq(upg_region_unmap(r), 0);
		ck_assert_int_eq(upg_region_map_anon(rt, len, NULL, &r2), 0);
		b = upg_region_addr(r2);
		same += a == b;
		tu_fill(b, 0, len, 530 + i);
		ck_assert_uint_eq(tu_check(b, 0, len, 530 + i), UINT64_MAX);
		ck_assert_int_eq(upg_region_unmap(r2), 0);
	}
	ck_assert_uint_gt(same, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("region_events");
	TCase *tc = tcase_create("fork");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fork_child_has_no_mapping);
	tcase_add_test(tc, test_fork_anon_intact);
	suite_add_tcase(s, tc);

	tc = tcase_create("mremap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mremap_whole_region);
	tcase_add_test(tc, test_mremap_anon);
	tcase_add_test(tc, test_mremap_back_and_forth);
	suite_add_tcase(s, tc);

	tc = tcase_create("munmap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_app_munmap_whole);
	tcase_add_test(tc, test_app_munmap_then_flush);
	tcase_add_test(tc, test_app_munmap_part);
	tcase_add_test(tc, test_app_munmap_anon);
	tcase_add_test(tc, test_app_munmap_then_new_region_there);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
