// SPDX-License-Identifier: MIT
/*
 * test_fill_races - faults that meet a page in the middle of its fill,
 * made deterministic by holding the fill at the moment that matters.
 *
 * A fill maps its pages (UFFDIO_CONTINUE, which wakes the faults waiting
 * on them) and only then publishes them RESIDENT.  In between, the PTE it
 * just installed can be zapped (the application's MADV_DONTNEED, or the
 * clock's sample zap of a page it chose before the page was evicted and
 * filled again), and the next touch is a minor fault on a page that is
 * still FILLING.  That fault must be parked, so that the publish wakes it:
 * the CONTINUE that would have woken it is over.  Before the fix it was
 * dropped and its thread slept in handle_userfault for ever (the rare
 * hangs of test_madvise's test_dontneed_keeps_data and, with read-ahead,
 * of test_roundtrip's plugin-store cases).
 *
 * The hold: this program's ioctl() takes the place of libc's for the
 * statically linked library, and stops the store's completion thread just
 * after its UFFDIO_CONTINUE returns, before the fill publishes the page.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "region/region.h"
#include "testutil.h"

#define NPAGES 16ull
#define SEED 0x66696c6cull
#define WAIT_MS 10000

static size_t PS;

/* ---- the hold ----------------------------------------------------------- */

static _Atomic pid_t hold_tid;     /* thread whose next CONTINUE is held */
static atomic_bool held, released; /* it is held; let it go */

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	long ret;
	int saved;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	ret = syscall(SYS_ioctl, fd, req, arg);
	saved = errno;
	if (req == UFFDIO_CONTINUE && !ret &&
	    atomic_load(&hold_tid) == (pid_t)syscall(SYS_gettid)) {
		uint64_t deadline = tu_now_ns() + 2ull * WAIT_MS * 1000000ull;

		atomic_store(&hold_tid, 0);
		atomic_store(&held, true);
		/* Bounded: a failed test must not leave this thread here. */
		while (!atomic_load(&released) && tu_now_ns() < deadline)
			sched_yield();
	}
	errno = saved;
	return (int)ret;
}

/* ---- a store whose reads complete when the test says so ----------------- */

struct hstore {
	pthread_mutex_t lock;
	struct upg_io *pending;
	char *data;
};

static int hstore_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct hstore *s = ctx;

	(void)q;
	if (io->op != UPG_IO_READ)
		return -EIO; /* nothing is written back here */
	pthread_mutex_lock(&s->lock);
	if (s->pending) { /* one fill at a time in this test */
		pthread_mutex_unlock(&s->lock);
		return -EBUSY;
	}
	s->pending = io;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static bool hstore_has_pending(struct hstore *s)
{
	bool has;

	pthread_mutex_lock(&s->lock);
	has = s->pending != NULL;
	pthread_mutex_unlock(&s->lock);
	return has;
}

/* Completes the pending read on its own thread, with its CONTINUE held. */
static void *complete_held(void *arg)
{
	struct hstore *s = arg;
	struct upg_io *io;

	pthread_mutex_lock(&s->lock);
	io = s->pending;
	s->pending = NULL;
	pthread_mutex_unlock(&s->lock);
	memcpy(io->buf, s->data + io->offset, io->len);
	atomic_store(&hold_tid, (pid_t)syscall(SYS_gettid));
	upg_io_complete(io, (ssize_t)io->len);
	return NULL;
}

/* ---- the application's threads ------------------------------------------ */

struct reader {
	const char *page;
	uint64_t off;
	atomic_bool done;
	bool ok;
};

static void *read_page(void *arg)
{
	struct reader *rd = arg;

	rd->ok = tu_check(rd->page, rd->off, PS, SEED) == UINT64_MAX;
	atomic_store(&rd->done, true);
	return NULL;
}

START_TEST(test_minor_fault_between_continue_and_publish)
{
	static const struct upg_store_ops ops = {
		.sz = sizeof(struct upg_store_ops),
		.submit = hstore_submit,
	};
	struct hstore hs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct reader first = { 0 }, again = { 0 };
	pthread_t ta, tb, tc;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct upg_store *st;
	_Atomic uint32_t *word;
	uint64_t deadline;
	char *p;

	PS = (size_t)sysconf(_SC_PAGESIZE);
	hs.data = malloc(NPAGES * PS);
	ck_assert_ptr_nonnull(hs.data);
	tu_fill(hs.data, 0, NPAGES * PS, SEED);
	ck_assert_int_eq(upg_store_create(&ops, &hs, &st), 0);
	rt = tu_runtime(1 << 20, 2);
	ck_assert_int_eq(upg_region_map_store(rt, st, NPAGES * PS, NULL, &r),
			 0);
	p = upg_region_addr(r);
	word = region_page(r, 0);

	/* A first touch: a MISSING fault whose fill waits in the store. */
	first.page = p;
	ck_assert_int_eq(pthread_create(&ta, NULL, read_page, &first), 0);
	TU_WAIT_FOR(hstore_has_pending(&hs), WAIT_MS);

	/* Complete it, held right after its CONTINUE: the first reader is
	 * woken and done, the page is mapped but still FILLING. */
	ck_assert_int_eq(pthread_create(&tc, NULL, complete_held, &hs), 0);
	TU_WAIT_FOR(atomic_load(&held) && atomic_load(&first.done), WAIT_MS);
	pthread_join(ta, NULL);
	ck_assert(first.ok);
	ck_assert_uint_eq(ps_state(atomic_load(word)), PS_FILLING);

	/* Zap the PTE the fill installed, and touch the page again: a minor
	 * fault on a FILLING page whose CONTINUE is over. */
	ck_assert_int_eq(madvise(p, PS, MADV_DONTNEED), 0);
	again.page = p;
	ck_assert_int_eq(pthread_create(&tb, NULL, read_page, &again), 0);

	/* It must wait for the publish (parked), or nothing wakes it. */
	deadline = tu_now_ns() + WAIT_MS * 1000000ull;
	while (!(atomic_load(word) & PS_PARKED)) {
		ck_assert_msg(tu_now_ns() < deadline,
			      "the fault on a page mapped and zapped before "
			      "its fill published it was not parked "
			      "(state %#x): nothing would ever wake it",
			      (unsigned)atomic_load(word));
		sched_yield();
	}
	atomic_store(&released, true);
	pthread_join(tc, NULL);
	TU_WAIT_FOR(atomic_load(&again.done), WAIT_MS);
	pthread_join(tb, NULL);
	ck_assert(again.ok);
	ck_assert_uint_eq(ps_state(atomic_load(word)), PS_RESIDENT);

	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	upg_store_put(st);
	free(hs.data);
}
END_TEST

static Suite *fill_races_suite(void)
{
	Suite *s = suite_create("fill_races");
	TCase *tc = tcase_create("zap_while_filling");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_minor_fault_between_continue_and_publish);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(fill_races_suite());
}
