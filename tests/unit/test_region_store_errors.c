// SPDX-License-Identifier: MIT
/*
 * test_region_store_errors - store errors seen through regions, with a
 * memory store and injected faults: a failed read gives the faulting
 * thread SIGBUS and nothing hangs; a failed write loses nothing, keeps the
 * page dirty and is reported once per flush cursor (errseq); unmap and
 * destroy refuse to release data they could not write.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "region/region.h"
#include "regionutil.h"
#include "sigguard.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

/* A memory store holding data set @seed over @n pages. */
static struct upg_store *mem_with_data(struct upg_runtime *rt, uint64_t n,
				       uint64_t seed)
{
	struct upg_store *st;
	struct upg_region *r;

	ck_assert_int_eq(upg_store_create_mem(NULL, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, n * PS, NULL, &r), 0);
	tu_fill(upg_region_addr(r), 0, n * PS, seed);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	return st;
}

/* Does the store hold data set @seed over pages [first, first+n)?  Read
 * through a fresh region.  Returns the first bad byte or UINT64_MAX. */
static uint64_t store_check(struct upg_runtime *rt, struct upg_store *st,
			    uint64_t first, uint64_t n, uint64_t seed)
{
	UPG_OPTS(upg_region_opts, o, .prot = PROT_READ,
		 .store_offset = first * PS);
	struct upg_region *r;
	uint64_t bad;

	ck_assert_int_eq(upg_region_map_store(rt, st, n * PS, &o, &r), 0);
	bad = tu_check(upg_region_addr(r), first * PS, n * PS, seed);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	return bad;
}

static void inject(struct upg_store *st, enum upg_io_op op, uint64_t nth,
		   uint64_t off, uint64_t len, int error, uint32_t count)
{
	UPG_OPTS(upg_fault_inject, fi, .op = op, .nth = nth, .offset = off,
		 .length = len, .error = error, .count = count);

	ck_assert_int_eq(upg_store_mem_inject(st, &fi), 0);
}

static uint64_t dirty_bytes(struct upg_region *r)
{
	UPG_OPTS(upg_region_stats, rs);

	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	return rs.dirty_bytes;
}

/* ---- read errors ------------------------------------------------------- */

START_TEST(test_read_error_sigbus)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 401);
	struct upg_region *r;
	volatile char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check((const void *)a, 0, PS, 401), UINT64_MAX);
	inject(st, UPG_IO_READ, 1, 0, 0, 0, 0);
	/* The default action, whoever installed a handler (a sanitizer). */
	signal(SIGBUS, SIG_DFL);
	(void)a[5 * PS + 3]; /* SIGBUS, not a hang */
	ck_abort_msg("a failed store read did not raise SIGBUS");
}
END_TEST

START_TEST(test_read_error_counted_others_fine)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 402);
	struct upg_region *r;
	struct tu_sigfault info;
	struct upg_stats s;
	unsigned char v = 0;
	char *a;
	uint64_t pg;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check(a, 0, PS, 402), UINT64_MAX);
	inject(st, UPG_IO_READ, 1, 0, 0, -EIO, 1);
	ck_assert_int_eq(tu_guarded_read8(a + 5 * PS + 3, &v, &info), SIGBUS);
	ck_assert_uint_ge((uintptr_t)info.addr, (uintptr_t)(a + 5 * PS));
	ck_assert_uint_lt((uintptr_t)info.addr, (uintptr_t)(a + 6 * PS));
	s = tu_stats(rt);
	ck_assert_uint_eq(s.read_errors, 1);
	ck_assert_uint_eq(s.io_errors, 1);
	ck_assert_uint_eq(s.write_errors, 0);
	/* The runtime goes on: every other page reads its data. */
	for (pg = 0; pg < 16; pg++) {
		if (pg == 5)
			continue;
		ck_assert_uint_eq(tu_check(a + pg * PS, pg * PS, PS, 402),
				  UINT64_MAX);
	}
	ck_assert_uint_eq(tu_stats(rt).read_errors, 1);
	/* Writes elsewhere still reach the store. */
	tu_fill(a + 7 * PS, 7 * PS, PS, 403);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(store_check(rt, st, 7, 1, 403), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 0, 7, 402), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 8, 8, 402), UINT64_MAX);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * A fault's small fill is read into a staging buffer and written into the
 * memfd with pwrite() (fault/fill.c).  If that write fails (here the
 * memfd is sealed F_SEAL_FUTURE_WRITE: write() refused, the mappings
 * kept), the fill fails like a read error: SIGBUS for the faulting
 * thread, counted, nothing published.
 */
