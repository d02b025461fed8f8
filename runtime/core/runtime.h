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

/*
 * The runtime's life in core/runtime.c; the public calls that pick
 * in-process or daemon mode (upg_runtime_create(), _connect(), _destroy(),
 * _stats()) are in runtime/api/.
 */

/**
 * runtime_new() - a runtime object with options @opts applied (checked
 * by the caller with opts_valid()): locks and lists, no fd, no thread,
 * not a live handle yet.
 * Return: 0 with *@out set; -ENOMEM, or -EINVAL for a bad option.
 */
int runtime_new(const struct upg_runtime_opts *opts,
		struct upg_runtime **out);

/* Free a runtime object (runtime_new()'s, or a stopped runtime's). */
void runtime_free(struct upg_runtime *rt);

/**
 * runtime_create_local() - upg_runtime_create() of a runtime that
 * services its regions in this process: userfaultfd, handler threads,
 * evictor; a live handle on success.
 * Return: 0 with *@out set, or a negative errno (nothing is left).
 * Context: an application thread.
 */
int runtime_create_local(const struct upg_runtime_opts *opts,
			 struct upg_runtime **out);

/**
 * runtime_destroy_local() - upg_runtime_destroy() of a runtime serviced
 * in this process: unmap every region (writing it back), then the handle
 * dies and the threads and the userfaultfd go.  The object stays for the
 * caller to free (with a daemon connection left from a takeover).
 * Return: 0, or the first region's unmap error (then nothing is torn down
 * and the handle stays live).
 * Context: an application thread, not a notifier callback.
 */
int runtime_destroy_local(struct upg_runtime *rt);

/**
 * runtime_stats_local() - the counters of a runtime serviced in this
 * process in @s (every field upg_runtime_stats() reports).
 * Context: any thread; reads atomics only.
 */
void runtime_stats_local(struct upg_runtime *rt, struct upg_stats *s);

/**
 * runtime_mm_stats() - the counters of address space @mm (an upagerd
 * client's own, counted by MM_STAT_ADD()) in @s: every counter of struct
 * rt_stats, and its resident bytes and peak; budget_bytes is the
 * runtime's.  Other fields are left as they are.
 * Context: any thread; reads relaxed atomics only.
 */
void runtime_mm_stats(struct upg_mm *mm, struct upg_stats *s);

#endif
