/* SPDX-License-Identifier: MIT */
/*
 * stress_util - helpers for the integration and stress tests: seeds and a
 * small PRNG, environment knobs, whole-file I/O, stats printing, and a way
 * to tell that a thread sleeps in a userfaultfd fault.
 */
#ifndef UPAGER_STRESS_UTIL_H
#define UPAGER_STRESS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "testutil.h"

/*
 * The seed of a test: UPAGER_TEST_SEED from the environment (decimal or
 * 0x-hex) if set, else @dflt.  Printed with @what so that a failure can be
 * replayed.
 */
uint64_t su_seed(const char *what, uint64_t dflt);

/* An unsigned knob from the environment (@name), or @dflt. */
uint64_t su_env_u64(const char *name, uint64_t dflt);

/* splitmix64: small, fast, good enough for choosing pages. */
struct su_rng {
	uint64_t s;
};

static inline uint64_t su_next(struct su_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t su_below(struct su_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)su_next(r) * n) >> 64);
}

static inline void su_rng_init(struct su_rng *r, uint64_t seed,
			       uint64_t stream)
{
	r->s = seed ^ (stream * 0xd1b54a32d192ed03ull);
	(void)su_next(r);
}

/* Page size of the machine. */
size_t su_page(void);

/* pwrite()/pread() of exactly @len bytes; fail the test otherwise. */
void su_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
void su_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* Fill @len bytes of file @fd from @off with data set @seed (tu_fill()). */
void su_fill_file(int fd, uint64_t off, uint64_t len, uint64_t seed);

/* Print the interesting counters of @st, one line, prefixed by @tag. */
void su_print_stats(const char *tag, const struct upg_stats *st);

/* A runtime with explicit watermarks and eviction batch (0: default). */
struct upg_runtime *su_runtime(uint64_t budget, unsigned threads,
			       unsigned high_pct, unsigned low_pct,
			       unsigned evict_batch);

/* The calling thread's id. */
pid_t su_gettid(void);

/* True if thread @tid of this process sleeps in a userfaultfd fault
 * (/proc/self/task/TID/wchan reads "handle_userfault"). */
bool su_in_userfault(pid_t tid);

/*
 * Watchdog: a thread that fails the test with a useful message when a test
 * thread stops making progress (typically: it sleeps in a page fault that
 * is never resolved), instead of letting Check's timeout kill it blind.
 *
 * Test threads take a slot (0 .. SU_WD_SLOTS-1), call su_wd_note() before
 * each access with the address they are about to touch, and leave the slot
 * when done.  A slot that is in use and has not moved for @stall_seconds
 * fails the test (from the watchdog thread: fork mode exits the test's
 * process; with CK_FORK=no it aborts).
 */
#define SU_WD_SLOTS 16

void su_wd_start(const char *what, unsigned stall_seconds);
void su_wd_stop(void);
void su_wd_enter(unsigned slot);
void su_wd_leave(unsigned slot);
void su_wd_note(unsigned slot, const void *addr);

#endif
