// SPDX-License-Identifier: MIT
/*
 * test_region_errors - bad input to the runtime and region calls: each
 * gives its documented errno and leaves no trace (no region, no mapping,
 * no descriptor, counters unchanged, the caller's fd still usable).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

/* What a failed call must not change. */
struct snap {
	struct upg_stats st;
	int maps, fds;
};

static struct snap snap_take(struct upg_runtime *rt)
{
	struct snap s = { .st = tu_stats(rt) };

	s.maps = tur_region_mappings();
	s.fds = tur_open_fds();
	return s;
}

static void snap_same(struct upg_runtime *rt, const struct snap *a)
{
	struct snap b = snap_take(rt);

	ck_assert_int_eq(b.maps, a->maps);
	ck_assert_int_eq(b.fds, a->fds);
	ck_assert_uint_eq(b.st.faults_missing, a->st.faults_missing);
	ck_assert_uint_eq(b.st.pages_filled, a->st.pages_filled);
	ck_assert_uint_eq(b.st.pages_zero_filled, a->st.pages_zero_filled);
	ck_assert_uint_eq(b.st.resident_bytes, a->st.resident_bytes);
	ck_assert_uint_eq(b.st.bytes_read, a->st.bytes_read);
	ck_assert_uint_eq(b.st.bytes_written, a->st.bytes_written);
}

/* The caller's descriptor survived the failed call. */
static void fd_usable(int fd)
{
	char c;

	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(pread(fd, &c, 1, 0), 1);
}

/* Map a file region expecting @want; on success unmap it again. */
static void expect_map_file(struct upg_runtime *rt, int fd, uint64_t len,
			    const struct upg_region_opts *o, int want)
{
	struct upg_region *r = (struct upg_region *)0x1;
	int err = upg_region_map_file(rt, fd, len, o, &r);

	ck_assert_msg(err == want, "map_file(len %llu): got %d (%s), want %d",
		      (unsigned long long)len, err, strerror(-err), want);
	if (!err)
		ck_assert_int_eq(upg_region_unmap(r), 0);
	else
		ck_assert_ptr_eq(r, (struct upg_region *)0x1);
}

static void expect_map_anon(struct upg_runtime *rt, uint64_t len,
			    const struct upg_region_opts *o, int want)
{
	struct upg_region *r = (struct upg_region *)0x1;
	int err = upg_region_map_anon(rt, len, o, &r);

	ck_assert_msg(err == want, "map_anon(len %llu): got %d (%s), want %d",
		      (unsigned long long)len, err, strerror(-err), want);
	if (!err)
		ck_assert_int_eq(upg_region_unmap(r), 0);
	else
		ck_assert_ptr_eq(r, (struct upg_region *)0x1);
}

static void expect_map_store(struct upg_runtime *rt, struct upg_store *st,
			     uint64_t len, const struct upg_region_opts *o,
			     int want)
{
	struct upg_region *r = (struct upg_region *)0x1;
	int err = upg_region_map_store(rt, st, len, o, &r);

	ck_assert_msg(err == want, "map_store(len %llu): got %d (%s), want %d",
		      (unsigned long long)len, err, strerror(-err), want);
	if (!err)
		ck_assert_int_eq(upg_region_unmap(r), 0);
	else
		ck_assert_ptr_eq(r, (struct upg_region *)0x1);
}

static void expect_runtime(const struct upg_runtime_opts *o, int want)
{
	struct upg_runtime *rt = (struct upg_runtime *)0x1;
	int err = upg_runtime_create(o, &rt);

	ck_assert_msg(err == want, "runtime_create: got %d (%s), want %d", err,
		      strerror(-err), want);
	if (!err)
		ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	else
		ck_assert_ptr_eq(rt, (struct upg_runtime *)0x1);
}

/* ---- lengths and offsets --------------------------------------------- */

