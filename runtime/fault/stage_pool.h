/* SPDX-License-Identifier: MIT */
/*
 * Staging buffers of small fills (fault/fill.c), from a pool mapped once
 * per runtime (fault/stage_pool.c says why not malloc()).
 */
#ifndef UPAGER_STAGE_POOL_H
#define UPAGER_STAGE_POOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Largest run read through a staging buffer (fault/fill.c). */
#define FILL_STAGE_MAX_BYTES (64u << 10)

/* Slots in a pool: one bit each in stage_pool.used. */
#define STAGE_SLOTS 64

struct stage_pool {
	char *base;	      /* NULL: no pool (every fill uses the alias) */
	size_t slot_bytes;    /* one page for the request + the data */
	_Atomic uint64_t used; /* bit n: slot n taken */
};

/**
 * stage_pool_init() - map STAGE_SLOTS slots of one @page for the request
 * and FILL_STAGE_MAX_BYTES of data each (page aligned, for O_DIRECT),
 * not inherited by fork children.  A pool that cannot be mapped is left
 * empty: stage_get() then returns NULL, and fills read into the alias.
 * Context: runtime start-up.
 */
void stage_pool_init(struct stage_pool *sp, size_t page);

/* Unmap the pool.  Context: runtime teardown, no fill in flight. */
void stage_pool_fini(struct stage_pool *sp);

/**
 * stage_get() - take the lowest free slot, lock-free.
 * Return: the slot (its first page for the caller's request, the data
 * after it), or NULL if every slot is taken or there is no pool.
 * Context: any thread, any lock; never allocates.
 */
void *stage_get(struct stage_pool *sp);

/* Give back a slot from stage_get().  Context: any thread. */
void stage_put(struct stage_pool *sp, void *slot);

#endif
