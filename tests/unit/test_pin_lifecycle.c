// SPDX-License-Identifier: MIT
/*
 * test_pin_lifecycle - pins across the life of a region (include/upager.h
 * "Pins", docs/pins.md): pins survive flush (written back, still resident,
 * still raising no fault); unmap and destroy with pins held tell the
 * notifiers (UNMAP) and fail with -EBUSY leaving everything usable, or,
 * with UPG_UNMAP_WAIT_PINS, wait for the unpin; the application's own
 * munmap leaves the pin valid until dropped, and the data reaches the
 * store.
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

/* ---- flush and unmap ---------------------------------------------------- */

START_TEST(test_pins_survive_flush)
{
	const uint64_t n = 32;
	struct upg_runtime *rt = tu_runtime(16 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 610);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct upg_stats st0, st1;
	struct upg_pin *pin;
	uint64_t round;

	ck_assert_int_eq(upg_pin(rt, a, 4 * PS, &pin), 0);
	pu_store_watch(s, 0, 4, 1);
	tu_fill(a, 0, 4 * PS, 611);
	ck_assert_uint_ge(pu_region_dirty(r), 4 * PS);
	st0 = tu_stats(rt);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	st1 = tu_stats(rt);
	ck_assert_uint_ge(st1.pages_written_back - st0.pages_written_back, 4);
	ck_assert_uint_eq(pu_store_check(s, 0, 4 * PS, 611), UINT64_MAX);
	/* Still pinned: resident, counted, and held under pressure. */
	ck_assert(pu_resident(rt, a, 4 * PS));
	ck_assert_uint_eq(st1.pinned_bytes, 4 * PS);
	for (round = 0; round < 3; round++)
		pu_check_pages(a, 4, n, 610);
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);
	pu_assert_no_violation(s);
	ck_assert_uint_eq(tu_check(a, 0, 4 * PS, 611), UINT64_MAX);

	/* Written again while pinned, flushed by unmap after the unpin. */
	tu_fill(a + PS, PS, PS, 612);
	pu_store_watch(s, 0, 4, -1);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(pu_store_check(s, PS, PS, 612), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 0, PS, 611), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 2 * PS, 2 * PS, 611), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/*
 * "Touching pinned memory raises no fault", and pins survive flush: so a
 * flush must not make the pinned range fault again.  Seen by the kernel
 * too: with a user-mode-only userfaultfd, read(2) into the pinned buffer
 * (a buffer registered once, flushed now and then) works before and after
 * the flush.
 */
