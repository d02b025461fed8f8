/* SPDX-License-Identifier: MIT */
/*
 * io/io_queue.c alone, without a runtime: more requests than the ring
 * holds.  A queue keeps at most as many requests in flight as its
 * completion ring holds (io_queue_get_sqe(): the kernel's CQ overflow list
 * may drop completions under memory pressure), so queueing past that
 * reaps - and runs completions - from inside the queueing call.  Every
 * request must complete once, with its data, and the count in flight must
 * never pass the CQ's size.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io_queue.h"
#include "testutil.h"

#define NREQ 200
#define CHUNK 4096

struct rec {
	struct upg_io io;
	struct upg_io_queue *q;
	unsigned done;    /* times completed */
	ssize_t res;
};

static unsigned completed, max_in_ring, completed_while_queueing;
static bool queueing;

static void rec_done(struct upg_io *io, ssize_t res)
{
	struct rec *r = io->priv;
	unsigned n = r->q->queued + r->q->inflight;

	r->done++;
	r->res = res;
	completed++;
	if (queueing)
		completed_while_queueing++;
	if (n > max_in_ring)
		max_in_ring = n;
}

static void run(enum upg_io_op op, unsigned depth)
{
	static struct rec recs[NREQ];
	static char bufs[NREQ][CHUNK] __attribute__((aligned(4096)));
	struct upg_io_queue q;
	int fd = tu_tmpfile((uint64_t)NREQ * CHUNK);
	unsigned i;

	completed = max_in_ring = completed_while_queueing = 0;
	if (op == UPG_IO_READ) {
		for (i = 0; i < NREQ; i++) {
			tu_fill(bufs[i], (uint64_t)i * CHUNK, CHUNK, 7);
			ck_assert_int_eq(pwrite(fd, bufs[i], CHUNK,
						(off_t)i * CHUNK), CHUNK);
			memset(bufs[i], 0, CHUNK);
		}
	} else {
		for (i = 0; i < NREQ; i++)
			tu_fill(bufs[i], (uint64_t)i * CHUNK, CHUNK, 7);
	}
	ck_assert_int_eq(io_queue_init(&q, depth), 0);
	ck_assert_uint_lt(q.ring.cq.ring_entries, NREQ);

	queueing = true;
	for (i = 0; i < NREQ; i++) {
		recs[i] = (struct rec){ .q = &q };
		recs[i].io.op = op;
		recs[i].io.offset = (uint64_t)i * CHUNK;
		recs[i].io.buf = bufs[i];
		recs[i].io.len = CHUNK;
		recs[i].io.done = rec_done;
		recs[i].io.priv = &recs[i];
		ck_assert_int_eq(upg_io_queue_fd(&q, fd, &recs[i].io), 0);
		ck_assert_uint_le(io_queue_pending(&q),
				  q.ring.cq.ring_entries);
	}
	queueing = false;
	while (io_queue_pending(&q))
		ck_assert_int_ge(io_queue_reap(&q, true), 0);

	/* The overflow path ran: completions came from inside queueing. */
	ck_assert_uint_gt(completed_while_queueing, 0);
	ck_assert_uint_le(max_in_ring, q.ring.cq.ring_entries);
	ck_assert_uint_eq(completed, NREQ);
	for (i = 0; i < NREQ; i++) {
		ck_assert_uint_eq(recs[i].done, 1);
		ck_assert_int_eq(recs[i].res, CHUNK);
	}
	if (op == UPG_IO_READ) {
		for (i = 0; i < NREQ; i++)
			ck_assert_uint_eq(tu_check(bufs[i], (uint64_t)i * CHUNK,
						   CHUNK, 7), UINT64_MAX);
	} else {
		static char back[CHUNK];

		for (i = 0; i < NREQ; i++) {
			ck_assert_int_eq(pread(fd, back, CHUNK,
					       (off_t)i * CHUNK), CHUNK);
			ck_assert_uint_eq(tu_check(back, (uint64_t)i * CHUNK,
						   CHUNK, 7), UINT64_MAX);
		}
	}
	io_queue_fini(&q);
	close(fd);
}

START_TEST(test_reads_beyond_ring)
{
	run(UPG_IO_READ, 4);
}
END_TEST

START_TEST(test_writes_beyond_ring)
{
	run(UPG_IO_WRITE, 4);
}
END_TEST

START_TEST(test_depth_one)
{
	run(UPG_IO_READ, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("io_queue");
	TCase *tc = tcase_create("overflow");

	tcase_add_test(tc, test_reads_beyond_ring);
	tcase_add_test(tc, test_writes_beyond_ring);
	tcase_add_test(tc, test_depth_one);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
