// SPDX-License-Identifier: MIT
/*
 * test_region - file regions: content, writeback, end of file, store
 * offsets, protection; only dirty pages written back; region stats and
 * NUMA placement; the userfaultfd mode.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

static uint64_t file_size(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

/* ---- content ---------------------------------------------------------- */

START_TEST(test_file_content)
{
	/* Smaller budget than region: the second pass refaults evicted
	 * pages, which must read the file again. */
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	uint64_t len = 64 * PS;
	int fd = tur_data_file(len, 101);
	struct upg_region *r;
	struct upg_stats st;
	char *a;
	int pass;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(upg_region_length(r), len);
	ck_assert_uint_eq((uintptr_t)a % PS, 0);
	for (pass = 0; pass < 2; pass++)
		ck_assert_uint_eq(tu_check(a, 0, len, 101), UINT64_MAX);
	st = tu_stats(rt);
	ck_assert_uint_ge(st.bytes_read, len);
	ck_assert_uint_gt(st.pages_evicted, 0);
	/* Reading wrote nothing. */
	ck_assert_uint_eq(st.bytes_written, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).bytes_written, 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, 101), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_writes_reach_file)
{
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	uint64_t len = 48 * PS, pg;
	int fd = tur_data_file(len, 102);
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	/* Even pages get data set 202; flush; the file has it.  Each page is
	 * read before it is written, so that its write is a WP fault (a
	 * write that faults a page in is test_flush_after_write_fault). */
	for (pg = 0; pg < 48; pg += 2) {
		tur_touch_read(a + pg * PS, PS);
		tu_fill(a + pg * PS, pg * PS, PS, 202);
	}
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	for (pg = 0; pg < 48; pg++)
		ck_assert_msg(tur_file_check(fd, pg * PS, PS,
					     pg % 2 ? 102 : 202) == UINT64_MAX,
			      "page %llu differs after flush",
			      (unsigned long long)pg);
	/* Odd pages get 302 and reach the file on unmap alone. */
	for (pg = 1; pg < 48; pg += 2)
		tu_fill(a + pg * PS, pg * PS, PS, 302);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	for (pg = 0; pg < 48; pg++)
		ck_assert_msg(tur_file_check(fd, pg * PS, PS,
					     pg % 2 ? 302 : 202) == UINT64_MAX,
			      "page %llu differs after unmap",
			      (unsigned long long)pg);
	ck_assert_uint_eq(file_size(fd), len);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/*
 * A write that faults its page in, then a flush of that page: the flush
 * returns 0, so the file must hold the write.  (The fill maps the page,
 * which resumes the writer, before it publishes the page RESIDENT and
 * DIRTY; a flush in between must not skip the page.)
 */
START_TEST(test_flush_after_write_fault)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	const uint64_t n = 64;
	int fd = tur_data_file(n * PS, 115);
	struct upg_region *r;
	unsigned missed = 0, first = ~0u;
	volatile unsigned char *a;
	uint64_t pg;

	ck_assert_int_eq(upg_region_map_file(rt, fd, n * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	for (pg = 0; pg < n; pg++) {
		unsigned char b = 0;

		a[pg * PS] = (unsigned char)(pg + 1);
		ck_assert_int_eq(upg_region_flush(r, pg * PS, PS), 0);
		tur_pread(fd, &b, 1, pg * PS);
		if (b != (unsigned char)(pg + 1)) {
			missed++;
			if (first == ~0u)
				first = (unsigned)pg;
		}
	}
	ck_assert_msg(!missed,
		      "%u of %u writes were not in the file after the flush "
		      "that followed them returned 0 (first: page %u)",
		      missed, (unsigned)n, first);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	for (pg = 0; pg < n; pg++) {
		unsigned char b = 0;

		tur_pread(fd, &b, 1, pg * PS);
		ck_assert_int_eq(b, (unsigned char)(pg + 1));
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_partial_flush_range)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	uint64_t len = 16 * PS, pg;
	int fd = tur_data_file(len, 103);
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	for (pg = 0; pg < 16; pg++)
		tu_fill(a + pg * PS, pg * PS, PS, 203);
	/* Pages [4, 8) only. */
	ck_assert_int_eq(upg_region_flush(r, 4 * PS, 4 * PS), 0);
	ck_assert_uint_eq(tu_stats(rt).pages_written_back, 4);
	for (pg = 0; pg < 16; pg++)
		ck_assert_uint_eq(tur_file_check(fd, pg * PS, PS,
						 pg >= 4 && pg < 8 ? 203 : 103),
				  UINT64_MAX);
	/* A length that ends inside a page flushes that page. */
	ck_assert_int_eq(upg_region_flush(r, 8 * PS, 1), 0);
	ck_assert_uint_eq(tu_stats(rt).pages_written_back, 5);
	ck_assert_uint_eq(tur_file_check(fd, 8 * PS, PS, 203), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 9 * PS, PS, 103), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).pages_written_back, 16);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, 203), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- end of file ------------------------------------------------------ */

