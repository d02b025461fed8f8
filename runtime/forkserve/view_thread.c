/* SPDX-License-Identifier: MIT */
/*
 * The view thread: reads the userfaultfd of every fork child, applies the
 * child's events and resolves its faults (forkserve/view_fault.c), one at a
 * time.  Children are served by this one thread, synchronously: their
 * faults are the rare path, and a thread that may block on a fill keeps
 * the handler threads free for the parent.  While it waits (for a fill,
 * for a page in transition, on -EAGAIN) it keeps reading the children's
 * events (view_drain()), since an eviction may be waiting for one of them
 * to be read (fork/fork.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "evict/evict.h"
#include "fork/fork.h"
#include "forkserve/forkserve.h"
#include "region/region.h"

#define VIEW_MSG_BATCH 32
/* Poll timeout while children are serviced: how often to look for the
 * ones that exited (their uffd never becomes readable). */
#define VIEW_PROBE_MS 500

/* Read @v's pending messages and apply its events, in order. */
static int read_view(struct upg_runtime *rt, struct fork_view *v,
		     struct uffd_msg *msgs, int max)
{
	ssize_t n;
	int i;

	fork_read_lock(rt);
	n = read(v->u.fd, msgs, (size_t)max * sizeof(*msgs));
	n = n > 0 ? n / (ssize_t)sizeof(*msgs) : 0;
	for (i = 0; i < n; i++)
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
			view_on_event(rt, v, &msgs[i]);
	fork_read_unlock(rt);
	return (int)n;
}

static void keep_fault(struct upg_runtime *rt, struct fork_view *v,
		       const struct uffd_msg *m)
{
	struct fork_state *fs = rt->fork;

	if (fs->backlog_len < VIEW_BACKLOG) {
		fs->backlog[fs->backlog_len].v = v;
		fs->backlog[fs->backlog_len].m = *m;
		fs->backlog_len++;
		return;
	}
	/* Full: the thread faults again and is read again later. */
	uffd_wake(&v->u, m->arg.pagefault.address & ~(uint64_t)(rt->page_size - 1),
		  rt->page_size);
}