START_TEST(test_zero_length)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(16 * PS, 1);
	struct upg_store *mem;
	struct snap s;

	ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
	s = snap_take(rt);
	expect_map_file(rt, fd, 0, NULL, -EINVAL);
	expect_map_anon(rt, 0, NULL, -EINVAL);
	expect_map_store(rt, mem, 0, NULL, -EINVAL);
	snap_same(rt, &s);
	fd_usable(fd);
	/* The same calls with a length work. */
	expect_map_file(rt, fd, PS, NULL, 0);
	expect_map_anon(rt, PS, NULL, 0);
	expect_map_store(rt, mem, PS, NULL, 0);
	upg_store_put(mem);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_unaligned_store_offset)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(16 * PS, 2);
	struct upg_store *mem;
	struct snap s;
	uint64_t bad[] = { 1, PS / 2, PS + 8, 3 * PS - 1 };
	unsigned i;

	ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
	s = snap_take(rt);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		UPG_OPTS(upg_region_opts, o, .store_offset = bad[i]);

		expect_map_file(rt, fd, PS, &o, -EINVAL);
		expect_map_store(rt, mem, PS, &o, -EINVAL);
	}
	snap_same(rt, &s);
	fd_usable(fd);
	upg_store_put(mem);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_length_overflow)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(16 * PS, 3);
	struct upg_store *mem;
	struct snap s;
	UPG_OPTS(upg_region_opts, high, .store_offset = UINT64_MAX & ~(uint64_t)(PS - 1));
	UPG_OPTS(upg_region_opts, mid, .store_offset = 1ull << 63);

	ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
	s = snap_take(rt);
	expect_map_file(rt, fd, UINT64_MAX, NULL, -EOVERFLOW);
	expect_map_anon(rt, UINT64_MAX, NULL, -EOVERFLOW);
	expect_map_store(rt, mem, UINT64_MAX, NULL, -EOVERFLOW);
	/* store_offset + length wraps around. */
	expect_map_file(rt, fd, 2 * PS, &high, -EOVERFLOW);
	expect_map_store(rt, mem, 2 * PS, &high, -EOVERFLOW);
	expect_map_store(rt, mem, (1ull << 63) + PS, &mid, -EOVERFLOW);
	snap_same(rt, &s);
	fd_usable(fd);
	upg_store_put(mem);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- descriptors ------------------------------------------------------ */

START_TEST(test_bad_fd)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tu_tmpfile(PS), closed;
	struct snap s;

	/* A high number, so that no descriptor opened meanwhile (the
	 * runtime's threads open theirs as they start) reuses it. */
	closed = fcntl(fd, F_DUPFD, 700);
	ck_assert_int_ge(closed, 700);
	ck_assert_int_eq(close(closed), 0);
	s = snap_take(rt);
	expect_map_file(rt, -1, PS, NULL, -EBADF);
	expect_map_file(rt, closed, PS, NULL, -EBADF);
	expect_map_file(rt, -42, PS, NULL, -EBADF);
	snap_same(rt, &s);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

static int reopen(int fd, int flags)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags | O_CLOEXEC);
	ck_assert_int_ge(nfd, 0);
	return nfd;
}

START_TEST(test_rdonly_fd)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 4);
	int ro = reopen(fd, O_RDONLY);
	UPG_OPTS(upg_region_opts, rw, .prot = PROT_READ | PROT_WRITE);
	UPG_OPTS(upg_region_opts, rdonly, .prot = PROT_READ);
	struct upg_region *r;
	struct snap s;

	s = snap_take(rt);
	expect_map_file(rt, ro, 4 * PS, NULL, -EACCES);
	expect_map_file(rt, ro, 4 * PS, &rw, -EACCES);
	snap_same(rt, &s);
	fd_usable(ro);
	/* Read-only is what the descriptor allows: that works, with the
	 * file's content. */
	ck_assert_int_eq(upg_region_map_file(rt, ro, 4 * PS, &rdonly, &r), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, 4 * PS, 4),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tu_stats(rt).bytes_written, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(ro);
	close(fd);
}
END_TEST

START_TEST(test_wronly_fd)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 5);
	int wo = reopen(fd, O_WRONLY);
	UPG_OPTS(upg_region_opts, rdonly, .prot = PROT_READ);
	struct snap s;

	s = snap_take(rt);
	expect_map_file(rt, wo, 4 * PS, NULL, -EACCES);
	expect_map_file(rt, wo, 4 * PS, &rdonly, -EACCES);
	snap_same(rt, &s);
	ck_assert_int_ne(fcntl(wo, F_GETFD), -1);
	ck_assert_int_eq(pwrite(wo, "x", 1, 0), 1);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(wo);
	close(fd);
}
END_TEST

