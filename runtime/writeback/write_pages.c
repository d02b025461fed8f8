/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "common/futex.h"
#include "region/region.h"
#include "store/store.h"
#include "writeback/writeback.h"

struct wb_req {
	struct upg_io io;
	struct wb_page *pages;
	size_t n;
	_Atomic uint32_t *pending;
};

static void wb_done(struct upg_io *io, ssize_t res)
{
	struct wb_req *req = io->priv;
	struct upg_mm *mm = req->pages[0].r->mm; /* one region per req */
	int err = 0;
	size_t i;

	if (res < 0)
		err = (int)res;
	else if ((size_t)res != io->len)
		err = -EIO; /* stores complete writes whole or fail */
	for (i = 0; i < req->n; i++)
		req->pages[i].err = err;
	if (!err) {
		MM_STAT_ADD(mm, bytes_written, io->len);
		MM_STAT_ADD(mm, pages_written_back, req->n);
	} else if (err != -EAGAIN) {
		/* -EAGAIN: an eviction's write gave up (no data error). */
		MM_STAT_ADD(mm, write_errors, 1);
	}
	if (atomic_fetch_sub(req->pending, 1) == 1)
		futex_wake_all(req->pending);
	free(req);
}

/* Start the write of pages[0..n), contiguous in one region. */
static void start_write(struct upg_io_queue *q, struct wb_page *pages,
			size_t n, _Atomic uint32_t *pending, bool nowait)
{
	struct upg_region *r = pages[0].r;
	size_t ps = r->rt->page_size;
	uint64_t off = r->store_off + pages[0].pg * ps;
	uint64_t len = n * ps;
	struct wb_req *req;
	size_t i;
	int err;

	/* A file region never writes past its end: the last page may be
	 * partial, and the file must not grow beyond what was mapped. */
	if (off + len > r->store_limit)
		len = r->store_limit - off;
	req = malloc(sizeof(*req));
	if (!req) {
		for (i = 0; i < n; i++)
			pages[i].err = -ENOMEM;
		return;
	}
	*req = (struct wb_req){
		.io = { .op = UPG_IO_WRITE, .offset = off,
			.buf = region_alias(r, pages[0].pg), .len = len,
			.done = wb_done, .priv = req },
		.pages = pages, .n = n, .pending = pending,
	};
	atomic_fetch_add(pending, 1);
	err = nowait ? store_submit_nowait(r->store, q, &req->io) :
		       store_submit(r->store, q, &req->io);
	if (err)
		wb_done(&req->io, err);
}

static void write_all(struct upg_io_queue *q, struct wb_page *pages, size_t n,
		      bool nowait)
{
	_Atomic uint32_t pending = 0;
	size_t i = 0;

	while (i < n) {
		size_t j = i + 1;

		while (j < n && j - i < WB_MAX_RUN_PAGES &&
		       pages[j].r == pages[i].r &&
		       pages[j].pg == pages[j - 1].pg + 1)
			j++;
		start_write(q, &pages[i], j - i, &pending, nowait);
		i = j;
	}
	io_queue_wait_counter(q, &pending);
}

void write_pages(struct upg_io_queue *q, struct wb_page *pages, size_t n)
{
	write_all(q, pages, n, false);
}

void write_pages_nowait(struct upg_io_queue *q, struct wb_page *pages,
			size_t n)
{
	write_all(q, pages, n, true);
}