void view_drain(void *arg)
{
	struct upg_runtime *rt = arg;
	struct uffd_msg msgs[VIEW_MSG_BATCH];
	struct fork_view *v;
	bool any = false;

	/* Only this thread unlinks views: the list is stable without the
	 * lock, and read_view() takes it for the reading itself. */
	for (v = rt->fork->views; v; v = v->next) {
		int n, i;

		if (atomic_load(&v->dead))
			continue;
		n = read_view(rt, v, msgs, VIEW_MSG_BATCH);
		for (i = 0; i < n; i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				keep_fault(rt, v, &msgs[i]);
		any |= n > 0;
	}
	if (!any)
		sched_yield();
}

static void run_backlog(struct upg_runtime *rt)
{
	struct fork_state *fs = rt->fork;

	while (fs->backlog_len) {
		struct fork_view *v = fs->backlog[0].v;
		struct uffd_msg m = fs->backlog[0].m;

		fs->backlog_len--;
		memmove(&fs->backlog[0], &fs->backlog[1],
			fs->backlog_len * sizeof(fs->backlog[0]));
		if (!atomic_load(&v->dead))
			view_fault(rt, v, &m);
	}
}

/* Unlink and free the views of children that are gone. */
static void reap(struct upg_runtime *rt)
{
	struct fork_state *fs = rt->fork;
	struct fork_view **pp, *dead = NULL, *v;
	size_t i;

	for (i = 0; i < fs->backlog_len; i++)
		if (atomic_load(&fs->backlog[i].v->dead))
			return; /* run_backlog() skips them first */
	pthread_rwlock_wrlock(&fs->lock);
	for (pp = &fs->views; (v = *pp);) {
		if (atomic_load(&v->dead)) {
			*pp = v->next;
			v->next = dead;
			dead = v;
			atomic_fetch_sub(&fs->live, 1);
		} else {
			pp = &v->next;
		}
	}
	pthread_rwlock_unlock(&fs->lock);
	while ((v = dead)) {
		dead = v->next;
		rt_info(rt, "fork: child of uffd %d is gone", v->u.fd);
		view_free(v);
	}
}

/* Faults of one batch, without duplicates (several threads of a child
 * faulting on one page). */
static void handle_faults(struct upg_runtime *rt, struct fork_view *v,
			  struct uffd_msg *msgs, int n)
{
	uint64_t mask = ~(uint64_t)(rt->page_size - 1);
	int i;

	for (i = 0; i < n; i++)
		if (uffd_batch_first(msgs, i, mask, false))
			view_fault(rt, v, &msgs[i]);
}

static void *view_main(void *arg)
{
	struct upg_runtime *rt = arg;
	struct fork_state *fs = rt->fork;
	struct uffd_msg msgs[VIEW_MSG_BATCH];
	struct pollfd *pfd = NULL;
	struct fork_view **pv = NULL;
	size_t cap = 0;

	pthread_setname_np(pthread_self(), "upg-forkview");
	uffd_eagain_hook = view_drain;
	uffd_eagain_arg = rt;
	/* A child's fault may evict: never allocate then (evict.c). */
	if (evict_thread_prepare(rt))
		rt_err(rt, "fork: no memory for the view thread's eviction "
			   "arrays: children's faults fill beyond the budget");
	while (!atomic_load(&fs->stopping)) {
		struct fork_view *v;
		size_t n = 1, i;
		int ret;

		run_backlog(rt);
		reap(rt);
		if (atomic_load(&fs->live) + 1 > cap) {
			size_t c = atomic_load(&fs->live) + 16;
			struct pollfd *np = realloc(pfd, c * sizeof(*np));
			struct fork_view **nv;

			if (np)
				pfd = np;
			nv = np ? realloc(pv, c * sizeof(*nv)) : NULL;
			if (!nv) {
				rt_err(rt, "fork: no memory to poll children");
				usleep(10000);
				continue;
			}
			pv = nv;
			cap = c;
		}
		pfd[0] = (struct pollfd){ .fd = fs->efd, .events = POLLIN };
		/* Handlers link new views under the write side (fork_on_event);
		 * only this thread unlinks them, so the ones taken here stay. */
		pthread_rwlock_rdlock(&fs->lock);
		for (v = fs->views; v && n < cap; v = v->next) {
			if (atomic_load(&v->dead))
				continue;
			pv[n] = v;
			pfd[n++] = (struct pollfd){ .fd = v->u.fd,
						    .events = POLLIN };
		}
		pthread_rwlock_unlock(&fs->lock);
		ret = poll(pfd, n, n > 1 ? VIEW_PROBE_MS : -1);
		if (ret < 0 && errno != EINTR)
			break;
		if (ret == 0) {
			for (i = 1; i < n; i++)
				view_alive(rt, pv[i]);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t x;

			if (read(fs->efd, &x, sizeof(x)) < 0 && errno != EAGAIN)
				rt_err(rt, "fork: eventfd: %s",
				       strerror(errno));
		}
		for (i = 1; i < n; i++) {
			int got;

			if (!(pfd[i].revents & POLLIN))
				continue;
			got = read_view(rt, pv[i], msgs, VIEW_MSG_BATCH);
			handle_faults(rt, pv[i], msgs, got);
		}
	}
	free(pfd);
	free(pv);
	return NULL;
}

int fork_start(struct upg_runtime *rt)
{
	struct fork_state *fs = rt->fork;
	sigset_t all, old;
	int err;

	if (!fs->enabled)
		return 0;
	err = io_queue_init(&fs->q, rt->io_depth);
	if (err)
		return err;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&fs->thread, NULL, view_main, rt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto out_fini;
	fs->started = true;
	return 0;

out_fini:
	io_queue_fini(&fs->q);
	return err;
}

void fork_stop(struct upg_runtime *rt)
{
	struct fork_state *fs = rt->fork;
	struct fork_view *v;
	uint64_t one = 1;

	if (!fs->enabled)
		return;
	if (fs->started) {
		atomic_store(&fs->stopping, true);
		if (write(fs->efd, &one, sizeof(one)) != sizeof(one))
			rt_err(rt, "fork: cannot stop the view thread");
		pthread_join(fs->thread, NULL);
		while (io_queue_pending(&fs->q))
			io_queue_reap(&fs->q, true);
		io_queue_fini(&fs->q);
		fs->started = false;
	}
	while ((v = fs->views)) {
		fs->views = v->next;
		view_free(v);
	}
	if (fs->efd >= 0)
		close(fs->efd);
	fs->efd = -1;
	if (fs->guard)
		munmap(fs->guard, rt->page_size);
	fs->guard = NULL;
	pthread_rwlock_destroy(&fs->lock);
	fs->enabled = false;
}
