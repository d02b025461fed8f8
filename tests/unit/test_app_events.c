// SPDX-License-Identifier: MIT
/*
 * test_app_events - interval notifiers and what happens to a region's
 * mapping: the application's mremap (REMAP for the old range, delivered
 * asynchronously by the evictor thread), its munmap (UNMAP, no dirty data
 * lost), its madvise (REMOVE), upg_region_unmap() and
 * upg_runtime_destroy() (UNMAP, synchronously, while the pages are still
 * there), and the runtime's own recency zaps (no event at all).
 *
 * Notifiers are zeroed before their first insert (nu_init): the runtime
 * keeps private state in the struct and reads it to refuse a double
 * insert.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "notify_util.h"
#include "regionutil.h"
#include "testutil.h"

static size_t PS;

static struct upg_runtime *runtime(uint64_t budget_pages, unsigned threads,
				   unsigned high, unsigned low)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget_pages * PS,
		 .handler_threads = threads, .high_watermark_pct = high,
		 .low_watermark_pct = low);

	return nu_runtime(&o);
}

/* An address range of @len nobody uses, for mremap to move onto. */
static void *reserve(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

/* Reserve [p, p+len) again once the region left it, so that nothing else
 * is mapped there before the region comes back. */
static void rereserve(void *p, uint64_t len)
{
	void *q = mmap(p, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);

	ck_assert_ptr_eq(q, p);
}

/* The only call of @nn with event @ev; fails unless there is exactly one. */
static struct nu_call one_call(struct nu_notifier *nn,
			       enum upg_notify_event ev)
{
	size_t n, i, found = 0;
	struct nu_call *c = nu_calls(nn, &n), got = { 0 };

	for (i = 0; i < n; i++)
		if (c[i].event == ev) {
			got = c[i];
			found++;
		}
	free(c);
	ck_assert_uint_eq(found, 1);
	return got;
}

/* ---- mremap -------------------------------------------------------------- */

START_TEST(test_remap_notifies_old_range)
{
	/* Evictions only on the fault path (high watermark 100%): once the
	 * test thread stops faulting, nothing is in flight. */
	struct upg_runtime *rt = runtime(8, 2, 100, 99);
	const uint64_t npg = 32, len = npg * PS, seed = 801;
	int fd = tur_data_file(len, seed);
	struct nu_notifier O, P, Q;
	struct upg_region *r;
	struct nu_call c;
	unsigned long o_evict;
	char *a, *b;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	b = reserve(len);
	nu_init(&O, NULL);
	nu_init(&P, NULL);
	nu_init(&Q, NULL);
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a, len), 0);
	ck_assert_int_eq(nu_insert(rt, &P, (uintptr_t)a + 4 * PS, 4 * PS), 0);
	ck_assert_int_eq(nu_insert(rt, &Q, (uintptr_t)b, len), 0);

	tu_fill(a, 0, 16 * PS, seed + 1);   /* dirty, mostly evicted */
	tur_touch_read(a + 16 * PS, 16 * PS); /* the tail resident */
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);
	ck_assert_uint_gt(nu_count(&O, UPG_NOTIFY_EVICT), 0);
	o_evict = nu_count(&O, UPG_NOTIFY_EVICT);
	ck_assert_uint_eq(nu_total(&Q), 0);

	ck_assert_ptr_eq(mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, b),
			 b);
	/* Told on the evictor thread, after the fact. */
	TU_WAIT_FOR(nu_count(&O, UPG_NOTIFY_REMAP) > 0 &&
			    nu_count(&P, UPG_NOTIFY_REMAP) > 0,
		    5000);
	TU_WAIT_FOR(upg_region_addr(r) == b, 5000);
	c = one_call(&O, UPG_NOTIFY_REMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a);
	ck_assert_uint_eq(c.end, (uintptr_t)a + len);
	ck_assert(c.blockable);
	ck_assert(c.accepted);
	ck_assert(c.seq & 1);
	c = one_call(&P, UPG_NOTIFY_REMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a);
	ck_assert_uint_eq(c.end, (uintptr_t)a + len);
	/* The new range was not remapped: it was nothing before. */
	ck_assert_uint_eq(nu_count(&Q, UPG_NOTIFY_REMAP), 0);
	/* The kernel also reports the old range unmapped (after the move):
	 * if so, then after REMAP, in the order the events happened. */
	{
		size_t n, i, remap_at = SIZE_MAX, unmap_at = SIZE_MAX;
		struct nu_call *v = nu_calls(&O, &n);

		for (i = 0; i < n; i++) {
			if (v[i].event == UPG_NOTIFY_REMAP)
				remap_at = i;
			if (v[i].event != UPG_NOTIFY_UNMAP)
				continue;
			unmap_at = i;
			ck_assert_uint_eq(v[i].start, (uintptr_t)a);
			ck_assert_uint_eq(v[i].end, (uintptr_t)a + len);
		}
		free(v);
		ck_assert(unmap_at == SIZE_MAX || unmap_at > remap_at);
	}

	/* Every page at the new address, evicted before the move or not;
	 * the evictions this causes are of the new range. */
	ck_assert_uint_eq(tu_check(b, 0, 16 * PS, seed + 1), UINT64_MAX);
	ck_assert_uint_eq(tu_check(b + 16 * PS, 16 * PS, 16 * PS, seed),
			  UINT64_MAX);
	tu_fill(b + 16 * PS, 16 * PS, 16 * PS, seed + 2);
	ck_assert_uint_eq(tu_check(b, 0, 16 * PS, seed + 1), UINT64_MAX);
	ck_assert_uint_gt(nu_count(&Q, UPG_NOTIFY_EVICT), 0);
	ck_assert_uint_eq(nu_count(&O, UPG_NOTIFY_EVICT), o_evict);

	ck_assert_int_eq(upg_region_unmap(r), 0);
	c = one_call(&Q, UPG_NOTIFY_UNMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)b);
	ck_assert_uint_eq(c.end, (uintptr_t)b + len);
	ck_assert_uint_eq(tur_file_check(fd, 0, 16 * PS, seed + 1), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd, 16 * PS, 16 * PS, seed + 2),
			  UINT64_MAX);
	ck_assert_uint_eq(nu_violations(&O) + nu_violations(&P) +
				  nu_violations(&Q),
			  0);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_int_eq(nu_remove(&P), 0);
	ck_assert_int_eq(nu_remove(&Q), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&O);
	nu_fini(&P);
	nu_fini(&Q);
	close(fd);
}
END_TEST

