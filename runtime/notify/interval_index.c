/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "notify/interval_index.h"
#include "upager.h"

static size_t lower_bound(const struct interval_index *ii, uintptr_t start)
{
	size_t lo = 0, hi = ii->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ii->v[mid]->start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Recompute the max-end tree; allocates only when the array outgrew it. */
static int refresh(struct interval_index *ii)
{
	size_t i;

	if (ii->n > ii->leaves || !ii->maxend) {
		size_t leaves = ii->leaves ? ii->leaves : 1;
		uintptr_t *t;

		while (leaves < ii->n)
			leaves *= 2;
		t = calloc(2 * leaves, sizeof(*t));
		if (!t)
			return -ENOMEM;
		free(ii->maxend);
		ii->maxend = t;
		ii->leaves = leaves;
	}
	for (i = 0; i < ii->leaves; i++)
		ii->maxend[ii->leaves + i] = i < ii->n ? ii->v[i]->end : 0;
	for (i = ii->leaves - 1; i >= 1; i--)
		ii->maxend[i] = ii->maxend[2 * i] > ii->maxend[2 * i + 1] ?
					ii->maxend[2 * i] :
					ii->maxend[2 * i + 1];
	return 0;
}

int ii_insert(struct interval_index *ii, struct upg_interval_notifier *n)
{
	size_t i;
	int err;

	if (ii->n == ii->cap) {
		size_t cap = ii->cap ? ii->cap * 2 : 16;
		struct upg_interval_notifier **v =
			realloc(ii->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ii->v = v;
		ii->cap = cap;
	}
	i = lower_bound(ii, n->start);
	memmove(&ii->v[i + 1], &ii->v[i], (ii->n - i) * sizeof(*ii->v));
	ii->v[i] = n;
	ii->n++;
	err = refresh(ii);
	if (err) {
		memmove(&ii->v[i], &ii->v[i + 1],
			(ii->n - i - 1) * sizeof(*ii->v));
		ii->n--;
	}
	return err;
}

void ii_remove(struct interval_index *ii, struct upg_interval_notifier *n)
{
	size_t i = lower_bound(ii, n->start);

	while (i < ii->n && ii->v[i] != n)
		i++;
	if (i == ii->n)
		return;
	memmove(&ii->v[i], &ii->v[i + 1], (ii->n - i - 1) * sizeof(*ii->v));
	ii->n--;
	refresh(ii); /* in place: the tree already holds n leaves */
}

void ii_free(struct interval_index *ii)
{
	free(ii->v);
	free(ii->maxend);
	memset(ii, 0, sizeof(*ii));
}

struct query {
	const struct interval_index *ii;
	uintptr_t start;
	size_t limit; /* indexes >= limit start at or after end */
	void (*fn)(struct upg_interval_notifier *n, void *arg);
	void *arg;
	size_t found;
};

static void visit(struct query *q, size_t node, size_t lo, size_t hi)
{
	if (lo >= q->limit || q->ii->maxend[node] <= q->start)
		return;
	if (hi - lo == 1) {
		q->found++;
		q->fn(q->ii->v[lo], q->arg);
		return;
	}
	visit(q, 2 * node, lo, lo + (hi - lo) / 2);
	visit(q, 2 * node + 1, lo + (hi - lo) / 2, hi);
}

size_t ii_query(const struct interval_index *ii, uintptr_t start,
		uintptr_t end,
		void (*fn)(struct upg_interval_notifier *n, void *arg),
		void *arg)
{
	struct query q = { ii, start, 0, fn, arg, 0 };

	if (!ii->n || start >= end)
		return 0;
	q.limit = lower_bound(ii, end);
	visit(&q, 1, 0, ii->leaves);
	return q.found;
}