START_TEST(test_staged_write_error)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 404);
	struct upg_region *r;
	struct tu_sigfault info;
	unsigned char v = 0;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check(a, 0, PS, 404), UINT64_MAX);
	ck_assert_int_eq(fcntl(r->memfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
	ck_assert_int_eq(tu_guarded_read8(a + 5 * PS + 3, &v, &info), SIGBUS);
	ck_assert_uint_ge((uintptr_t)info.addr, (uintptr_t)(a + 5 * PS));
	ck_assert_uint_lt((uintptr_t)info.addr, (uintptr_t)(a + 6 * PS));
	ck_assert_uint_eq(tu_stats(rt).read_errors, 1);
	ck_assert_uint_ne(ps_state(atomic_load(region_page(r, 5))),
			  PS_RESIDENT);
	/* Page 0, filled before the seal, is still there. */
	ck_assert_uint_eq(tu_check(a, 0, PS, 404), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_read_error_fill_unit)
{
	/* A failed fill of a 4-page unit: the faulting thread gets SIGBUS,
	 * the unit's other pages are not left half-filled. */
	UPG_OPTS(upg_region_opts, o, .fill_unit = 4 * PS);
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 404);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	unsigned char v;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, &o, &r), 0);
	a = upg_region_addr(r);
	inject(st, UPG_IO_READ, 1, 8 * PS, 4 * PS, -EIO, 1);
	ck_assert_int_eq(tu_guarded_read8(a + 9 * PS, &v, NULL), SIGBUS);
	ck_assert_uint_eq(tu_stats(rt).read_errors, 1);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.resident_bytes, 0);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	/* Neighbouring units are fine. */
	ck_assert_uint_eq(tu_check(a, 0, 8 * PS, 404), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 12 * PS, 12 * PS, 4 * PS, 404),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * A read error is transient: once the store reads again, a later access to
 * the page reads its data, as a mapped file retries a failed read (README:
 * the poison is cleared 0.1-0.2 s after the failure, counted in
 * stats.pages_unpoisoned).
 */
START_TEST(test_read_error_then_retry)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 405);
	struct upg_region *r;
	struct tu_sigfault info;
	unsigned char v = 0;
	char *a;
	int sig;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	inject(st, UPG_IO_READ, 1, 0, 0, -EIO, 1);
	ck_assert_int_eq(tu_guarded_read8(a + 3 * PS, &v, NULL), SIGBUS);
	ck_assert_uint_eq(tu_stats(rt).read_errors, 1);
	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	/* The rule was spent (count 1) and is cleared: the store is fine. */
	ck_assert_uint_eq(store_check(rt, st, 3, 1, 405), UINT64_MAX);
	TU_WAIT_FOR(tu_stats(rt).pages_unpoisoned == 1, 5000);
	sig = tu_guarded_read8(a + 3 * PS, &v, &info);
	ck_assert_msg(sig == 0,
		      "page still inaccessible after its poison was cleared: "
		      "signal %d (si_code %d), read_errors %llu",
		      sig, info.code,
		      (unsigned long long)tu_stats(rt).read_errors);
	ck_assert_uint_eq(tu_check(a + 3 * PS, 3 * PS, PS, 405), UINT64_MAX);
	ck_assert_uint_eq(tu_stats(rt).read_errors, 1);
	ck_assert_uint_eq(tu_stats(rt).pages_unpoisoned, 1);
	/* And it is an ordinary page again: written, flushed, stored. */
	tu_fill(a + 3 * PS, 3 * PS, PS, 406);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(store_check(rt, st, 3, 1, 406), UINT64_MAX);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * Regression: a page written (so write-protected at eviction) and evicted
 * keeps a uffd-wp marker in its PTE, and UFFDIO_POISON refuses to
 * overwrite any PTE, marker included (-EEXIST).  The read error on its
 * refill then neither poisoned nor woke the faulting thread: it hung.
 */