/*
 * The region moves back and forth while threads fault on it.  They touch
 * it only through a base pointer they read under a rwlock that the mover
 * holds for writing while it moves, each its own pages, and check every
 * read against what they wrote.
 */
#define RM_THREADS 3
#define RM_MOVES 40

struct rm {
	struct upg_runtime *rt;
	uint64_t npg, seed;
	pthread_rwlock_t rw;
	char *base; /* under rw */
	uint64_t *ver; /* per page; each thread its pages */
	_Atomic bool stop;
	_Atomic unsigned long ops, bad;
};

struct rm_worker {
	struct rm *x;
	unsigned id;
	pthread_t th;
};

static void *rm_main(void *arg)
{
	struct rm_worker *w = arg;
	struct rm *x = w->x;
	uint64_t rng = 0x1000 + w->id;

	while (!atomic_load(&x->stop)) {
		uint64_t rv = nu_rand(&rng);
		uint64_t p = (rv % (x->npg / RM_THREADS)) * RM_THREADS + w->id;
		volatile uint64_t *q;

		pthread_rwlock_rdlock(&x->rw);
		q = (volatile uint64_t *)(x->base + p * PS);
		if (rv & 0x10000) {
			q[0] = ++x->ver[p];
		} else if (q[0] != x->ver[p] ||
			   q[1] != tu_word(x->seed, p * PS + 8)) {
			atomic_fetch_add(&x->bad, 1);
		}
		pthread_rwlock_unlock(&x->rw);
		atomic_fetch_add(&x->ops, 1);
	}
	return NULL;
}

