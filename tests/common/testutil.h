/* SPDX-License-Identifier: MIT */
/*
 * testutil - helpers shared by the Check tests.
 */
#ifndef UPAGER_TESTUTIL_H
#define UPAGER_TESTUTIL_H

#include <check.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "upager.h"

/* Exit code that CTest counts as "skipped". */
#define TEST_SKIP 77

/* Built with -fsanitize=thread (gcc's __SANITIZE_THREAD__, clang's
 * feature): only for bounds on efficiency, never on data. */
#if defined(__SANITIZE_THREAD__)
#define TU_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_UNDER_TSAN 1
#endif
#endif
#ifndef TU_UNDER_TSAN
#define TU_UNDER_TSAN 0
#endif

/* Built with -fsanitize=address or thread: for the number of iterations
 * of tests whose work a sanitizer slows 5-15x (never for data checks). */
#if defined(__SANITIZE_ADDRESS__)
#define TU_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_UNDER_SANITIZER 1
#endif
#endif
#ifndef TU_UNDER_SANITIZER
#define TU_UNDER_SANITIZER TU_UNDER_TSAN
#endif

/*
 * An unlinked temporary file of @size bytes (sparse) in $TMPDIR or /tmp,
 * opened O_RDWR.  Fails the test on error.
 */
int tu_tmpfile(uint64_t size);

/* Deterministic content: the 64-bit word at byte offset @off of a data set
 * seeded with @seed. */
static inline uint64_t tu_word(uint64_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	return x;
}

/* Fill @len bytes at @buf (8-aligned) as the data set @seed at @off. */
void tu_fill(void *buf, uint64_t off, uint64_t len, uint64_t seed);
/* First byte offset in [0, len) where @buf differs from data set @seed at
 * @off, or UINT64_MAX if it matches. */
uint64_t tu_check(const void *buf, uint64_t off, uint64_t len, uint64_t seed);

/* Runtime with @budget bytes and @threads handlers; fails the test on
 * error, skips the whole program (exit 77) when userfaultfd is missing. */
struct upg_runtime *tu_runtime(uint64_t budget, unsigned threads);
/* The same with UPG_RT_* @flags. */
struct upg_runtime *tu_runtime_flags(uint64_t budget, unsigned threads,
				     unsigned flags);

/* Stats snapshot. */
struct upg_stats tu_stats(struct upg_runtime *rt);

static inline uint64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * TU_WAIT_FOR(cond, timeout_ms): poll @cond (yielding the CPU between
 * tries) until it holds; fail the test if it does not within the timeout.
 * For conditions reached by another thread, never as a delay.
 */
#define TU_WAIT_FOR(cond, timeout_ms)                                       \
	do {                                                                \
		uint64_t tu_deadline_ = tu_now_ns() +                       \
					(uint64_t)(timeout_ms) * 1000000ull; \
		while (!(cond)) {                                           \
			ck_assert_msg(tu_now_ns() < tu_deadline_,           \
				      "timed out waiting for: %s", #cond);  \
			sched_yield();                                      \
		}                                                           \
	} while (0)

/* Run one suite, print Check's summary, return the process exit code.
 * Every test's process (and this one) runs tu_check_lost_wakeups() at
 * exit. */
int tu_run(Suite *s);

/* Print the futex safety-net counters (runtime/common/futex.h) if any net
 * expired, and _exit(1) if an expiry found its condition already true: a
 * lost wake-up fails the test that met it. */
void tu_check_lost_wakeups(void);

/* rm -rf @dir (links not followed); for an unchecked teardown, which
 * runs in the parent after a failed test too.  0 or -errno. */
int tu_rm_rf(const char *dir);

#endif
