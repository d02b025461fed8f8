// SPDX-License-Identifier: MIT
/*
 * test_daemon_pins - pins and nofault copies in daemon mode, through the
 * marks shared with a real upagerd (region/marks.h): pinned pages stay
 * resident while the daemon evicts everything around them, writes to
 * pinned pages (which raise no fault the daemon could see) and nofault
 * copies into the region reach the file, a nofault copy of a page the
 * daemon evicted copies nothing, the errors are the in-process ones, and
 * pins survive the daemon's death (the client takes them over).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon_util.h"
#include "proto/proto.h"
#include "region/marks.h"
#include "region/region.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

/* A region 4x the 4 MiB budget, read through twice and verified (seed
 * @seed, but @len bytes at @off hold @seed2): every unpinned page is
 * evicted at least once. */
#define REGION_LEN (16 * MiB)
static void thrash(const char *a, uint64_t seed, uint64_t off, uint64_t len,
		   uint64_t seed2)
{
	int i;

	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(tu_check(a, 0, off, seed), UINT64_MAX);
		ck_assert_uint_eq(tu_check(a + off, off, len, seed2),
				  UINT64_MAX);
		ck_assert_uint_eq(tu_check(a + off + len, off + len,
					   REGION_LEN - off - len, seed),
				  UINT64_MAX);
	}
}

START_TEST(test_pins_survive_pressure)
{
	const uint64_t off = 1 * MiB, len = 256 * 1024;
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_pin *pin;
	int fd = tur_data_file(REGION_LEN, 31);
	char *a;

	dt_start(&d, UPAGERD_PATH, "4M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_int_eq(upg_pin(rt, a + off, len, &pin), 0);
	/* Written while pinned: the pages are mapped writable, the daemon
	 * sees no fault; the DIRTY mark must carry the write. */
	tu_fill(a + off, off, len, 32);
	thrash(a, 31, off, len, 32);
	ck_assert_uint_eq(dt_resident_pages(a + off, len), len / PS);
	ck_assert_uint_lt(dt_resident_pages(a, REGION_LEN), REGION_LEN / PS / 2);

	/* Unpinned, the written pages go like any other, to the file. */
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_unpin(pin), -EINVAL);
	thrash(a, 31, off, len, 32);
	ck_assert_uint_lt(dt_resident_pages(a + off, len), len / PS);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(tur_file_check(fd, off, len, 32), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 0, off, 31), UINT64_MAX);
	close(fd);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

START_TEST(test_nofault_copies)
{
	const uint64_t len = 64 * 1024;
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	int fd = tur_data_file(REGION_LEN, 41);
	char *a, *buf = malloc(len), *want = malloc(len);
	uint64_t pg, absent = UINT64_MAX;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(want);
	dt_start(&d, UPAGERD_PATH, "4M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);

	/* Resident: copied, and right. */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, len), 0);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a, len), 0);
	tu_fill(want, 0, len, 41);
	ck_assert_int_eq(memcmp(buf, want, len), 0);

	/* Into the region, through the alias: the daemon sees no fault. */
	tu_fill(want, 0, len, 42);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a, want, len), 0);
	ck_assert_uint_eq(tu_check(a, 0, len, 42), UINT64_MAX);

	/* Evicted by the daemon: nothing copied, nothing faulted in. */
	thrash(a, 41, 0, len, 42);
	for (pg = len / PS; pg < REGION_LEN / PS && absent == UINT64_MAX; pg++)
		if (!dt_resident_pages(a + pg * PS, PS))
			absent = pg;
	ck_assert_uint_ne(absent, UINT64_MAX);
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, a + absent * PS, PS),
			  PS);
	ck_assert_uint_eq(upg_copy_to_nofault(rt, a + absent * PS, want, PS),
			  PS);
	ck_assert_uint_eq(dt_resident_pages(a + absent * PS, PS), 0);
	/* Unmanaged memory: nothing. */
	ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, want, 16), 16);
	/* A read-only region: resident, but nothing written through the
	 * alias. */
	{
		int rofd = tur_data_file(4 * PS, 43);
		UPG_OPTS(upg_region_opts, ro, .prot = PROT_READ);
		struct upg_region *rr;
		char *b;

		ck_assert_int_eq(upg_region_map_file(rt, rofd, 4 * PS, &ro,
						     &rr), 0);
		b = upg_region_addr(rr);
		ck_assert_uint_eq(upg_fault_in_readable(rt, b, 4 * PS), 0);
		ck_assert_uint_eq(upg_copy_to_nofault(rt, b + PS, want, PS),
				  PS);
		ck_assert_uint_eq(tu_check(b, 0, 4 * PS, 43), UINT64_MAX);
		ck_assert_uint_eq(upg_copy_from_nofault(rt, buf, b, PS), 0);
		ck_assert_int_eq(upg_region_unmap(rr), 0);
		ck_assert_uint_eq(tur_file_check(rofd, 0, 4 * PS, 43),
				  UINT64_MAX);
		close(rofd);
	}

	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	/* The copied-in bytes reached the file (the first 64 KiB were
	 * evicted by the thrash, or written at unmap). */
	ck_assert_uint_eq(tur_file_check(fd, 0, len, 42), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, len, REGION_LEN - len, 41),
			  UINT64_MAX);
	close(fd);
	free(buf);
	free(want);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