START_TEST(test_read_error_after_eviction_sigbus)
{
	struct upg_runtime *rt = tu_runtime(8 * PS, 1);
	struct upg_store *st;
	struct upg_region *r;
	unsigned char v = 0;
	char *a;

	ck_assert_int_eq(upg_store_create_mem(NULL, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, 64 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	/* Written, then pushed out by the pages after it. */
	tu_fill(a, 0, 64 * PS, 407);
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);
	inject(st, UPG_IO_READ, 1, 0, 0, -EIO, 1);
	ck_assert_int_eq(tu_guarded_read8(a + 2 * PS, &v, NULL), SIGBUS);
	ck_assert_uint_eq(tu_stats(rt).read_errors, 1);
	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	TU_WAIT_FOR(tu_stats(rt).pages_unpoisoned == 1, 5000);
	ck_assert_uint_eq(tu_check(a, 0, 64 * PS, 407), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * A lasting read error: every access gets SIGBUS (each one a new read
 * that fails), never a hang and never zeros.
 */
START_TEST(test_read_error_lasting)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 407);
	struct upg_region *r;
	unsigned char v = 0;
	char *a;
	int i;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	inject(st, UPG_IO_READ, 0, 6 * PS, PS, -EIO, UINT32_MAX);
	ck_assert_int_eq(tu_guarded_read8(a + 6 * PS, &v, NULL), SIGBUS);
	TU_WAIT_FOR(tu_stats(rt).pages_unpoisoned == 1, 5000);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(tu_guarded_read8(a + 6 * PS + 8, &v, NULL),
				 SIGBUS);
	ck_assert_uint_ge(tu_stats(rt).read_errors, 2);
	/* Its neighbours are fine. */
	ck_assert_uint_eq(tu_check(a + 5 * PS, 5 * PS, PS, 407), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 7 * PS, 7 * PS, PS, 407), UINT64_MAX);
	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	TU_WAIT_FOR(tu_guarded_read8(a + 6 * PS, &v, NULL) == 0, 5000);
	ck_assert_uint_eq(tu_check(a + 6 * PS, 6 * PS, PS, 407), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- write errors: flush ---------------------------------------------- */

static void flush_error(int error)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 410);
	struct upg_region *r;
	struct upg_stats s;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check(a, 0, 16 * PS, 410), UINT64_MAX);
	tu_fill(a + 5 * PS, 5 * PS, PS, 411);
	ck_assert_uint_eq(dirty_bytes(r), PS);
	inject(st, UPG_IO_WRITE, 0, 5 * PS, PS, error, 1);

	ck_assert_int_eq(upg_region_flush(r, 0, 0), error);
	s = tu_stats(rt);
	ck_assert_uint_eq(s.write_errors, 1);
	ck_assert_uint_eq(s.io_errors, 1);
	/* Nothing lost: the page holds the write and is still dirty. */
	ck_assert_uint_eq(tu_check(a + 5 * PS, 5 * PS, PS, 411), UINT64_MAX);
	ck_assert_uint_eq(dirty_bytes(r), PS);
	ck_assert_uint_eq(store_check(rt, st, 5, 1, 410), UINT64_MAX);

	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	/* The failure was this flush's own and was reported by it. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(dirty_bytes(r), 0);
	ck_assert_uint_eq(store_check(rt, st, 5, 1, 411), UINT64_MAX);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(store_check(rt, st, 0, 5, 410), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 5, 1, 411), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 6, 10, 410), UINT64_MAX);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}

START_TEST(test_flush_write_error_eio)
{
	flush_error(-EIO);
}
END_TEST

START_TEST(test_flush_write_error_enospc)
{
	flush_error(-ENOSPC);
}
END_TEST

START_TEST(test_flush_error_only_failing_pages_dirty)
{
	/* Pages whose writes succeeded are clean after a failed flush. */
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 412);
	struct upg_region *r;
	char *a;
	uint64_t pg;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, 16 * PS);
	for (pg = 0; pg < 16; pg += 3)
		tu_fill(a + pg * PS, pg * PS, PS, 413);
	inject(st, UPG_IO_WRITE, 0, 9 * PS, PS, -EIO, UINT32_MAX);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -EIO);
	ck_assert_uint_eq(dirty_bytes(r), PS);
	ck_assert_uint_eq(store_check(rt, st, 0, 1, 413), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 15, 1, 413), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 9, 1, 412), UINT64_MAX);
	/* Still failing: reported again, as a new failure. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -EIO);
	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(dirty_bytes(r), 0);
	ck_assert_uint_eq(store_check(rt, st, 9, 1, 413), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_capacity_enospc)
{
	/* A store that is full: flush and unmap fail with -ENOSPC, the
	 * data stays in the region. */
	UPG_OPTS(upg_mem_store_opts, mo, .capacity = 8 * 4096);
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st;
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_store_create_mem(&mo, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, 16 * PS);
	tu_fill(a, 0, 16 * PS, 414);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -ENOSPC);
	ck_assert_int_eq(upg_region_unmap(r), -ENOSPC);
	ck_assert_ptr_eq(upg_region_addr(r), a);
	ck_assert_uint_eq(tu_check(a, 0, 16 * PS, 414), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), -ENOSPC);
	ck_assert_uint_eq(tu_check(a, 0, 16 * PS, 414), UINT64_MAX);
}
END_TEST

