/* SPDX-License-Identifier: MIT */
/*
 * futex - wait on a 32-bit word of this process until it changes.
 * The per-page state words are futexes: a thread that meets a page in
 * transition sleeps on that page only (DESIGN.md section 7).
 */
#ifndef UPAGER_FUTEX_H
#define UPAGER_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *@word == @val, at most @timeout_ns (0: no limit).
 * Return: 0 (woken, maybe spuriously), -ETIMEDOUT, -EAGAIN (*@word was not
 * @val), -EINTR. */
static inline int futex_wait(_Atomic uint32_t *word, uint32_t val,
			     uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
			       (long)(timeout_ns % 1000000000u) };

	return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val,
		       timeout_ns ? &ts : NULL, NULL, 0)
		       ? -errno
		       : 0;
}

/*
 * Safety nets.  A few waits (ps_wait(), region.c's drain_refs(),
 * io_queue_wait_counter()) sleep with a timeout although their waker
 * always wakes them: the timeout is a net under a lost wake-up, not part
 * of the protocol.  So that a lost wake-up is a visible bug and not silent
 * polling, every expiry is counted, and an expiry that finds the awaited
 * condition already true - the waker did its part of the transition but
 * no wake arrived - is followed up: a waker may be late rather than lost
 * (descheduled, or inside a uffd ioctl between its store and its wake:
 * publish_resident(), finish_evicted() wake parked faults first), so the
 * waiter sleeps up to 50 ms more on the word.  A wake then is counted in
 * futex_net_late; none is a lost wake-up, counted in futex_net_lost.  The
 * tests fail when futex_net_lost is not 0 (tests/common/testutil.c, at
 * the exit of every test process).  Process-wide: ps_wait() has no
 * runtime.
 */
extern _Atomic uint64_t futex_net_expired, futex_net_late, futex_net_lost;

/* futex_wait() under a safety net: true if the timeout expired (counted
 * in futex_net_expired); the caller then checks its condition and calls
 * futex_net_lost_wakeup() if it holds. */
static inline bool futex_wait_net(_Atomic uint32_t *word, uint32_t val,
				  uint64_t timeout_ns)
{
	if (futex_wait(word, val, timeout_ns) != -ETIMEDOUT)
		return false;
	atomic_fetch_add_explicit(&futex_net_expired, 1,
				  memory_order_relaxed);
	return true;
}

/* A net expired and found the condition true: wait for a late wake on
 * @word, count it late, or lost if none comes.  The word changing again
 * meanwhile (-EAGAIN) proves nothing either way and is not counted. */
static inline void futex_net_lost_wakeup(_Atomic uint32_t *word)
{
	int ret = futex_wait(word, atomic_load(word), 50 * 1000 * 1000);

	if (ret == -ETIMEDOUT)
		atomic_fetch_add_explicit(&futex_net_lost, 1,
					  memory_order_relaxed);
	else if (!ret)
		atomic_fetch_add_explicit(&futex_net_late, 1,
					  memory_order_relaxed);
}

static inline void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX,
		NULL, NULL, 0);
}

#endif