START_TEST(test_remap_while_faulting)
{
	struct upg_runtime *rt = runtime(16, 2, 0, 0);
	const uint64_t npg = 96, len = npg * PS, seed = 802;
	int fd = tur_data_file(len, seed);
	struct rm *x = calloc(1, sizeof(*x));
	struct rm_worker w[RM_THREADS];
	struct nu_notifier N[3]; /* over the original place, s1, s2 */
	unsigned long from[3] = { 0 };
	pthread_rwlockattr_t attr;
	struct upg_region *r;
	char *at[3], *cur;
	unsigned i, m, where = 0;
	uint64_t p;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	x->rt = rt;
	x->npg = npg;
	x->seed = seed;
	x->ver = calloc(npg, sizeof(*x->ver));
	ck_assert_ptr_nonnull(x->ver);
	for (p = 0; p < npg; p++)
		x->ver[p] = tu_word(seed, p * PS);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&x->rw, &attr);
	at[0] = cur = x->base = upg_region_addr(r);
	at[1] = reserve(len);
	at[2] = reserve(len);
	for (i = 0; i < 3; i++) {
		nu_init(&N[i], NULL);
		ck_assert_int_eq(nu_insert(rt, &N[i], (uintptr_t)at[i], len),
				 0);
	}
	for (i = 0; i < RM_THREADS; i++) {
		w[i] = (struct rm_worker){ x, i, 0 };
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, rm_main, &w[i]),
				 0);
	}
	for (m = 0; m < RM_MOVES; m++) {
		unsigned long ops = atomic_load(&x->ops);
		unsigned to = where == 1 ? 2 : 1;

		/* Let the threads fault on it where it is. */
		TU_WAIT_FOR(atomic_load(&x->ops) >= ops + 64, 10000);
		pthread_rwlock_wrlock(&x->rw);
		ck_assert_ptr_eq(mremap(cur, len, len,
					MREMAP_MAYMOVE | MREMAP_FIXED, at[to]),
				 at[to]);
		if (where)
			rereserve(cur, len);
		from[where]++;
		where = to;
		cur = x->base = at[to];
		pthread_rwlock_unlock(&x->rw);
	}
	TU_WAIT_FOR(atomic_load(&x->ops) >= 2000, 10000);
	atomic_store(&x->stop, true);
	for (i = 0; i < RM_THREADS; i++)
		pthread_join(w[i].th, NULL);
	ck_assert_msg(!x->bad, "%lu reads did not see the thread's own data",
		      (unsigned long)x->bad);
	TU_WAIT_FOR(upg_region_addr(r) == cur, 5000);
	/* One REMAP for each move, to the notifier of the place it left. */
	TU_WAIT_FOR(nu_count(&N[0], UPG_NOTIFY_REMAP) +
				    nu_count(&N[1], UPG_NOTIFY_REMAP) +
				    nu_count(&N[2], UPG_NOTIFY_REMAP) >=
			    RM_MOVES,
		    5000);
	for (i = 0; i < 3; i++) {
		size_t n, k;
		struct nu_call *c = nu_calls(&N[i], &n);

		ck_assert_uint_eq(nu_count(&N[i], UPG_NOTIFY_REMAP), from[i]);
		for (k = 0; k < n; k++) {
			if (c[k].event != UPG_NOTIFY_REMAP)
				continue;
			ck_assert_uint_eq(c[k].start, (uintptr_t)at[i]);
			ck_assert_uint_eq(c[k].end, (uintptr_t)at[i] + len);
		}
		free(c);
		ck_assert_uint_eq(nu_violations(&N[i]), 0);
	}
	ck_assert_uint_gt(nu_count(&N[1], UPG_NOTIFY_EVICT) +
				  nu_count(&N[2], UPG_NOTIFY_EVICT),
			  0);
	for (p = 0; p < npg; p++) {
		ck_assert_uint_eq(*(uint64_t *)(cur + p * PS), x->ver[p]);
		ck_assert_uint_eq(tu_check(cur + p * PS + 8, p * PS + 8, PS - 8,
					   seed),
				  UINT64_MAX);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	for (p = 0; p < npg; p++) {
		uint64_t v;

		tur_pread(fd, &v, sizeof(v), p * PS);
		ck_assert_uint_eq(v, x->ver[p]);
	}
	ck_assert_uint_eq(tur_file_check(fd, 8, PS - 8, seed), UINT64_MAX);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(nu_remove(&N[i]), 0);
		nu_fini(&N[i]);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	pthread_rwlock_destroy(&x->rw);
	pthread_rwlockattr_destroy(&attr);
	free(x->ver);
	free(x);
	close(fd);
}
END_TEST

