// SPDX-License-Identifier: MIT
/*
 * swap_store - the runtime's swap: one unlinked, sparse file per runtime,
 * carved into extents, one per anonymous region.
 *
 * The file has no name from the start (O_TMPFILE) or from right after
 * creation (mkstemp + unlink), so nothing is left behind however the
 * process ends.  Space is reserved by offset only: blocks are allocated by
 * the filesystem when pages are first written, and punched out again when
 * an extent is freed, so the file costs what is swapped out, not what is
 * mapped.
 *
 * Extents are handed out first-fit from a free list sorted by offset whose
 * neighbours are always merged, and from the end of the highest extent
 * (swap_end) when nothing free fits.  A free list that reaches swap_end is
 * folded back into it, so the list never ends at swap_end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_TMPFILE, fallocate, mkostemp */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/assert.h"
#include "store/store.h"
#include "store/store_impl.h"

/* Offsets past INT64_MAX are not file offsets; keep the end aligned to
 * the largest page size Linux has. */
#define SWAP_PAGE_MAX (64 * 1024)
#define SWAP_MAX_END ((uint64_t)INT64_MAX & ~(uint64_t)(SWAP_PAGE_MAX - 1))

static uint64_t swap_page_size(void)
{
	long sz = sysconf(_SC_PAGESIZE);

	return sz > 0 ? (uint64_t)sz : 4096;
}

static void swap_store_close(void *ctx)
{
	struct upg_store *st = ctx;
	struct swap_extent *e, *next;

	for (e = st->swap_free; e; e = next) {
		next = e->next;
		free(e);
	}
	st->swap_free = NULL;
}

static const struct upg_store_ops swap_store_ops = {
	.sz = sizeof(struct upg_store_ops),
	.submit = fd_store_submit,
	/*
	 * No flush: swap contents die with the process, so there is
	 * nothing to make durable and fsync would only cost.
	 */
	.close = swap_store_close,
	.discard = fd_store_discard,
};

/* For filesystems (or kernels) without O_TMPFILE. */
static int swap_open_unlinked(const char *dir)
{
	char *path;
	int fd, ret;

	if (asprintf(&path, "%s/upager-swap.XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out_free_path;
	}
	if (unlink(path)) {
		ret = -errno;
		goto out_close_fd;
	}
	free(path);
	return fd;

out_close_fd:
	close(fd);
out_free_path:
	free(path);
	return ret;
}

int swap_store_create(const char *dir, struct upg_store **out)
{
	struct upg_store *st;
	int fd, ret;

	if (!out)
		return -EINVAL;
	if (!dir || !*dir) {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
	}

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		/* EISDIR: a kernel that predates O_TMPFILE. */
		if (ret != -EOPNOTSUPP && ret != -EISDIR && ret != -EINVAL)
			return ret;
		fd = swap_open_unlinked(dir);
		if (fd < 0)
			return fd;
	}

	/* The runtime's own file: keep it out of the page cache (which
	 * would hold a second, unbudgeted copy of what was evicted).  Pages
	 * are page aligned in memory and in the file; tmpfs refuses
	 * O_DIRECT (EINVAL), and then buffered I/O it is. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT);
	st = store_alloc(STORE_SWAP, &swap_store_ops, NULL, fd);
	if (!st) {
		ret = -ENOMEM;
		goto out_close_fd;
	}
	st->ctx = st;
	st->swap_free = NULL;
	st->swap_end = 0;
	*out = st;
	return 0;

out_close_fd:
	close(fd);
	return ret;
}

int swap_alloc(struct upg_store *st, uint64_t len, uint64_t *off)
{
	struct swap_extent **link, *e;
	int ret = 0;

	if (!st || st->kind != STORE_SWAP || !off || !len ||
	    len % swap_page_size())
		return -EINVAL;

	pthread_mutex_lock(&st->swap_lock);
	for (link = &st->swap_free; (e = *link); link = &e->next) {
		if (e->len < len)
			continue;
		*off = e->off;
		if (e->len == len) {
			*link = e->next;
			free(e);
		} else {
			e->off += len;
			e->len -= len;
		}
		goto out_unlock;
	}
	if (len > SWAP_MAX_END - st->swap_end) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	*off = st->swap_end;
	st->swap_end += len;
out_unlock:
	pthread_mutex_unlock(&st->swap_lock);
	return ret;
}

void swap_free(struct upg_store *st, uint64_t off, uint64_t len)
{
	struct swap_extent **link, **prev_link = NULL;
	struct swap_extent *prev = NULL, *next, *e;
	uint64_t page = swap_page_size();

	if (!st || st->kind != STORE_SWAP || !len || off % page || len % page)
		return;

	pthread_mutex_lock(&st->swap_lock);
	/* Never handed out: ignore rather than corrupt the list. */
	if (off > st->swap_end || len > st->swap_end - off)
		goto out_unlock;

	link = &st->swap_free;
	while ((next = *link) && next->off < off) {
		prev = next;
		prev_link = link;
		link = &next->next;
	}
	/* A double free overlaps a free extent: ignore it likewise. */
	if ((prev && prev->off + prev->len > off) ||
	    (next && off + len > next->off))
		goto out_unlock;

	/*
	 * Punch under the lock: once the extent is on the free list another
	 * region may get it and write, and a late punch would eat that data.
	 * A filesystem that cannot punch only keeps the blocks; the offsets
	 * are reusable all the same.
	 */
	assert_held(&st->swap_lock);
	(void)fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)off, (off_t)len);

	if (off + len == st->swap_end) {
		/* The top extent: give it back to swap_end, with the free
		 * extent below it if they touch. */
		st->swap_end = off;
		if (prev && prev->off + prev->len == off) {
			st->swap_end = prev->off;
			*prev_link = NULL;
			free(prev);
		}
	} else if (prev && prev->off + prev->len == off) {
		prev->len += len;
		if (next && prev->off + prev->len == next->off) {
			prev->len += next->len;
			prev->next = next->next;
			free(next);
		}
	} else if (next && off + len == next->off) {
		next->off = off;
		next->len += len;
	} else {
		e = malloc(sizeof(*e));
		/*
		 * Without memory the offsets are lost to this runtime (the
		 * blocks are already punched): a leak of address space in a
		 * sparse file, not of disk or of data.
		 */
		if (!e)
			goto out_unlock;
		e->off = off;
		e->len = len;
		e->next = next;
		*link = e;
	}
out_unlock:
	pthread_mutex_unlock(&st->swap_lock);
}
