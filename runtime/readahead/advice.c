/* SPDX-License-Identifier: MIT */
/*
 * The advice ranges of a region: a sorted array of disjoint page ranges
 * whose advice is RANDOM or SEQUENTIAL (NORMAL is the absence of a range).
 * Applications give a handful of hints per region, so an array searched
 * under the region's read-ahead lock is enough; a region without advice
 * costs the fault path one comparison.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "readahead/readahead.h"
#include "region/region.h"

void ra_init(struct ra_state *ra)
{
	memset(ra, 0, sizeof(*ra));
	pthread_mutex_init(&ra->lock, NULL);
}

void ra_fini(struct ra_state *ra)
{
	free(ra->advice);
	ra->advice = NULL;
	ra->nr_advice = 0;
	pthread_mutex_destroy(&ra->lock);
}

int readahead_attach(struct upg_region *r)
{
	struct ra_state *ra, *none = NULL;

	if (atomic_load(&r->ra))
		return 0;
	ra = malloc(sizeof(*ra));
	if (!ra)
		return -ENOMEM;
	ra_init(ra);
	/* A daemon-mode client's region: two upg_advise() calls may race. */
	if (!atomic_compare_exchange_strong(&r->ra, &none, ra)) {
		ra_fini(ra);
		free(ra);
	}
	return 0;
}

void readahead_detach(struct upg_region *r)
{
	struct ra_state *ra = atomic_exchange(&r->ra, NULL);

	if (!ra)
		return;
	ra_fini(ra);
	free(ra);
}

int ra_advice_span(const struct ra_state *ra, uint64_t pg, uint64_t npages,
		   uint64_t *lo, uint64_t *hi)
{
	uint32_t a = 0, b = ra->nr_advice;

	/* First range that ends after @pg. */
	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (ra->advice[m].hi <= pg)
			a = m + 1;
		else
			b = m;
	}
	if (a < ra->nr_advice && ra->advice[a].lo <= pg) {
		*lo = ra->advice[a].lo;
		*hi = ra->advice[a].hi;
		return ra->advice[a].advice;
	}
	/* NORMAL between the neighbouring ranges. */
	*lo = a ? ra->advice[a - 1].hi : 0;
	*hi = a < ra->nr_advice ? ra->advice[a].lo : npages;
	return UPG_ADV_NORMAL;
}

/* Append @x to @out, merging it with a touching range of the same advice. */
static void push(struct ra_advice_range *out, uint32_t *n,
		 struct ra_advice_range x)
{
	if (x.lo >= x.hi)
		return;
	if (*n && out[*n - 1].hi == x.lo && out[*n - 1].advice == x.advice) {
		out[*n - 1].hi = x.hi;
		return;
	}
	out[(*n)++] = x;
}

int ra_advice_set(struct upg_region *r, uint64_t lo, uint64_t hi,
		  int advice)
{
	struct ra_advice_range *out;
	struct ra_state *ra;
	uint32_t i, n = 0, cap;
	int err;

	/* A daemon-mode client's region has none until now. */
	err = readahead_attach(r);
	if (err)
		return err;
	ra = r->ra;
	pthread_mutex_lock(&ra->lock);
	/* The parts of the old ranges left of [lo, hi), the new range, the
	 * parts right of it: sorted and disjoint by construction.  Only one
	 * old range can leave a part on both sides. */
	cap = ra->nr_advice + 2;
	out = malloc(cap * sizeof(*out));
	if (!out) {
		pthread_mutex_unlock(&ra->lock);
		return -ENOMEM;
	}
	for (i = 0; i < ra->nr_advice; i++) {
		struct ra_advice_range x = ra->advice[i];

		if (x.lo < lo)
			push(out, &n, (struct ra_advice_range){
				x.lo, x.hi < lo ? x.hi : lo, x.advice });
	}
	if (advice != UPG_ADV_NORMAL)
		push(out, &n, (struct ra_advice_range){ lo, hi, advice });
	for (i = 0; i < ra->nr_advice; i++) {
		struct ra_advice_range x = ra->advice[i];

		if (x.hi > hi)
			push(out, &n, (struct ra_advice_range){
				x.lo > hi ? x.lo : hi, x.hi, x.advice });
	}
	free(ra->advice);
	ra->advice = out;
	ra->nr_advice = n;
	pthread_mutex_unlock(&ra->lock);
	return 0;
}
