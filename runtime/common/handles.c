/* SPDX-License-Identifier: MIT */
/*
 * The set of live handles: an open-addressed hash set of pointers, read
 * without a lock.
 *
 * Every public call checks its handle here, the nofault copies included,
 * which an application may issue from every thread under its own locks:
 * a process-wide mutex there was a point of contention for no reason.
 * Writers (handle_add(), handle_del(), and the growth of the table) still
 * take a mutex among themselves; readers (handle_live()) take nothing.
 *
 * Why a reader is right without the lock.  The rules the writers keep:
 *
 *  (1) A slot only ever goes NULL -> handle, handle -> TOMBSTONE, or
 *      TOMBSTONE -> handle; never back to NULL.  So a probe chain (the
 *      non-NULL slots from a handle's home slot to the handle) is never
 *      cut while a reader walks it, and since a table is at most half
 *      used (tombstones counted) every probe ends at a NULL slot.
 *  (2) Growing builds a whole new table, then publishes it with a release
 *      store of `cur`; readers load `cur` with acquire and so see it
 *      filled.  The old table is never written again and never freed (it
 *      stays on the `older` list): a reader that loaded it just before
 *      the switch walks a frozen table, not freed memory.  The tables
 *      only double, so all the old ones together are smaller than the
 *      current one.
 *  (3) Slots are written with release stores and read with acquire
 *      loads, so a reader that finds a handle also sees what the object's
 *      creator wrote before handle_add().
 *
 * What a caller is promised is what the mutex gave: if handle_del(h)
 * happens before a call of handle_live(h) (the same thread, or any
 * synchronisation in between: that is what "a call after destroy" means),
 * the call returns false.  All writers are ordered by the mutex, so the
 * store that published the current table happens before the del, hence
 * before the reader's load of `cur`: by C11 write-read coherence the
 * reader loads that table or a newer one (which a later grow filled
 * without h), and in it reads the TOMBSTONE the del stored or a later
 * value of that slot (another handle, never h again until h is re-added).
 * A call racing with the destroy of its own handle is the caller's bug,
 * with or without a lock: the lock, too, was released before the caller
 * used the handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/handles.h"

/* A deleted handle: keeps the probe chains through its slot. */
#define TOMBSTONE ((const void *)1)

struct handle_table {
	size_t n; /* slots, a power of two */
	struct handle_table *older; /* retired tables, kept for readers */
	_Atomic(const void *) slot[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* writers */
static _Atomic(struct handle_table *) cur;
static size_t used; /* non-NULL slots of cur (tombstones too); lock */

static size_t slot_of(const void *h, size_t n)
{
	uintptr_t x = (uintptr_t)h;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x & (n - 1);
}

/* Context: lock held. */
static int grow(void)
{
	struct handle_table *old = atomic_load_explicit(&cur,
							memory_order_relaxed);
	size_t n = old ? old->n * 2 : 64, i;
	struct handle_table *t = malloc(sizeof(*t) + n * sizeof(t->slot[0]));

	if (!t)
		return -ENOMEM;
	t->n = n;
	t->older = old;
	for (i = 0; i < n; i++)
		atomic_init(&t->slot[i], NULL);
	used = 0;
	for (i = 0; old && i < old->n; i++) {
		const void *h = atomic_load_explicit(&old->slot[i],
						     memory_order_relaxed);
		size_t j;

		if (!h || h == TOMBSTONE)
			continue;
		for (j = slot_of(h, n);
		     atomic_load_explicit(&t->slot[j], memory_order_relaxed);
		     j = (j + 1) & (n - 1))
			;
		atomic_store_explicit(&t->slot[j], h, memory_order_relaxed);
		used++;
	}
	/* (2): everything above is seen by whoever loads t. */
	atomic_store_explicit(&cur, t, memory_order_release);
	return 0;
}

int handle_add(const void *h)
{
	struct handle_table *t;
	size_t j;
	int err = 0;

	pthread_mutex_lock(&lock);
	t = atomic_load_explicit(&cur, memory_order_relaxed);
	if (!t || (used + 1) * 2 > t->n) {
		err = grow();
		t = atomic_load_explicit(&cur, memory_order_relaxed);
	}
	if (!err) {
		const void *s;

		for (j = slot_of(h, t->n);
		     (s = atomic_load_explicit(&t->slot[j],
					       memory_order_relaxed)) &&
		     s != TOMBSTONE;
		     j = (j + 1) & (t->n - 1))
			;
		if (!s)
			used++;
		atomic_store_explicit(&t->slot[j], h, memory_order_release);
	}
	pthread_mutex_unlock(&lock);
	return err;
}

/* The slot of @h in @t, or NULL.  Context: any thread, no lock. */
static _Atomic(const void *) *find(struct handle_table *t, const void *h)
{
	size_t j;
	const void *s;

	if (!t || !h)
		return NULL;
	for (j = slot_of(h, t->n);
	     (s = atomic_load_explicit(&t->slot[j], memory_order_acquire));
	     j = (j + 1) & (t->n - 1))
		if (s == h)
			return &t->slot[j];
	return NULL;
}

void handle_del(const void *h)
{
	_Atomic(const void *) *s;

	pthread_mutex_lock(&lock);
	s = find(atomic_load_explicit(&cur, memory_order_relaxed), h);
	if (s)
		atomic_store_explicit(s, TOMBSTONE, memory_order_release);
	pthread_mutex_unlock(&lock);
}

bool handle_live(const void *h)
{
	struct handle_table *t = atomic_load_explicit(&cur,
						      memory_order_acquire);

	return find(t, h) != NULL;
}
