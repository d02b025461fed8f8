/* SPDX-License-Identifier: MIT */
/*
 * assert - the contracts the headers write in their "Context:" lines,
 * checked in debug builds (UPAGER_ASSERTS, on in the test builds: see the
 * top-level CMakeLists.txt).  A violation prints file:line, the function
 * and the condition to stderr and aborts; without UPAGER_ASSERTS every
 * macro compiles to nothing (its arguments are not evaluated).
 *
 *   UPG_ASSERT(cond)         cond must hold.
 *   assert_held(&mutex)      this thread holds the pthread mutex (lockdep's
 *                            lockdep_assert_held()): not merely "someone
 *                            holds it" - the owner must be this thread.
 *   assert_role(ROLE)        this thread has one of the ROLE bits
 *   assert_not_role(ROLE)    ... has none of them: "handler thread only",
 *                            "not from a notifier callback".
 *
 * Roles are thread-local flags a thread sets on itself: the handler
 * threads (fault/handler.c), the evictor (evict/evictor.c) set theirs when
 * they start; the notifier code sets UPG_ROLE_NOTIFIER_CB around the
 * callbacks it makes (notify/notifier.c).
 *
 * How assert_held() knows the owner: glibc records the owning thread's
 * kernel tid in every mutex it locks (pthread_mutex_t.__data.__owner, for
 * the default type as well: it is what makes error-checking and robust
 * mutexes work), so the check needs no wrapper type and no change to the
 * lock calls.  Elsewhere (no __GLIBC__) it falls back to a trylock: it
 * then catches a mutex nobody holds, not one another thread holds.
 */
#ifndef UPAGER_COMMON_ASSERT_H
#define UPAGER_COMMON_ASSERT_H

#include <pthread.h>
#include <stdbool.h>

/* Thread roles (a bit each). */
#define UPG_ROLE_HANDLER (1u << 0)     /* fault/handler.c handler_main */
#define UPG_ROLE_EVICTOR (1u << 1)     /* evict/evictor.c */
#define UPG_ROLE_NOTIFIER_CB (1u << 2) /* inside an invalidate callback */

/* This thread's roles.  Written only by the thread itself. */
extern __thread unsigned upg_thread_roles;

/* Print "file:line: func: assertion `what' failed" and abort(). */
_Noreturn void upg_assert_fail(const char *what, const char *file, int line,
			       const char *func);

/* Whether the calling thread holds @m (see above for how it knows). */
bool upg_mutex_held_by_self(pthread_mutex_t *m);

#ifdef UPAGER_ASSERTS
#define UPG_ASSERT(cond)                                                  \
	((cond) ? (void)0                                                 \
		: upg_assert_fail(#cond, __FILE__, __LINE__, __func__))
#define assert_held(m)                                                    \
	(upg_mutex_held_by_self(m)                                        \
		 ? (void)0                                                \
		 : upg_assert_fail("this thread holds " #m, __FILE__,     \
				   __LINE__, __func__))
#define assert_role(role)                                                 \
	((upg_thread_roles & (role))                                      \
		 ? (void)0                                                \
		 : upg_assert_fail("thread role " #role, __FILE__,        \
				   __LINE__, __func__))
#define assert_not_role(role)                                             \
	(!(upg_thread_roles & (role))                                     \
		 ? (void)0                                                \
		 : upg_assert_fail("not thread role " #role, __FILE__,    \
				   __LINE__, __func__))
#else
#define UPG_ASSERT(cond) ((void)sizeof(!(cond)))
#define assert_held(m) ((void)sizeof(m))
#define assert_role(role) ((void)sizeof(role))
#define assert_not_role(role) ((void)sizeof(role))
#endif

/* Set or clear roles of the calling thread (kept in every build, so that
 * a test can tell what a thread is). */
static inline void upg_role_set(unsigned role)
{
	upg_thread_roles |= role;
}

static inline void upg_role_clear(unsigned role)
{
	upg_thread_roles &= ~role;
}

#endif