START_TEST(test_pin_no_fault_after_flush)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 64 * PS,
		 .handler_threads = 2, .flags = UPG_RT_USER_MODE_ONLY);
	struct upg_runtime *rt = pu_runtime(&o);
	struct pu_store *s = pu_store_create(16 * PS, 628);
	struct upg_region *r = pu_map_store(rt, s, 0, 16 * PS);
	char *a = upg_region_addr(r);
	char msg[64], *dst = a + PS - 32;
	struct upg_stats st0, st1;
	struct upg_pin *pin;
	ssize_t got;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(upg_pin(rt, a, 2 * PS, &pin), 0);
	memset(msg, 0x3c, sizeof(msg));
	ck_assert_int_eq(write(p[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	ck_assert_int_eq(read(p[0], dst, sizeof(msg)), (ssize_t)sizeof(msg));
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(memcmp(s->data + PS - 32, msg, sizeof(msg)), 0);

	st0 = tu_stats(rt);
	pu_touch_write(a, 2 * PS);
	st1 = tu_stats(rt);
	ck_assert_msg(st1.faults_wp == st0.faults_wp &&
			      st1.faults_minor == st0.faults_minor &&
			      st1.faults_missing == st0.faults_missing,
		      "writes to 2 pinned pages after a flush raised %llu WP "
		      "faults",
		      (unsigned long long)(st1.faults_wp - st0.faults_wp));
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	memset(msg, 0x4d, sizeof(msg));
	ck_assert_int_eq(write(p[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	got = read(p[0], dst, sizeof(msg));
	ck_assert_msg(got == (ssize_t)sizeof(msg),
		      "read(2) into a pinned range after a flush: %zd (%s)",
		      got, got < 0 ? strerror(errno) : "short");
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(memcmp(s->data + PS - 32, msg, sizeof(msg)), 0);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* A notifier that records UNMAP events (the cue to drop pins). */
struct unmap_watch {
	struct upg_interval_notifier n;
	_Atomic unsigned unmaps;
};

static bool unmap_watch_cb(struct upg_interval_notifier *n,
			   const struct upg_notifier_range *range,
			   uint64_t cur_seq)
{
	struct unmap_watch *w = (struct unmap_watch *)n;

	upg_interval_set_seq(n, cur_seq);
	if (range->event == UPG_NOTIFY_UNMAP)
		atomic_fetch_add(&w->unmaps, 1);
	return true;
}

static const struct upg_interval_notifier_ops unmap_watch_ops = {
	.invalidate = unmap_watch_cb,
};

START_TEST(test_unmap_with_pins_busy)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = tu_runtime(64 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 613);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct unmap_watch w = { 0 };
	struct upg_pin *p, *e;
	int maps;

	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w.n, (uintptr_t)a,
						      n * PS, &unmap_watch_ops),
			 0);
	ck_assert_int_eq(upg_pin(rt, a + 3 * PS, PS, &p), 0);
	tu_fill(a, 0, 2 * PS, 614);
	maps = tur_region_mappings();

	ck_assert_int_eq(upg_region_unmap(r), -EBUSY);
	ck_assert_uint_eq(atomic_load(&w.unmaps), 1); /* told first */
	ck_assert_int_eq(upg_region_unmap_flags(r, 0), -EBUSY);
	ck_assert_int_eq(upg_region_unmap_flags(r, 0x80), -EINVAL);
	/* The region is intact and usable. */
	ck_assert_ptr_eq(upg_region_addr(r), a);
	ck_assert_int_eq(tur_region_mappings(), maps);
	ck_assert_uint_eq(tu_check(a, 0, 2 * PS, 614), UINT64_MAX);
	pu_check_pages(a, 2, n, 613);
	tu_fill(a + 5 * PS, 5 * PS, PS, 615);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(pu_store_check(s, 5 * PS, PS, 615), UINT64_MAX);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, PS);

	/* An ephemeral pin holds it off as well. */
	ck_assert_int_eq(upg_unpin(p), 0);
	ck_assert_int_eq(upg_pin_ephemeral(rt, a + 7 * PS, PS, &e), 0);
	ck_assert_int_eq(upg_region_unmap(r), -EBUSY);
	ck_assert_uint_eq(tu_check(a + 7 * PS, 7 * PS, PS, 613), UINT64_MAX);
	ck_assert_int_eq(upg_unpin(e), 0);

	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(pu_store_check(s, 0, 2 * PS, 614), UINT64_MAX);
	pu_assert_balanced(rt, 2);
	ck_assert_int_eq(upg_interval_notifier_remove(&w.n), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

struct unmapper {
	struct upg_region *r;
	_Atomic pid_t tid;
	_Atomic int done;
	int ret;
};

static void *unmapper_main(void *arg)
{
	struct unmapper *u = arg;

	atomic_store(&u->tid, pu_gettid());
	u->ret = upg_region_unmap_flags(u->r, UPG_UNMAP_WAIT_PINS);
	atomic_store(&u->done, 1);
	return NULL;
}

START_TEST(test_unmap_wait_pins)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = tu_runtime(64 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 616);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct unmap_watch w = { 0 };
	struct unmapper u = { .r = r };
	struct upg_pin *p;
	pthread_t t;

	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w.n, (uintptr_t)a,
						      n * PS, &unmap_watch_ops),
			 0);
	ck_assert_int_eq(upg_pin(rt, a + 2 * PS, 3 * PS, &p), 0);
	tu_fill(a + 2 * PS, 2 * PS, 3 * PS, 617); /* dirty, pinned */

	ck_assert_int_eq(pthread_create(&t, NULL, unmapper_main, &u), 0);
	/* Unmap tells the notifiers first; then it waits for the pin. */
	TU_WAIT_FOR(atomic_load(&w.unmaps) > 0, 5000);
	TU_WAIT_FOR(atomic_load(&u.done) ||
			    (atomic_load(&u.tid) &&
			     pu_in_futex(atomic_load(&u.tid))),
		    5000);
	ck_assert_msg(!atomic_load(&u.done),
		      "unmap with UPG_UNMAP_WAIT_PINS returned %d while a pin "
		      "was held",
		      u.ret);
	/* While it waits, the pinned pages are still there. */
	ck_assert_uint_eq(tu_check(a + 2 * PS, 2 * PS, 3 * PS, 617),
			  UINT64_MAX);
	ck_assert_int_eq(upg_unpin(p), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(u.ret, 0);
	ck_assert_int_eq(upg_region_unmap(r), -EBADF);
	ck_assert_uint_eq(pu_store_check(s, 2 * PS, 3 * PS, 617), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 0, 2 * PS, 616), UINT64_MAX);
	pu_assert_balanced(rt, 1);
	ck_assert_int_eq(upg_interval_notifier_remove(&w.n), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

/* upg_runtime_destroy() with a pin: -EBUSY, the pinned region intact. */
START_TEST(test_destroy_with_pins_busy)
{
	struct upg_runtime *rt = tu_runtime(64 * PS, 2);
	struct pu_store *s = pu_store_create(16 * PS, 624);
	struct upg_region *r = pu_map_store(rt, s, 0, 16 * PS);
	char *a = upg_region_addr(r);
	struct unmap_watch w = { 0 };
	struct upg_pin *p;

	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w.n, (uintptr_t)a,
						      16 * PS,
						      &unmap_watch_ops),
			 0);
	ck_assert_int_eq(upg_pin(rt, a + PS, PS, &p), 0);
	tu_fill(a + PS, PS, PS, 625);
	ck_assert_int_eq(upg_runtime_destroy(rt), -EBUSY);
	ck_assert_uint_eq(atomic_load(&w.unmaps), 1);
	ck_assert_ptr_eq(upg_region_addr(r), a);
	ck_assert_uint_eq(tu_check(a + PS, PS, PS, 625), UINT64_MAX);
	pu_check_pages(a, 2, 16, 624);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, PS);
	ck_assert_int_eq(upg_unpin(p), 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&w.n), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(pu_store_check(s, PS, PS, 625), UINT64_MAX);
	pu_store_free(s);
}
END_TEST

