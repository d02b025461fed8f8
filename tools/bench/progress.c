/* SPDX-License-Identifier: MIT */
/*
 * progress.c - a progress line for long runs, on a terminal only.
 *
 * The workers of a run live in a forked child; they add to a counter in a
 * shared anonymous mapping made before any fork (progress_init()), every
 * PROGRESS_STEP accesses, with a relaxed atomic add: one cache-line write
 * per 4096 accesses, nothing measurable.  The parent, waiting for the
 * child's result, redraws one line on stderr every second once the run has
 * lasted PROGRESS_AFTER_S, and erases it when the run ends, so that the
 * log lines ("run 1/3 ...", "run 1: 2.1 s") stay as they were.
 *
 * When stderr is not a terminal nothing is drawn (no \r, no escapes: logs
 * and pipes stay clean).  UPAGER_BENCH_PROGRESS=always draws from the start
 * of every run even then (tests use it to see the line), =never never.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define PROGRESS_AFTER_S 3.0

struct shared_progress {
	_Atomic uint64_t done;
};

static struct shared_progress *shared;	/* NULL: no progress line */
static bool always;
static char label[160];
static uint64_t total;
static double started;
static bool drawn;

void progress_init(void)
{
	const char *env = getenv("UPAGER_BENCH_PROGRESS");
	void *p;

	if (env && !strcmp(env, "never"))
		return;
	always = env && !strcmp(env, "always");
	if (!always && !isatty(STDERR_FILENO))
		return;
	p = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;	/* no progress line; the run itself is unaffected */
	shared = p;
}

void progress_add(uint64_t n)
{
	if (shared)
		atomic_fetch_add_explicit(&shared->done, n, memory_order_relaxed);
}

void progress_begin(const char *what, uint64_t accesses)
{
	if (!shared)
		return;
	snprintf(label, sizeof(label), "%s", what);
	total = accesses;
	atomic_store_explicit(&shared->done, 0, memory_order_relaxed);
	started = now_s();
	drawn = false;
	if (always)
		progress_tick();
}

void progress_tick(void)
{
	uint64_t done;
	double el;

	if (!shared)
		return;
	el = now_s() - started;
	if (!always && el < PROGRESS_AFTER_S)
		return;
	done = atomic_load_explicit(&shared->done, memory_order_relaxed);
	if (done > total)
		done = total;
	/* \r to the start of the line, \033[K erases what a longer line
	 * left there */
	fprintf(stderr, "\r%s: %3.0f%% of %llu accesses, %.0f s\033[K", label,
		total ? 100.0 * (double)done / (double)total : 0.0,
		(unsigned long long)total, el);
	fflush(stderr);
	drawn = true;
}

void progress_end(void)
{
	if (!shared || !drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	drawn = false;
}
