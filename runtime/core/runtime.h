/* SPDX-License-Identifier: MIT */
/*
 * runtime - creating and assembling struct upg_runtime: its options, its
 * subsystems' state (each in the subsystem's own struct, base/rt.h), the
 * userfaultfd and the threads.  The top of the in-process runtime: core/
 * may include every folder below it, and none of them includes core/.
 */
#ifndef UPAGER_RUNTIME_H
#define UPAGER_RUNTIME_H

#include "base/rt.h"

/**
 * runtime_start_local() - start the threads and queues of in-process
 * servicing: the eventfds, the caller I/O queue, the stage pool, the
 * handler threads and the evictor.
 * @rt: a runtime whose options are applied and whose uffd is open.
 * Return: 0, or a negative errno (nothing is left started).
 * Context: the creating thread (or a client taking over from a daemon).
 */
int runtime_start_local(struct upg_runtime *rt);

/**
 * runtime_mm_stats() - the counters of address space @mm (an upagerd
 * client's own, counted by MM_STAT_ADD()) in @s: every counter of struct
 * rt_stats, and its resident bytes and peak; budget_bytes is the
 * runtime's.  Other fields are left as they are.
 * Context: any thread; reads relaxed atomics only.
 */
void runtime_mm_stats(struct upg_mm *mm, struct upg_stats *s);

#endif
