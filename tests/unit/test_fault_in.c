// SPDX-License-Identifier: MIT
/*
 * test_fault_in - upg_fault_in_readable(), upg_fault_in_writeable() and
 * upg_prefetch() (include/upager.h "Fault-in and nofault access"): a
 * range made resident this way is then used without any fault; the
 * return value counts the bytes not faulted in, kernel style (stop at the
 * first page that cannot be faulted in); store errors come back as a
 * count, never as SIGBUS; with a user-mode-only userfaultfd, fault-in is
 * what makes a system call on the range work.
 *
 * Most runtimes here use a 100% high watermark: the background evictor
 * then never runs (it also zaps mappings to sample recency, which would
 * make a later access take a minor fault), and only the fill paths evict.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pin_util.h"
#include "regionutil.h"
#include "testutil.h"

static size_t PS;

/* A runtime of @budget pages whose background evictor stays idle. */
static struct upg_runtime *quiet_runtime(uint64_t budget)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget * PS,
		 .handler_threads = 2, .high_watermark_pct = 100,
		 .low_watermark_pct = 50);

	return pu_runtime(&o);
}

static void assert_no_faults(const struct upg_stats *a,
			     const struct upg_stats *b, const char *what)
{
	ck_assert_msg(a->faults_missing == b->faults_missing &&
			      a->faults_minor == b->faults_minor &&
			      a->faults_wp == b->faults_wp,
		      "%s raised %llu missing, %llu minor, %llu WP faults",
		      what,
		      (unsigned long long)(b->faults_missing -
					   a->faults_missing),
		      (unsigned long long)(b->faults_minor - a->faults_minor),
		      (unsigned long long)(b->faults_wp - a->faults_wp));
}

/*
 * How many pages of [first, end) are not resident.  (Which pages a
 * sequential touch leaves resident depends on when each fill was
 * published relative to the clock hand: count, do not assume.)
 */
static uint64_t count_absent(struct upg_runtime *rt, const char *a,
			     uint64_t first, uint64_t end)
{
	uint64_t n = 0;

	for (; first < end; first++)
		n += !pu_resident(rt, a + first * PS, PS);
	return n;
}

/* Wait until no page of the region is being filled (a touched page is
 * published resident a moment after the access returns). */
static void settle(struct upg_runtime *rt, struct upg_region *r)
{
	const char *a = upg_region_addr(r);
	uint64_t n = upg_region_length(r) / PS;

	TU_WAIT_FOR((n - count_absent(rt, a, 0, n)) * PS ==
			    pu_region_resident(r),
		    5000);
}

/*
 * Read every page of the region, then keep reading [hot, n) until at
 * least @want pages of [0, hot) are gone.  Which pages one sequential pass
 * leaves resident depends on the clock hand and on the eviction batch
 * (CI once saw 5 of pages 0..7 survive a pass over 64 pages with a
 * 32-page budget); pages 0..hot-1 are never touched again, so the clock
 * takes them within two revolutions, and each pass over more than the
 * budget turns it.  Returns the pages of [0, hot) absent; fails the test
 * after 32 passes.
 */
static uint64_t push_out_head(struct upg_runtime *rt, struct upg_region *r,
			      uint64_t hot, uint64_t want)
{
	char *a = upg_region_addr(r);
	uint64_t n = upg_region_length(r) / PS;
	uint64_t absent;
	int pass;

	tur_touch_read(a, n * PS);
	settle(rt, r);
	for (pass = 0; (absent = count_absent(rt, a, 0, hot)) < want; pass++) {
		ck_assert_msg(pass < 32,
			      "%llu of pages 0..%llu still resident after %d "
			      "passes over the rest",
			      (unsigned long long)(hot - absent),
			      (unsigned long long)hot - 1, pass);
		tur_touch_read(a + hot * PS, (n - hot) * PS);
		settle(rt, r);
	}
	return absent;
}

/* ---- readable / writeable ------------------------------------------------ */

