/* SPDX-License-Identifier: MIT */
/*
 * futex - wait on a 32-bit word of this process until it changes.
 * The per-page state words are futexes: a thread that meets a page in
 * transition sleeps on that page only (DESIGN.md section 7).
 */
#ifndef UPAGER_FUTEX_H
#define UPAGER_FUTEX_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *@word == @val, at most @timeout_ns (0: no limit). */
static inline void futex_wait(_Atomic uint32_t *word, uint32_t val,
			      uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
			       (long)(timeout_ns % 1000000000u) };

	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val,
		timeout_ns ? &ts : NULL, NULL, 0);
}

static inline void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX,
		NULL, NULL, 0);
}

#endif
