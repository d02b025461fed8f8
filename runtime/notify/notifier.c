/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/handles.h"
#include "base/rt.h"
#include "notify/notifier.h"

/* struct upg_interval_notifier.__state */
enum {
	N_IDLE = 0,
	N_INSERTED,
	N_DEFER_INSERT,
	N_DEFER_REMOVE,
};

__thread int notify_callback_depth;

int notify_init(struct notify_state *ns)
{
	pthread_mutex_init(&ns->lock, NULL);
	pthread_cond_init(&ns->ended, NULL);
	ns->seq = 2;
	ns->jobs_tail = &ns->jobs;
	return 0;
}

void notify_fini(struct notify_state *ns)
{
	while (ns->jobs) {
		struct notify_job *j = ns->jobs;

		ns->jobs = j->next;
		free(j);
	}
	ii_free(&ns->idx);
	pthread_cond_destroy(&ns->ended);
	pthread_mutex_destroy(&ns->lock);
}

struct collect {
	struct upg_interval_notifier **v;
	size_t n, cap;
	bool oom;
};

static void collect_one(struct upg_interval_notifier *n, void *arg)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		void *v = realloc(c->v, cap * sizeof(*c->v));

		if (!v) {
			c->oom = true;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = n;
}

static void cb_enter(struct notify_state *ns, pid_t tid, int *slot)
{
	int i;

	if (notify_callback_depth++ == 0)
		upg_role_set(UPG_ROLE_NOTIFIER_CB);
	*slot = -1;
	for (i = 0; i < NOTIFY_MAX_CB_THREADS; i++) {
		pid_t zero = 0;

		if (atomic_compare_exchange_strong(&ns->cb_tids[i], &zero,
						   tid)) {
			*slot = i;
			return;
		}
	}
}

static void cb_exit(struct notify_state *ns, int slot)
{
	if (slot >= 0)
		atomic_store(&ns->cb_tids[slot], 0);
	if (--notify_callback_depth == 0)
		upg_role_clear(UPG_ROLE_NOTIFIER_CB);
}

bool notify_tid_in_callback(struct notify_state *ns, pid_t tid)
{
	int i;

	if (tid <= 0)
		return false;
	for (i = 0; i < NOTIFY_MAX_CB_THREADS; i++)
		if (atomic_load(&ns->cb_tids[i]) == tid)
			return true;
	return false;
}

bool notify_invalidate_start(struct notify_state *ns, uintptr_t start,
			     uintptr_t end, enum upg_notify_event event,
			     bool blockable)
{
	struct upg_notifier_range range = { start, end, event, blockable };
	struct collect c = { 0 };
	uint64_t cur;
	bool ok = true;
	size_t i;
	int slot;

	pthread_mutex_lock(&ns->lock);
	if (ns->active++ == 0)
		ns->seq++; /* odd: an invalidation runs */
	cur = ns->seq;
	ii_query(&ns->idx, start, end, collect_one, &c);
	pthread_mutex_unlock(&ns->lock);
	if (c.oom && !blockable) {
		free(c.v);
		return false;
	}
	/* The notifiers collected cannot go away: remove() defers and waits
	 * while an invalidation is active. */
	cb_enter(ns, (pid_t)syscall(SYS_gettid), &slot);
	for (i = 0; i < c.n; i++) {
		atomic_fetch_add(&ns->callbacks, 1);
		if (!c.v[i]->ops->invalidate(c.v[i], &range, cur) &&
		    !blockable)
			ok = false;
	}
	cb_exit(ns, slot);
	free(c.v);
	return ok;
}

/* Apply the inserts and removes deferred while invalidations ran. */
static void apply_deferred(struct notify_state *ns)
{
	while (ns->deferred) {
		struct upg_interval_notifier *n = ns->deferred;

		ns->deferred = n->__deferred_next;
		n->__deferred_next = NULL;
		if (n->__state == N_DEFER_INSERT) {
			if (ii_insert(&ns->idx, n)) {
				/* No memory to index it: it cannot be told of
				 * invalidations, so every read must retry. */
				__atomic_store_n(&n->invalidate_seq, ns->seq + 1,
						 __ATOMIC_RELEASE);
			}
			n->__state = N_INSERTED;
		} else if (n->__state == N_DEFER_REMOVE) {
			ii_remove(&ns->idx, n);
			n->__state = N_IDLE;
		}
	}
}

void notify_invalidate_end(struct notify_state *ns)
{
	pthread_mutex_lock(&ns->lock);
	if (--ns->active == 0) {
		ns->seq++; /* even: quiet */
		apply_deferred(ns);
		pthread_cond_broadcast(&ns->ended);
	}
	pthread_mutex_unlock(&ns->lock);
}

bool notify_queue(struct notify_state *ns, uintptr_t start, uintptr_t end,
		  enum upg_notify_event event)
{
	struct notify_job *j;