/* ---- munmap -------------------------------------------------------------- */

START_TEST(test_app_munmap_notifies_unmap)
{
	struct upg_runtime *rt = runtime(16, 2, 0, 0);
	const uint64_t npg = 64, len = npg * PS, seed = 803;
	int fd = tur_data_file(len, seed);
	struct nu_notifier O, P;
	struct upg_region *r;
	struct nu_call c;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&O, NULL);
	nu_init(&P, NULL);
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a, len), 0);
	ck_assert_int_eq(nu_insert(rt, &P, (uintptr_t)a + 8 * PS, 1), 0);
	tu_fill(a, 0, len, seed + 1); /* some evicted (written), some dirty */
	ck_assert_uint_gt(tu_stats(rt).pages_evicted, 0);

	ck_assert_int_eq(munmap(a, len), 0);
	TU_WAIT_FOR(nu_count(&O, UPG_NOTIFY_UNMAP) > 0 &&
			    nu_count(&P, UPG_NOTIFY_UNMAP) > 0,
		    5000);
	c = one_call(&O, UPG_NOTIFY_UNMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a);
	ck_assert_uint_eq(c.end, (uintptr_t)a + len);
	ck_assert(c.blockable);
	ck_assert(c.seq & 1);
	c = one_call(&P, UPG_NOTIFY_UNMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a);

	/* The dirty pages still reach the file. */
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, seed + 1), UINT64_MAX);
	/* Told once: the region was already gone from its range. */
	ck_assert_uint_eq(nu_count(&O, UPG_NOTIFY_UNMAP), 1);
	ck_assert_uint_eq(nu_violations(&O) + nu_violations(&P), 0);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_int_eq(nu_remove(&P), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&O);
	nu_fini(&P);
	close(fd);
}
END_TEST

/* ---- upg_region_unmap() and upg_runtime_destroy() ------------------------ */

struct um {
	struct upg_region *r;
	char *a;
	uint64_t len, seed;
	struct upg_pin *pin; /* dropped by the callback */
	pid_t tid;
	int nested_unmap, self_remove, unpin;
	uint64_t bad_data;
	bool ran;
};

/* Pin holders drop their pins when told the region goes; the pages are
 * still there to look at. */
static bool um_hook(struct nu_notifier *nn,
		    const struct upg_notifier_range *rg, uint64_t seq)
{
	struct um *u = nn->priv;

	(void)seq;
	if (rg->event != UPG_NOTIFY_UNMAP)
		return true;
	u->ran = true;
	u->tid = nu_gettid();
	u->bad_data = tu_check(u->a, 0, u->len, u->seed);
	if (u->r)
		u->nested_unmap = upg_region_unmap(u->r);
	u->self_remove = upg_interval_notifier_remove(&nn->n);
	if (u->pin) {
		u->unpin = upg_unpin(u->pin);
		u->pin = NULL;
	}
	return true;
}

