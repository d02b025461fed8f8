// SPDX-License-Identifier: MIT
/*
 * file_store - a store on a regular file or block device, read and
 * written through the calling thread's io_uring.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH */
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_queue.h"
#include "store/store.h"
#include "store/store_impl.h"

int fd_store_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct upg_store *st = ctx;

	return upg_io_queue_fd(q, st->fd, io);
}

static int file_store_flush(void *ctx)
{
	struct upg_store *st = ctx;

	return fsync(st->fd) ? -errno : 0;
}

static const struct upg_store_ops file_store_ops = {
	.sz = sizeof(struct upg_store_ops),
	.submit = fd_store_submit,
	.flush = file_store_flush,
	.discard = fd_store_discard,
};

UPG_API int upg_store_open_file(int fd, struct upg_store **out)
{
	struct upg_store *st;
	struct stat stbuf;
	int flags, dupfd, ret;

	if (!out)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	/* fstat() works on an O_PATH fd, I/O would not. */
	if (flags & O_PATH)
		return -EBADF;
	if (fstat(fd, &stbuf))
		return -errno;
	if (!S_ISREG(stbuf.st_mode) && !S_ISBLK(stbuf.st_mode))
		return -ENODEV;

	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0)
		return -errno;
	st = store_alloc(STORE_FILE, &file_store_ops, NULL, dupfd);
	if (!st) {
		ret = -ENOMEM;
		goto out_close_dup;
	}
	st->ctx = st;
	*out = st;
	return 0;

out_close_dup:
	close(dupfd);
	return ret;
}
