/* SPDX-License-Identifier: MIT */
/*
 * marks - the per-page words a daemon-mode client shares with upagerd
 * (one u32 per page, in a sealed memfd the client creates and passes with
 * REGION_ADD).  Both sides change them only with atomic read-modify-write
 * operations, each on its own bits:
 *
 *   FILLING   upagerd: a fill is writing the page, its content is not
 *             whole yet (a client taking over drops such pages and reads
 *             them again: takeover.c in runtime/client).
 *   RESIDENT  upagerd: the page is resident and mapped by the daemon's
 *             rules; set when a fill publishes it, cleared when the
 *             page is chosen as a victim (before anything is done to it).
 *   DIRTY     client: it wrote the page through its own alias of the
 *             memfd (nofault copies, pinned pages it un-write-protected),
 *             which the daemon cannot see.  Set BEFORE the write; the
 *             daemon clears it BEFORE it reads the page for writeback, so
 *             that a write racing a writeback leaves the mark set and is
 *             written again, never lost.
 *   WATCHED   client: an interval notifier covers the page, so its
 *             eviction must be announced with INVALIDATE.
 *   pins      client: long-term and ephemeral pin counts, at the same
 *             bit positions as in the state word (page_state.h), so that
 *             a takeover copies them as they are.
 *
 * Pins need no handshake beyond the atomics: a pin and the daemon's
 * victim choice are read-modify-writes of the same word, so one of them
 * comes first and the other sees it.  The client adds its pin with
 * fetch_add and looks at RESIDENT in the old value: set, the page is
 * pinned (the daemon's fetch_and that would clear RESIDENT comes later and
 * sees the pin); clear, the client takes its pin back and faults the page
 * in first.  The daemon clears RESIDENT with fetch_and and looks at the
 * pins in the old value: any, it puts the page back.
 *
 * Trust: everything here is written by the client.  The daemon reads the
 * pins only to keep that client's own pages resident (within an
 * allowance, daemon/client_marks.c) and DIRTY only to write that client's
 * pages back; WATCHED only costs that client messages.
 */
#ifndef UPAGER_MARKS_H
#define UPAGER_MARKS_H

#include <stdatomic.h>
#include <stdint.h>

#include "region/page_state.h"

#define MARK_FILLING (1u << 0)
#define MARK_RESIDENT (1u << 1)
#define MARK_DIRTY (1u << 2)
#define MARK_WATCHED (1u << 3)
#define MARK_LPIN_ONE PS_LPIN_ONE
#define MARK_EPIN_ONE PS_EPIN_ONE
#define MARK_PIN_MASK PS_PIN_MASK

static inline void mark_set(_Atomic uint32_t *m, uint32_t bits)
{
	atomic_fetch_or(m, bits);
}

static inline void mark_clear(_Atomic uint32_t *m, uint32_t bits)
{
	atomic_fetch_and(m, ~bits);
}

/* region_marks_forget_client(): daemon/daemon.h (daemon/client_marks.c). */

#endif