START_TEST(test_short_file_zeros)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	uint64_t flen = 2 * PS + 104, len = 6 * PS, i;
	int fd = tur_data_file(flen, 104);
	struct upg_region *r;
	struct upg_stats st;
	unsigned char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check(a, 0, flen, 104), UINT64_MAX);
	for (i = flen; i < len; i++)
		ck_assert_msg(a[i] == 0, "byte %llu past EOF is %u",
			      (unsigned long long)i, a[i]);
	st = tu_stats(rt);
	ck_assert_uint_eq(st.bytes_read, flen);
	ck_assert_uint_eq(st.pages_filled + st.pages_zero_filled, 6);
	ck_assert_uint_ge(st.pages_zero_filled, 3);
	/* Reading past the end did not grow the file. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(file_size(fd), flen);

	/* Writing page 4 and flushing grows the file to its end. */
	memset(a + 4 * PS, 0xab, PS);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(file_size(fd), 5 * PS);
	{
		unsigned char *b = malloc(3 * PS);

		tur_pread(fd, b, 3 * PS, 2 * PS);
		ck_assert_uint_eq(tu_check(b, 2 * PS, 104, 104), UINT64_MAX);
		for (i = 104; i < 2 * PS; i++)
			ck_assert_int_eq(b[i], 0);
		for (i = 2 * PS; i < 3 * PS; i++)
			ck_assert_int_eq(b[i], 0xab);
		free(b);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(file_size(fd), 5 * PS);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_grow_never_past_length)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	uint64_t off = 2 * PS, len = 3 * PS + 100;
	int fd = tur_data_file(PS, 105);
	UPG_OPTS(upg_region_opts, o, .store_offset = off);
	struct upg_region *r;
	unsigned char *a, b[2] = { 0, 0 };

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, &o, &r), 0);
	ck_assert_uint_eq(upg_region_length(r), len);
	a = upg_region_addr(r);
	ck_assert_int_eq(a[len - 1], 0);
	a[len - 1] = 0x5c;
	/* Past the region's length but inside its last page: in memory
	 * only, never in the file. */
	a[len] = 0x6d;
	a[len + 50] = 0x6e;
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(file_size(fd), off + len);
	tur_pread(fd, b, 1, off + len - 1);
	ck_assert_int_eq(b[0], 0x5c);
	/* Bytes between the old end of file and the write read zero. */
	ck_assert_int_eq(pread(fd, b, 2, (off_t)(off + len - 3)), 2);
	ck_assert_int_eq(b[0], 0);
	ck_assert_int_eq(b[1], 0);
	/* The file's first page, outside the region, is untouched. */
	ck_assert_uint_eq(tur_file_check(fd, 0, PS, 105), UINT64_MAX);
	/* Unmap writes nothing past the end either. */
	a[len - 2] = 0x5b;
	a[len + 1] = 0x6f;
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(file_size(fd), off + len);
	tur_pread(fd, b, 2, off + len - 2);
	ck_assert_int_eq(b[0], 0x5b);
	ck_assert_int_eq(b[1], 0x5c);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_store_offset)
{
	struct upg_runtime *rt = tu_runtime(8 * PS, 2);
	uint64_t flen = 64 * PS, off = 17 * PS, len = 32 * PS;
	int fd = tur_data_file(flen, 106);
	UPG_OPTS(upg_region_opts, o, .store_offset = off);
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, &o, &r), 0);
	a = upg_region_addr(r);
	/* Region byte 0 is file byte off (data set indexed by file
	 * offset). */
	ck_assert_uint_eq(tu_check(a, off, len, 106), UINT64_MAX);
	tu_fill(a, off, len, 206);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, off, 106), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, off, len, 206), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, off + len, flen - off - len, 106),
			  UINT64_MAX);
	ck_assert_uint_eq(file_size(fd), flen);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_fill_unit_content)
{
	/* 4-page fill units over a length that ends inside a unit (and a
	 * page), under a budget that forces eviction. */
	UPG_OPTS(upg_region_opts, o, .fill_unit = 4 * PS);
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	uint64_t len = 42 * PS + 96, pg;
	int fd = tur_data_file(len, 116);
	struct upg_region *r;
	struct upg_stats st;
	char *a;
	int pass;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, &o, &r), 0);
	a = upg_region_addr(r);
	/* Backwards, so that each fault lands at the end of its unit. */
	for (pass = 0; pass < 2; pass++)
		for (pg = 43; pg-- > 0;)
			ck_assert_uint_eq(tu_check(a + pg * PS, pg * PS,
						   pg == 42 ? 96 : PS, 116),
					  UINT64_MAX);
	st = tu_stats(rt);
	/* Units are filled whole: fewer faults than pages. */
	ck_assert_uint_lt(st.faults_missing, 2 * 43);
	ck_assert_uint_gt(st.pages_evicted, 0);
	for (pg = 0; pg < 43; pg += 5) {
		tur_touch_read(a + pg * PS, 1);
		a[pg * PS + 1] = (char)0xee;
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	for (pg = 0; pg < 43; pg++) {
		unsigned char b[2];

		tur_pread(fd, b, 2, pg * PS);
		ck_assert_int_eq(b[1] == 0xee, pg % 5 == 0);
	}
	{
		struct stat sb;

		ck_assert_int_eq(fstat(fd, &sb), 0);
		ck_assert_uint_eq((uint64_t)sb.st_size, len);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- protection ------------------------------------------------------- */

START_TEST(test_read_only_region_write_segv)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 107);
	UPG_OPTS(upg_region_opts, o, .prot = PROT_READ);
	struct upg_region *r;
	volatile char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, 4 * PS, &o, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check((const void *)a, 0, 2 * PS, 107),
			  UINT64_MAX);
	/* The default action, whoever installed a handler (a sanitizer). */
	signal(SIGSEGV, SIG_DFL);
	a[3 * PS] = 1; /* a page not resident yet */
	ck_abort_msg("a write to a read-only region did not fault");
}
END_TEST

