// SPDX-License-Identifier: MIT
/*
 * test_pin - the pin contracts (include/upager.h "Pins", DESIGN.md
 * section 5): long-term pins keep pages resident and unfaulted under any
 * pressure and count against pin_limit_bytes; ephemeral pins do not
 * count; unpin misuse is refused without side effects;
 * pins balance.  Flush, unmap and destroy with pins:
 * test_pin_lifecycle.c; pins racing eviction: test_pin_evict.c.
 *
 * "Never evicted" is checked without trusting the runtime's own counters:
 * the regions sit on a recording store (tests/common/pin_util.h) that
 * flags any read of a page while the test holds a pin on it, since a
 * pinned page that is read from the store was evicted while pinned.
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

/* ---- long-term pins under pressure ---------------------------------- */

START_TEST(test_longterm_pin_under_pressure)
{
	const uint64_t budget = 32, n = 8 * budget, pin_first = 40, pin_n = 8;
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget * PS,
		 .handler_threads = 2);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(n * PS, 601);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_pin *pin = NULL;
	uint64_t reads_pinned, round, pg;
	struct upg_stats st;

	/* Unaligned bounds: the pages containing the range are pinned. */
	ck_assert_int_eq(upg_pin(rt, a + pin_first * PS + 100,
				 pin_n * PS - 200, &pin),
			 0);
	ck_assert_ptr_nonnull(pin);
	pu_store_watch(s, pin_first, pin_first + pin_n, 1);
	reads_pinned = pu_store_reads_range(s, pin_first, pin_first + pin_n);
	ck_assert_uint_eq(reads_pinned, pin_n);
	st = tu_stats(rt);
	ck_assert_uint_eq(st.pinned_bytes, pin_n * PS);
	ck_assert_uint_eq(st.pins_acquired, 1);

	/* Everything, four times, a third of it written (same content):
	 * 8x the budget of reads and writebacks around the pinned pages. */
	for (round = 0; round < 4; round++) {
		for (pg = 0; pg < n; pg++) {
			if (round == 1 && pg % 3 == 0)
				pu_touch_write(a + pg * PS, 8);
			pu_check_pages(a, pg, pg + 1, 601);
		}
	}
	st = tu_stats(rt);
	ck_assert_uint_ge(st.pages_evicted, 3 * (n - budget));
	ck_assert_uint_gt(st.pages_written_back, 0);
	pu_assert_no_violation(s);
	ck_assert_uint_eq(pu_store_reads_range(s, pin_first,
					       pin_first + pin_n),
			  reads_pinned);
	ck_assert(pu_resident(rt, a + pin_first * PS, pin_n * PS));
	ck_assert_uint_ge(pu_region_resident(r), pin_n * PS);
	pu_check_pages(a, pin_first, pin_first + pin_n, 601);

	pu_store_watch(s, pin_first, pin_first + pin_n, -1);
	ck_assert_int_eq(upg_unpin(pin), 0);
	pu_assert_balanced(rt, 1);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(pu_store_check(s, 0, n * PS, 601), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* A pinned range, evicted before the pin, is read without any fault. */
START_TEST(test_pin_read_raises_no_fault)
{
	const uint64_t n = 64;
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 602);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1;
	struct upg_pin *pin;

	tur_touch_read(a, n * PS); /* 0..3 most likely evicted */
	ck_assert_int_eq(upg_pin(rt, a, 4 * PS, &pin), 0); /* the limit */
	st0 = tu_stats(rt);
	pu_check_pages(a, 0, 4, 602);
	(void)tur_sum(a, 4 * PS);
	st1 = tu_stats(rt);
	ck_assert_uint_eq(st1.faults_missing, st0.faults_missing);
	ck_assert_uint_eq(st1.faults_minor, st0.faults_minor);
	ck_assert_uint_eq(st1.faults_wp, st0.faults_wp);
	ck_assert_uint_eq(st1.bytes_read, st0.bytes_read);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * "maps it, so that access raises no fault": a write is an access too.
 * A pin that maps clean pages write-protected makes the first write to
 * each take a WP fault round trip.
 */
START_TEST(test_pin_write_raises_no_fault)
{
	const uint64_t n = 64;
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 603);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1;
	struct upg_pin *pin;

	tur_touch_read(a, n * PS);
	ck_assert_int_eq(upg_pin(rt, a, 4 * PS, &pin), 0);
	st0 = tu_stats(rt);
	pu_touch_write(a, 4 * PS);
	st1 = tu_stats(rt);
	ck_assert_msg(st1.faults_wp == st0.faults_wp &&
			      st1.faults_missing == st0.faults_missing &&
			      st1.faults_minor == st0.faults_minor,
		      "writes to 4 pinned pages raised %llu WP, %llu missing, "
		      "%llu minor faults",
		      (unsigned long long)(st1.faults_wp - st0.faults_wp),
		      (unsigned long long)(st1.faults_missing -
					   st0.faults_missing),
		      (unsigned long long)(st1.faults_minor -
					   st0.faults_minor));
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * The same seen by the kernel: with a user-mode-only userfaultfd, read(2)
 * into a pinned buffer (the I/O a pin is for) must not fail with EFAULT.
 */
START_TEST(test_pin_user_mode_only_read_into_pin)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 64 * PS,
		 .handler_threads = 2, .flags = UPG_RT_USER_MODE_ONLY);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(16 * PS, 604);
	struct upg_region *r = pu_map_store(rt, s, 0, 16 * PS);
	char *a = upg_region_addr(r);
	char msg[100];
	struct upg_pin *pin;
	int p[2];
	ssize_t got;

	ck_assert_uint_eq(tu_stats(rt).uffd_mode, UPG_UFFD_USER_ONLY);
	memset(msg, 0x5a, sizeof(msg));
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	ck_assert_int_eq(upg_pin(rt, a, 2 * PS, &pin), 0);
	got = read(p[0], a + PS - 50, sizeof(msg));
	ck_assert_msg(got == (ssize_t)sizeof(msg),
		      "read(2) into a pinned range: %zd (%s)", got,
		      got < 0 ? strerror(errno) : "short");
	ck_assert_int_eq(memcmp(a + PS - 50, msg, sizeof(msg)), 0);
	ck_assert_int_eq(upg_unpin(pin), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* ---- the pin limit ---------------------------------------------------- */

START_TEST(test_pin_limit)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 32 * PS,
		 .handler_threads = 2, .pin_limit_bytes = 8 * PS);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(64 * PS, 605);
	struct upg_region *r = pu_map_store(rt, s, 0, 64 * PS);
	char *a = upg_region_addr(r);
	struct upg_pin *p1, *p2, *p3, *e1, *bad = (struct upg_pin *)&bad;
	struct upg_stats st0, st1;

	ck_assert_int_eq(upg_pin(rt, a, 6 * PS, &p1), 0);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 6 * PS);

	/* Over the limit: -ENOMEM, nothing pinned, nothing faulted in. */
	st0 = tu_stats(rt);
	ck_assert_int_eq(upg_pin(rt, a + 10 * PS, 3 * PS, &bad), -ENOMEM);
	ck_assert_ptr_eq(bad, (struct upg_pin *)&bad);
	st1 = tu_stats(rt);
	ck_assert_uint_eq(st1.pinned_bytes, 6 * PS);
	ck_assert_uint_eq(st1.pins_acquired, st0.pins_acquired);
	ck_assert_uint_eq(st1.bytes_faulted_in, st0.bytes_faulted_in);
	ck_assert_uint_eq(st1.faults_missing, st0.faults_missing);
	ck_assert_uint_eq(pu_store_reads_range(s, 10, 13), 0);
	ck_assert(!pu_resident(rt, a + 10 * PS, PS));

	/* Up to the limit exactly. */
	ck_assert_int_eq(upg_pin(rt, a + 10 * PS, 2 * PS, &p2), 0);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 8 * PS);
	ck_assert_int_eq(upg_pin(rt, a + 20 * PS, 1, &bad), -ENOMEM);

	/* Ephemeral pins are not counted. */
	ck_assert_int_eq(upg_pin_ephemeral(rt, a + 20 * PS, 12 * PS, &e1), 0);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 8 * PS);

	/* Two bytes across a page boundary are two pages. */
	ck_assert_int_eq(upg_unpin(p2), 0);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 6 * PS);
	ck_assert_int_eq(upg_pin(rt, a + 40 * PS - 1, 2, &p3), 0);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 8 * PS);
	ck_assert_int_eq(upg_pin(rt, a + 50 * PS, 1, &bad), -ENOMEM);

	ck_assert_int_eq(upg_unpin(e1), 0);
	ck_assert_int_eq(upg_unpin(p3), 0);
	ck_assert_int_eq(upg_unpin(p1), 0);
	pu_assert_balanced(rt, 4);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* Default limit: a quarter of the budget. */
