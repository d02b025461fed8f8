/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "sigguard.h"

/* volatile: the signal handler reads it asynchronously, so the stores
 * around the guarded access must neither move nor be dropped. */
static __thread sigjmp_buf *volatile guard_env;
static __thread struct tu_sigfault guard_info;

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;

static void on_fault(int signo, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!guard_env) {
		/* Not ours: default action.  Returning re-executes the
		 * faulting access, which now kills the process as usual. */
		signal(signo, SIG_DFL);
		return;
	}
	guard_info.signo = signo;
	guard_info.code = si->si_code;
	guard_info.addr = si->si_addr;
	siglongjmp(*guard_env, 1);
}

static void install(void)
{
	struct sigaction sa;

	pthread_mutex_lock(&install_lock);
	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_fault;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, NULL);
		sigaction(SIGSEGV, &sa, NULL);
		installed = 1;
	}
	pthread_mutex_unlock(&install_lock);
}

int tu_guarded_copy(void *dst, const void *src, size_t len,
		    struct tu_sigfault *info)
{
	sigjmp_buf env;
	volatile unsigned char *d = dst;
	const volatile unsigned char *s = src;
	volatile size_t i;

	install();
	memset(&guard_info, 0, sizeof(guard_info));
	if (sigsetjmp(env, 1)) {
		guard_env = NULL;
		if (info)
			*info = guard_info;
		return guard_info.signo;
	}
	guard_env = &env;
	for (i = 0; i < len; i++)
		d[i] = s[i];
	guard_env = NULL;
	if (info)
		memset(info, 0, sizeof(*info));
	return 0;
}

int tu_guarded_read8(const void *p, unsigned char *out,
		     struct tu_sigfault *info)
{
	return tu_guarded_copy(out, p, 1, info);
}

int tu_guarded_write8(void *p, unsigned char v, struct tu_sigfault *info)
{
	return tu_guarded_copy(p, &v, 1, info);
}
