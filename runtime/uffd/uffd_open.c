/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "uffd/uffd.h"
#include "upager.h"

struct uffd_open_inject *uffd_open_inject;

static int open_dev(void)
{
	int dev, fd, err;

	if (uffd_open_inject) {
		uffd_open_inject->dev_tries++;
		if (uffd_open_inject->dev_err)
			return uffd_open_inject->dev_err;
	}
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	err = fd < 0 ? -errno : fd;
	close(dev);
	return err;
}

static int open_syscall(bool user_only)
{
	if (uffd_open_inject) {
		struct uffd_open_inject *in = uffd_open_inject;
		int err = user_only ? in->user_err : in->sys_err;

		if (user_only)
			in->user_tries++;
		else
			in->sys_tries++;
		if (err)
			return err;
	}
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
						       (user_only ?
							UFFD_USER_MODE_ONLY :
							0));
	return fd < 0 ? -errno : fd;
}

/*
 * One fd, in the order DESIGN.md section 4 gives.  *@user_only tells the
 * caller which mode it got; @err_dev/@err_sys keep the failures for the
 * message naming the fix.
 */
static int open_any(bool *user_only, int *err_dev, int *err_sys)
{
	int fd;

	*err_dev = *err_sys = 0;
	if (!*user_only) {
		fd = open_dev();
		if (fd >= 0)
			return fd;
		*err_dev = fd;
		fd = open_syscall(false);
		if (fd >= 0)
			return fd;
		*err_sys = fd;
	}
	fd = open_syscall(true);
	if (fd >= 0)
		*user_only = true;
	return fd;
}

/* UFFDIO_API may be issued once per fd: probe the features on a
 * throwaway fd, then enable what we want on the real one. */
static int api(int fd, uint64_t want, uint64_t *got)
{
	struct uffdio_api a = { .api = UFFD_API, .features = want };

	if (ioctl(fd, UFFDIO_API, &a))
		return -errno;
	*got = a.features;
	if (uffd_open_inject)
		*got &= ~uffd_open_inject->hide;
	return 0;
}

int uffd_open(const struct upg_runtime *rt, bool user_only, bool fork_events,
	      struct uffd_ctx *out)
{
	int fd, err_dev, err_sys, err;
	uint64_t avail = 0, want;
	bool uo = user_only;

	fd = open_any(&uo, &err_dev, &err_sys);
	if (fd < 0) {
		rt_err(rt,
		       "cannot open userfaultfd (/dev/userfaultfd: %s; "
		       "userfaultfd(2): %s; user-mode-only: %s). Fix: run as "
		       "root, or grant access to /dev/userfaultfd (chmod or "
		       "group), or set sysctl vm.unprivileged_userfaultfd=1; "
		       "under seccomp (containers) allow the userfaultfd "
		       "syscall",
		       err_dev ? strerror(-err_dev) : "not tried",
		       err_sys ? strerror(-err_sys) : "not tried",
		       strerror(-fd));
		return fd == -ENOSYS ? -EOPNOTSUPP : fd;
	}
	err = api(fd, 0, &avail);
	close(fd);
	if (err)
		return err;
	if ((avail & UFFD_REQUIRED_FEATURES) != UFFD_REQUIRED_FEATURES) {
		rt_err(rt,
		       "userfaultfd lacks required features 0x%llx (kernel "
		       "offers 0x%llx): shmem MISSING/MINOR/WP and the "
		       "REMAP/UNMAP events need Linux 6.1 or later",
		       (unsigned long long)(UFFD_REQUIRED_FEATURES & ~avail),
		       (unsigned long long)avail);
		return -EOPNOTSUPP;
	}
	want = UFFD_REQUIRED_FEATURES | (avail & UFFD_OPTIONAL_FEATURES);
	if (fork_events) {
		if (!(avail & UFFD_FEATURE_EVENT_FORK)) {
			rt_err(rt, "userfaultfd lacks EVENT_FORK, needed by "
				   "UPG_RT_FORK_EVENTS");
			return -EOPNOTSUPP;
		}
		want |= UFFD_FEATURE_EVENT_FORK;
	}

	fd = open_any(&uo, &err_dev, &err_sys);
	if (fd < 0)
		return fd;
	err = api(fd, want, &out->features);
	if (err) {
		close(fd);
		return err;
	}
	out->fd = fd;
	out->mode = uo ? UPG_UFFD_USER_ONLY : UPG_UFFD_KERNEL;
	/* CONTINUE_MODE_WP came with UFFDIO_POISON (Linux 6.6). */
	out->continue_wp = avail & UFFD_FEATURE_POISON;
	if (uo && !user_only)
		rt_warn(rt, "userfaultfd is user-mode-only: system calls that "
			    "touch non-resident pages fail with EFAULT; fault "
			    "ranges in first");
	return 0;
}
