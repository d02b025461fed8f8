/* SPDX-License-Identifier: MIT */
/*
 * Handler threads.  Each owns an io_uring queue and waits on: the
 * userfaultfd of every address space served (this process's, and in
 * upagerd each client's: struct upg_mm), its queue (completed fills), the
 * stop eventfd and the prefetch eventfd (fault/prefetch.c); by default
 * asleep in epoll_wait(), or as struct upg_runtime_opts.handler_wait says
 * (handler_wait(), docs/handler-modes.md).  All threads read
 * every userfaultfd; a read returns as many messages as are pending (up to
 * a batch), and duplicates within a batch (several threads faulting on one
 * page) are dropped.
 *
 * Events are handled in the order the kernel queued them, before any later
 * message is read: reads take the address space's read_lock and the
 * events a read returns are handled before the lock is dropped.  Otherwise two threads
 * could handle mremap's REMAP and the UNMAP of the old range that follows
 * it in the wrong order, or the mremap caller's next fault (at the new
 * address) before the REMAP that tells us where the region went.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/log.h"
#include "evict/evict.h"
#include "fault/fault.h"
#include "fault/prefetch.h"
#include "fork/fork.h"
#include "notify/notifier.h"
#include "region/region.h"
#include "region/self_zap.h"

/* epoll tags of the fds that are not an address space's uffd. */
#define TAG_STOP 0
#define TAG_RING 1
#define TAG_PREFETCH 2

/* upagerd: a client's notifiers hear of its own mremap, munmap and
 * MADV_REMOVE from the daemon, told and not waited for (a handler must
 * not wait on a client; daemon/invalidate.c).  Before the region table
 * learns of the event, while the addresses still name the region. */
static void notify_remote(struct upg_mm *mm, uintptr_t start, uintptr_t end,
			  int event)
{
	struct upg_region *r;
	uint64_t first, last;
	bool ok = true;

	if (!mm->notify_ops || end <= start)
		return;
	r = region_lookup_get(mm, start);
	if (!r)
		return;
	first = (start - (uintptr_t)r->addr) >> mm->rt->page_shift;
	last = rt_pages(mm->rt, (end < (uintptr_t)r->addr + r->map_len ?
					 end :
					 (uintptr_t)r->addr + r->map_len) -
					(uintptr_t)r->addr);
	mm->notify_ops->start(mm, r, first, last - first, event, false, &ok);
	region_put(r);
}

static void handle_event(struct handler *h, struct upg_mm *mm,
			 const struct uffd_msg *m)
{
	struct upg_runtime *rt = h->rt;
	/* Interval notifiers watch this process's addresses only. */
	bool notify = mm->local;

	/* Read and handled under one lock (region/region.h: the table's
	 * insert relies on it). */
	assert_held(&mm->read_lock);

	/* The kernel reports these after the fact; the notifiers run on the
	 * evictor thread, since a callback may block on a lock held by a
	 * thread whose fault only a handler can resolve. */
	switch (m->event) {
	case UFFD_EVENT_REMAP:
		notify_remote(mm, m->arg.remap.from,
			      m->arg.remap.from + m->arg.remap.len,
			      UPG_NOTIFY_REMAP);
		region_on_remap(mm, m->arg.remap.from, m->arg.remap.to,
				m->arg.remap.len);
		if (notify && notify_queue(rt->notify, m->arg.remap.from,
				 m->arg.remap.from + m->arg.remap.len,
				 UPG_NOTIFY_REMAP))
			evictor_kick(rt);
		break;
	case UFFD_EVENT_UNMAP:
		notify_remote(mm, m->arg.remove.start, m->arg.remove.end,
			      UPG_NOTIFY_UNMAP);
		region_on_unmap(mm, m->arg.remove.start, m->arg.remove.end);
		if (notify && notify_queue(rt->notify, m->arg.remove.start,
				 m->arg.remove.end, UPG_NOTIFY_UNMAP))
			evictor_kick(rt);
		break;
	case UFFD_EVENT_FORK:
		/* Only with UPG_RT_FORK_EVENTS (fork/views.c). */
		if (mm->local)
			fork_on_event(rt, m);
		break;
	case UFFD_EVENT_REMOVE:
		/* The clock's own zap blocks until this read: nothing else to
		 * do for it.  Otherwise see region/discard.c. */
		if (mm->local &&
		    is_self_zap(rt, m->arg.remove.start, m->arg.remove.end))
			break;
		notify_remote(mm, m->arg.remove.start, m->arg.remove.end,
			      UPG_NOTIFY_REMOVE);
		region_note_remove(mm, m->arg.remove.start, m->arg.remove.end);
		if (notify && notify_queue(rt->notify, m->arg.remove.start,
				 m->arg.remove.end, UPG_NOTIFY_REMOVE))
			evictor_kick(rt);
		break;
	default:
		rt_warn(rt, "unexpected userfaultfd event %u", m->event);
		break;
	}
}

