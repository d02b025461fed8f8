/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the access trace of each workload, built once in the parent
 * from the seed, so that every backend and every run sees the same
 * accesses; and the hit ratio an exact LRU cache of the budget's size gets
 * on the measured part of that trace (the warm-up part warms it too).
 *
 *   seq-read / seq-write   every page once, in order; the first 1/64 is the
 *                          warm-up
 *   rand-read / rand-write uniform random pages, --accesses of them (default
 *                          a quarter of the pages) after a warm-up of 10 %
 *   zipf                   pages drawn from a Zipf law of parameter s over a
 *                          random permutation of the pages (hot pages are
 *                          scattered); 20 % of the accesses are writes
 *   scan-and-update        every page read in order; 10 % of the pages
 *                          (chosen by a hash) are written right after
 *   fault-latency          distinct random pages, each touched once: every
 *                          measured access is a first touch
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

static uint32_t *permutation(struct rng *r, uint64_t n)
{
	uint32_t *p = malloc(n * sizeof(*p));
	uint64_t i;

	if (!p)
		return NULL;
	for (i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (i = n - 1; i > 0; i--) {
		uint64_t j = rng_below(r, i + 1);
		uint32_t x = p[i];

		p[i] = p[j];
		p[j] = x;
	}
	return p;
}

/* Exact LRU with cap pages: hits in entries [from, n). */
static double lru_hit_ratio(const uint32_t *acc, uint64_t n, uint64_t from,
			    uint64_t npages, uint64_t cap)
{
	const uint32_t NIL = UINT32_MAX;
	uint32_t *prev, *next, head = NIL, tail = NIL;
	uint8_t *in;
	uint64_t i, size = 0, hits = 0;

	if (n <= from)
		return -1;
	prev = malloc(npages * sizeof(*prev));
	next = malloc(npages * sizeof(*next));
	in = calloc(npages, 1);
	if (!prev || !next || !in) {
		free(prev);
		free(next);
		free(in);
		return -1;
	}
	for (i = 0; i < n; i++) {
		uint32_t p = TR_PAGE(acc[i]);

		if (in[p]) {
			if (i >= from)
				hits++;
			if (head == p)
				continue;
			/* unlink */
			next[prev[p]] = next[p];
			if (next[p] != NIL)
				prev[next[p]] = prev[p];
			else
				tail = prev[p];
		} else {
			if (size == cap) {
				uint32_t v = tail;

				tail = prev[v];
				if (tail != NIL)
					next[tail] = NIL;
				else
					head = NIL;
				in[v] = 0;
				size--;
			}
			in[p] = 1;
			size++;
		}
		/* push front */
		prev[p] = NIL;
		next[p] = head;
		if (head != NIL)
			prev[head] = p;
		head = p;
		if (tail == NIL)
			tail = p;
	}
	free(prev);
	free(next);
	free(in);
	return (double)hits / (double)(n - from);
}

/* Zipf(s) ranks over n items: the CDF, then binary search per draw. */
static double *zipf_cdf(uint64_t n, double s)
{
	double *cdf = malloc(n * sizeof(*cdf)), sum = 0;
	uint64_t i;

	if (!cdf)
		return NULL;
	for (i = 0; i < n; i++) {
		sum += 1.0 / pow((double)(i + 1), s);
		cdf[i] = sum;
	}
	for (i = 0; i < n; i++)
		cdf[i] /= sum;
	return cdf;
}

static uint64_t zipf_draw(const double *cdf, uint64_t n, struct rng *r)
{
	double u = rng_unit(r);
	uint64_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool scan_update_page(uint64_t p)
{
	uint64_t x = p * 0x9e3779b97f4a7c15ull;

	return ((x ^ (x >> 29)) % 10) == 0;
}

int trace_build(const struct config *c, struct trace *t)
{
	struct rng r = { c->seed ^ 0x7261636574726163ull };
	uint64_t np = c->npages, i, n = 0, warm, meas;
	uint32_t *perm = NULL;
	double *cdf = NULL;
	uint8_t *seen;

	memset(t, 0, sizeof(*t));
	switch (c->wl) {
	case WL_SEQ_READ:
	case WL_SEQ_WRITE:
	case WL_SCAN_UPDATE:
		warm = c->warmup != UINT64_MAX ? c->warmup : np / 64;
		if (warm >= np)
			warm = np - 1;
		meas = np - warm;
		break;
	case WL_FAULT_LATENCY:
		meas = c->accesses ? c->accesses : (np < 16384 ? np : 16384);
		warm = c->warmup != UINT64_MAX ? c->warmup : (meas / 100 < 64 ? meas / 100 : 64);
		if (meas + warm > np) {
			meas = np - warm;
		}
		break;
	default:
		meas = c->accesses ? c->accesses : (np / 4 ? np / 4 : 1);
		warm = c->warmup != UINT64_MAX ? c->warmup : meas / 10;
		break;
	}
	if (c->wl == WL_SCAN_UPDATE)
		t->acc = malloc((np + np / 5 + 16) * sizeof(uint32_t));
	else
		t->acc = malloc((warm + meas) * sizeof(uint32_t));
	if (!t->acc)
		return -ENOMEM;

	switch (c->wl) {
	case WL_SEQ_READ:
	case WL_SEQ_WRITE:
		for (i = 0; i < np; i++)
			t->acc[n++] = (uint32_t)i | (c->wl == WL_SEQ_WRITE ? TR_WRITE : 0);
		break;
	case WL_SCAN_UPDATE: {
		uint64_t warm_pages = warm;

		for (i = 0; i < np; i++) {
			if (i == warm_pages)
				warm = n;	/* the warm-up ends on a page boundary */
			t->acc[n++] = (uint32_t)i;
			if (scan_update_page(i))
				t->acc[n++] = (uint32_t)i | TR_WRITE;
		}
		break;
	}
	case WL_RAND_READ:
	case WL_RAND_WRITE:
		for (i = 0; i < warm + meas; i++)
			t->acc[n++] = (uint32_t)rng_below(&r, np) |
				      (c->wl == WL_RAND_WRITE ? TR_WRITE : 0);
		break;
	case WL_ZIPF:
		perm = permutation(&r, np);
		cdf = zipf_cdf(np, c->zipf_s);
		if (!perm || !cdf) {
			free(perm);
			free(cdf);
			trace_free(t);
			return -ENOMEM;
		}
		for (i = 0; i < warm + meas; i++) {
			uint32_t p = perm[zipf_draw(cdf, np, &r)];

			t->acc[n++] = p | (rng_unit(&r) < 0.2 ? TR_WRITE : 0);
		}
		break;
	case WL_FAULT_LATENCY:
		perm = permutation(&r, np);
		if (!perm) {
			trace_free(t);
			return -ENOMEM;
		}
		for (i = 0; i < warm + meas; i++)
			t->acc[n++] = perm[i];
		break;
	default:
		break;
	}
	free(perm);
	free(cdf);
	t->n = n;
	t->warmup = warm;
	seen = calloc(np, 1);
	if (!seen) {
		trace_free(t);
		return -ENOMEM;
	}
	for (i = warm; i < n; i++) {
		uint32_t p = TR_PAGE(t->acc[i]);

		if (t->acc[i] & TR_WRITE)
			t->writes++;
		if (!seen[p]) {
			seen[p] = 1;
			t->distinct++;
		}
	}
	free(seen);
	t->lru_hit_ratio = lru_hit_ratio(t->acc, n, warm, np, c->budget_pages);
	return 0;
}

void trace_free(struct trace *t)
{
	free(t->acc);
	t->acc = NULL;
	t->n = 0;
}
