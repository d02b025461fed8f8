/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/handles.h"

/* Open-addressed hash set of pointers; tombstones keep probe chains. */
#define TOMBSTONE ((const void *)1)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const void **slots;
static size_t nslots, used;

static size_t slot_of(const void *h, size_t n)
{
	uintptr_t x = (uintptr_t)h;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x & (n - 1);
}

static int grow(void)
{
	size_t n = nslots ? nslots * 2 : 64, i;
	const void **s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	used = 0;
	for (i = 0; i < nslots; i++) {
		size_t j;

		if (!slots[i] || slots[i] == TOMBSTONE)
			continue;
		for (j = slot_of(slots[i], n); s[j]; j = (j + 1) & (n - 1))
			;
		s[j] = slots[i];
		used++;
	}
	free(slots);
	slots = s;
	nslots = n;
	return 0;
}

int handle_add(const void *h)
{
	size_t j;
	int err = 0;

	pthread_mutex_lock(&lock);
	if ((used + 1) * 2 > nslots)
		err = grow();
	if (!err) {
		for (j = slot_of(h, nslots); slots[j] && slots[j] != TOMBSTONE;
		     j = (j + 1) & (nslots - 1))
			;
		if (!slots[j])
			used++;
		slots[j] = h;
	}
	pthread_mutex_unlock(&lock);
	return err;
}

static size_t find(const void *h)
{
	size_t j;

	if (!nslots || !h)
		return SIZE_MAX;
	for (j = slot_of(h, nslots); slots[j]; j = (j + 1) & (nslots - 1))
		if (slots[j] == h)
			return j;
	return SIZE_MAX;
}

void handle_del(const void *h)
{
	size_t j;

	pthread_mutex_lock(&lock);
	j = find(h);
	if (j != SIZE_MAX)
		slots[j] = TOMBSTONE;
	pthread_mutex_unlock(&lock);
}

bool handle_live(const void *h)
{
	bool live;

	pthread_mutex_lock(&lock);
	live = find(h) != SIZE_MAX;
	pthread_mutex_unlock(&lock);
	return live;
}