/*
 * An ioctl of this thread met -EAGAIN: an event is waiting to be read and
 * the kernel refuses to change the address space until it is.  Read what
 * is pending; handle the events now and keep the page faults for the main
 * loop (we may be deep inside the handling of another fault).
 */
/* Read up to @max messages and handle the events among them, in order.
 * Return: the number of messages read (events included), 0 if none. */
static int read_msgs(struct handler *h, struct upg_mm *mm,
		     struct uffd_msg *msgs, int max)
{
	struct upg_runtime *rt = h->rt;
	ssize_t n = 0;
	int i;

	pthread_mutex_lock(&mm->read_lock);
	if (mm->dead) {
		pthread_mutex_unlock(&mm->read_lock);
		return 0;
	}
	/* A FORK message must be handled before an eviction can write-
	 * protect again (fork/fork.h). */
	if (mm->local)
		fork_read_lock(rt);
	n = read(mm->uffd.fd, msgs, (size_t)max * sizeof(*msgs));
	n = n > 0 ? n / (ssize_t)sizeof(*msgs) : 0;
	for (i = 0; i < n; i++)
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
			handle_event(h, mm, &msgs[i]);
	if (mm->local)
		fork_read_unlock(rt);
	pthread_mutex_unlock(&mm->read_lock);
	return (int)n;
}

/* Keep the page faults of @msgs for the main loop. */
static void keep_faults(struct handler *h, struct upg_mm *mm,
			const struct uffd_msg *msgs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT) {
			continue;
		} else if (h->backlog_len < HANDLER_BACKLOG) {
			unsigned tail = (h->backlog_head + h->backlog_len) %
					HANDLER_BACKLOG;
			h->backlog[tail].mm = mm;
			h->backlog[tail].m = msgs[i];
			h->backlog_len++;
		} else {
			/* More faulting threads than the backlog holds: wake
			 * this one instead of keeping it; it faults again and
			 * is read again once the event is out of the way. */
			rt_dbg(h->rt, "fault backlog full: fault at %#llx "
				      "re-woken",
			       (unsigned long long)msgs[i].arg.pagefault.address);
			uffd_wake(&mm->uffd,
				  msgs[i].arg.pagefault.address &
					  ~(uint64_t)(h->rt->page_size - 1),
				  h->rt->page_size);
		}
	}
}

static void drain_events(void *arg)
{
	struct handler *h = arg;
	struct upg_runtime *rt = h->rt;
	struct uffd_msg msgs[16];
	struct upg_mm *mm;
	int n, total = 0;

	/* The ioctl that met -EAGAIN may be on any address space's uffd. */
	pthread_rwlock_rdlock(&rt->mms_lock);
	for (mm = rt->mms; mm; mm = mm->next) {
		n = read_msgs(h, mm, msgs, 16);
		keep_faults(h, mm, msgs, n);
		total += n;
	}
	pthread_rwlock_unlock(&rt->mms_lock);
	if (!total)
		sched_yield();
}

/* The page faults of a batch whose events were handled by read_msgs().
 * Duplicates only from one thread: a callback thread's fault must be seen
 * as its own (fault/resolve.c, serve_in_callback). */
static void handle_faults(struct handler *h, struct upg_mm *mm,
			  struct uffd_msg *msgs, int n)
{
	uint64_t mask = ~(uint64_t)(h->rt->page_size - 1);
	int i;

	for (i = 0; i < n; i++)
		if (uffd_batch_first(msgs, i, mask, true))
			fault_resolve(h, mm, &msgs[i]);
}

