/* SPDX-License-Identifier: MIT */
/*
 * rawuffd.c - a minimal userfaultfd handler: the floor of a uffd round trip.
 *
 * Anonymous private memory registered for MISSING faults, each resolved
 * with one UFFDIO_COPY of a 4 KiB page: a zero page (the floor measurement)
 * or the data pattern of that page (the raw-uffd backends, whose reads are
 * then verified like any other).  It never evicts: no budget applies.
 *
 * Who waits for the fault, and how (enum raw_mode), the handler-thread
 * wait modes of docs/handler-modes.md without anything else around them:
 *  RAW_READ   one handler thread in a blocking read() (the raw-uffd floor);
 *  RAW_POLL   one handler thread in poll(), then a non-blocking read();
 *  RAW_SPIN   one handler thread busy-polling a non-blocking read();
 *  RAW_SIGBUS no handler thread: UFFD_FEATURE_SIGBUS makes the faulting
 *             thread take SIGBUS, and its signal handler copies the page
 *             in itself (one such region at a time per process).
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "bench.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

struct rawuffd {
	int fd;
	char *base;
	uint64_t len;
	bool pattern;
	uint64_t seed;
	enum raw_mode mode;
	pthread_t tid;
	bool have_thread;
	_Atomic uint64_t faults;
	char *page;
	struct sigaction old_bus;
};

const char *const raw_mode_names[RAW_NMODES] = {
	"read", "poll", "busy-poll", "sigbus",
};

/* RAW_SIGBUS: the region the signal handler serves. */
static struct rawuffd *_Atomic sigbus_u;

static int uffd_open(void)
{
	int fd = -1;

#ifdef USERFAULTFD_IOC_NEW
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
		close(dev);
	}
#endif
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	return fd;
}

/* Copy the page at @addr in from @buf; wake the fault if another copy won. */
static void copy_page(struct rawuffd *u, uint64_t addr, char *buf)
{
	struct uffdio_copy cp;

	if (u->pattern)
		fill_page(buf, u->seed,
			  (addr - (uint64_t)(uintptr_t)u->base) / BENCH_PAGE);
	memset(&cp, 0, sizeof(cp));
	cp.dst = addr;
	cp.src = (uint64_t)(uintptr_t)buf;
	cp.len = BENCH_PAGE;
	if (ioctl(u->fd, UFFDIO_COPY, &cp) && errno == EEXIST &&
	    u->mode != RAW_SIGBUS) {
		struct uffdio_range r = { addr, BENCH_PAGE };

		ioctl(u->fd, UFFDIO_WAKE, &r);
	}
	atomic_fetch_add_explicit(&u->faults, 1, memory_order_relaxed);
}

static void *handler(void *arg)
{
	struct rawuffd *u = arg;
	struct uffd_msg msg[16];

	for (;;) {
		ssize_t n, i;

		if (u->mode == RAW_POLL) {
			struct pollfd pfd = { .fd = u->fd, .events = POLLIN };

			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				break;
		}
		n = read(u->fd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN && u->mode == RAW_SPIN)
				pthread_testcancel();
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		for (i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			copy_page(u, msg[i].arg.pagefault.address &
					     ~(uint64_t)(BENCH_PAGE - 1),
				  u->page);
		}
	}
	return NULL;
}

/* RAW_SIGBUS: the faulting thread fills its own page.  Only ioctl() and
 * the pattern computation run here: async-signal-safe. */
static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	static _Thread_local char buf[BENCH_PAGE] __attribute__((aligned(BENCH_PAGE)));
	struct rawuffd *u = atomic_load(&sigbus_u);
	uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
	int saved = errno;

	(void)uc;
	if (!u || addr < (uint64_t)(uintptr_t)u->base ||
	    addr >= (uint64_t)(uintptr_t)u->base + u->len) {
		/* Not ours: the default action, as if we were not here. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	if (!u->pattern)
		memset(buf, 0, sizeof(buf));
	copy_page(u, addr & ~(uint64_t)(BENCH_PAGE - 1), buf);
	errno = saved;
}

struct rawuffd *rawuffd_start(void *addr, uint64_t len, bool pattern,
			      uint64_t seed, enum raw_mode mode, char *err,
			      size_t errsz)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct rawuffd *none = NULL;
	struct uffdio_register reg;
	struct rawuffd *u = calloc(1, sizeof(*u));
	int e;

	if (!u) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	u->page = aligned_alloc(BENCH_PAGE, BENCH_PAGE);
	if (!u->page) {
		free(u);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	memset(u->page, 0, BENCH_PAGE);
	u->base = addr;
	u->len = len;
	u->pattern = pattern;
	u->seed = seed;
	u->mode = mode;
	if (mode == RAW_SIGBUS)
		api.features = UFFD_FEATURE_SIGBUS;
	u->fd = uffd_open();
	if (u->fd < 0) {
		snprintf(err, errsz, "no userfaultfd (%s): run as root or set "
			 "vm.unprivileged_userfaultfd=1", strerror(errno));
		goto fail;
	}
	if (ioctl(u->fd, UFFDIO_API, &api)) {
		snprintf(err, errsz, "UFFDIO_API: %s", strerror(errno));
		goto fail_fd;
	}
	/* RAW_READ blocks in read(); the others must not. */
	if (mode != RAW_READ)
		fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) | O_NONBLOCK);
	else
		fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) & ~O_NONBLOCK);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uint64_t)(uintptr_t)addr;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg)) {
		snprintf(err, errsz, "UFFDIO_REGISTER: %s", strerror(errno));
		goto fail_fd;
	}
	if (mode == RAW_SIGBUS) {
		struct sigaction sa;

		if (!atomic_compare_exchange_strong(&sigbus_u, &none, u)) {
			snprintf(err, errsz, "one SIGBUS-mode region at a time");
			goto fail_fd;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sigbus_handler;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &u->old_bus);
		return u;
	}
	e = pthread_create(&u->tid, NULL, handler, u);
	if (e) {
		snprintf(err, errsz, "pthread_create: %s", strerror(e));
		goto fail_fd;
	}
	u->have_thread = true;
	return u;
fail_fd:
	close(u->fd);
fail:
	free(u->page);
	free(u);
	return NULL;
}

uint64_t rawuffd_faults(const struct rawuffd *u)
{
	return atomic_load(&u->faults);
}

void rawuffd_stop(struct rawuffd *u)
{
	struct uffdio_range r;

	if (!u)
		return;
	r.start = (uint64_t)(uintptr_t)u->base;
	r.len = u->len;
	if (u->have_thread) {
		/* read() and poll() are cancellation points */
		pthread_cancel(u->tid);
		pthread_join(u->tid, NULL);
	}
	if (u->mode == RAW_SIGBUS) {
		sigaction(SIGBUS, &u->old_bus, NULL);
		atomic_store(&sigbus_u, NULL);
	}
	ioctl(u->fd, UFFDIO_UNREGISTER, &r);
	close(u->fd);
	free(u->page);
	free(u);
}