START_TEST(test_fault_in_readable)
{
	const uint64_t n = 64;
	struct upg_runtime *rt = quiet_runtime(32);
	struct pu_store *s = pu_store_create(n * PS, 701);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1, st2;
	uint64_t absent;

	absent = push_out_head(rt, r, 16, 8);
	st0 = tu_stats(rt);
	/* Unaligned: the pages containing the range, 0..15. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a + 100, 16 * PS - 200),
			  0);
	st1 = tu_stats(rt);
	assert_no_faults(&st0, &st1, "fault-in itself");
	/* (More only if a page of the range resident before was evicted
	 * to make room, and filled again.) */
	ck_assert_uint_ge(st1.bytes_faulted_in - st0.bytes_faulted_in,
			  absent * PS);
	ck_assert_uint_le(st1.bytes_faulted_in - st0.bytes_faulted_in,
			  16 * PS);
	ck_assert_uint_eq(st1.bytes_read - st0.bytes_read,
			  st1.bytes_faulted_in - st0.bytes_faulted_in);
	ck_assert(pu_resident(rt, a, 16 * PS));
	/* Then read: no fault, no I/O. */
	ck_assert_uint_eq(tu_check(a, 0, 16 * PS, 701), UINT64_MAX);
	st2 = tu_stats(rt);
	assert_no_faults(&st1, &st2, "reading the faulted-in range");
	ck_assert_uint_eq(st2.bytes_read, st1.bytes_read);

	/* Resident already: nothing read, nothing counted. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, 16 * PS), 0);
	ck_assert_uint_eq(tu_stats(rt).bytes_read, st2.bytes_read);
	ck_assert_uint_eq(tu_stats(rt).bytes_faulted_in, st2.bytes_faulted_in);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

START_TEST(test_fault_in_writeable)
{
	const uint64_t n = 64;
	struct upg_runtime *rt = quiet_runtime(32);
	struct pu_store *s = pu_store_create(n * PS, 702);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1, st2;
	uint64_t absent;

	/* Most of 0..7 evicted, most of 56..63 resident clean. */
	absent = push_out_head(rt, r, 8, 4) + count_absent(rt, a, 56, 64);
	ck_assert_uint_eq(pu_region_dirty(r), 0);
	st0 = tu_stats(rt);
	/* Evicted pages 0..7 and resident clean pages 56..63. */
	ck_assert_uint_eq(upg_fault_in_writeable(rt, a, 8 * PS), 0);
	ck_assert_uint_eq(upg_fault_in_writeable(rt, a + 56 * PS + 1,
						 8 * PS - 2),
			  0);
	st1 = tu_stats(rt);
	assert_no_faults(&st0, &st1, "fault-in itself");
	ck_assert_uint_ge(st1.bytes_faulted_in - st0.bytes_faulted_in,
			  absent * PS);
	ck_assert_uint_le(st1.bytes_faulted_in - st0.bytes_faulted_in,
			  16 * PS);
	ck_assert_uint_eq(pu_region_dirty(r), 16 * PS);

	tu_fill(a, 0, 8 * PS, 703);
	tu_fill(a + 56 * PS, 56 * PS, 8 * PS, 703);
	st2 = tu_stats(rt);
	assert_no_faults(&st1, &st2, "writing the faulted-in ranges");

	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_ge(tu_stats(rt).pages_written_back -
				  st2.pages_written_back,
			  16);
	ck_assert_uint_eq(pu_store_check(s, 0, 8 * PS, 703), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 56 * PS, 8 * PS, 703), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 8 * PS, 48 * PS, 702), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* A read-only region cannot be faulted in for writing. */