START_TEST(test_pin_limit_default)
{
	struct upg_runtime *rt = tu_runtime(64 * PS, 2);
	struct pu_store *s = pu_store_create(64 * PS, 606);
	struct upg_region *r = pu_map_store(rt, s, 0, 64 * PS);
	char *a = upg_region_addr(r);
	struct upg_pin *p1, *bad;

	ck_assert_int_eq(upg_pin(rt, a, 17 * PS, &bad), -ENOMEM);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 0);
	ck_assert_int_eq(upg_pin(rt, a, 16 * PS, &p1), 0);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 16 * PS);
	ck_assert_int_eq(upg_pin(rt, a + 32 * PS, 1, &bad), -ENOMEM);
	ck_assert_int_eq(upg_unpin(p1), 0);
	pu_assert_balanced(rt, 1);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

START_TEST(test_pin_limit_bounds)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 32 * PS,
		 .handler_threads = 2, .pin_limit_bytes = 32 * PS + PS);
	struct upg_runtime *rt = NULL;

	ck_assert_int_eq(upg_runtime_create(&o, &rt), -EINVAL);
	ck_assert_ptr_null(rt);
	o.pin_limit_bytes = 32 * PS;
	rt = pu_runtime(&o);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * The limit may be the whole budget, and then the whole budget may be
 * pinned: a pin within the limit succeeds (or fails with a documented
 * error), however the evictor reacts to the pin's own fault-in (it takes
 * residency above the high watermark, 95%: the evictor wakes and works to
 * bring it down to 85% while the pin is still faulting in).  Ten rounds
 * on a fresh region each: map, pin, check, unpin, unmap.
 */