START_TEST(test_pin_errors)
{
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_pin *pin, *big;
	int fd = tur_data_file(REGION_LEN, 51);
	char *a, local[64];

	dt_start(&d, UPAGERD_PATH, "4M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);
	/* Over the limit (a quarter of the daemon's budget): nothing. */
	ck_assert_int_eq(upg_pin(rt, a, 2 * MiB, &big), -ENOMEM);
	ck_assert_int_eq(upg_pin(rt, local, sizeof(local), &big), -EFAULT);
	ck_assert_int_eq(upg_pin(rt, a + REGION_LEN - PS, 2 * PS, &big),
			 -EFAULT);
	ck_assert_int_eq(upg_pin(rt, a, 0, &big), -EINVAL);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a, 16 * PS, &pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), -EBUSY);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_unpin(pin), -EINVAL);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

/* The daemon dies with pages pinned: the client takes over, the pins
 * hold (the pages stay resident in-process too), unpin works. */
START_TEST(test_pins_across_takeover)
{
	const uint64_t off = 2 * MiB, len = 128 * 1024;
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_pin *pin;
	int fd = tur_data_file(REGION_LEN, 61);
	char *a;

	dt_start(&d, UPAGERD_PATH, "4M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);
	ck_assert_int_eq(upg_pin(rt, a + off, len, &pin), 0);
	tu_fill(a + off, off, len, 62);
	dt_kill9(&d);
	/* Served in-process from here (the first fault waits for the
	 * takeover): the pinned pages are kept through the same pressure. */
	thrash(a, 61, off, len, 62);
	ck_assert_uint_eq(dt_resident_pages(a + off, len), len / PS);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(tur_file_check(fd, off, len, 62), UINT64_MAX);
	close(fd);
}
END_TEST

/* The marks are the client's to write, so a client can lie: it claims
 * every page of its region pinned, far beyond its allowance.  The daemon
 * must keep its budget (the lies are not honoured while memory is short)
 * and lose none of the liar's data. */
START_TEST(test_lying_client_cannot_hold_memory)
{
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	int fd = tur_data_file(REGION_LEN, 91);
	uint64_t pg;
	char *a;

	dt_start(&d, UPAGERD_PATH, "4M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, REGION_LEN, NULL, &r), 0);
	a = upg_region_addr(r);
	/* The library never does this: write the shared words directly. */
	for (pg = 0; pg < REGION_LEN / PS; pg++)
		atomic_fetch_or(&r->client_marks[pg],
				MARK_PIN_MASK | MARK_DIRTY);
	tu_fill(a, 0, REGION_LEN, 92);
	thrash(a, 92, 0, 0, 92);
	ck_assert_uint_le(dt_counter(&d, PROTO_CTR_RESIDENT_PEAK_BYTES),
			  4 * MiB + 64 * PS);
	ck_assert_uint_gt(dt_counter(&d, PROTO_CTR_PAGES_EVICTED),
			  REGION_LEN / PS);
	/* Its own lies keep nothing from it either: the unmap waits for no
	 * pin the library does not know of. */
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, REGION_LEN, 92), UINT64_MAX);
	close(fd);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_pins");
	TCase *tc = tcase_create("pins");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_pins_survive_pressure);
	tcase_add_test(tc, test_nofault_copies);
	tcase_add_test(tc, test_pin_errors);
	tcase_add_test(tc, test_pins_across_takeover);
	tcase_add_test(tc, test_lying_client_cannot_hold_memory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return dt_main(suite(), UPAGERD_PATH);
}