START_TEST(test_region_unmap_notifies_first)
{
	struct upg_runtime *rt = runtime(64, 2, 0, 0);
	const uint64_t npg = 32, len = npg * PS, seed = 804;
	int fd = tur_data_file(len, seed);
	struct nu_notifier O, P, Q;
	struct um u = { .len = len, .seed = seed + 1 };
	static char unmanaged[64];
	struct upg_region *r;
	struct upg_stats st;
	struct nu_call c;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = u.a = upg_region_addr(r);
	u.r = r;
	nu_init(&O, NULL);
	nu_init(&P, NULL);
	nu_init(&Q, NULL);
	O.hook = um_hook;
	O.priv = &u;
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a, len), 0);
	ck_assert_int_eq(nu_insert(rt, &P, (uintptr_t)a + len - 1, 100), 0);
	ck_assert_int_eq(nu_insert(rt, &Q, (uintptr_t)unmanaged,
				   sizeof(unmanaged)),
			 0);
	tu_fill(a, 0, len, seed + 1);
	ck_assert_int_eq(upg_pin(rt, a + 3 * PS, PS, &u.pin), 0);

	/* Not -EBUSY: the callback dropped the pin before the check. */
	ck_assert_int_eq(upg_region_unmap(r), 0);
	/* Told before the call returned, on this thread, the pages still
	 * mapped and intact. */
	ck_assert(u.ran);
	ck_assert_int_eq(u.tid, nu_gettid());
	ck_assert_uint_eq(u.bad_data, UINT64_MAX);
	ck_assert_int_eq(u.nested_unmap, -EDEADLK);
	ck_assert_int_eq(u.self_remove, -EDEADLK);
	ck_assert_int_eq(u.unpin, 0);
	c = one_call(&O, UPG_NOTIFY_UNMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a);
	ck_assert_uint_eq(c.end, (uintptr_t)a + len);
	ck_assert(c.blockable);
	ck_assert(c.seq & 1);
	ck_assert_uint_eq(nu_count(&P, UPG_NOTIFY_UNMAP), 1);
	ck_assert_uint_eq(nu_total(&Q), 0);
	st = tu_stats(rt);
	ck_assert_uint_eq(st.pins_acquired, st.pins_released);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, seed + 1), UINT64_MAX);
	ck_assert_uint_eq(nu_violations(&O) + nu_violations(&P) +
				  nu_violations(&Q),
			  0);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_int_eq(nu_remove(&P), 0);
	ck_assert_int_eq(nu_remove(&Q), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&O);
	nu_fini(&P);
	nu_fini(&Q);
	close(fd);
}
END_TEST

/* A pin nobody drops: -EBUSY, the region intact, the notifiers told
 * anyway (and again on the retry). */
START_TEST(test_region_unmap_busy_pin)
{
	struct upg_runtime *rt = runtime(64, 2, 0, 0);
	const uint64_t npg = 16, len = npg * PS, seed = 805;
	int fd = tur_data_file(len, seed);
	struct nu_notifier O;
	struct upg_region *r;
	struct upg_pin *pin;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&O, NULL);
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a, len), 0);
	ck_assert_int_eq(upg_pin(rt, a, PS, &pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), -EBUSY);
	ck_assert_uint_eq(nu_count(&O, UPG_NOTIFY_UNMAP), 1);
	ck_assert_uint_eq(tu_check(a, 0, len, seed), UINT64_MAX);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_uint_eq(nu_count(&O, UPG_NOTIFY_UNMAP), 2);
	ck_assert_uint_eq(nu_violations(&O), 0);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&O);
	close(fd);
}
END_TEST