	if (!notify_any(ns))
		return false;
	j = malloc(sizeof(*j));
	if (!j)
		return false;
	*j = (struct notify_job){ start, end, event, NULL };
	pthread_mutex_lock(&ns->lock);
	*ns->jobs_tail = j;
	ns->jobs_tail = &j->next;
	pthread_mutex_unlock(&ns->lock);
	return true;
}

void notify_run_queued(struct notify_state *ns)
{
	assert_role(UPG_ROLE_EVICTOR);
	for (;;) {
		struct notify_job *j;

		pthread_mutex_lock(&ns->lock);
		j = ns->jobs;
		if (j) {
			ns->jobs = j->next;
			if (!ns->jobs)
				ns->jobs_tail = &ns->jobs;
		}
		pthread_mutex_unlock(&ns->lock);
		if (!j)
			return;
		notify_invalidate_start(ns, j->start, j->end, j->event, true);
		notify_invalidate_end(ns);
		free(j);
	}
}

int notify_insert(struct upg_runtime *rt, struct upg_interval_notifier *n,
		  uintptr_t addr, size_t len,
		  const struct upg_interval_notifier_ops *ops)
{
	struct notify_state *ns;
	int err = 0;

	if (n->__state != N_IDLE)
		return -EEXIST;
	ns = rt->notify;
	n->rt = rt;
	n->ops = ops;
	n->start = addr;
	n->end = addr + len;
	n->__deferred_next = NULL;
	pthread_mutex_lock(&ns->lock);
	if (ns->active) {
		/* Equal to the running sequence: read_begin() waits for the
		 * invalidation to end, when the insert takes effect. */
		__atomic_store_n(&n->invalidate_seq, ns->seq,
				 __ATOMIC_RELEASE);
		n->__state = N_DEFER_INSERT;
		n->__deferred_next = ns->deferred;
		ns->deferred = n;
	} else {
		__atomic_store_n(&n->invalidate_seq, ns->seq - 1,
				 __ATOMIC_RELEASE);
		err = ii_insert(&ns->idx, n);
		if (!err)
			n->__state = N_INSERTED;
	}
	if (!err)
		atomic_fetch_add(&ns->nr, 1);
	pthread_mutex_unlock(&ns->lock);
	return err;
}

static void unlink_deferred(struct notify_state *ns,
			    struct upg_interval_notifier *n)
{
	struct upg_interval_notifier **pp = &ns->deferred;

	while (*pp && *pp != n)
		pp = &(*pp)->__deferred_next;
	if (*pp)
		*pp = n->__deferred_next;
	n->__deferred_next = NULL;
}

int notify_remove(struct upg_interval_notifier *n)
{
	struct notify_state *ns;
	uint64_t seq;

	ns = n->rt->notify;
	pthread_mutex_lock(&ns->lock);
	switch (n->__state) {
	case N_DEFER_INSERT:
		unlink_deferred(ns, n);
		n->__state = N_IDLE;
		break;
	case N_INSERTED:
		if (!ns->active) {
			ii_remove(&ns->idx, n);
			n->__state = N_IDLE;
			break;
		}
		/* A running invalidation may be calling n: wait for it to
		 * end, which also applies the removal. */
		n->__state = N_DEFER_REMOVE;
		n->__deferred_next = ns->deferred;
		ns->deferred = n;
		seq = ns->seq;
		while (ns->seq == seq)
			pthread_cond_wait(&ns->ended, &ns->lock);
		break;
	default:
		pthread_mutex_unlock(&ns->lock);
		return -EINVAL;
	}
	atomic_fetch_sub(&ns->nr, 1);
	pthread_mutex_unlock(&ns->lock);
	return 0;
}

UPG_API uint64_t upg_interval_read_begin(struct upg_interval_notifier *n)
{
	struct notify_state *ns = n->rt->notify;
	uint64_t seq;

	pthread_mutex_lock(&ns->lock);
	/* Atomic: upg_interval_set_seq() stores it from a callback without
	 * ns->lock (under the user's lock only). */
	seq = __atomic_load_n(&n->invalidate_seq, __ATOMIC_ACQUIRE);
	/* n was invalidated by the invalidation still running (or inserted
	 * during it): wait for the end.  Not from a callback: it would wait
	 * for itself; the caller's read_retry() then says retry. */
	while (!notify_callback_depth && ns->active && seq == ns->seq)
		pthread_cond_wait(&ns->ended, &ns->lock);
	pthread_mutex_unlock(&ns->lock);
	return seq;
}

UPG_API bool upg_interval_read_retry(struct upg_interval_notifier *n,
				     uint64_t seq)
{
	return __atomic_load_n(&n->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

UPG_API bool upg_interval_check_retry(struct upg_interval_notifier *n,
				      uint64_t seq)
{
	return __atomic_load_n(&n->invalidate_seq, __ATOMIC_RELAXED) != seq;
}

UPG_API void upg_interval_set_seq(struct upg_interval_notifier *n,
				  uint64_t cur_seq)
{
	__atomic_store_n(&n->invalidate_seq, cur_seq, __ATOMIC_RELEASE);
}
