/* SPDX-License-Identifier: MIT */
/*
 * Staging buffers of small fills, from a pool mapped once per runtime.
 *
 * Not malloc(): glibc's fork() takes every malloc arena lock and holds
 * it while the kernel waits for a handler thread to read the fork event
 * of a userfaultfd (UPG_RT_FORK_EVENTS).  A handler that allocates on its
 * fault path then waits for the forking thread, which waits for it.
 * Seen with an aligned_alloc() per staged fill (which misses glibc's
 * per-thread cache): test_fork's test_fork_under_eviction hung about one
 * run in three, both handlers in a futex on an arena lock, the forking
 * thread in userfaultfd_event_wait_completion.
 *
 * The lowest free slot is taken, so a light load keeps touching the same
 * few pages; at most STAGE_SLOTS * (page + FILL_STAGE_MAX_BYTES) is ever
 * touched (4.25 MiB with 4 KiB pages), outside the budget like the
 * io_uring rings.
 */
#include <sys/mman.h>

#include "fault/stage_pool.h"

void stage_pool_init(struct stage_pool *sp, size_t page)
{
	size_t len;
	void *p;

	sp->slot_bytes = page + FILL_STAGE_MAX_BYTES;
	len = sp->slot_bytes * STAGE_SLOTS;
	atomic_store(&sp->used, 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		sp->base = NULL;
		return;
	}
	/* A fork child would share nothing of it usefully; keep it out. */
	madvise(p, len, MADV_DONTFORK);
	sp->base = p;
}

void stage_pool_fini(struct stage_pool *sp)
{
	if (sp->base)
		munmap(sp->base, sp->slot_bytes * STAGE_SLOTS);
	sp->base = NULL;
}

void *stage_get(struct stage_pool *sp)
{
	uint64_t used = atomic_load(&sp->used);
	unsigned bit;

	if (!sp->base)
		return NULL;
	do {
		if (used == UINT64_MAX)
			return NULL;
		bit = (unsigned)__builtin_ctzll(~used);
	} while (!atomic_compare_exchange_weak(&sp->used, &used,
					       used | (1ull << bit)));
	return sp->base + bit * sp->slot_bytes;
}

void stage_put(struct stage_pool *sp, void *slot)
{
	size_t bit = (size_t)((char *)slot - sp->base) / sp->slot_bytes;

	atomic_fetch_and(&sp->used, ~(1ull << bit));
}