START_TEST(test_pin_whole_budget)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 32 * PS,
		 .handler_threads = 2, .pin_limit_bytes = 32 * PS);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(32 * PS, 607);
	unsigned round;
	int err;

	for (round = 0; round < 10; round++) {
		struct upg_region *r = pu_map_store(rt, s, 0, 32 * PS);
		struct upg_pin *p;

		err = upg_pin(rt, upg_region_addr(r), 32 * PS, &p);
		ck_assert_msg(!err,
			      "round %u: pinning the whole budget (the pin "
			      "limit) failed: %d (%s)",
			      round, err, strerror(-err));
		ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 32 * PS);
		pu_check_pages(upg_region_addr(r), 0, 32, 607);
		ck_assert_int_eq(upg_unpin(p), 0);
		ck_assert_int_eq(upg_region_unmap(r), 0);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* A page holds at most 511 pins of each kind; beyond, -EOVERFLOW and the
 * other pages of the range keep the count they had. */
START_TEST(test_pin_overflow)
{
	const unsigned max = 511;
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 1024 * PS,
		 .handler_threads = 2, .pin_limit_bytes = 1024 * PS);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(4 * PS, 618);
	struct upg_region *r = pu_map_store(rt, s, 0, 4 * PS);
	char *a = upg_region_addr(r);
	struct upg_pin **e = calloc(max, sizeof(*e));
	struct upg_pin **l = calloc(max, sizeof(*l));
	struct upg_pin *p, *q;
	struct upg_stats st0, st1;
	unsigned i;

	ck_assert(e && l);
	for (i = 0; i < max; i++) {
		ck_assert_int_eq(upg_pin_ephemeral(rt, a + PS, 1, &e[i]), 0);
		ck_assert_int_eq(upg_pin(rt, a + PS, 1, &l[i]), 0);
	}
	st0 = tu_stats(rt);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a + PS, 1, &p), -EOVERFLOW);
	ck_assert_int_eq(upg_pin(rt, a + PS, 1, &p), -EOVERFLOW);
	/* Pages 0 and 1: page 0 pinned, then page 1 refuses: undone. */
	ck_assert_int_eq(upg_pin_ephemeral(rt, a, 2 * PS, &p), -EOVERFLOW);
	ck_assert_int_eq(upg_pin(rt, a, 2 * PS, &p), -EOVERFLOW);
	st1 = tu_stats(rt);
	ck_assert_uint_eq(st1.pins_acquired, st0.pins_acquired);
	ck_assert_uint_eq(st1.pinned_bytes, st0.pinned_bytes);
	ck_assert_uint_eq(st1.pinned_bytes, max * PS);

	/* One dropped: one more fits. */
	ck_assert_int_eq(upg_unpin(e[0]), 0);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a + PS, PS, &e[0]), 0);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a + PS, PS, &p), -EOVERFLOW);
	/* Page 0 holds what its own pins say: max more of each. */
	for (i = 0; i < max; i++) {
		ck_assert_int_eq(upg_unpin(e[i]), 0);
		ck_assert_int_eq(upg_unpin(l[i]), 0);
		ck_assert_int_eq(upg_pin_ephemeral(rt, a, 1, &e[i]), 0);
		ck_assert_int_eq(upg_pin(rt, a, 1, &l[i]), 0);
	}
	ck_assert_int_eq(upg_pin_ephemeral(rt, a, 1, &p), -EOVERFLOW);
	ck_assert_int_eq(upg_pin(rt, a + PS, PS, &q), 0);
	ck_assert_int_eq(upg_unpin(q), 0);
	for (i = 0; i < max; i++) {
		ck_assert_int_eq(upg_unpin(e[i]), 0);
		ck_assert_int_eq(upg_unpin(l[i]), 0);
	}
	pu_assert_balanced(rt, 4 * max + 2);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(e);
	free(l);
}
END_TEST

