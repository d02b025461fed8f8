/* SPDX-License-Identifier: MIT */
/*
 * store_impl - what the built-in store kinds share; not for the rest of
 * the runtime, which goes through store.h.
 */
#ifndef UPAGER_STORE_IMPL_H
#define UPAGER_STORE_IMPL_H

#include <stdint.h>

#include "store/store.h"

/* A free range of the swap file; st->swap_free lists them by offset. */
struct swap_extent {
	uint64_t off, len;
	struct swap_extent *next;
};

/**
 * store_alloc() - a store object holding one reference.
 * @kind: what it is.
 * @ops:  its callbacks (copied; sz must be sizeof(struct upg_store_ops)).
 * @ctx:  passed to the callbacks.
 * @fd:   the file for STORE_FILE and STORE_SWAP, closed with the store;
 *        -1 for the others.
 *
 * Return: the store, or NULL with errno set.
 */
struct upg_store *store_alloc(enum store_kind kind,
			      const struct upg_store_ops *ops, void *ctx,
			      int fd);

/*
 * fd_store_submit() - ops.submit of the stores on a file descriptor
 * (@ctx is the struct upg_store itself): queue on the caller's ring.
 */
int fd_store_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io);
/* ops.discard of the file and swap stores: punch a hole. */
int fd_store_discard(void *ctx, uint64_t off, uint64_t len);

#endif /* UPAGER_STORE_IMPL_H */