START_TEST(test_destroy_notifies_unmap)
{
	struct upg_runtime *rt = runtime(64, 2, 0, 0);
	const uint64_t npg = 16, len = npg * PS, seed = 806;
	int fd1 = tur_data_file(len, seed), fd2 = tur_data_file(len, seed + 1);
	struct nu_notifier O1, O2, B;
	struct um u1 = { .len = len, .seed = seed + 2 };
	struct um u2 = { .len = len, .seed = seed + 3 };
	struct upg_region *r1, *r2;
	struct nu_call c;
	char *a1, *a2;

	ck_assert_int_eq(upg_region_map_file(rt, fd1, len, NULL, &r1), 0);
	ck_assert_int_eq(upg_region_map_file(rt, fd2, len, NULL, &r2), 0);
	a1 = u1.a = upg_region_addr(r1);
	a2 = u2.a = upg_region_addr(r2);
	nu_init(&O1, NULL);
	nu_init(&O2, NULL);
	nu_init(&B, NULL);
	O1.hook = um_hook;
	O1.priv = &u1;
	O2.hook = um_hook;
	O2.priv = &u2;
	ck_assert_int_eq(nu_insert(rt, &O1, (uintptr_t)a1, len), 0);
	ck_assert_int_eq(nu_insert(rt, &O2, (uintptr_t)a2 + PS, 1), 0);
	/* Over both (and whatever lies between). */
	ck_assert_int_eq(nu_insert(rt, &B,
				   a1 < a2 ? (uintptr_t)a1 : (uintptr_t)a2,
				   (size_t)(a1 < a2 ? a2 - a1 : a1 - a2) + len),
			 0);
	tu_fill(a1, 0, len, seed + 2);
	tu_fill(a2, 0, len, seed + 3);

	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert(u1.ran && u2.ran);
	ck_assert_uint_eq(u1.bad_data, UINT64_MAX);
	ck_assert_uint_eq(u2.bad_data, UINT64_MAX);
	ck_assert_int_eq(u1.self_remove, -EDEADLK);
	c = one_call(&O1, UPG_NOTIFY_UNMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a1);
	ck_assert_uint_eq(c.end, (uintptr_t)a1 + len);
	c = one_call(&O2, UPG_NOTIFY_UNMAP);
	ck_assert_uint_eq(c.start, (uintptr_t)a2);
	ck_assert_uint_eq(nu_count(&B, UPG_NOTIFY_UNMAP), 2);
	ck_assert_uint_eq(nu_violations(&O1) + nu_violations(&O2) +
				  nu_violations(&B),
			  0);
	ck_assert_uint_eq(tur_file_check(fd1, 0, len, seed + 2), UINT64_MAX);
	ck_assert_uint_eq(tur_file_check(fd2, 0, len, seed + 3), UINT64_MAX);
	nu_fini(&O1);
	nu_fini(&O2);
	nu_fini(&B);
	close(fd1);
	close(fd2);
}
END_TEST

/* ---- madvise and the runtime's own zaps ---------------------------------- */

