/* SPDX-License-Identifier: MIT */
/*
 * page_state - the per-page state word of a region.
 *
 * One 32-bit word per page, changed only with compare-and-swap, and a futex
 * for threads that must wait for a page in transition.  The low two bits
 * are the state; the flags above refine it:
 *
 *   ABSENT ---fill claims---> FILLING ---mapped---> RESIDENT
 *     ^                                              |    ^
 *     +---------punched------ EVICTING <--victim-----+    | write error:
 *                                 |                       | stays dirty
 *                                 +-----------------------+
 *
 *   DIRTY     the page holds writes the store has not seen.  A clean page
 *             is mapped write-protected, so its first write raises a WP
 *             fault that sets DIRTY: no write can land unseen.
 *   REF       accessed since the clock hand last passed (set by fills and
 *             minor faults; see evict/clock.c).
 *   LOCK      a handler is changing the page's mapping (un-write-protect,
 *             CONTINUE).  Eviction and writeback keep off a locked page.
 *   WRITEBACK a flush is writing the page; eviction keeps off it.
 *   PARKED    a fault on the page waits for a transition to end: whoever
 *             ends it issues UFFDIO_WAKE.
 *   WAITERS   a thread sleeps on the futex of this word.
 *   HAS_DATA  the store holds this page (anonymous regions: pages never
 *             written back are zero-filled without I/O).
 *   NOTIFYING an EVICTING page whose interval notifiers are being called
 *             (step 2 of the eviction protocol, before write-protection):
 *             a fault from a thread inside such a callback is served, not
 *             parked, or the callback would wait for its own eviction.
 *   pins      long-term and ephemeral pin counts (runtime/pin/), 9 bits
 *             each: a page with a long-term pin is never a victim, one
 *             with an ephemeral pin makes eviction wait for the unpin.
 *   ZERO_FILL the application discarded the page (MADV_REMOVE) and the
 *             store could not punch it: fill it with zeros, dirty, so
 *             that the zeros reach the store (region/discard.c).
 *   POISONED  a fill of this page failed and its application PTE holds a
 *             poison marker (SIGBUS on access); POISON_AGED: the evictor's
 *             tick has seen it once, and clears the marker at the next
 *             tick (evict/unpoison.c), so that a later access retries.
 *   READAHEAD the page was read ahead of the faults (runtime/readahead/)
 *             and no use of it has been seen yet.  Set when the fill
 *             claims it, cleared when a fault on it or the stream passing
 *             it shows it was used.  It survives eviction: an ABSENT page
 *             still marked was evicted before any use, and the fill that
 *             claims it again counts it as read-ahead waste.  Such pages
 *             are published without REF, so the clock takes them first.
 */
#ifndef UPAGER_PAGE_STATE_H
#define UPAGER_PAGE_STATE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/futex.h"

#define PS_ABSENT 0u
#define PS_FILLING 1u
#define PS_RESIDENT 2u
#define PS_EVICTING 3u
#define PS_STATE_MASK 3u

#define PS_DIRTY (1u << 2)
#define PS_REF (1u << 3)
#define PS_LOCK (1u << 4)
#define PS_WRITEBACK (1u << 5)
#define PS_PARKED (1u << 6)
#define PS_WAITERS (1u << 7)
#define PS_HAS_DATA (1u << 8)
#define PS_POISONED (1u << 9)
#define PS_POISON_AGED (1u << 10)
#define PS_NOTIFYING (1u << 11)

#define PS_LPIN_SHIFT 12
#define PS_EPIN_SHIFT 21
#define PS_PIN_MAX 511u
#define PS_LPIN_ONE (1u << PS_LPIN_SHIFT)
#define PS_EPIN_ONE (1u << PS_EPIN_SHIFT)
#define PS_LPIN_MASK (PS_PIN_MAX << PS_LPIN_SHIFT)
#define PS_EPIN_MASK (PS_PIN_MAX << PS_EPIN_SHIFT)
#define PS_PIN_MASK (PS_LPIN_MASK | PS_EPIN_MASK)
#define PS_ZERO_FILL (1u << 30)
#define PS_READAHEAD (1u << 31)