START_TEST(test_not_a_file)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	UPG_OPTS(upg_region_opts, rdonly, .prot = PROT_READ);
	int p[2], sv[2], dir, null;
	struct snap s;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	dir = open("/", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dir, 0);
	null = open("/dev/null", O_RDWR);
	ck_assert_int_ge(null, 0);
	s = snap_take(rt);
	expect_map_file(rt, p[0], PS, &rdonly, -ENODEV);
	expect_map_file(rt, p[1], PS, NULL, -ENODEV);
	expect_map_file(rt, sv[0], PS, NULL, -ENODEV);
	expect_map_file(rt, dir, PS, &rdonly, -ENODEV);
	expect_map_file(rt, null, PS, NULL, -ENODEV);
	snap_same(rt, &s);
	/* The pipe and the socket still work. */
	ck_assert_int_eq(write(p[1], "ab", 2), 2);
	ck_assert_int_eq(write(sv[0], "cd", 2), 2);
	{
		char b[2];

		ck_assert_int_eq(read(p[0], b, 2), 2);
		ck_assert_int_eq(memcmp(b, "ab", 2), 0);
		ck_assert_int_eq(read(sv[1], b, 2), 2);
		ck_assert_int_eq(memcmp(b, "cd", 2), 0);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(dir);
	close(null);
}
END_TEST

/* ---- options ---------------------------------------------------------- */

