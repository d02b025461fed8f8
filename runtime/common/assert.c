/* SPDX-License-Identifier: MIT */
/*
 * assert - see common/assert.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/assert.h"

__thread unsigned upg_thread_roles;

_Noreturn void upg_assert_fail(const char *what, const char *file, int line,
			       const char *func)
{
	fprintf(stderr, "upager: %s:%d: %s: assertion `%s' failed\n", file,
		line, func, what);
	fflush(stderr);
	abort();
}

bool upg_mutex_held_by_self(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	/* The kernel tid, asked each time (a debug build can afford the
	 * syscall): a cached one would be the parent's in a fork child. */
	pid_t self = (pid_t)syscall(SYS_gettid);

	return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == self;
#else
	if (pthread_mutex_trylock(m) == 0) {
		pthread_mutex_unlock(m);
		return false;
	}
	return true;
#endif
}