START_TEST(test_app_madvise_notifies_remove)
{
	struct upg_runtime *rt = runtime(64, 2, 0, 0);
	const uint64_t npg = 16, len = npg * PS, seed = 807;
	int fd = tur_data_file(len, seed);
	struct nu_notifier O, F;
	struct upg_region *r;
	size_t n, i;
	struct nu_call *c;
	bool dontneed = false, remove = false;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&O, NULL);
	nu_init(&F, NULL);
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a, len), 0);
	ck_assert_int_eq(nu_insert(rt, &F, (uintptr_t)a + 12 * PS, PS), 0);
	tur_touch_read(a, len);

	ck_assert_int_eq(madvise(a + 2 * PS, 2 * PS, MADV_DONTNEED), 0);
	ck_assert_int_eq(madvise(a + 6 * PS, 2 * PS, MADV_REMOVE), 0);
	TU_WAIT_FOR(nu_count(&O, UPG_NOTIFY_REMOVE) >= 2, 5000);
	c = nu_calls(&O, &n);
	for (i = 0; i < n; i++) {
		if (c[i].event != UPG_NOTIFY_REMOVE)
			continue;
		if (c[i].start == (uintptr_t)a + 2 * PS &&
		    c[i].end == (uintptr_t)a + 4 * PS)
			dontneed = true;
		else if (c[i].start == (uintptr_t)a + 6 * PS &&
			 c[i].end == (uintptr_t)a + 8 * PS)
			remove = true;
	}
	free(c);
	ck_assert_msg(dontneed, "no REMOVE for the application's DONTNEED");
	ck_assert_msg(remove, "no REMOVE for the application's MADV_REMOVE");
	/* Not for a notifier elsewhere. */
	ck_assert_uint_eq(nu_count(&F, UPG_NOTIFY_REMOVE), 0);
	/* DONTNEED keeps the data of a shared mapping. */
	ck_assert_uint_eq(tu_check(a + 2 * PS, 2 * PS, 2 * PS, seed),
			  UINT64_MAX);
	ck_assert_uint_eq(nu_violations(&O) + nu_violations(&F), 0);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_int_eq(nu_remove(&F), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&O);
	nu_fini(&F);
	close(fd);
}
END_TEST

/*
 * The background evictor samples recency by zapping the application's
 * mappings (MADV_DONTNEED), which raises the same uffd REMOVE event as an
 * application's madvise.  Those are the runtime's own: notifiers must not
 * be told the application discarded anything.
 */
START_TEST(test_own_zaps_are_not_remove)
{
	/* The evictor runs above 8 pages, down to 4. */
	struct upg_runtime *rt = runtime(16, 2, 50, 25);
	const uint64_t npg = 64, len = npg * PS, seed = 808;
	int fd = tur_data_file(len, seed);
	struct nu_notifier O;
	struct upg_region *r;
	int round;
	char *a;

	ck_assert_int_eq(upg_region_map_file(rt, fd, len, NULL, &r), 0);
	a = upg_region_addr(r);
	nu_init(&O, NULL);
	ck_assert_int_eq(nu_insert(rt, &O, (uintptr_t)a, len), 0);
	for (round = 0; round < 30; round++) {
		tur_touch_read(a, len);
		/* Let the evictor work through a batch or two. */
		TU_WAIT_FOR(tu_stats(rt).resident_bytes <= 8 * PS, 5000);
	}
	ck_assert_uint_gt(tu_stats(rt).pages_sampled, 0);
	ck_assert_uint_gt(tu_stats(rt).evict_batches_background, 0);
	ck_assert_uint_eq(tu_check(a, 0, len, seed), UINT64_MAX);
	ck_assert_int_eq(nu_remove(&O), 0);
	ck_assert_msg(nu_count(&O, UPG_NOTIFY_REMOVE) == 0,
		      "%lu REMOVE calls although the application discarded "
		      "nothing (%llu pages sampled by the clock's zaps)",
		      nu_count(&O, UPG_NOTIFY_REMOVE),
		      (unsigned long long)tu_stats(rt).pages_sampled);
	ck_assert_uint_eq(nu_violations(&O), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	nu_fini(&O);
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("app_events");
	TCase *tc = tcase_create("mremap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_remap_notifies_old_range);
	tcase_add_test(tc, test_remap_while_faulting);
	suite_add_tcase(s, tc);

	tc = tcase_create("unmap");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_app_munmap_notifies_unmap);
	tcase_add_test(tc, test_region_unmap_notifies_first);
	tcase_add_test(tc, test_region_unmap_busy_pin);
	tcase_add_test(tc, test_destroy_notifies_unmap);
	suite_add_tcase(s, tc);

	tc = tcase_create("madvise");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_app_madvise_notifies_remove);
	tcase_add_test(tc, test_own_zaps_are_not_remove);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return tu_run(suite());
}