START_TEST(test_fill_unit)
{
	struct upg_runtime *rt = tu_runtime(8 * MiB, 2);
	int fd = tur_data_file(4 * MiB, 6);
	uint64_t bad[] = { 3 * PS, PS / 2, PS / 4, 1, 5 * PS, 4 * MiB,
			   (2 * MiB) + PS, 1ull << 40, UINT64_MAX };
	struct snap s;
	unsigned i;

	s = snap_take(rt);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		UPG_OPTS(upg_region_opts, o, .fill_unit = bad[i]);

		expect_map_file(rt, fd, 4 * MiB, &o, -EINVAL);
		expect_map_anon(rt, 4 * MiB, &o, -EINVAL);
	}
	snap_same(rt, &s);
	fd_usable(fd);
	/* The bounds themselves are fine. */
	{
		UPG_OPTS(upg_region_opts, lo, .fill_unit = PS);
		UPG_OPTS(upg_region_opts, hi, .fill_unit = 2 * MiB);

		expect_map_file(rt, fd, 4 * MiB, &lo, 0);
		expect_map_file(rt, fd, 4 * MiB, &hi, 0);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_fill_unit_over_budget)
{
	struct upg_runtime *rt = tu_runtime(1 * MiB, 2);
	int fd = tur_data_file(4 * MiB, 7);
	UPG_OPTS(upg_region_opts, big, .fill_unit = 2 * MiB);
	UPG_OPTS(upg_region_opts, fits, .fill_unit = 1 * MiB);
	struct snap s;

	s = snap_take(rt);
	expect_map_file(rt, fd, 4 * MiB, &big, -EINVAL);
	expect_map_anon(rt, 4 * MiB, &big, -EINVAL);
	snap_same(rt, &s);
	expect_map_file(rt, fd, 4 * MiB, &fits, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_budget_below_page)
{
	UPG_OPTS(upg_runtime_opts, o1, .budget_bytes = 1);
	UPG_OPTS(upg_runtime_opts, o2, .budget_bytes = PS - 1);
	UPG_OPTS(upg_runtime_opts, o3, .budget_bytes = PS);
	int fds = tur_open_fds();

	expect_runtime(&o1, -EINVAL);
	expect_runtime(&o2, -EINVAL);
	ck_assert_int_eq(tur_open_fds(), fds);
	/* One page is a budget (tiny, but valid). */
	expect_runtime(&o3, 0);
	ck_assert_int_eq(tur_open_fds(), fds);
}
END_TEST

START_TEST(test_runtime_opts_bad)
{
	UPG_OPTS(upg_runtime_opts, flag, .flags = 1u << 7);
	UPG_OPTS(upg_runtime_opts, flag31, .flags = 1u << 31);
	UPG_OPTS(upg_runtime_opts, eq, .high_watermark_pct = 80,
		 .low_watermark_pct = 80);
	UPG_OPTS(upg_runtime_opts, inv, .high_watermark_pct = 50,
		 .low_watermark_pct = 70);
	UPG_OPTS(upg_runtime_opts, over, .high_watermark_pct = 101);
	UPG_OPTS(upg_runtime_opts, low_only, .low_watermark_pct = 95);
	UPG_OPTS(upg_runtime_opts, threads, .handler_threads = 65);
	UPG_OPTS(upg_runtime_opts, ok, .high_watermark_pct = 80,
		 .low_watermark_pct = 79);
	int fds = tur_open_fds();

	expect_runtime(&flag, -EINVAL);
	expect_runtime(&flag31, -EINVAL);
	expect_runtime(&eq, -EINVAL);
	expect_runtime(&inv, -EINVAL);
	expect_runtime(&over, -EINVAL);
	/* low defaults against high (95): 95 is not below it. */
	expect_runtime(&low_only, -EINVAL);
	expect_runtime(&threads, -EINVAL);
	ck_assert_int_eq(tur_open_fds(), fds);
	expect_runtime(&ok, 0);
	ck_assert_int_eq(tur_open_fds(), fds);
}
END_TEST

/* A caller built against a newer header: the struct it passes is longer. */
struct runtime_opts_v2 {
	struct upg_runtime_opts base;
	unsigned char tail[24];
};

struct region_opts_v2 {
	struct upg_region_opts base;
	unsigned char tail[24];
};

START_TEST(test_unknown_tail)
{
	struct runtime_opts_v2 ro;
	struct region_opts_v2 go;
	struct upg_runtime *rt;
	int fd = tur_data_file(4 * PS, 8);
	unsigned i;

	for (i = 0; i < sizeof(ro.tail); i += 7) {
		memset(&ro, 0, sizeof(ro));
		ro.base.sz = sizeof(ro);
		ro.tail[i] = 1;
		expect_runtime(&ro.base, -EINVAL);
	}
	memset(&ro, 0, sizeof(ro));
	ro.base.sz = sizeof(ro);
	ro.base.budget_bytes = 4 * MiB;
	ck_assert_int_eq(upg_runtime_create(&ro.base, &rt), 0);
	ck_assert_uint_eq(tu_stats(rt).budget_bytes, 4 * MiB);

	for (i = 0; i < sizeof(go.tail); i += 5) {
		struct snap s = snap_take(rt);

		memset(&go, 0, sizeof(go));
		go.base.sz = sizeof(go);
		go.tail[i] = 0x80;
		expect_map_file(rt, fd, 4 * PS, &go.base, -EINVAL);
		expect_map_anon(rt, 4 * PS, &go.base, -EINVAL);
		snap_same(rt, &s);
	}
	memset(&go, 0, sizeof(go));
	go.base.sz = sizeof(go);
	go.base.prot = PROT_READ;
	{
		struct upg_region *r;

		ck_assert_int_eq(upg_region_map_file(rt, fd, 4 * PS, &go.base,
						     &r), 0);
		ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, 4 * PS, 8),
				  UINT64_MAX);
		ck_assert_int_eq(upg_region_unmap(r), 0);
	}
	expect_map_anon(rt, 4 * PS, &go.base, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_sz_too_small)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 9);
	struct upg_runtime_opts ro;
	struct upg_region_opts go;
	struct snap s;
	size_t bad[] = { 0, 1, sizeof(size_t) - 1 };
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ro, 0, sizeof(ro));
		ro.sz = bad[i];
		expect_runtime(&ro, -EINVAL);
	}
	s = snap_take(rt);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&go, 0, sizeof(go));
		go.sz = bad[i];
		expect_map_file(rt, fd, 4 * PS, &go, -EINVAL);
		expect_map_anon(rt, 4 * PS, &go, -EINVAL);
	}
	snap_same(rt, &s);
	/* An older caller's struct (only sz): all defaults. */
	memset(&go, 0x5a, sizeof(go));
	go.sz = sizeof(size_t);
	expect_map_file(rt, fd, 4 * PS, &go, 0);
	memset(&ro, 0x5a, sizeof(ro));
	ro.sz = sizeof(size_t);
	expect_runtime(&ro, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_bad_prot_and_anon_offset)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 10);
	UPG_OPTS(upg_region_opts, wonly, .prot = PROT_WRITE);
	UPG_OPTS(upg_region_opts, exec, .prot = PROT_READ | PROT_EXEC);
	UPG_OPTS(upg_region_opts, off, .store_offset = PS);
	UPG_OPTS(upg_region_opts, off_big, .store_offset = 1ull << 40);
	struct snap s = snap_take(rt);

	expect_map_file(rt, fd, 4 * PS, &wonly, -EINVAL);
	expect_map_file(rt, fd, 4 * PS, &exec, -EINVAL);
	expect_map_anon(rt, 4 * PS, &off, -EINVAL);
	expect_map_anon(rt, 4 * PS, &off_big, -EINVAL);
	snap_same(rt, &s);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

