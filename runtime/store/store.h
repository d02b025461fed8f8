/* SPDX-License-Identifier: MIT */
/*
 * store - the object behind struct upg_store: a reference-counted store
 * plugin (public struct upg_store_ops) plus what the runtime needs to know
 * about the built-in kinds.
 */
#ifndef UPAGER_STORE_H
#define UPAGER_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "upager.h"

enum store_kind {
	STORE_PLUGIN = 0, /* upg_store_create() */
	STORE_FILE,       /* upg_store_open_file(), a file region's store */
	STORE_SWAP,       /* the runtime's swap file, behind anonymous regions */
	STORE_MEM,        /* upg_store_create_mem() */
	STORE_REDIS,      /* upg_store_open_uri(): runtime/farmem/ */
};

struct upg_store {
	atomic_int refs;
	enum store_kind kind;
	struct upg_store_ops ops;
	void *ctx;
	/* STORE_FILE and STORE_SWAP: the file.  -1 otherwise. */
	int fd;
	/* STORE_SWAP: extent allocator over the (sparse) swap file. */
	pthread_mutex_t swap_lock;
	struct swap_extent *swap_free; /* free extents, sorted by offset */
	uint64_t swap_end;             /* end of the highest extent handed out */
	/*
	 * Optional (NULL: never): whether a write at store offset @off
	 * cannot make progress right now (STORE_REDIS: its master is
	 * failing over, has no acking replica, or its writes are failing).
	 * Set once by the store's opener, before the store is shared.
	 * Called by the eviction's clock and the fault path: must not block
	 * and must be cheap.  See store_write_stalled().
	 */
	bool (*write_stalled)(void *ctx, uint64_t off);
	/*
	 * Optional (NULL: never): whether a write at store offset @off may
	 * take long right now, though it is not known to be stalled
	 * (STORE_REDIS: its master failed a write a few seconds ago, or has
	 * a write unanswered for a while).  Same rules as write_stalled.
	 * See store_write_slow().
	 */
	bool (*write_slow)(void *ctx, uint64_t off);
	/*
	 * Optional (NULL: ops.submit): submit a write that gives up with
	 * -EAGAIN, instead of being retried until the store's deadline, once
	 * its part is found unable to take it (within about the time one
	 * attempt takes).  For eviction, which can keep the page dirty and
	 * pick another.  See store_submit_nowait().
	 */
	int (*submit_nowait)(void *ctx, struct upg_io_queue *q,
			     struct upg_io *io);
};

/**
 * store_get() - take a reference.
 */
void store_get(struct upg_store *st);

/**
 * store_submit() - start @io on @st from the thread owning @q.
 * Return: 0 if started (io->done() will run exactly once, maybe already
 * has), or a negative errno if it could not be started (io->done() will
 * not run: the caller treats the request as failed).
 */
int store_submit(struct upg_store *st, struct upg_io_queue *q,
		 struct upg_io *io);

/**
 * store_write_stalled() - whether writes to the part of @st that holds
 * store offset @off are known to be unable to complete right now (a
 * far-memory shard failing over, without an acking replica, or whose
 * writes fail and are being retried).  A hint: it may lag the truth by a
 * moment either way, and a write submitted anyway is still handled (it
 * completes or fails as usual).  The evictor passes over dirty pages for
 * which it is true instead of waiting on their writes (evict/clock.c).
 * @st:  the store.
 * @off: a store offset.
 * Return: true if stalled; false if not, or the store cannot tell.
 * Context: any thread; never blocks.
 */
static inline bool store_write_stalled(const struct upg_store *st,
				       uint64_t off)
{
	return st && st->write_stalled && st->write_stalled(st->ctx, off);
}

/**
 * store_write_slow() - whether a write to the part of @st that holds store
 * offset @off may take long now (up to the store's own timeouts), though
 * the part is not known to be stalled: it recovered from a stall a moment
 * ago (a far-memory shard whose promoted master just got its replica
 * back acks slowly for a while), or a write to it is unanswered for a
 * while.  A thread that must not wait (a fault's own eviction) leaves
 * such dirty pages to the background evictor (evict/clock.c).  True
 * whenever store_write_stalled() is.  A hint, as store_write_stalled().
 * @st:  the store.
 * @off: a store offset.
 * Return: true if slow or stalled; false if not, or the store cannot tell.
 * Context: any thread; never blocks.
 */
static inline bool store_write_slow(const struct upg_store *st, uint64_t off)
{
	return store_write_stalled(st, off) ||
	       (st && st->write_slow && st->write_slow(st->ctx, off));
}

/**
 * store_submit_nowait() - store_submit() of a write that may give up:
 * where the store has parts that can stall (store_write_stalled()), the
 * write fails -EAGAIN as soon as its part fails an attempt (a refused
 * connection, no acknowledging replica, a node that does not answer in
 * its timeout) rather than being retried until the store's deadline.
 * -EAGAIN is no data error: the caller keeps the pages dirty and writes
 * them later.  Other stores: store_submit().
 * Return: as store_submit().
 * Context: as store_submit().
 */
int store_submit_nowait(struct upg_store *st, struct upg_io_queue *q,
			struct upg_io *io);

/**
 * store_flush() - make completed writes durable (ops.flush, if any).
 */
int store_flush(struct upg_store *st);

/**
 * store_discard() - the range reads as zeros from now on (ops.discard).
 * Return: 0, or -EOPNOTSUPP when the store cannot (the caller then writes
 * zeros), or its error.
 */
int store_discard(struct upg_store *st, uint64_t off, uint64_t len);

/**
 * swap_store_create() - the runtime's swap: an unlinked file in @dir
 * (O_TMPFILE, else mkstemp + unlink), read and written through io_uring.
 * Return: 0, or a negative errno (-ENOENT, -EACCES ... for @dir).
 */
int swap_store_create(const char *dir, struct upg_store **out);

/**
 * swap_alloc() - reserve @len bytes (page multiple) of swap space for a
 * region.  The space is sparse: nothing is written until pages are.
 * Return: 0 and *@off, or -ENOSPC (offsets exhausted).
 */
int swap_alloc(struct upg_store *st, uint64_t len, uint64_t *off);

/**
 * swap_free() - give an extent back; its blocks are punched out of the file.
 */
void swap_free(struct upg_store *st, uint64_t off, uint64_t len);

#endif
