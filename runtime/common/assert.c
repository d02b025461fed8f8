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

#ifdef __GLIBC__
/*
 * The kernel tid of the calling thread, cached: asking the kernel on every
 * check cost a system call per uffd event handled (handle_event() checks
 * the read lock).  A fork child starts with the forking thread's cache,
 * holding the parent's tid: the atfork handler clears it in the child (the
 * only thread there is the one that forked).
 */
static __thread pid_t cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_tid_in_child(void)
{
	cached_tid = 0;
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_tid_in_child);
}

static pid_t self_tid(void)
{
	if (!cached_tid) {
		pthread_once(&atfork_once, register_atfork);
		cached_tid = (pid_t)syscall(SYS_gettid);
	}
	return cached_tid;
}
#endif

bool upg_mutex_held_by_self(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) ==
	       self_tid();
#else
	if (pthread_mutex_trylock(m) == 0) {
		pthread_mutex_unlock(m);
		return false;
	}
	return true;
#endif
}