/* ---- misuse -------------------------------------------------------------- */

START_TEST(test_unpin_misuse)
{
	const uint64_t n = 64;
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 608);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_pin *p1, *p2, *p3;
	struct upg_stats st;
	uint64_t pg;

	ck_assert_int_eq(upg_pin(rt, a, 2 * PS, &p1), 0);
	ck_assert_int_eq(upg_pin(rt, a + 2 * PS, PS, &p2), 0);
	pu_store_watch(s, 0, 3, 1);

	/* (Handles are slot + generation: small integers can be live ones,
	 * so the garbage here is chosen not to be.) */
	ck_assert_int_eq(upg_unpin(NULL), -EINVAL);
	ck_assert_int_eq(upg_unpin((struct upg_pin *)(uintptr_t)0x7fffffff),
			 -EINVAL);
	ck_assert_int_eq(upg_unpin((struct upg_pin *)~(uintptr_t)0), -EINVAL);
	ck_assert_int_eq(upg_unpin((struct upg_pin *)&st), -EINVAL);
	ck_assert_int_eq(upg_unpin((struct upg_pin *)((uintptr_t)p1 ^
						       ((uintptr_t)1 << 40))),
			 -EINVAL);
	ck_assert_int_eq(upg_unpin((struct upg_pin *)((uintptr_t)p1 + 4096)),
			 -EINVAL);

	/* Double unpin; then a stale handle whose slot was reused. */
	pu_store_watch(s, 2, 3, -1);
	ck_assert_int_eq(upg_unpin(p2), 0);
	ck_assert_int_eq(upg_unpin(p2), -EINVAL);
	ck_assert_int_eq(upg_pin(rt, a + 2 * PS, PS, &p3), 0);
	pu_store_watch(s, 2, 3, 1);
	ck_assert_int_eq(upg_unpin(p2), -EINVAL);

	st = tu_stats(rt);
	ck_assert_uint_eq(st.pins_acquired, 3);
	ck_assert_uint_eq(st.pins_released, 1);
	ck_assert_uint_eq(st.pinned_bytes, 3 * PS);
	/* p1 and p3 still hold: pressure does not evict their pages. */
	for (pg = 0; pg < 2 * n; pg++)
		pu_check_pages(a, 3 + pg % (n - 3), 4 + pg % (n - 3), 608);
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, n);
	pu_assert_no_violation(s);
	ck_assert(pu_resident(rt, a, 3 * PS));

	pu_store_watch(s, 0, 3, -1);
	ck_assert_int_eq(upg_unpin(p3), 0);
	ck_assert_int_eq(upg_unpin(p1), 0);
	ck_assert_int_eq(upg_unpin(p1), -EINVAL);
	pu_assert_balanced(rt, 3);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

