/* SPDX-License-Identifier: MIT */
/*
 * interval_index - the notifiers of a runtime, found by range.
 *
 * Notifiers sorted by start, with a max-end tree over the sorted array
 * (an interval tree laid out implicitly): a query visits only subtrees
 * whose maximum end reaches the range, O(log n + k).  Inserts and removes
 * rebuild the tree, O(n): they are rare, the queries run on every eviction.
 */
#ifndef UPAGER_INTERVAL_INDEX_H
#define UPAGER_INTERVAL_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct upg_interval_notifier;

struct interval_index {
	struct upg_interval_notifier **v; /* sorted by start */
	size_t n, cap;
	uintptr_t *maxend; /* implicit tree, 2 * leaves entries */
	size_t leaves;     /* power of two >= n */
};

int ii_insert(struct interval_index *ii, struct upg_interval_notifier *n);
void ii_remove(struct interval_index *ii, struct upg_interval_notifier *n);
void ii_free(struct interval_index *ii);

/* Call @fn for every notifier overlapping [start, end).  Returns the
 * number found. */
size_t ii_query(const struct interval_index *ii, uintptr_t start,
		uintptr_t end,
		void (*fn)(struct upg_interval_notifier *n, void *arg),
		void *arg);

#endif
