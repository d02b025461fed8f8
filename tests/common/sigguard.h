/* SPDX-License-Identifier: MIT */
/*
 * sigguard - touch memory that may fault (SIGBUS, SIGSEGV) and survive:
 * the access runs under a sigsetjmp() guard on the calling thread, and a
 * fault there returns to the caller with the signal's details instead of
 * killing the process.  A fault on any other thread, or outside a guarded
 * access, keeps its default action.
 */
#ifndef UPAGER_SIGGUARD_H
#define UPAGER_SIGGUARD_H

#include <stddef.h>

struct tu_sigfault {
	int signo;  /* 0: no fault */
	int code;   /* si_code */
	void *addr; /* si_addr */
};

/*
 * Copy @len bytes from @src to @dst, byte by byte in address order,
 * catching SIGBUS and SIGSEGV raised by the copy.  Return 0 if the copy
 * completed, else the signal number (and @info, if not NULL, says where).
 * The bytes before the faulting one have been copied.
 */
int tu_guarded_copy(void *dst, const void *src, size_t len,
		    struct tu_sigfault *info);

/* Read one byte at @p under the guard: 0 and *@out, or the signal. */
int tu_guarded_read8(const void *p, unsigned char *out,
		     struct tu_sigfault *info);

/* Write one byte at @p under the guard: 0, or the signal. */
int tu_guarded_write8(void *p, unsigned char v, struct tu_sigfault *info);

#endif
