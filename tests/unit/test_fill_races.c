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
 *
 * test_store_thread_meets_pending_event: a store that completes on its own
 * thread finishes a fill while an event (a madvise's REMOVE) waits to be
 * read; its CONTINUE fails with -EAGAIN until a handler reads the event,
 * but the only handler waits for that same thread to complete an eviction
 * write.  Before the fix nobody read the event (the rare hang of
 * test_roundtrip's plugin-store cases, far likelier with read-ahead).
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
#include <stdio.h>
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
	/* One read at a time in this store: no read-ahead windows. */
	rt = tu_runtime_flags(1 << 20, 2, UPG_RT_NO_READAHEAD);
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

/* ---- a store thread that meets a pending event ------------------------ */

#define QCAP 16

struct wstore {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct upg_io *q[QCAP];
	unsigned head, n, writes;
	bool hold, stop;
	char *data;
	pthread_t thread;
};

static int wstore_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct wstore *s = ctx;

	(void)q;
	pthread_mutex_lock(&s->lock);
	if (s->n == QCAP) {
		pthread_mutex_unlock(&s->lock);
		return -EBUSY;
	}
	s->q[(s->head + s->n++) % QCAP] = io;
	s->writes += io->op == UPG_IO_WRITE;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Completes requests in order, on its own thread, unless held. */
static void *wstore_main(void *arg)
{
	struct wstore *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct upg_io *io;

		while (!s->stop && (!s->n || s->hold))
			pthread_cond_wait(&s->cv, &s->lock);
		if (!s->n)
			break;
		io = s->q[s->head];
		s->head = (s->head + 1) % QCAP;
		s->n--;
		pthread_mutex_unlock(&s->lock);
		if (io->op == UPG_IO_READ)
			memcpy(io->buf, s->data + io->offset, io->len);
		else
			memcpy(s->data + io->offset, io->buf, io->len);
		upg_io_complete(io, (ssize_t)io->len);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void wstore_set_hold(struct wstore *s, bool hold)
{
	pthread_mutex_lock(&s->lock);
	s->hold = hold;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

/* Requests queued, and writes among all submitted so far. */
static void wstore_count(struct wstore *s, unsigned *queued, unsigned *writes)
{
	pthread_mutex_lock(&s->lock);
	*queued = s->n;
	*writes = s->writes;
	pthread_mutex_unlock(&s->lock);
}

static bool wstore_queued(struct wstore *s, unsigned queued, unsigned writes)
{
	unsigned n, w;

	wstore_count(s, &n, &w);
	return n == queued && w >= writes;
}

struct zapper {
	void *addr;
	_Atomic pid_t tid;
	atomic_bool done;
	int ret;
};

static void *zap(void *arg)
{
	struct zapper *z = arg;

	atomic_store(&z->tid, (pid_t)syscall(SYS_gettid));
	z->ret = madvise(z->addr, PS, MADV_DONTNEED);
	atomic_store(&z->done, true);
	return NULL;
}

/* Is thread @tid of this process asleep in the kernel function @fn? */
static bool sleeps_in(pid_t tid, const char *fn)
{
	char path[64], buf[128];
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = 0;
	return !strcmp(buf, fn);
}

START_TEST(test_store_thread_meets_pending_event)
{
	static const struct upg_store_ops ops = {
		.sz = sizeof(struct upg_store_ops),
		.submit = wstore_submit,
	};
	/* One handler, 5 pages, no background eviction (its sample zaps
	 * would raise events of their own), and no read-ahead (exactly the
	 * requests below reach the store). */
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = 5 * 4096,
		 .handler_threads = 1, .high_watermark_pct = 100,
		 .flags = UPG_RT_NO_READAHEAD);
	struct wstore ws = { .lock = PTHREAD_MUTEX_INITIALIZER,
			     .cv = PTHREAD_COND_INITIALIZER };
	struct reader r8 = { 0 }, r9 = { 0 };
	struct zapper z = { 0 };
	pthread_t t8, t9, tz;
	struct upg_runtime *rt = NULL;
	struct upg_region *r;
	struct upg_store *st;
	uint64_t pg;
	char *p;
	int err;

	PS = (size_t)sysconf(_SC_PAGESIZE);
	ck_assert_uint_eq(PS, 4096);
	ws.data = malloc(NPAGES * PS);
	ck_assert_ptr_nonnull(ws.data);
	tu_fill(ws.data, 0, NPAGES * PS, SEED);
	ck_assert_int_eq(pthread_create(&ws.thread, NULL, wstore_main, &ws), 0);
	ck_assert_int_eq(upg_store_create(&ops, &ws, &st), 0);
	err = upg_runtime_create(&o, &rt);
	if (err == -EPERM || err == -EACCES || err == -EOPNOTSUPP)
		exit(TEST_SKIP);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, NPAGES * PS, NULL, &r),
			 0);
	p = upg_region_addr(r);

	/* Four resident dirty pages: the budget has room for one more. */
	for (pg = 0; pg < 4; pg++)
		tu_fill(p + pg * PS, pg * PS, PS, ~SEED);

	/* A fill whose read the store holds: the budget is full now. */
	wstore_set_hold(&ws, true);
	r8.page = p + 8 * PS;
	r8.off = 8 * PS;
	ck_assert_int_eq(pthread_create(&t8, NULL, read_page, &r8), 0);
	TU_WAIT_FOR(wstore_queued(&ws, 1, 0), WAIT_MS);
	/* A fault that must evict a dirty page: the handler waits for the
	 * write, queued behind that read. */
	r9.page = p + 9 * PS;
	r9.off = 9 * PS;
	ck_assert_int_eq(pthread_create(&t9, NULL, read_page, &r9), 0);
	TU_WAIT_FOR(wstore_queued(&ws, 2, 1), WAIT_MS);

	/* An event for the handler to read, while it waits. */
	z.addr = p + 12 * PS;
	ck_assert_int_eq(pthread_create(&tz, NULL, zap, &z), 0);
	TU_WAIT_FOR(atomic_load(&z.done) ||
			    (atomic_load(&z.tid) &&
			     sleeps_in(atomic_load(&z.tid),
				       "userfaultfd_event_wait_completion")),
		    WAIT_MS);

	/* The store completes the read first: its CONTINUE meets the event
	 * (if still unread), then the write the handler waits for. */
	wstore_set_hold(&ws, false);
	TU_WAIT_FOR(atomic_load(&r8.done) && atomic_load(&r9.done) &&
			    atomic_load(&z.done),
		    WAIT_MS);
	pthread_join(t8, NULL);
	pthread_join(t9, NULL);
	pthread_join(tz, NULL);
	ck_assert_int_eq(z.ret, 0);
	ck_assert(r8.ok && r9.ok);
	for (pg = 0; pg < 4; pg++)
		ck_assert_uint_eq(tu_check(p + pg * PS, pg * PS, PS, ~SEED),
				  UINT64_MAX);

	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	upg_store_put(st);
	pthread_mutex_lock(&ws.lock);
	ws.stop = true;
	pthread_cond_broadcast(&ws.cv);
	pthread_mutex_unlock(&ws.lock);
	pthread_join(ws.thread, NULL);
	free(ws.data);
}
END_TEST

static Suite *fill_races_suite(void)
{
	Suite *s = suite_create("fill_races");
	TCase *tc = tcase_create("zap_while_filling");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_minor_fault_between_continue_and_publish);
	suite_add_tcase(s, tc);

	tc = tcase_create("store_thread_eagain");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_thread_meets_pending_event);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(fill_races_suite());
}