START_TEST(test_read_only_region_write_resident_segv)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 108);
	UPG_OPTS(upg_region_opts, o, .prot = PROT_READ);
	struct upg_region *r;
	volatile char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, 4 * PS, &o, &r), 0);
	a = upg_region_addr(r);
	ck_assert_uint_eq(tu_check((const void *)a, 0, PS, 108), UINT64_MAX);
	signal(SIGSEGV, SIG_DFL);
	a[8] = 1; /* a resident page */
	ck_abort_msg("a write to a read-only region did not fault");
}
END_TEST

/* ---- only dirty pages are written back --------------------------------- */

START_TEST(test_only_dirty_written)
{
	const uint64_t budget = 1 * MiB, len = 2 * MiB, K = 13;
	struct upg_runtime *rt = tu_runtime(budget, 2);
	int fd = tur_data_file(len, 109);
	uint64_t npages = len / PS, i, pg[13];
	struct upg_stats s0, s1, s2;
	struct upg_region *r;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	/* A full read pass evicts half the pages; none is written. */
	ck_assert_uint_eq(tu_check(a, 0, len, 109), UINT64_MAX);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	s0 = tu_stats(rt);
	ck_assert_uint_gt(s0.pages_evicted, 0);
	ck_assert_uint_eq(s0.bytes_written, 0);
	ck_assert_uint_eq(s0.pages_written_back, 0);
	/* A second pass: still nothing written. */
	tur_touch_read(a, len);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tu_stats(rt).bytes_written, 0);

	/* K distinct pages, spread so that some are resident and some not;
	 * each written once.  Whether eviction or the flush writes a page
	 * back, it is written exactly once. */
	for (i = 0; i < K; i++) {
		pg[i] = (i * 37 + 5) % npages;
		/* Read first: the write is then a WP fault (the write fault
		 * path is test_flush_after_write_fault). */
		tur_touch_read(a + pg[i] * PS, PS);
		tu_fill(a + pg[i] * PS, pg[i] * PS, PS, 209);
	}
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	s1 = tu_stats(rt);
	ck_assert_uint_eq(s1.pages_written_back - s0.pages_written_back, K);
	ck_assert_uint_eq(s1.bytes_written - s0.bytes_written, K * PS);
	/* Nothing left to write: another flush and the unmap write none. */
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	s2 = tu_stats(rt);
	ck_assert_uint_eq(s2.pages_written_back, s1.pages_written_back);
	ck_assert_uint_eq(s2.bytes_written, s1.bytes_written);
	for (i = 0; i < npages; i++) {
		bool w = false;
		uint64_t k;

		for (k = 0; k < K; k++)
			w |= pg[k] == i;
		ck_assert_uint_eq(tur_file_check(fd, i * PS, PS, w ? 209 : 109),
				  UINT64_MAX);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_rewrite_after_flush_written_again)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(8 * PS, 110);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, 8 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, PS);
	a[0] = 1;
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tu_stats(rt).pages_written_back, 1);
	/* The flushed page is clean and write-protected again: its next
	 * write must be seen (WP fault) and written by the next flush. */
	a[1] = 2;
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.dirty_bytes, PS);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tu_stats(rt).pages_written_back, 2);
	{
		char b[2];

		tur_pread(fd, b, 2, 0);
		ck_assert_int_eq(b[0], 1);
		ck_assert_int_eq(b[1], 2);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- region stats and NUMA -------------------------------------------- */

/*
 * The page a thread faulted in becomes RESIDENT in the state table a moment
 * after the thread resumes (the fill maps it, then publishes it): region
 * stats converge on the exact figures, so wait for them with a timeout.
 */
static bool rstats_are(struct upg_region *r, uint64_t resident,
		       uint64_t dirty)
{
	UPG_OPTS(upg_region_stats, rs);

	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	return rs.resident_bytes == resident && rs.dirty_bytes == dirty;
}

static uint64_t node_sum(const struct upg_region_stats *rs)
{
	uint64_t s = 0;
	unsigned i;

	for (i = 0; i < UPG_MAX_NUMA_NODES; i++)
		s += rs->node_pages[i];
	return s;
}

START_TEST(test_region_stats)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	uint64_t len = 32 * PS + 10;
	int fd = tur_data_file(len, 111);
	UPG_OPTS(upg_region_stats, rs);
	struct upg_region *r;
	char *a;
	int i;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	/* Exact fills (fault and fill unit only): no read-ahead. */
	ck_assert_int_eq(upg_advise(r, 0, 0, UPG_ADV_RANDOM), 0);
	a = upg_region_addr(r);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.length, len);
	ck_assert_uint_eq(rs.resident_bytes, 0);
	ck_assert_uint_eq(rs.dirty_bytes, 0);
	ck_assert_uint_eq(node_sum(&rs), 0);
	ck_assert_int_eq(rs.numa_policy, UPG_NUMA_DEFAULT);

	tur_touch_read(a, 10 * PS);
	TU_WAIT_FOR(rstats_are(r, 10 * PS, 0), 5000);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.resident_bytes, 10 * PS);
	ck_assert_uint_eq(rs.dirty_bytes, 0);
	ck_assert_uint_ge(node_sum(&rs), 1);
	ck_assert_uint_le(node_sum(&rs), 10);
	ck_assert_uint_ge(rs.node_pages[0], 1);

	for (i = 0; i < 5; i++)
		a[i * PS + 7] = (char)i;
	a[20 * PS] = 1; /* not resident before: a write fault */
	TU_WAIT_FOR(rstats_are(r, 11 * PS, 6 * PS), 5000);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.resident_bytes, 11 * PS);
	ck_assert_uint_eq(rs.dirty_bytes, 6 * PS);
	ck_assert_uint_le(node_sum(&rs), 11);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 11 * PS);

	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.dirty_bytes, 0);
	ck_assert_uint_eq(rs.resident_bytes, 11 * PS);

	/* A caller with an older, shorter struct gets only what it has. */
	{
		struct upg_region_stats small;

		memset(&small, 0xee, sizeof(small));
		small.sz = offsetof(struct upg_region_stats, dirty_bytes);
		ck_assert_int_eq(upg_region_stats(r, &small), 0);
		ck_assert_uint_eq(small.length, len);
		ck_assert_uint_eq(small.resident_bytes, 11 * PS);
		ck_assert_uint_eq(small.dirty_bytes, 0xeeeeeeeeeeeeeeeeull);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

static void numa_map_ok(struct upg_runtime *rt, int fd, int policy, int node,
			uint64_t mask)
{
	UPG_OPTS(upg_region_opts, o, .numa_policy = policy, .numa_node = node,
		 .numa_nodemask = mask);
	UPG_OPTS(upg_region_stats, rs);
	struct upg_region *r;
	int err = upg_region_map_file(rt, fd, 16 * PS, &o, &r);

	ck_assert_msg(!err, "policy %d node %d mask %#llx: %s", policy, node,
		      (unsigned long long)mask, strerror(-err));
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, 16 * PS, 112),
			  UINT64_MAX);
	TU_WAIT_FOR(rstats_are(r, 16 * PS, 0), 5000);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_int_eq(rs.numa_policy, policy);
	ck_assert_uint_eq(rs.resident_bytes, 16 * PS);
	/* One node here: every page placed is on node 0. */
	ck_assert_uint_eq(rs.node_pages[0], node_sum(&rs));
	ck_assert_uint_ge(rs.node_pages[0], 1);
	ck_assert_uint_le(rs.node_pages[0], 16);
	ck_assert_int_eq(upg_region_unmap(r), 0);
}