/* ---- write errors: eviction ------------------------------------------- */

START_TEST(test_evict_write_error)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	const uint64_t n = 64;
	struct upg_store *st = mem_with_data(rt, n, 420);
	struct upg_region *r;
	uint64_t c_before, deadline, pg;
	struct upg_stats s;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	c_before = upg_region_err_sample(r);
	tur_touch_read(a, PS);
	tu_fill(a, 0, PS, 421);
	inject(st, UPG_IO_WRITE, 0, 0, PS, -EIO, UINT32_MAX);
	/* Cycle through the other pages until eviction has tried page 0. */
	deadline = tu_now_ns() + 20ull * 1000 * 1000 * 1000;
	while (!tu_stats(rt).write_errors) {
		ck_assert_msg(tu_now_ns() < deadline,
			      "eviction never tried the dirty page");
		tur_touch_read(a + PS, (n - 1) * PS);
	}
	/* Nothing lost: page 0 still holds the write, dirty. */
	ck_assert_uint_eq(tu_check(a, 0, PS, 421), UINT64_MAX);
	ck_assert_uint_eq(dirty_bytes(r), PS);
	for (pg = 1; pg < n; pg++)
		ck_assert_uint_eq(tu_check(a + pg * PS, pg * PS, PS, 420),
				  UINT64_MAX);
	ck_assert_uint_eq(tu_check(a, 0, PS, 421), UINT64_MAX);

	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	/* The eviction's failure is reported by the next flush, once, even
	 * though the flush itself wrote the page fine. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -EIO);
	ck_assert_uint_eq(dirty_bytes(r), 0);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	/* A cursor sampled before sees it once too. */
	ck_assert_int_eq(upg_region_err_check(r, &c_before), -EIO);
	ck_assert_int_eq(upg_region_err_check(r, &c_before), 0);
	s = tu_stats(rt);
	ck_assert_uint_ge(s.write_errors, 1);
	ck_assert_uint_eq(s.read_errors, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(store_check(rt, st, 0, 1, 421), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 1, n - 1, 420), UINT64_MAX);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- error cursors ------------------------------------------------------ */

