/* SPDX-License-Identifier: MIT */
/*
 * exec.c - execute a trace over a mapping: T threads, each taking an equal
 * contiguous slice of the warm-up part and then of the measured part; the
 * measured wall time runs from the barrier that starts the measured part to
 * the last thread's end.  One 8-byte word per access (access_word()); a
 * read checks that word and the page's header word against the pattern.
 * For fault-latency every measured access is timed on its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

struct worker {
	pthread_t tid;
	const struct config *c;
	const struct trace *t;
	char *base;
	pthread_barrier_t *bar;
	uint64_t w0, w1, m0, m1;	/* slices: warm-up, measured */
	uint64_t mismatches;
	uint32_t *lat;			/* for entries m0..m1, or NULL */
};

static inline uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint32_t clamp_ns(uint64_t d)
{
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static uint64_t run_slice(const struct worker *w, uint64_t from, uint64_t to,
			  uint32_t *lat)
{
	uint64_t seed = w->c->seed, bad = 0, i;

	for (i = from; i < to; i++) {
		uint32_t e = w->t->acc[i];
		uint64_t p = TR_PAGE(e);
		unsigned wd = access_word(p);
		volatile uint64_t *pg = (volatile uint64_t *)(w->base + p * BENCH_PAGE);
		uint64_t want = pattern_word(seed, p, wd), t0 = 0;

		if (lat)
			t0 = ns_now();
		if (e & TR_WRITE) {
			pg[wd] = want;
			if (lat)
				lat[i - from] = clamp_ns(ns_now() - t0);
		} else {
			uint64_t v = pg[wd];

			if (lat)
				lat[i - from] = clamp_ns(ns_now() - t0);
			if (v != want || pg[0] != p)
				bad++;
		}
		if (!((i - from + 1) % PROGRESS_STEP))
			progress_add(PROGRESS_STEP);
	}
	progress_add((to - from) % PROGRESS_STEP);
	return bad;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->mismatches = run_slice(w, w->w0, w->w1, NULL);
	pthread_barrier_wait(w->bar);	/* warm-up done */
	pthread_barrier_wait(w->bar);	/* measurement starts */
	w->mismatches += run_slice(w, w->m0, w->m1, w->lat);
	return NULL;
}

int exec_trace(const struct config *c, const struct trace *t, char *base,
	       struct exec_out *o, void (*before_measure)(void *), void *arg)
{
	unsigned nt = c->threads, i, started = 0;
	uint64_t meas = t->n - t->warmup, t0, t1;
	pthread_barrier_t bar;
	struct worker *w;
	int ret = 0;

	memset(o, 0, sizeof(*o));
	w = calloc(nt, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (c->wl == WL_FAULT_LATENCY) {
		o->lat_ns = calloc(meas ? meas : 1, sizeof(uint32_t));
		if (!o->lat_ns) {
			free(w);
			return -ENOMEM;
		}
		o->have_lat = true;
		o->lat_n = meas;
	}
	pthread_barrier_init(&bar, NULL, nt + 1);
	for (i = 0; i < nt; i++) {
		w[i].c = c;
		w[i].t = t;
		w[i].base = base;
		w[i].bar = &bar;
		w[i].w0 = t->warmup * i / nt;
		w[i].w1 = t->warmup * (i + 1) / nt;
		w[i].m0 = t->warmup + meas * i / nt;
		w[i].m1 = t->warmup + meas * (i + 1) / nt;
		w[i].lat = o->lat_ns ? o->lat_ns + (w[i].m0 - t->warmup) : NULL;
	}
	for (i = 0; i < nt; i++) {
		ret = -pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
		if (ret)
			break;
		started++;
	}
	if (started < nt) {
		/* cannot run: the started threads are stuck at the barrier; the
		 * caller (a child process) exits without joining them */
		free(o->lat_ns);
		o->lat_ns = NULL;
		return ret;
	}
	pthread_barrier_wait(&bar);
	if (before_measure)
		before_measure(arg);
	t0 = ns_now();
	pthread_barrier_wait(&bar);
	for (i = 0; i < nt; i++) {
		pthread_join(w[i].tid, NULL);
		o->mismatches += w[i].mismatches;
	}
	t1 = ns_now();
	o->time_s = (double)(t1 - t0) / 1e9;
	pthread_barrier_destroy(&bar);
	free(w);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void exec_latency_summary(struct exec_out *o, struct run_result *r)
{
	uint64_t n = o->lat_n, i;
	double sum = 0;

	if (!o->have_lat || !n)
		return;
	qsort(o->lat_ns, n, sizeof(uint32_t), cmp_u32);
	r->have_lat = true;
	r->lat_n = n;
	for (i = 0; i < n; i++) {
		uint32_t v = o->lat_ns[i];
		unsigned b = 0;

		sum += v;
		while (b + 1 < BENCH_NHIST && (v >> (b + 1)))
			b++;
		r->lat_hist[b]++;
	}
	r->lat_mean_us = sum / (double)n / 1e3;
	for (i = 0; i < BENCH_NQ; i++) {
		uint64_t k = (n - 1) * i / (BENCH_NQ - 1);

		r->lat_q_us[i] = o->lat_ns[k] / 1e3;
	}
	r->lat_p999_us = o->lat_ns[(n - 1) * 999 / 1000] / 1e3;
	free(o->lat_ns);
	o->lat_ns = NULL;
}
