// SPDX-License-Identifier: MIT
/*
 * test_mremap_evict - an application mremap of a region while its pages
 * are being evicted, and written to at once at the new address.
 *
 * The kernel moves the page table at mremap() time and reports the REMAP
 * event after.  An eviction that had read the old address write-protects
 * there, finds no mapping (-ENOENT) and, before region_writeprotect(),
 * took that to mean that nobody could write: it wrote the page back and
 * punched it while the application wrote it, writable, at the new address.
 * The write was lost, and the next read showed the page's older contents.
 *
 * Each round moves the region to the other of two reserved ranges, then
 * passes over every page: checks that it holds the previous round's words
 * (a lost write shows an older round's), and writes this round's.  The
 * pass runs in the direction opposite to the last one, so the first pages
 * written after a move are the ones still resident, dirty and writable,
 * which the evictor, kept busy by a budget of a quarter of the region, is
 * writing back at that moment.  Each page a fault touches is verified.
 *
 * How the old address is met (probed here, kernel 6.18): while mremap's
 * REMAP and UNMAP events are unread, every uffd ioctl fails -EAGAIN and is
 * retried at the address it was given; mremap() returns only once the
 * UNMAP of the old range is read, and a handler reads it only after it has
 * applied the REMAP (events are read and handled under one lock).  So an
 * eviction or a flush that took the address before the move and
 * write-protects during it ends on -ENOENT at the old address, while the
 * application already writes at the new one.  The rounds meet that window
 * now and then; test_flush_in_remap_window opens it for certain: it keeps
 * the handler from reading the events until a flush is retrying.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/runtime.h"
#include "region/region.h"
#include "uffd/uffd.h"
#include "regionutil.h"
#include "testutil.h"

#define PAGES 64
#define BUDGET_PAGES 16
#define ROUNDS 1000
#define SEED0 7100

static size_t PS;

static void *reserve(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

/* Page @pg of round @round's pass: it goes down on odd rounds. */
static uint64_t pass_page(unsigned round, uint64_t i)
{
	return round & 1 ? PAGES - 1 - i : i;
}

START_TEST(test_mremap_while_evicting)
{
	struct upg_runtime *rt = tu_runtime(BUDGET_PAGES * PS, 2);
	const uint64_t len = PAGES * PS;
	int fd = tur_data_file(len, SEED0);
	struct upg_region *r;
	char *at[2], *a;
	unsigned round, lost = 0, first_round = 0;
	uint64_t first_page = 0, i;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	at[0] = reserve(len);
	at[1] = reserve(len);
	for (round = 1; round <= ROUNDS; round++) {
		char *to = at[round & 1];

		ck_assert_ptr_eq(mremap(a, len, len,
					MREMAP_MAYMOVE | MREMAP_FIXED, to),
				 to);
		a = to;
		for (i = 0; i < PAGES; i++) {
			uint64_t pg = pass_page(round, i), off = pg * PS;

			if (tu_check(a + off, off, PS, SEED0 + round - 1) !=
			    UINT64_MAX) {
				if (!lost++) {
					first_round = round;
					first_page = pg;
				}
			}
			tu_fill(a + off, off, PS, SEED0 + round);
		}
	}
	ck_assert_msg(!lost,
		      "%u pages lost a write (first: page %llu, written in "
		      "round %u, read back older in round %u)",
		      lost, (unsigned long long)first_page, first_round - 1,
		      first_round);
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, ROUNDS);
	/* And what reaches the file is the last round's. */
	TU_WAIT_FOR(upg_region_addr(r) == a, 5000);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, SEED0 + ROUNDS),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	munmap(at[0], len);
	munmap(at[1], len);
	close(fd);
}
END_TEST

/* The flush's write-protection met -EAGAIN (mremap's events are queued):
 * let the handler read them, once. */
static pthread_mutex_t *held_read_lock;

static void release_handler(void *arg)
{
	(void)arg;
	if (held_read_lock) {
		pthread_mutex_unlock(held_read_lock);
		held_read_lock = NULL;
	}
}

struct mover {
	char *from, *to;
	uint64_t len;
	void *got;
};

static void *move_main(void *arg)
{
	struct mover *m = arg;

	m->got = mremap(m->from, m->len, m->len,
			MREMAP_MAYMOVE | MREMAP_FIXED, m->to);
	return NULL;
}

START_TEST(test_flush_in_remap_window)
{
	struct upg_runtime *rt = tu_runtime(64 * PS, 1);
	const uint64_t n = 8, len = n * PS;
	int fd = tur_data_file(len, SEED0);
	struct upg_region *r;
	struct mover m;
	struct pollfd pfd;
	pthread_t t;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	m = (struct mover){ upg_region_addr(r), reserve(len), len, NULL };
	tu_fill(m.from, 0, len, SEED0 + 1); /* resident, dirty, writable */

	/* The handler cannot read the uffd while we hold its read lock. */
	pthread_mutex_lock(&rt->self.read_lock);
	held_read_lock = &rt->self.read_lock;
	ck_assert_int_eq(pthread_create(&t, NULL, move_main, &m), 0);
	pfd = (struct pollfd){ .fd = rt->self.uffd.fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1); /* REMAP queued */

	/* The flush reads the old address, meets -EAGAIN until the handler
	 * has read the events (the REMAP, then the UNMAP of the old range),
	 * then -ENOENT there: the pages are writable at the new address. */
	uffd_eagain_hook = release_handler;
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	uffd_eagain_hook = NULL;
	ck_assert_ptr_null(held_read_lock);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_ptr_eq(m.got, m.to);
	ck_assert_ptr_eq(upg_region_addr(r), m.to);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, SEED0 + 1), UINT64_MAX);

	/* A write there after the flush must be seen, and written. */
	tu_fill((char *)m.to + 2 * PS, 2 * PS, 2 * PS, SEED0 + 2);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tur_file_check(fd, 2 * PS, 2 * PS, SEED0 + 2),
			  UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 0, 2 * PS, SEED0 + 1),
			  UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 4 * PS, 4 * PS, SEED0 + 1),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

static Suite *mremap_evict_suite(void)
{
	Suite *s = suite_create("mremap_evict");
	TCase *tc = tcase_create("mremap");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flush_in_remap_window);
	tcase_add_test(tc, test_mremap_while_evicting);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(mremap_evict_suite());
}