START_TEST(test_pin_bad_ranges)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = tu_runtime(64 * PS, 2);
	struct pu_store *s = pu_store_create(2 * n * PS, 609);
	struct upg_region *r1 = pu_map_store(rt, s, 0, n * PS), *r2;
	UPG_OPTS(upg_region_opts, ro, .store_offset = n * PS);
	char *heap = malloc(4 * PS), *a, *b, *end;
	struct upg_pin *p = NULL, *q;
	int local = 0;

	ck_assert_ptr_nonnull(heap);
	ck_assert_int_eq(upg_region_map_store(rt, s->st, n * PS, &ro, &r2), 0);

	/* Unmanaged memory. */
	ck_assert_int_eq(upg_pin(rt, heap, PS, &p), -EFAULT);
	ck_assert_int_eq(upg_pin(rt, &local, sizeof(local), &p), -EFAULT);
	ck_assert_int_eq(upg_pin(rt, NULL, PS, &p), -EFAULT);
	ck_assert_int_eq(upg_pin_ephemeral(rt, heap, PS, &p), -EFAULT);
	ck_assert_ptr_null(p);

	/* Two regions made adjacent: a range across them is -EINVAL, each
	 * part pins. */
	a = pu_reserve(2 * n * PS);
	pu_move_region(r1, a);
	pu_move_region(r2, a + n * PS);
	ck_assert_int_eq(upg_pin(rt, a + (n - 1) * PS, 2 * PS, &p), -EINVAL);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a + (n - 1) * PS, 2 * PS, &p),
			 -EINVAL);
	ck_assert_int_eq(upg_pin(rt, a, 2 * n * PS, &p), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(upg_pin(rt, a + (n - 1) * PS, PS, &p), 0);
	ck_assert_int_eq(upg_pin(rt, a + n * PS, PS, &q), 0);
	ck_assert_int_eq(upg_unpin(q), 0);
	ck_assert_int_eq(upg_unpin(p), 0);

	/* From a region into unmanaged memory past its end. */
	b = a + n * PS;
	end = b + n * PS;
	ck_assert_int_eq(upg_pin(rt, end - PS, 2 * PS, &p), -EFAULT);
	ck_assert_int_eq(upg_pin_ephemeral(rt, end - 1, 2, &p), -EFAULT);

	/* Length 0, no handle, wrap-around, no runtime. */
	ck_assert_int_eq(upg_pin(rt, a, 0, &p), -EINVAL);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a, 0, &p), -EINVAL);
	ck_assert_int_eq(upg_pin(rt, a, PS, NULL), -EINVAL);
	ck_assert_int_eq(upg_pin(rt, a, SIZE_MAX, &p), -EINVAL);
	ck_assert_int_eq(upg_pin(NULL, a, PS, &p), -EBADF);

	/* Nothing was pinned by the failures. */
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 0);
	pu_assert_balanced(rt, 2);

	/* An unmapped region is unmanaged memory. */
	ck_assert_int_eq(upg_region_unmap(r2), 0);
	ck_assert_int_eq(upg_pin(rt, b, PS, &p), -EFAULT);
	ck_assert_int_eq(upg_region_unmap(r1), 0);
	ck_assert_int_eq(upg_pin(rt, a, PS, &p), -EFAULT);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
	free(heap);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pin");
	TCase *tc = tcase_create("longterm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_longterm_pin_under_pressure);
	tcase_add_test(tc, test_pin_read_raises_no_fault);
	tcase_add_test(tc, test_pin_write_raises_no_fault);
	tcase_add_test(tc, test_pin_user_mode_only_read_into_pin);
	suite_add_tcase(s, tc);

	tc = tcase_create("limit");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pin_limit);
	tcase_add_test(tc, test_pin_limit_default);
	tcase_add_test(tc, test_pin_limit_bounds);
	tcase_add_test(tc, test_pin_whole_budget);
	tcase_add_test(tc, test_pin_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("misuse");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unpin_misuse);
	tcase_add_test(tc, test_pin_bad_ranges);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
