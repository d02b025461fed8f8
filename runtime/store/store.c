// SPDX-License-Identifier: MIT
/*
 * store - reference counting and dispatch common to every store kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/opts.h"
#include "store/store.h"
#include "store/store_impl.h"

/* A caller's ops must at least reach submit, the one required callback. */
#define STORE_OPS_MIN_SZ \
	(offsetof(struct upg_store_ops, submit) + \
	 sizeof(((struct upg_store_ops *)0)->submit))

struct upg_store *store_alloc(enum store_kind kind,
			      const struct upg_store_ops *ops, void *ctx,
			      int fd)
{
	struct upg_store *st;
	int ret;

	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	/* Only swap stores use the lock; one init keeps put() uniform. */
	ret = pthread_mutex_init(&st->swap_lock, NULL);
	if (ret) {
		free(st);
		errno = ret;
		return NULL;
	}
	atomic_init(&st->refs, 1);
	st->kind = kind;
	st->ops = *ops;
	st->ctx = ctx;
	st->fd = fd;
	return st;
}

void store_get(struct upg_store *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
}

int store_submit_nowait(struct upg_store *st, struct upg_io_queue *q,
			struct upg_io *io)
{
	int ret;

	if (!st || !io || io->op != UPG_IO_WRITE || !st->submit_nowait)
		return store_submit(st, q, io);
	ret = st->submit_nowait(st->ctx, q, io);
	return ret < 0 ? ret : 0;
}

int store_submit(struct upg_store *st, struct upg_io_queue *q,
		 struct upg_io *io)
{
	int ret;

	if (!st || !io || (io->op != UPG_IO_READ && io->op != UPG_IO_WRITE))
		return -EINVAL;
	ret = st->ops.submit(st->ctx, q, io);
	/* A plugin returning > 0 still started the request. */
	return ret < 0 ? ret : 0;
}

int store_discard(struct upg_store *st, uint64_t off, uint64_t len)
{
	if (!st->ops.discard)
		return -EOPNOTSUPP;
	return st->ops.discard(st->ctx, off, len);
}

/* Discard for stores on a file descriptor: punch a hole. */
int fd_store_discard(void *ctx, uint64_t off, uint64_t len)
{
	struct upg_store *st = ctx;

	if (fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len))
		return -errno;
	return 0;
}

int store_flush(struct upg_store *st)
{
	int ret;

	if (!st->ops.flush)
		return 0;
	ret = st->ops.flush(st->ctx);
	return ret < 0 ? ret : 0;
}

UPG_API int upg_store_create(const struct upg_store_ops *ops, void *ctx,
			     struct upg_store **out)
{
	struct upg_store_ops copy;
	struct upg_store *st;

	if (!ops || !out || ops->sz < STORE_OPS_MIN_SZ ||
	    !opts_valid(ops, sizeof(*ops)) || !ops->submit)
		return -EINVAL;

	/* Callbacks an older caller did not have stay NULL. */
	memset(&copy, 0, sizeof(copy));
	memcpy(&copy, ops, ops->sz < sizeof(copy) ? ops->sz : sizeof(copy));
	copy.sz = sizeof(copy);

	st = store_alloc(STORE_PLUGIN, &copy, ctx, -1);
	if (!st)
		return -ENOMEM;
	*out = st;
	return 0;
}

UPG_API void upg_store_put(struct upg_store *st)
{
	if (!st)
		return;
	/* acq_rel: the last putter sees every other holder's writes. */
	if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
		return;

	if (st->ops.close)
		st->ops.close(st->ctx);
	if (st->fd >= 0)
		close(st->fd);
	pthread_mutex_destroy(&st->swap_lock);
	free(st);
}
