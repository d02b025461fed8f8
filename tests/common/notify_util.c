/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "notify_util.h"
#include "testutil.h"

/* ---- recording notifier -------------------------------------------------- */

#define NU_OF(n) \
	((struct nu_notifier *)((char *)(n) - offsetof(struct nu_notifier, n)))

static void nu_log(struct nu_notifier *nn, const struct upg_notifier_range *r,
		   uint64_t seq, bool accepted)
{
	struct nu_call c = {
		.start = r->start, .end = r->end, .seq = seq,
		.event = r->event, .blockable = r->blockable,
		.accepted = accepted, .tid = nu_gettid(),
	};

	pthread_mutex_lock(&nn->log_lock);
	if (nn->ncalls == nn->cap) {
		size_t cap = nn->cap ? nn->cap * 2 : 64;
		struct nu_call *v = realloc(nn->calls, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&nn->log_lock);
			abort();
		}
		nn->calls = v;
		nn->cap = cap;
	}
	nn->calls[nn->ncalls++] = c;
	pthread_mutex_unlock(&nn->log_lock);
	if ((unsigned)r->event < NU_EVENTS)
		atomic_fetch_add(&nn->events[r->event], 1);
}

static bool nu_invalidate(struct upg_interval_notifier *n,
			  const struct upg_notifier_range *range,
			  uint64_t cur_seq)
{
	struct nu_notifier *nn = NU_OF(n);
	bool ok = true;

	if (!(cur_seq & 1))
		atomic_fetch_add(&nn->bad_seq, 1);
	if (!nu_overlaps(range->start, range->end, n->start, n->end))
		atomic_fetch_add(&nn->bad_range, 1);
	if (!atomic_load(&nn->live))
		atomic_fetch_add(&nn->after_removed, 1);
	atomic_fetch_add(range->blockable ? &nn->blockable_calls :
					    &nn->nonblockable_calls,
			 1);
	if (nn->hook)
		ok = nn->hook(nn, range, cur_seq);
	if (!range->blockable && (!ok || atomic_load(&nn->refuse))) {
		atomic_fetch_add(&nn->refused, 1);
		nu_log(nn, range, cur_seq, false);
		return false;
	}
	if (range->blockable) {
		pthread_mutex_lock(nn->user_lock);
	} else if (pthread_mutex_trylock(nn->user_lock)) {
		atomic_fetch_add(&nn->refused, 1);
		nu_log(nn, range, cur_seq, false);
		return false;
	}
	upg_interval_set_seq(n, cur_seq);
	pthread_mutex_unlock(nn->user_lock);
	nu_log(nn, range, cur_seq, true);
	return true;
}

const struct upg_interval_notifier_ops nu_ops = {
	.invalidate = nu_invalidate,
};

void nu_init(struct nu_notifier *nn, pthread_mutex_t *user_lock)
{
	memset(nn, 0, sizeof(*nn));
	pthread_mutex_init(&nn->own_lock, NULL);
	pthread_mutex_init(&nn->log_lock, NULL);
	nn->user_lock = user_lock ? user_lock : &nn->own_lock;
}

void nu_fini(struct nu_notifier *nn)
{
	free(nn->calls);
	nn->calls = NULL;
	nn->ncalls = nn->cap = 0;
	pthread_mutex_destroy(&nn->log_lock);
	pthread_mutex_destroy(&nn->own_lock);
}

int nu_insert(struct upg_runtime *rt, struct nu_notifier *nn, uintptr_t addr,
	      size_t len)
{
	int err;

	atomic_store(&nn->live, true);
	err = upg_interval_notifier_insert(rt, &nn->n, addr, len, &nu_ops);
	if (err)
		atomic_store(&nn->live, false);
	return err;
}

int nu_remove(struct nu_notifier *nn)
{
	int err = upg_interval_notifier_remove(&nn->n);

	if (!err)
		atomic_store(&nn->live, false);
	return err;
}

unsigned long nu_count(struct nu_notifier *nn, enum upg_notify_event ev)
{
	return (unsigned)ev < NU_EVENTS ? atomic_load(&nn->events[ev]) : 0;
}

unsigned long nu_total(struct nu_notifier *nn)
{
	unsigned long t = 0;
	int i;

	for (i = 0; i < NU_EVENTS; i++)
		t += atomic_load(&nn->events[i]);
	return t;
}

unsigned long nu_violations(struct nu_notifier *nn)
{
	return atomic_load(&nn->bad_seq) + atomic_load(&nn->bad_range) +
	       atomic_load(&nn->after_removed);
}

struct nu_call *nu_calls(struct nu_notifier *nn, size_t *n)
{
	struct nu_call *v;

	pthread_mutex_lock(&nn->log_lock);
	*n = nn->ncalls;
	v = malloc((nn->ncalls ? nn->ncalls : 1) * sizeof(*v));
	if (v && nn->ncalls)
		memcpy(v, nn->calls, nn->ncalls * sizeof(*v));
	pthread_mutex_unlock(&nn->log_lock);
	ck_assert_ptr_nonnull(v);
	return v;
}

/* ---- recording store ----------------------------------------------------- */

static void count_pages(struct nu_store *ns, _Atomic uint64_t *per_page,
			uint64_t off, uint64_t len)
{
	uint64_t pg;

	if (!len)
		return;
	for (pg = off / ns->ps; pg <= (off + len - 1) / ns->ps; pg++)
		if (pg < ns->npages)
			atomic_fetch_add(&per_page[pg], 1);
}