START_TEST(test_fault_in_writeable_read_only)
{
	struct upg_runtime *rt = quiet_runtime(32);
	struct pu_store *s = pu_store_create(8 * PS, 704);
	UPG_OPTS(upg_region_opts, ro, .prot = PROT_READ);
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_store(rt, s->st, 8 * PS, &ro, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(upg_fault_in_writeable(rt, a, 4 * PS), 4 * PS);
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, 4 * PS), 0);
	ck_assert_uint_eq(tu_check(a, 0, 4 * PS, 704), UINT64_MAX);
	ck_assert_uint_eq(pu_region_dirty(r), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* ---- partly or not managed ------------------------------------------------ */

START_TEST(test_fault_in_partly_unmanaged)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = quiet_runtime(64);
	struct pu_store *s = pu_store_create(n * PS, 705);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r), *end = a + n * PS;
	char *heap = malloc(4 * PS);

	ck_assert_ptr_nonnull(heap);
	/* Into unmanaged memory past the end: the managed part is faulted
	 * in, the rest comes back. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a + 12 * PS, 8 * PS),
			  4 * PS);
	ck_assert(pu_resident(rt, a + 12 * PS, 4 * PS));
	ck_assert_uint_eq(upg_fault_in_writeable(rt, end - 2 * PS - 10,
						 4 * PS),
			  2 * PS - 10);
	ck_assert(pu_resident(rt, end - 3 * PS, 3 * PS));
	/* Starting outside: nothing, whatever follows. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a - PS, 4 * PS), 4 * PS);
	ck_assert(!pu_resident(rt, a, PS));
	ck_assert_uint_eq(upg_fault_in_readable(rt, heap, 4 * PS), 4 * PS);
	ck_assert_uint_eq(upg_fault_in_writeable(rt, heap + 3, 100), 100);
	ck_assert_uint_eq(upg_fault_in_readable(NULL, a, PS), PS);
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, 0), 0);
	ck_assert_uint_eq(tu_check(a + 12 * PS, 12 * PS, 4 * PS, 705),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	/* An unmapped region is unmanaged memory. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, PS), PS);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(heap);
}
END_TEST

/* ---- store errors ----------------------------------------------------------- */