/* ---- handles ---------------------------------------------------------- */

START_TEST(test_null_pointers)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(4 * PS, 11);
	struct upg_store *mem;
	struct upg_region *r;
	struct upg_stats st;
	struct upg_region_stats rs;
	struct snap s;

	ck_assert_int_eq(upg_runtime_create(NULL, NULL), -EINVAL);
	ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
	s = snap_take(rt);
	ck_assert_int_eq(upg_region_map_file(rt, fd, PS, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upg_region_map_anon(rt, PS, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upg_region_map_store(rt, mem, PS, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(upg_region_map_store(rt, NULL, PS, NULL, &r), -EINVAL);
	ck_assert_int_eq(upg_runtime_stats(rt, NULL), -EINVAL);
	memset(&st, 0, sizeof(st));
	st.sz = 2; /* cannot hold a counter */
	ck_assert_int_eq(upg_runtime_stats(rt, &st), -EINVAL);
	snap_same(rt, &s);
	fd_usable(fd);

	ck_assert_int_eq(upg_region_map_file(rt, fd, PS, NULL, &r), 0);
	ck_assert_int_eq(upg_region_stats(r, NULL), -EINVAL);
	memset(&rs, 0, sizeof(rs));
	rs.sz = 1;
	ck_assert_int_eq(upg_region_stats(r, &rs), -EINVAL);
	ck_assert_int_eq(upg_region_err_check(r, NULL), -EINVAL);
	ck_assert_ptr_null(upg_region_addr(NULL));
	ck_assert_uint_eq(upg_region_length(NULL), 0);
	ck_assert_uint_eq(upg_region_err_sample(NULL), 0);
	ck_assert_int_eq(upg_region_flush(NULL, 0, 0), -EBADF);
	ck_assert_int_eq(upg_region_unmap(NULL), -EBADF);
	ck_assert_int_eq(upg_runtime_stats(NULL, &st), -EBADF);
	ck_assert_int_eq(upg_runtime_destroy(NULL), -EBADF);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	upg_store_put(mem);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_unmap_twice)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	int fd = tur_data_file(8 * PS, 12);
	struct upg_region *r, *a;
	UPG_OPTS(upg_region_stats, rs);
	uint64_t since = 0;
	int maps = tur_region_mappings();

	ck_assert_int_eq(upg_region_map_file(rt, fd, 8 * PS, NULL, &r), 0);
	ck_assert_int_eq(upg_region_map_anon(rt, 8 * PS, NULL, &a), 0);
	tur_touch_read(upg_region_addr(r), 8 * PS);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_region_unmap(r), -EBADF);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), -EBADF);
	ck_assert_int_eq(upg_region_stats(r, &rs), -EBADF);
	ck_assert_int_eq(upg_region_err_check(r, &since), -EBADF);
	ck_assert_uint_eq(upg_region_err_sample(r), 0);
	ck_assert_int_eq(upg_region_unmap(a), 0);
	ck_assert_int_eq(upg_region_unmap(a), -EBADF);
	ck_assert_int_eq(tur_region_mappings(), maps);
	/* Unmapped regions gave their pages back. */
	ck_assert_uint_eq(tu_stats(rt).resident_bytes, 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

START_TEST(test_after_destroy)
{
	int fd = tur_data_file(8 * PS, 13);
	int maps = tur_region_mappings(), fds = tur_open_fds();
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	struct upg_store *mem;
	struct upg_region *r, *left;
	UPG_OPTS(upg_stats, st);

	ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
	ck_assert_int_eq(upg_region_map_file(rt, fd, 8 * PS, NULL, &left), 0);
	memset(upg_region_addr(left), 0x77, PS);
	/* Destroy writes back and unmaps the regions still mapped. */
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(tur_region_mappings(), maps);
	{
		unsigned char *b = malloc(PS);

		ck_assert_ptr_nonnull(b);
		tur_pread(fd, b, PS, 0);
		ck_assert_int_eq(b[0], 0x77);
		ck_assert_int_eq(b[PS - 1], 0x77);
		free(b);
	}
	ck_assert_int_eq(upg_runtime_stats(rt, &st), -EBADF);
	ck_assert_int_eq(upg_region_map_file(rt, fd, PS, NULL, &r), -EBADF);
	ck_assert_int_eq(upg_region_map_anon(rt, PS, NULL, &r), -EBADF);
	ck_assert_int_eq(upg_region_map_store(rt, mem, PS, NULL, &r), -EBADF);
	ck_assert_int_eq(upg_region_unmap(left), -EBADF);
	ck_assert_int_eq(upg_runtime_destroy(rt), -EBADF);
	ck_assert_int_eq(tur_region_mappings(), maps);
	upg_store_put(mem);
	ck_assert_int_eq(tur_open_fds(), fds);
	close(fd);
}
END_TEST

START_TEST(test_flush_bad_range)
{
	struct upg_runtime *rt = tu_runtime(4 * MiB, 2);
	uint64_t len = 8 * PS + 100;
	int fd = tur_data_file(len, 14);
	struct upg_region *r;
	UPG_OPTS(upg_region_stats, rs);
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	tur_touch_read(a, PS);
	a[0] = 1;
	ck_assert_int_eq(upg_region_flush(r, 1, 0), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, PS / 2, PS), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, PS - 1, 1), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, 0, len + 1), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, 8 * PS, 101), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, 9 * PS, 0), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, 16 * PS, PS), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, 0, UINT64_MAX), -EINVAL);
	ck_assert_int_eq(upg_region_flush(r, PS, UINT64_MAX - PS + 1),
			 -EINVAL);
	/* Nothing was written by the failed calls. */
	ck_assert_uint_eq(tu_stats(rt).bytes_written, 0);
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_uint_eq(rs.dirty_bytes, PS);
	/* The exact range, and the tail, are fine. */
	ck_assert_int_eq(upg_region_flush(r, 8 * PS, 100), 0);
	ck_assert_int_eq(upg_region_flush(r, 0, len), 0);
	ck_assert_uint_eq(tu_stats(rt).bytes_written, PS);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("region_errors");
	TCase *tc = tcase_create("input");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_zero_length);
	tcase_add_test(tc, test_unaligned_store_offset);
	tcase_add_test(tc, test_length_overflow);
	tcase_add_test(tc, test_bad_fd);
	tcase_add_test(tc, test_rdonly_fd);
	tcase_add_test(tc, test_wronly_fd);
	tcase_add_test(tc, test_not_a_file);
	tcase_add_test(tc, test_fill_unit);
	tcase_add_test(tc, test_fill_unit_over_budget);
	tcase_add_test(tc, test_budget_below_page);
	tcase_add_test(tc, test_runtime_opts_bad);
	tcase_add_test(tc, test_unknown_tail);
	tcase_add_test(tc, test_sz_too_small);
	tcase_add_test(tc, test_bad_prot_and_anon_offset);
	suite_add_tcase(s, tc);

	tc = tcase_create("handles");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_null_pointers);
	tcase_add_test(tc, test_unmap_twice);
	tcase_add_test(tc, test_after_destroy);
	tcase_add_test(tc, test_flush_bad_range);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
