/* SPDX-License-Identifier: MIT */
/*
 * futex - the safety-net counters (see common/futex.h).
 */
#include "common/futex.h"

_Atomic uint64_t futex_net_expired;
_Atomic uint64_t futex_net_late;
_Atomic uint64_t futex_net_lost;
_Atomic uint32_t futex_wake_seq[FUTEX_WAKE_SEQ_BUCKETS];
