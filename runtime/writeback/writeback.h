/* SPDX-License-Identifier: MIT */
/*
 * writeback - writing dirty pages from the alias to their stores, shared
 * by eviction and flush, and the per-region writeback error sequence.
 */
#ifndef UPAGER_WRITEBACK_H
#define UPAGER_WRITEBACK_H

#include <stddef.h>
#include <stdint.h>

#include "io/io_queue.h"

struct upg_region;

/* Contiguous pages merged into one store write, at most. */
#define WB_MAX_RUN_PAGES 256

struct wb_page {
	struct upg_region *r;
	uint64_t pg;
	int err; /* out: 0 or the negative errno of its write */
	bool keep_dirty; /* flush of a long-term pinned page: no protect */
};

/**
 * write_pages() - write @n pages (sorted by region, then page) from the
 * alias to their stores, merging contiguous pages, and wait for all.
 * The caller guarantees the pages are present in the memfd and that the
 * state words keep eviction away.  Counts bytes_written and
 * pages_written_back; records nothing in the pages' state.
 * Context: the thread owning @q.
 */
void write_pages(struct upg_io_queue *q, struct wb_page *pages, size_t n);

/**
 * write_pages_nowait() - write_pages() for eviction: through
 * store_submit_nowait(), so a page whose store part cannot take the
 * write now gets err -EAGAIN after about one attempt instead of the
 * store's whole deadline.  -EAGAIN is not a data error (the caller keeps
 * the page dirty and records nothing).
 * Context: the thread owning @q.
 */
void write_pages_nowait(struct upg_io_queue *q, struct wb_page *pages,
			size_t n);

/**
 * region_writeback() - write back the dirty pages in [first, end) of @r
 * and wait; the pages stay resident and clean.  Pages being evicted are
 * waited for (the evictor writes them).  Failed pages stay dirty and the
 * error is recorded in the region's error sequence.
 * Return: 0 or the first write error.
 * Context: the thread owning @q (an application thread).
 */
int region_writeback(struct upg_region *r, uint64_t first, uint64_t end,
		     struct upg_io_queue *q);

/**
 * errseq_check() - the writeback error of @r that *@cursor has not seen
 * (the last one recorded), and advance *@cursor past it
 * (upg_region_err_check() of a region serviced in this process).
 * Return: 0 if no failure since *@cursor, else the negative errno of the
 * latest.
 * Context: any thread; the caller serialises the uses of one cursor.
 */
int errseq_check(struct upg_region *r, uint64_t *cursor);

#endif