static void run_backlog(struct handler *h)
{
	while (h->backlog_len) {
		struct upg_mm *mm = h->backlog[h->backlog_head].mm;
		struct uffd_msg m = h->backlog[h->backlog_head].m;

		h->backlog_head = (h->backlog_head + 1) % HANDLER_BACKLOG;
		h->backlog_len--;
		fault_resolve(h, mm, &m);
	}
}

/*
 * UPG_WAIT_POLL: poll(2) on what the epoll set holds, rebuilt each time
 * (a client added meanwhile is seen at the next wait: handlers_add_mm()
 * wakes the handlers through the prefetch eventfd).
 */
static int wait_poll(struct handler *h, struct epoll_event *ev, int max)
{
	struct upg_runtime *rt = h->rt;
	struct upg_mm *mm;
	unsigned n = 0, i;
	int ret, k = 0;

	pthread_rwlock_rdlock(&rt->mms_lock);
	for (mm = rt->mms; mm; mm = mm->next)
		n++;
	if (n + 3 > h->poll_cap) {
		void *fds = realloc(h->poll_fds, (n + 3) * sizeof(*h->poll_fds));
		void *tags = fds ? realloc(h->poll_tags,
					   (n + 3) * sizeof(*h->poll_tags)) :
				   NULL;

		if (fds)
			h->poll_fds = fds;
		if (tags)
			h->poll_tags = tags;
		if (!fds || !tags) {
			pthread_rwlock_unlock(&rt->mms_lock);
			/* Without memory, sleep as the default mode does. */
			return epoll_wait(h->epfd, ev, max, -1);
		}
		h->poll_cap = n + 3;
	}
	n = 0;
	h->poll_fds[n] = (struct pollfd){ .fd = rt->stop_efd, .events = POLLIN };
	h->poll_tags[n++] = TAG_STOP;
	h->poll_fds[n] = (struct pollfd){ .fd = io_queue_pollfd(&h->q),
					  .events = POLLIN };
	h->poll_tags[n++] = TAG_RING;
	h->poll_fds[n] = (struct pollfd){ .fd = rt->prefetch->efd,
					  .events = POLLIN };
	h->poll_tags[n++] = TAG_PREFETCH;
	for (mm = rt->mms; mm; mm = mm->next) {
		h->poll_fds[n] = (struct pollfd){ .fd = mm->uffd.fd,
						  .events = POLLIN };
		h->poll_tags[n++] = (uintptr_t)mm;
	}
	pthread_rwlock_unlock(&rt->mms_lock);
	ret = poll(h->poll_fds, n, -1);
	if (ret <= 0)
		return ret;
	for (i = 0; i < n && k < max; i++)
		if (h->poll_fds[i].revents)
			ev[k++].data.u64 = h->poll_tags[i];
	return k;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * UPG_WAIT_SPIN: look for work without sleeping (every uffd is
 * non-blocking; a zero-timeout epoll_wait() tells which fds are ready in
 * one system call, and completions are seen in the ring's memory first)
 * for rt->handler_spin_ns after the last work, then sleep.  A fault or a
 * completion is picked up within one turn of the loop instead of after
 * the scheduler wakes a sleeping thread.
 */
static int wait_spin(struct handler *h, struct epoll_event *ev, int max)
{
	struct upg_runtime *rt = h->rt;
	uint64_t start = mono_ns();
	int n;

	for (;;) {
		if (io_uring_cq_ready(&h->q.ring)) {
			ev[0].data.u64 = TAG_RING;
			return 1;
		}
		n = epoll_wait(h->epfd, ev, max, 0);
		if (n)
			return n;
		if (mono_ns() - start > rt->handler_spin_ns)
			return epoll_wait(h->epfd, ev, max, -1);
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

/* Wait for a fault, a completion, a prefetch request or the stop, as
 * rt->handler_wait says.  Return: as epoll_wait() (ev[].data.u64 = tag). */
static int handler_wait(struct handler *h, struct epoll_event *ev, int max)
{
	switch (h->rt->handler_wait) {
	case UPG_WAIT_POLL:
		return wait_poll(h, ev, max);
	case UPG_WAIT_SPIN:
		return wait_spin(h, ev, max);
	default:
		return epoll_wait(h->epfd, ev, max, -1);
	}
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct upg_runtime *rt = h->rt;
	struct uffd_msg msgs[HANDLER_MSG_BATCH];
	struct epoll_event ev[8];

	/* Named for top, perf and gdb: "which runtime thread is this". */
	pthread_setname_np(pthread_self(), "upg-handler");
	upg_role_set(UPG_ROLE_HANDLER);
	uffd_eagain_hook = drain_events;
	uffd_eagain_arg = h;
	/* Waiting for a store's own threads, keep reading events: one of
	 * those threads may need one read (io/io_queue.h). */
	io_queue_wait_hook = drain_events;
	io_queue_wait_arg = h;
	/* Now, not at its first eviction: see evict_thread_prepare().  It is
	 * also this thread's first allocation, which sets up its malloc
	 * arena under glibc's arena list lock, the lock fork() holds while
	 * it waits for a handler to read the FORK event: it must be over
	 * before the application can fork (handlers_start() waits). */
	if (evict_thread_prepare(rt))
		rt_err(rt, "no memory for a handler's eviction arrays: its "
			   "faults fill beyond the budget");
	atomic_store(&h->ready, 1);
	futex_wake_all(&h->ready);
	for (;;) {
		bool stop = false;
		int n, i;

		run_backlog(h);
		io_queue_reap(&h->q, false);
		/* A completion's ioctl may have met EAGAIN and drained faults
		 * into the backlog: their threads sleep until we handle them,
		 * and no new message will wake our poll. */
		if (h->backlog_len)
			continue;
		n = handler_wait(h, ev, 8);
		if (n < 0 && errno != EINTR)
			break;
		if (rt_fill_timing(rt))
			h->t_wake = rt_now_ns();
		/*
		 * Completions before new faults: a finished read's thread has
		 * waited longest, and mapping its page costs one ioctl, while
		 * submitting new reads costs an io_uring_enter() that can take
		 * tens of microseconds on a virtual disk (the notification of
		 * the device).  Measured in BENCHMARKS.md "Handler threads".
		 */
		for (i = 0; i < n; i++)
			if (ev[i].data.u64 == TAG_RING) {
				io_queue_reap(&h->q, false);
				break;
			}
		for (i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64, v;

			if (tag == TAG_STOP) {
				stop = true;
			} else if (tag == TAG_PREFETCH) {
				/* One step per turn: faults come first. */
				if (read(rt->prefetch->efd, &v, sizeof(v)) > 0)
					prefetch_run(h);
			} else if (tag != TAG_RING) {
				struct upg_mm *mm = (struct upg_mm *)tag;
				int got = read_msgs(h, mm, msgs,
						    HANDLER_MSG_BATCH);

				/* UPG_RT_FILL_TIMING: the fills these
				 * faults start carry the times (fill.c). */
				h->t_msg = rt_fill_timing(rt) ? rt_now_ns() : 0;
				handle_faults(h, mm, msgs, got);
				h->t_msg = 0;
			}
		}
		if (stop)
			break;
		if (h->timed_queued) {
			uint64_t t0 = rt_now_ns();

			io_queue_submit(&h->q);
			STAT_ADD(rt, fill_ns_submit, rt_now_ns() - t0);
			STAT_ADD(rt, fill_submits, 1);
			h->timed_queued = 0;
		} else {
			io_queue_submit(&h->q);
		}
	}
	/* Finish what is in flight: the faulting threads wait for it. */
	while (io_queue_pending(&h->q))
		io_queue_reap(&h->q, true);
	return NULL;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The handler's epoll set: its ring, the runtime's eventfds, and every
 * address space served so far. */
static int handler_epoll(struct handler *h)
{
	struct upg_runtime *rt = h->rt;
	struct upg_mm *mm;
	int err;

	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0)
		return -errno;
	err = epoll_add(h->epfd, rt->stop_efd, TAG_STOP);
	err = err ?: epoll_add(h->epfd, io_queue_pollfd(&h->q), TAG_RING);
	err = err ?: epoll_add(h->epfd, rt->prefetch->efd, TAG_PREFETCH);
	pthread_rwlock_rdlock(&rt->mms_lock);
	for (mm = rt->mms; mm && !err; mm = mm->next)
		err = epoll_add(h->epfd, mm->uffd.fd, (uintptr_t)mm);
	pthread_rwlock_unlock(&rt->mms_lock);
	if (err) {
		close(h->epfd);
		h->epfd = -1;
	}
	return err;
}

int handlers_add_mm(struct upg_runtime *rt, struct upg_mm *mm)
{
	unsigned i;
	int err = 0;

	assert_not_role(UPG_ROLE_HANDLER);
	pthread_mutex_init(&mm->read_lock, NULL);
	mm->rt = rt;
	pthread_rwlock_wrlock(&rt->mms_lock);
	for (i = 0; i < rt->nr_handlers && !err; i++)
		if (rt->handlers[i].started)
			err = epoll_add(rt->handlers[i].epfd, mm->uffd.fd,
					(uintptr_t)mm);
	if (!err) {
		mm->next = rt->mms;
		rt->mms = mm;
		/* Pollers sleep on a set built before: wake them to rebuild
		 * it (an empty prefetch queue makes this a no-op). */
		if (rt->handler_wait == UPG_WAIT_POLL) {
			uint64_t one = 1;

			if (write(rt->prefetch->efd, &one, sizeof(one)) < 0)
				(void)0; /* the counter is non-zero already */
		}
	} else {
		while (i--)
			epoll_ctl(rt->handlers[i].epfd, EPOLL_CTL_DEL,
				  mm->uffd.fd, NULL);
	}
	pthread_rwlock_unlock(&rt->mms_lock);
	return err;
}

void handlers_del_mm(struct upg_runtime *rt, struct upg_mm *mm)
{
	struct upg_mm **pp;
	unsigned i;

	pthread_rwlock_wrlock(&rt->mms_lock);
	for (pp = &rt->mms; *pp && *pp != mm; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = mm->next;
	for (i = 0; i < rt->nr_handlers; i++)
		if (rt->handlers[i].started)
			epoll_ctl(rt->handlers[i].epfd, EPOLL_CTL_DEL,
				  mm->uffd.fd, NULL);
	pthread_rwlock_unlock(&rt->mms_lock);
	/* A handler that took an event of @mm before it left the set reads
	 * nothing from now on; @mm itself must outlive the handlers. */
	pthread_mutex_lock(&mm->read_lock);
	mm->dead = true;
	pthread_mutex_unlock(&mm->read_lock);
}

int handlers_start(struct upg_runtime *rt)
{
	unsigned i;
	int err;

	rt->handlers = calloc(rt->nr_handlers, sizeof(*rt->handlers));
	if (!rt->handlers)
		return -ENOMEM;
	for (i = 0; i < rt->nr_handlers; i++) {
		struct handler *h = &rt->handlers[i];
		sigset_t all, old;

		h->rt = rt;
		err = io_queue_init(&h->q, rt->io_depth);
		if (err)
			goto out_stop;
		err = handler_epoll(h);
		if (err) {
			io_queue_fini(&h->q);
			goto out_stop;
		}
		/* Handler threads take no signals: the application's handlers
		 * must not run on them (and SIGBUS there would be ours). */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		err = -pthread_create(&h->thread, NULL, handler_main, h);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err) {
			close(h->epfd);
			io_queue_fini(&h->q);
			goto out_stop;
		}
		h->started = true;
	}
	/* Each handler's first allocation done (handler_main()). */
	for (i = 0; i < rt->nr_handlers; i++)
		while (!atomic_load(&rt->handlers[i].ready))
			futex_wait(&rt->handlers[i].ready, 0, 0);
	return 0;

out_stop:
	handlers_stop(rt);
	return err;
}

void handlers_stop(struct upg_runtime *rt)
{
	uint64_t one = 1;
	unsigned i;

	if (!rt->handlers)
		return;
	if (write(rt->stop_efd, &one, sizeof(one)) != sizeof(one))
		rt_err(rt, "cannot signal handler threads: %s",
		       strerror(errno));
	for (i = 0; i < rt->nr_handlers; i++) {
		struct handler *h = &rt->handlers[i];

		if (!h->started)
			continue;
		pthread_join(h->thread, NULL);
		close(h->epfd);
		io_queue_fini(&h->q);
		free(h->poll_fds);
		free(h->poll_tags);
	}
	free(rt->handlers);
	rt->handlers = NULL;
}
