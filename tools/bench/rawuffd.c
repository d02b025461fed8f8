/* SPDX-License-Identifier: MIT */
/*
 * rawuffd.c - a minimal userfaultfd handler: the floor of a uffd round trip.
 *
 * Anonymous private memory registered for MISSING faults; one handler
 * thread does a blocking read() of the uffd and resolves each fault with
 * one UFFDIO_COPY of a 4 KiB page: a zero page (the floor measurement) or
 * the data pattern of that page (the raw-uffd backend, whose reads are then
 * verified like any other).  It never evicts: no budget applies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
	pthread_t tid;
	volatile uint64_t faults;
	char *page;
};

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

static void *handler(void *arg)
{
	struct rawuffd *u = arg;
	struct uffd_msg msg[16];

	for (;;) {
		ssize_t n = read(u->fd, msg, sizeof(msg)), i;

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		for (i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
			uint64_t addr;
			struct uffdio_copy cp;

			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			addr = msg[i].arg.pagefault.address & ~(uint64_t)(BENCH_PAGE - 1);
			if (u->pattern)
				fill_page(u->page, u->seed,
					  (addr - (uint64_t)(uintptr_t)u->base) / BENCH_PAGE);
			memset(&cp, 0, sizeof(cp));
			cp.dst = addr;
			cp.src = (uint64_t)(uintptr_t)u->page;
			cp.len = BENCH_PAGE;
			if (ioctl(u->fd, UFFDIO_COPY, &cp) && errno == EEXIST) {
				struct uffdio_range r = { addr, BENCH_PAGE };

				ioctl(u->fd, UFFDIO_WAKE, &r);
			}
			u->faults++;
		}
	}
	return NULL;
}

struct rawuffd *rawuffd_start(void *addr, uint64_t len, bool pattern,
			      uint64_t seed, char *err, size_t errsz)
{
	struct uffdio_api api = { .api = UFFD_API };
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
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uint64_t)(uintptr_t)addr;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg)) {
		snprintf(err, errsz, "UFFDIO_REGISTER: %s", strerror(errno));
		goto fail_fd;
	}
	e = pthread_create(&u->tid, NULL, handler, u);
	if (e) {
		snprintf(err, errsz, "pthread_create: %s", strerror(e));
		goto fail_fd;
	}
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
	return u->faults;
}

void rawuffd_stop(struct rawuffd *u)
{
	struct uffdio_range r;

	if (!u)
		return;
	r.start = (uint64_t)(uintptr_t)u->base;
	r.len = u->len;
	pthread_cancel(u->tid);		/* read() is a cancellation point */
	pthread_join(u->tid, NULL);
	ioctl(u->fd, UFFDIO_UNREGISTER, &r);
	close(u->fd);
	free(u->page);
	free(u);
}