/*
 * The application munmaps a pinned region itself: the notifiers hear
 * UNMAP, the pin stays valid until dropped, and the pinned page's writes
 * reach the store when the region is unmapped.
 */
START_TEST(test_pin_app_munmap)
{
	const uint64_t n = 16;
	struct upg_runtime *rt = tu_runtime(64 * PS, 2);
	struct pu_store *s = pu_store_create(n * PS, 626);
	struct upg_region *r = pu_map_store(rt, s, 0, n * PS);
	char *a = upg_region_addr(r);
	struct unmap_watch w = { 0 };
	struct upg_pin *p;

	ck_assert_int_eq(upg_interval_notifier_insert(rt, &w.n, (uintptr_t)a,
						      n * PS, &unmap_watch_ops),
			 0);
	ck_assert_int_eq(upg_pin(rt, a + 2 * PS, 2 * PS, &p), 0);
	tu_fill(a + 2 * PS, 2 * PS, 2 * PS, 627);
	ck_assert_int_eq(munmap(a, n * PS), 0);
	TU_WAIT_FOR(atomic_load(&w.unmaps) > 0, 5000);
	ck_assert_uint_eq(tu_stats(rt).pinned_bytes, 2 * PS);
	ck_assert_int_eq(upg_unpin(p), 0);
	ck_assert_int_eq(upg_unpin(p), -EINVAL);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(pu_store_check(s, 2 * PS, 2 * PS, 627), UINT64_MAX);
	ck_assert_uint_eq(pu_store_check(s, 0, 2 * PS, 626), UINT64_MAX);
	pu_assert_balanced(rt, 1);
	ck_assert_int_eq(upg_interval_notifier_remove(&w.n), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pu_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pin_lifecycle");
	TCase *tc = tcase_create("flush");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pins_survive_flush);
	tcase_add_test(tc, test_pin_no_fault_after_flush);
	suite_add_tcase(s, tc);

	tc = tcase_create("unmap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unmap_with_pins_busy);
	tcase_add_test(tc, test_unmap_wait_pins);
	tcase_add_test(tc, test_destroy_with_pins_busy);
	tcase_add_test(tc, test_pin_app_munmap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