static void numa_map_bad(struct upg_runtime *rt, int fd, int policy, int node,
			 uint64_t mask)
{
	UPG_OPTS(upg_region_opts, o, .numa_policy = policy, .numa_node = node,
		 .numa_nodemask = mask);
	struct upg_region *r = NULL;
	int maps = tur_region_mappings();

	ck_assert_int_eq(upg_region_map_file(rt, fd, 16 * PS, &o, &r),
			 -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(tur_region_mappings(), maps);
}

START_TEST(test_numa)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(16 * PS, 112);

	numa_map_ok(rt, fd, UPG_NUMA_BIND, 0, 0);
	numa_map_ok(rt, fd, UPG_NUMA_BIND, 0, 1);
	numa_map_ok(rt, fd, UPG_NUMA_INTERLEAVE, 0, 0);
	numa_map_ok(rt, fd, UPG_NUMA_INTERLEAVE, 0, 1);
	numa_map_ok(rt, fd, UPG_NUMA_PREFERRED, 0, 0);
	numa_map_ok(rt, fd, UPG_NUMA_LOCAL, 0, 0);
	numa_map_bad(rt, fd, UPG_NUMA_BIND, 999, 0);
	numa_map_bad(rt, fd, UPG_NUMA_PREFERRED, 999, 0);
	numa_map_bad(rt, fd, UPG_NUMA_BIND, -1, 0);
	numa_map_bad(rt, fd, UPG_NUMA_INTERLEAVE, 0, 1ull << 40);
	numa_map_bad(rt, fd, UPG_NUMA_PREFERRED + 1, 0, 0);
	numa_map_bad(rt, fd, -1, 0, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/*
 * struct upg_stats as the first header (commit 0e8925c) declared it.  A
 * program built against it passes sz = sizeof(this) and must find every
 * field it knows where it expects it: the struct may only grow at its end
 * (DESIGN.md section 6).
 */
struct upg_stats_v0 {
	size_t sz;
	uint64_t faults_missing, faults_wp, faults_minor;
	uint64_t pages_filled, pages_zero_filled;
	uint64_t pages_evicted, pages_written_back;
	uint64_t bytes_read, bytes_written;
	uint64_t resident_bytes, resident_peak_bytes, budget_bytes;
	uint64_t io_errors, read_errors, write_errors;
	uint64_t evict_batches_background, evict_batches_sync;
	uint64_t pages_sampled, pages_referenced;
	uint64_t budget_overshoot_pages;
	uint32_t uffd_mode;
	uint64_t uffd_features;
};

START_TEST(test_stats_old_caller)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_stats now = tu_stats(rt);
	struct upg_stats_v0 old;

	memset(&old, 0xa5, sizeof(old));
	old.sz = sizeof(old);
	ck_assert_int_eq(upg_runtime_stats(rt, (struct upg_stats *)&old), 0);
	ck_assert_uint_eq(old.budget_bytes, 4 * MiB);
	ck_assert_uint_eq(old.budget_overshoot_pages, 0);
	ck_assert_msg(old.uffd_mode == now.uffd_mode &&
			      old.uffd_features == now.uffd_features,
		      "a caller built against the first header reads "
		      "uffd_mode %u (want %u) and uffd_features %#llx (want "
		      "%#llx): a field was inserted before them",
		      old.uffd_mode, now.uffd_mode,
		      (unsigned long long)old.uffd_features,
		      (unsigned long long)now.uffd_features);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* ---- userfaultfd mode ------------------------------------------------- */

START_TEST(test_uffd_mode_kernel)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 113), p[2];
	struct upg_region *r;
	char *a, msg[64];

	ck_assert_uint_eq(tu_stats(rt).uffd_mode, UPG_UFFD_KERNEL);
	ck_assert_int_eq(upg_region_map_file(rt, fd, 4 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	/* A system call writing into a non-resident page is serviced. */
	ck_assert_int_eq(pipe(p), 0);
	memset(msg, 'k', sizeof(msg));
	ck_assert_int_eq(write(p[1], msg, sizeof(msg)), sizeof(msg));
	ck_assert_int_eq(read(p[0], a + 2 * PS + 8, sizeof(msg)), sizeof(msg));
	ck_assert_int_eq(memcmp(a + 2 * PS + 8, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(tu_check(a + 2 * PS, 2 * PS, 8, 113), UINT64_MAX);
	/* And a write(2) from one (kernel reads of the region). */
	ck_assert_int_eq(write(p[1], a + 3 * PS, 64), 64);
	ck_assert_int_eq(read(p[0], msg, 64), 64);
	ck_assert_uint_eq(tu_check(msg, 3 * PS, 64, 113), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	tur_pread(fd, msg, sizeof(msg), 2 * PS + 8);
	ck_assert_int_eq(msg[0], 'k');
	ck_assert_int_eq(msg[63], 'k');
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(p[0]);
	close(p[1]);
	close(fd);
}
END_TEST

START_TEST(test_uffd_mode_user_only)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 4 * MiB,
		 .flags = UPG_RT_USER_MODE_ONLY);
	struct upg_runtime *rt;
	int fd = tur_data_file(4 * PS, 114), p[2];
	struct upg_region *r;
	char *a, msg[64];
	ssize_t n;

	ck_assert_int_eq(upg_runtime_create(&o, &rt), 0);
	ck_assert_uint_eq(tu_stats(rt).uffd_mode, UPG_UFFD_USER_ONLY);
	ck_assert_int_eq(upg_region_map_file(rt, fd, 4 * PS, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_int_eq(pipe(p), 0);
	memset(msg, 'u', sizeof(msg));
	ck_assert_int_eq(write(p[1], msg, sizeof(msg)), sizeof(msg));
	/* The kernel's own access to a non-resident page is not serviced. */
	n = read(p[0], a + PS, sizeof(msg));
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, EFAULT);
	/* A plain load works and makes the page resident ... */
	ck_assert_uint_eq(tu_check(a + PS, PS, PS, 114), UINT64_MAX);
	/* ... and a plain store makes it writable: now the kernel can write
	 * into it (this is the "fault the range in first" cure). */
	((volatile char *)a)[PS] = 'x';
	ck_assert_int_eq(read(p[0], a + PS, sizeof(msg)), sizeof(msg));
	ck_assert_int_eq(memcmp(a + PS, msg, sizeof(msg)), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	tur_pread(fd, msg, sizeof(msg), PS);
	ck_assert_int_eq(msg[0], 'u');
	ck_assert_uint_eq(tur_file_check(fd, 2 * PS, 2 * PS, 114), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(p[0]);
	close(p[1]);
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("file");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_file_content);
	tcase_add_test(tc, test_writes_reach_file);
	tcase_add_test(tc, test_flush_after_write_fault);
	tcase_add_test(tc, test_partial_flush_range);
	tcase_add_test(tc, test_short_file_zeros);
	tcase_add_test(tc, test_grow_never_past_length);
	tcase_add_test(tc, test_store_offset);
	tcase_add_test(tc, test_fill_unit_content);
	tcase_add_test_raise_signal(tc, test_read_only_region_write_segv,
				    SIGSEGV);
	tcase_add_test_raise_signal(tc,
				    test_read_only_region_write_resident_segv,
				    SIGSEGV);
	suite_add_tcase(s, tc);

	tc = tcase_create("dirty");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_only_dirty_written);
	tcase_add_test(tc, test_rewrite_after_flush_written_again);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_region_stats);
	tcase_add_test(tc, test_numa);
	tcase_add_test(tc, test_stats_old_caller);
	tcase_add_test(tc, test_uffd_mode_kernel);
	tcase_add_test(tc, test_uffd_mode_user_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
