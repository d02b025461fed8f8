/* SPDX-License-Identifier: MIT */
/*
 * deadline - bounded waits on condition variables against the monotonic
 * clock (a wall-clock jump must neither cut a wait short nor stretch it).
 */
#ifndef UPAGER_DEADLINE_H
#define UPAGER_DEADLINE_H

#include <pthread.h>
#include <time.h>

/* Initialize @c to time its waits against CLOCK_MONOTONIC. */
static inline void cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

/* The CLOCK_MONOTONIC time @ms milliseconds from now, for
 * pthread_cond_timedwait() on a cond_init_monotonic() condition. */
static inline struct timespec deadline_after_ms(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

#endif