START_TEST(test_err_cursors)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 8, 430);
	struct upg_region *r;
	uint64_t c1, c2, c3;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, 8 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, 8 * PS);
	c1 = upg_region_err_sample(r);
	c2 = upg_region_err_sample(r);
	ck_assert_int_eq(upg_region_err_check(r, &c1), 0);

	a[2 * PS] = 1;
	inject(st, UPG_IO_WRITE, 0, 0, 0, -EIO, 1);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -EIO);
	c3 = upg_region_err_sample(r); /* after the failure */
	ck_assert_int_eq(upg_region_err_check(r, &c1), -EIO);
	ck_assert_int_eq(upg_region_err_check(r, &c1), 0);
	ck_assert_int_eq(upg_region_err_check(r, &c3), 0);
	/* The flush succeeds now; c2 has not looked yet. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_err_check(r, &c2), -EIO);
	ck_assert_int_eq(upg_region_err_check(r, &c2), 0);

	/* A second failure, with another errno: each cursor sees the
	 * latest, once. */
	a[3 * PS] = 1;
	inject(st, UPG_IO_WRITE, 0, 0, 0, -ENOSPC, 1);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -ENOSPC);
	ck_assert_int_eq(upg_region_err_check(r, &c1), -ENOSPC);
	ck_assert_int_eq(upg_region_err_check(r, &c2), -ENOSPC);
	ck_assert_int_eq(upg_region_err_check(r, &c3), -ENOSPC);
	ck_assert_int_eq(upg_region_err_check(r, &c1), 0);
	ck_assert_int_eq(upg_region_err_check(r, &c2), 0);
	ck_assert_int_eq(upg_region_err_check(r, &c3), 0);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_region_err_check(r, &c1), -EBADF);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- unmap and destroy with a failing store ---------------------------- */

START_TEST(test_unmap_error_keeps_region)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *st = mem_with_data(rt, 16, 440);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	int maps;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, st, 16 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, 16 * PS);
	tu_fill(a + 2 * PS, 2 * PS, PS, 441);
	tu_fill(a + 9 * PS, 9 * PS, PS, 441);
	maps = tur_region_mappings();
	inject(st, UPG_IO_WRITE, 0, 0, 0, -EIO, UINT32_MAX);

	ck_assert_int_eq(upg_region_unmap(r), -EIO);
	/* Nothing released: same mapping, same data, still a live handle. */
	ck_assert_int_eq(tur_region_mappings(), maps);
	ck_assert_ptr_eq(upg_region_addr(r), a);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.dirty_bytes, 2 * PS);
	ck_assert_uint_eq(tu_check(a, 0, 2 * PS, 440), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 2 * PS, 2 * PS, PS, 441), UINT64_MAX);
	ck_assert_uint_eq(tu_check(a + 9 * PS, 9 * PS, PS, 441), UINT64_MAX);
	/* Still usable: a new write. */
	tu_fill(a + 12 * PS, 12 * PS, PS, 441);
	ck_assert_int_eq(upg_region_unmap(r), -EIO);
	ck_assert_int_eq(upg_runtime_destroy(rt), -EIO);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 16 * PS);
	ck_assert_uint_eq(tu_check(a + 12 * PS, 12 * PS, PS, 441), UINT64_MAX);

	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_region_unmap(r), -EBADF);
	ck_assert_int_eq(tur_region_mappings(), maps - 2);
	ck_assert_uint_eq(store_check(rt, st, 2, 1, 441), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 9, 1, 441), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 12, 1, 441), UINT64_MAX);
	ck_assert_uint_eq(store_check(rt, st, 3, 6, 440), UINT64_MAX);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("region_store_errors");
	TCase *tc = tcase_create("sigbus");

	tcase_set_timeout(tc, 30);
	tcase_add_test_raise_signal(tc, test_read_error_sigbus, SIGBUS);
	tcase_add_test(tc, test_read_error_after_eviction_sigbus);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_read_error_counted_others_fine);
	tcase_add_test(tc, test_staged_write_error);
	tcase_add_test(tc, test_read_error_fill_unit);
	tcase_add_test(tc, test_read_error_then_retry);
	tcase_add_test(tc, test_read_error_lasting);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_flush_write_error_eio);
	tcase_add_test(tc, test_flush_write_error_enospc);
	tcase_add_test(tc, test_flush_error_only_failing_pages_dirty);
	tcase_add_test(tc, test_capacity_enospc);
	tcase_add_test(tc, test_evict_write_error);
	tcase_add_test(tc, test_err_cursors);
	tcase_add_test(tc, test_unmap_error_keeps_region);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