static int nu_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct nu_store *ns = ctx;
	uint64_t off = io->offset, len = io->len;
	struct nu_gate *g = &ns->gate[io->op == UPG_IO_WRITE];

	(void)q;
	if (off >= ns->size)
		len = 0;
	else if (len > ns->size - off)
		len = ns->size - off;
	pthread_mutex_lock(&ns->lock);
	while (g->closed &&
	       nu_overlaps(off, off + io->len, g->off, g->off + g->len)) {
		g->blocked++;
		g->last_blocked_off = off;
		pthread_cond_wait(&ns->cond, &ns->lock);
		g->blocked--;
	}
	pthread_mutex_unlock(&ns->lock);
	if (io->op == UPG_IO_WRITE) {
		if (len < io->len) {
			/* Past the end of the store: no room. */
			upg_io_complete(io, -ENOSPC);
			return 0;
		}
		memcpy(ns->data + off, io->buf, len);
		count_pages(ns, ns->writes, off, len);
		atomic_fetch_add(&ns->total_writes, 1);
	} else {
		if (len)
			memcpy(io->buf, ns->data + off, len);
		count_pages(ns, ns->reads, off, io->len);
		atomic_fetch_add(&ns->total_reads, 1);
	}
	upg_io_complete(io, (ssize_t)len);
	return 0;
}

static void nu_close(void *ctx)
{
	struct nu_store *ns = ctx;

	atomic_store(&ns->closed, true);
}

struct nu_store *nu_store_create(uint64_t size, uint64_t seed)
{
	static const struct upg_store_ops ops = {
		.sz = sizeof(struct upg_store_ops),
		.submit = nu_submit,
		.close = nu_close,
	};
	struct nu_store *ns = calloc(1, sizeof(*ns));

	ck_assert_ptr_nonnull(ns);
	ns->ps = (size_t)sysconf(_SC_PAGESIZE);
	ns->size = size;
	ns->npages = (size + ns->ps - 1) / ns->ps;
	ns->data = malloc(ns->npages * ns->ps);
	ns->reads = calloc(ns->npages, sizeof(*ns->reads));
	ns->writes = calloc(ns->npages, sizeof(*ns->writes));
	ck_assert(ns->data && ns->reads && ns->writes);
	tu_fill(ns->data, 0, ns->npages * ns->ps, seed);
	pthread_mutex_init(&ns->lock, NULL);
	pthread_cond_init(&ns->cond, NULL);
	ck_assert_int_eq(upg_store_create(&ops, ns, &ns->st), 0);
	return ns;
}

void nu_store_put(struct nu_store *ns)
{
	if (ns->st)
		upg_store_put(ns->st);
	ns->st = NULL;
}

void nu_store_free(struct nu_store *ns)
{
	nu_store_put(ns);
	/* Leaked rather than freed under a region that still uses it. */
	if (!atomic_load(&ns->closed))
		return;
	pthread_cond_destroy(&ns->cond);
	pthread_mutex_destroy(&ns->lock);
	free(ns->reads);
	free(ns->writes);
	free(ns->data);
	free(ns);
}

uint64_t nu_store_reads(struct nu_store *ns, uint64_t pg)
{
	return pg < ns->npages ? atomic_load(&ns->reads[pg]) : 0;
}

uint64_t nu_store_writes(struct nu_store *ns, uint64_t pg)
{
	return pg < ns->npages ? atomic_load(&ns->writes[pg]) : 0;
}

void nu_store_close_gate(struct nu_store *ns, enum upg_io_op op, uint64_t off,
			 uint64_t len)
{
	struct nu_gate *g = &ns->gate[op == UPG_IO_WRITE];

	pthread_mutex_lock(&ns->lock);
	g->closed = true;
	g->off = off;
	g->len = len;
	pthread_mutex_unlock(&ns->lock);
}

void nu_store_open_gate(struct nu_store *ns, enum upg_io_op op)
{
	pthread_mutex_lock(&ns->lock);
	ns->gate[op == UPG_IO_WRITE].closed = false;
	pthread_cond_broadcast(&ns->cond);
	pthread_mutex_unlock(&ns->lock);
}

unsigned nu_store_blocked(struct nu_store *ns, enum upg_io_op op,
			  uint64_t *last_off)
{
	struct nu_gate *g = &ns->gate[op == UPG_IO_WRITE];
	unsigned n;

	pthread_mutex_lock(&ns->lock);
	n = g->blocked;
	if (last_off)
		*last_off = g->last_blocked_off;
	pthread_mutex_unlock(&ns->lock);
	return n;
}

/* ---- odds and ends ------------------------------------------------------- */

struct upg_runtime *nu_runtime(const struct upg_runtime_opts *o)
{
	struct upg_runtime *rt = NULL;
	int err = upg_runtime_create(o, &rt);

	if (err == -EPERM || err == -EACCES || err == -EOPNOTSUPP) {
		fprintf(stderr, "no usable userfaultfd here (%s): skipped\n",
			strerror(-err));
		exit(TEST_SKIP);
	}
	ck_assert_msg(!err, "upg_runtime_create: %s", strerror(-err));
	return rt;
}

pid_t nu_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

char nu_thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* "tid (comm) S ...": comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

bool nu_thread_in_fault(pid_t tid)
{
	char path[64], buf[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, "userfault") != NULL;
}

bool nu_resident(const void *addr)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char v = 0;
	void *page = (void *)((uintptr_t)addr & ~(uintptr_t)(ps - 1));

	if (mincore(page, ps, &v))
		return false;
	return v & 1;
}