/* Flags that belong to a page's contents and survive eviction (and the
 * read-ahead marker, so that waste can be told after the fact). */
#define PS_KEEP_ACROSS_EVICTION (PS_HAS_DATA | PS_READAHEAD)

static inline uint32_t ps_state(uint32_t s)
{
	return s & PS_STATE_MASK;
}

static inline uint32_t ps_with_state(uint32_t s, uint32_t state)
{
	return (s & ~PS_STATE_MASK) | state;
}

static inline bool ps_cas(_Atomic uint32_t *p, uint32_t *old, uint32_t new)
{
	return atomic_compare_exchange_weak_explicit(
		p, old, new, memory_order_acq_rel, memory_order_acquire);
}

/*
 * Sleep until the word changes from @seen (which the caller found in a
 * transient state).  WAITERS is set first so that whoever changes the word
 * knows to wake us; the timeout is only a safety net against a lost wake.
 * Whoever clears WAITERS owes the wake (ps_wake()): an expiry that finds
 * it clear is followed up as a lost wake-up (common/futex.h).
 */
static inline void ps_wait(_Atomic uint32_t *p, uint32_t seen)
{
	uint32_t seq0 = futex_net_begin(p); /* before WAITERS is ours */

	if (!(seen & PS_WAITERS) && !ps_cas(p, &seen, seen | PS_WAITERS))
		return;
	if (futex_wait_net(p, seen | PS_WAITERS, 10 * 1000 * 1000) &&
	    !(atomic_load(p) & PS_WAITERS))
		futex_net_lost_wakeup(p, seq0);
}

/* After a transition: wake futex sleepers if @old said there were some. */
static inline void ps_wake(_Atomic uint32_t *p, uint32_t old)
{
	if (old & PS_WAITERS)
		futex_wake_all(p);
}

/*
 * Take LOCK on a resident page, adding the flags @set.  Returns the new
 * word, or 0 if the page is not resident (any more).  Waits out another
 * holder (LOCK is held for one ioctl at most).
 */
static inline uint32_t ps_lock_resident(_Atomic uint32_t *p, uint32_t set)
{
	uint32_t s = atomic_load(p);

	for (;;) {
		if (ps_state(s) != PS_RESIDENT)
			return 0;
		if (s & PS_LOCK) {
			ps_wait(p, s);
			s = atomic_load(p);
			continue;
		}
		if (ps_cas(p, &s, s | PS_LOCK | set))
			return s | PS_LOCK | set;
	}
}

static inline void ps_unlock(_Atomic uint32_t *p)
{
	ps_wake(p, atomic_fetch_and(p, ~(PS_LOCK | PS_WAITERS)));
}

/*
 * Add @one (PS_LPIN_ONE or PS_EPIN_ONE) and @set to a resident page.
 * Returns 1 on success, 0 if the page is not resident (or is being
 * evicted), -EOVERFLOW if the page holds the maximum pins of that kind.
 */
static inline int ps_pin(_Atomic uint32_t *p, uint32_t one, uint32_t set)
{
	uint32_t mask = one == PS_LPIN_ONE ? PS_LPIN_MASK : PS_EPIN_MASK;
	uint32_t s = atomic_load(p);

	for (;;) {
		if (ps_state(s) != PS_RESIDENT)
			return 0;
		if ((s & mask) == mask)
			return -EOVERFLOW;
		if (ps_cas(p, &s, (s + one) | set))
			return 1;
	}
}

/* Drop a pin taken with ps_pin(); wakes an eviction waiting for it. */
static inline void ps_unpin(_Atomic uint32_t *p, uint32_t one)
{
	uint32_t s = atomic_load(p);

	while (!ps_cas(p, &s, (s - one) & ~PS_WAITERS))
		;
	ps_wake(p, s);
}

#endif