/* A store read error: a count of bytes, no SIGBUS; later it works. */
START_TEST(test_fault_in_store_error)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = quiet_runtime(64);
	struct pu_store *s = pu_store_create(n * PS, 706);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1;
	size_t left;

	pu_store_fail_reads(s, 0, n, -EIO);
	st0 = tu_stats(rt);
	left = upg_fault_in_readable(rt, a, 8 * PS);
	ck_assert_uint_eq(left, 8 * PS); /* the first page failed */
	left = upg_fault_in_writeable(rt, a + 4 * PS, 2 * PS);
	ck_assert_uint_eq(left, 2 * PS);
	st1 = tu_stats(rt);
	ck_assert_uint_ge(st1.read_errors - st0.read_errors, 2);
	ck_assert_uint_eq(st1.bytes_faulted_in, st0.bytes_faulted_in);
	ck_assert_uint_eq(count_absent(rt, a, 0, 8), 8);

	/* The store recovers: fault-in and plain access both work (no
	 * poison was left behind). */
	pu_store_fail_reads(s, 0, 0, 0);
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, 4 * PS), 0);
	ck_assert_uint_eq(tu_check(a, 0, 8 * PS, 706), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * "It stops at the first page it cannot fault in ... Return: bytes NOT
 * faulted in, from the first failure to the end": pages 0..3 are resident,
 * 4..7 cannot be read, so 4 pages are not faulted in, not 8.
 */
START_TEST(test_fault_in_error_counts_from_failure)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = quiet_runtime(64);
	struct pu_store *s = pu_store_create(n * PS, 707);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	size_t left;

	ck_assert_uint_eq(upg_fault_in_readable(rt, a, 4 * PS), 0);
	pu_store_fail_reads(s, 4, 8, -EIO);
	left = upg_fault_in_readable(rt, a, 8 * PS);
	ck_assert(pu_resident(rt, a, 4 * PS));
	ck_assert_msg(left == 4 * PS,
		      "fault-in of pages 0..7 with 0..3 resident and 4..7 "
		      "unreadable returned %zu bytes (%zu pages) not faulted "
		      "in, expected 4 pages",
		      left, left / PS);
	pu_store_fail_reads(s, 0, 0, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* ---- user-mode-only userfaultfd ---------------------------------------------- */

START_TEST(test_fault_in_user_mode_only)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 64 * PS,
		 .handler_threads = 2, .high_watermark_pct = 100,
		 .low_watermark_pct = 50, .flags = UPG_RT_USER_MODE_ONLY);
	struct upg_runtime *rt = pu_runtime(&o);
	const uint64_t n = 16, off = 5 * PS - 104;
	int fd = tur_data_file(n * PS, 708);
	struct upg_region *r;
	char msg[208], out[208];
	int p[2];
	char *a;

	ck_assert_uint_eq(tu_stats(rt).uffd_mode, UPG_UFFD_USER_ONLY);
	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	memset(msg, 0xa5, sizeof(msg));
	ck_assert_int_eq(pipe(p), 0);

	/* The kernel writing into non-resident pages: EFAULT ... */
	ck_assert_int_eq(write(p[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	errno = 0;
	ck_assert_int_eq(read(p[0], a + off, sizeof(msg)), -1);
	ck_assert_int_eq(errno, EFAULT);
	/* ... until the range is faulted in for writing. */
	ck_assert_uint_eq(upg_fault_in_writeable(rt, a + off, sizeof(msg)), 0);
	ck_assert_int_eq(read(p[0], a + off, sizeof(msg)),
			 (ssize_t)sizeof(msg));
	ck_assert_int_eq(memcmp(a + off, msg, sizeof(msg)), 0);

	/* The kernel reading non-resident pages: the same, with readable. */
	errno = 0;
	ck_assert_int_eq(write(p[1], a + 9 * PS - 100, sizeof(out)), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_uint_eq(upg_fault_in_readable(rt, a + 9 * PS - 100,
						sizeof(out)),
			  0);
	ck_assert_int_eq(write(p[1], a + 9 * PS - 100, sizeof(out)),
			 (ssize_t)sizeof(out));
	ck_assert_int_eq(read(p[0], out, sizeof(out)), (ssize_t)sizeof(out));
	ck_assert_int_eq(memcmp(out, a + 9 * PS - 100, sizeof(out)), 0);

	/* The data read(2) put in the region reaches the file. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	tur_pread(fd, out, sizeof(out), off);
	ck_assert_int_eq(memcmp(out, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(tur_file_check(fd, 4 * PS, PS - 104, 708),
			  UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, off + sizeof(msg),
					 6 * PS - off - sizeof(msg), 708),
			  UINT64_MAX);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- prefetch ------------------------------------------------------------------ */

START_TEST(test_prefetch)
{
	const uint64_t n = 32;
	struct upg_runtime *rt = quiet_runtime(64);
	struct pu_store *s = pu_store_create(n * PS, 709);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1, st2;

	st0 = tu_stats(rt);
	/* With the store holding every read back, prefetch still returns:
	 * it does not wait for I/O. */
	pu_store_gate(s, true);
	ck_assert_int_eq(upg_prefetch(rt, a, n * PS), 0);
	TU_WAIT_FOR(pu_store_held(s) > 0, 5000);
	pu_store_gate(s, false);

	TU_WAIT_FOR(pu_region_resident(r) == n * PS, 5000);
	TU_WAIT_FOR(tu_stats(rt).bytes_faulted_in - st0.bytes_faulted_in ==
			    n * PS,
		    5000);
	/* (Both count pages from the moment their fill starts: wait for
	 * the fills to be complete too before reading.) */
	TU_WAIT_FOR(pu_resident(rt, a, n * PS), 5000);
	st1 = tu_stats(rt);
	assert_no_faults(&st0, &st1, "prefetch");
	ck_assert_uint_eq(st1.bytes_read - st0.bytes_read, n * PS);
	ck_assert_uint_eq(tu_check(a, 0, n * PS, 709), UINT64_MAX);
	st2 = tu_stats(rt);
	assert_no_faults(&st1, &st2, "reading the prefetched range");
	ck_assert_uint_eq(st2.bytes_read, st1.bytes_read);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

START_TEST(test_prefetch_errors)
{
	struct upg_runtime *rt = quiet_runtime(64);
	struct pu_store *s = pu_store_create(16 * PS, 710);
	struct upg_region *r = pu_map_store(rt, s, 0, 16 * PS);
	char *a = upg_region_addr(r);
	char *heap = malloc(PS);
	uint64_t reads;

	ck_assert_ptr_nonnull(heap);
	ck_assert_int_eq(upg_prefetch(rt, heap, PS), -EFAULT);
	ck_assert_int_eq(upg_prefetch(rt, NULL, PS), -EFAULT);
	ck_assert_int_eq(upg_prefetch(rt, a - PS, 2 * PS), -EFAULT);
	ck_assert_int_eq(upg_prefetch(rt, a, 0), -EINVAL);
	ck_assert_int_eq(upg_prefetch(rt, a, SIZE_MAX), -EINVAL);
	ck_assert_int_eq(upg_prefetch(NULL, a, PS), -EBADF);
	/* The failures started nothing. */
	ck_assert_uint_eq(atomic_load(&s->nr_reads), 0);

	/* Resident pages are not read again: one read for the others. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, 4 * PS), 0);
	reads = atomic_load(&s->nr_reads);
	ck_assert_int_eq(upg_prefetch(rt, a + 1, 9 * PS - 2), 0);
	TU_WAIT_FOR(pu_resident(rt, a, 9 * PS), 5000);
	ck_assert_uint_eq(atomic_load(&s->nr_reads), reads + 1);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_prefetch(rt, a, PS), -EFAULT);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(heap);
}
END_TEST

/*
 * One prefetch over two adjacent regions: both parts are filled.  (Each
 * part is a request of its own for the handler threads.)
 */
START_TEST(test_prefetch_across_regions)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = quiet_runtime(64);
	struct pu_store *s = pu_store_create(2 * n * PS, 711);
	UPG_OPTS(upg_region_opts, ro, .store_offset = n * PS);
	struct upg_region *r1 = pu_map_store(rt, s, 0, n * PS), *r2;
	char *a = pu_reserve(2 * n * PS);
	bool done;

	ck_assert_int_eq(upg_region_map_store(rt, s->st, n * PS, &ro, &r2), 0);
	pu_move_region(r1, a);
	pu_move_region(r2, a + n * PS);
	ck_assert_int_eq(upg_prefetch(rt, a + 8 * PS, 16 * PS), 0);
	done = PU_POLL(pu_resident(rt, a + 8 * PS, 16 * PS), 3000);
	ck_assert_msg(done,
		      "prefetch across two regions: first part %s, second "
		      "part %s after 3 s",
		      pu_resident(rt, a + 8 * PS, 8 * PS) ? "resident" :
							    "NOT resident",
		      pu_resident(rt, a + 16 * PS, 8 * PS) ? "resident" :
							     "NOT resident");
	ck_assert_uint_eq(tu_check(a, 0, 2 * n * PS, 711), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r1), 0);
	ck_assert_int_eq(upg_region_unmap(r2), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

struct toucher {
	const char *p;
	_Atomic int done;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;

	tur_touch_read(t->p, 1);
	atomic_store(&t->done, 1);
	return NULL;
}

/*
 * Two prefetches issued while the (only) handler thread is busy: both
 * are filled once it is free again.
 */
START_TEST(test_prefetch_two_while_busy)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 64 * PS,
		 .handler_threads = 1, .high_watermark_pct = 100,
		 .low_watermark_pct = 50);
	struct upg_runtime *rt = pu_runtime(&o);
	const uint64_t n = 32;
	struct pu_store *s = pu_store_create(n * PS, 712);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct toucher t = { .p = a + 31 * PS };
	pthread_t th;
	bool done;

	/* Keep the handler in a store read for a fault. */
	pu_store_block(s, true);
	ck_assert_int_eq(pthread_create(&th, NULL, touch_main, &t), 0);
	TU_WAIT_FOR(pu_store_blocked(s) == 1, 5000);
	ck_assert_int_eq(upg_prefetch(rt, a, 4 * PS), 0);
	ck_assert_int_eq(upg_prefetch(rt, a + 8 * PS, 4 * PS), 0);
	pu_store_block(s, false);
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	done = PU_POLL(pu_resident(rt, a, 4 * PS) &&
			       pu_resident(rt, a + 8 * PS, 4 * PS),
		       3000);
	ck_assert_msg(done,
		      "two prefetches queued while the handler was busy: "
		      "first %s, second %s after 3 s",
		      pu_resident(rt, a, 4 * PS) ? "resident" : "NOT resident",
		      pu_resident(rt, a + 8 * PS, 4 * PS) ? "resident" :
							    "NOT resident");
	ck_assert_uint_eq(tu_check(a, 0, n * PS, 712), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fault_in");
	TCase *tc = tcase_create("fault_in");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fault_in_readable);
	tcase_add_test(tc, test_fault_in_writeable);
	tcase_add_test(tc, test_fault_in_writeable_read_only);
	tcase_add_test(tc, test_fault_in_partly_unmanaged);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fault_in_store_error);
	tcase_add_test(tc, test_fault_in_error_counts_from_failure);
	suite_add_tcase(s, tc);

	tc = tcase_create("user_mode_only");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fault_in_user_mode_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefetch");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_prefetch);
	tcase_add_test(tc, test_prefetch_errors);
	tcase_add_test(tc, test_prefetch_across_regions);
	tcase_add_test(tc, test_prefetch_two_while_busy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
