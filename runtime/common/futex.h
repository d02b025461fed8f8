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
 * polling, every expiry is counted (futex_net_expired), and an expiry that
 * finds the awaited condition already true - the waker did its part of
 * the transition - asks whether the waker also woke:
 *
 * Every futex_wake_all() first bumps a wake sequence of the word's bucket
 * (futex_wake_seq[], hashed by address).  A waiter reads it with
 * futex_net_begin() before it announces itself (sets WAITERS, or reads the
 * counter it waits on), so any waker that owes it a wake bumps it later.
 * At an expiry that finds the condition true, a bumped sequence means the
 * wake was issued (it came between the expiry and now, or another word of
 * the bucket was woken: either way not provably lost): counted late.  An
 * unchanged one is followed up for up to a second (the waker may be
 * descheduled between its store and its wake, or inside a uffd ioctl:
 * publish_resident() and finish_evicted() wake parked faults first): a
 * bump then is late, none is a lost wake-up, counted in futex_net_lost.
 * The tests fail when futex_net_lost is not 0 (tests/common/testutil.c, at
 * the exit of every test process).  Process-wide: ps_wait() has no
 * runtime.
 *
 * (The first form of this check waited 50 ms for a wake after the expiry:
 * a wake issued between the expiry and that wait found nobody asleep and
 * was counted lost; on a quiet machine the stress and Redis tests each
 * saw one.)
 */
extern _Atomic uint64_t futex_net_expired, futex_net_late, futex_net_lost;

#define FUTEX_WAKE_SEQ_BUCKETS 1024
extern _Atomic uint32_t futex_wake_seq[FUTEX_WAKE_SEQ_BUCKETS];

static inline _Atomic uint32_t *futex_wake_seq_of(const void *word)
{
	return &futex_wake_seq[((uintptr_t)word >> 2) %
			       FUTEX_WAKE_SEQ_BUCKETS];
}

/* Before a waiter announces itself on @word: the snapshot that
 * futex_net_lost_wakeup() compares with.  Sequentially consistent, like
 * the bump in futex_wake_all(). */
static inline uint32_t futex_net_begin(_Atomic uint32_t *word)
{
	return atomic_load(futex_wake_seq_of(word));
}

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

/* CLOCK_MONOTONIC in ns, for the follow-up's bound. */
static inline uint64_t futex_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A net expired and found the condition true: was the wake issued since
 * @seq0 (futex_net_begin())?  Counted late if it was or comes within a
 * second, lost if not. */
static inline void futex_net_lost_wakeup(_Atomic uint32_t *word,
					 uint32_t seq0)
{
	_Atomic uint32_t *seq = futex_wake_seq_of(word);
	uint64_t until = futex_now_ns() + 1000000000u;

	while (atomic_load(seq) == seq0) {
		if (futex_now_ns() >= until) {
			atomic_fetch_add_explicit(&futex_net_lost, 1,
						  memory_order_relaxed);
			return;
		}
		/* The late wake wakes us; a word that keeps changing
		 * returns at once: then sleep 1 ms instead. */
		if (futex_wait(word, atomic_load(word), 50 * 1000 * 1000) ==
		    -EAGAIN) {
			struct timespec ms = { 0, 1000 * 1000 };

			nanosleep(&ms, NULL);
		}
	}
	atomic_fetch_add_explicit(&futex_net_late, 1, memory_order_relaxed);
}

/* Wake every waiter on @word, after bumping its bucket's wake sequence
 * (the evidence futex_net_lost_wakeup() looks for). */
static inline void futex_wake_all(_Atomic uint32_t *word)
{
	atomic_fetch_add(futex_wake_seq_of(word), 1);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX,
		NULL, NULL, 0);
}

#endif
