/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd/uffd.h"

__thread void (*uffd_eagain_hook)(void *arg);
__thread void *uffd_eagain_arg;

void uffd_on_eagain(void)
{
	if (uffd_eagain_hook)
		uffd_eagain_hook(uffd_eagain_arg);
	else
		sched_yield();
}

int uffd_register(const struct uffd_ctx *u, void *addr, size_t len, bool wp)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)addr, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING |
			UFFDIO_REGISTER_MODE_MINOR |
			(wp ? UFFDIO_REGISTER_MODE_WP : 0),
	};

	return ioctl(u->fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

int uffd_unregister(const struct uffd_ctx *u, void *addr, size_t len)
{
	struct uffdio_range r = { (uintptr_t)addr, len };

	return ioctl(u->fd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

int uffd_continue(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		  bool wp)
{
	return uffd_continue_unit(u, addr, len, wp,
				  (size_t)sysconf(_SC_PAGESIZE));
}

int uffd_continue_unit(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		       bool wp, size_t page)
{
	while (len) {
		struct uffdio_continue c = {
			.range = { addr, len },
			.mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0,
		};
		size_t done;

		if (!ioctl(u->fd, UFFDIO_CONTINUE, &c))
			return 0;
		done = c.mapped > 0 ? (size_t)c.mapped : 0;
		addr += done;
		len -= done;
		if (errno == EEXIST) {
			/* Already mapped (another thread resolved it). */
			addr += page;
			len -= page;
		} else if (errno == EAGAIN) {
			if (!done)
				uffd_on_eagain();
		} else {
			return -errno;
		}
	}
	return 0;
}

int uffd_writeprotect(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		      bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { addr, len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	while (ioctl(u->fd, UFFDIO_WRITEPROTECT, &w)) {
		if (errno != EAGAIN)
			return -errno;
		uffd_on_eagain();
	}
	return 0;
}

int uffd_wake(const struct uffd_ctx *u, uintptr_t addr, size_t len)
{
	struct uffdio_range r = { addr, len };

	return ioctl(u->fd, UFFDIO_WAKE, &r) ? -errno : 0;
}

int uffd_poison(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		pid_t tid)
{
	struct uffdio_poison p = { .range = { addr, len } };
	bool cleared = false;

	if (!(u->features & UFFD_FEATURE_POISON)) {
		/* No poison PTEs before Linux 6.6: signal the thread. */
		if (tid > 0 && !syscall(SYS_tgkill, u->pid ? u->pid : getpid(),
					tid, SIGBUS))
			return 0;
		return uffd_wake(u, addr, len);
	}
	while (ioctl(u->fd, UFFDIO_POISON, &p)) {
		if (errno == EEXIST && !cleared) {
			/*
			 * The kernel refuses to overwrite any PTE, even a
			 * uffd-wp marker, and an evicted page that was
			 * write-protected keeps one (the punch preserves
			 * it).  The page is not mapped (we poison only
			 * pages that are not in the memfd, or ranges nobody
			 * writes back), so clearing write-protection only
			 * drops the marker.  Then poison again.
			 */
			struct uffdio_writeprotect w = { .range = p.range };

			cleared = true;
			if (!ioctl(u->fd, UFFDIO_WRITEPROTECT, &w))
				continue;
		}
		if (errno == EEXIST)
			return uffd_wake(u, addr, len); /* mapped: retry it */
		if (errno != EAGAIN)
			return -errno;
		uffd_on_eagain();
	}
	return 0;
}
