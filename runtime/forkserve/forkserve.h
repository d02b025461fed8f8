/* SPDX-License-Identifier: MIT */
/*
 * forkserve - the view thread: it reads the userfaultfd of every fork
 * child, applies the child's events and resolves its faults through the
 * parent's fill path (view_thread.c, view_fault.c).  The views themselves,
 * their lock and their write-protection are fork/'s (fork/fork.h), below
 * the fault path; this folder sits above it (fault/, pin/, evict/).
 */
#ifndef UPAGER_FORKSERVE_H
#define UPAGER_FORKSERVE_H

#include <linux/userfaultfd.h>

struct upg_runtime;
struct fork_view;

/**
 * fork_start() - start the view thread, if fork servicing is on.
 * @rt: a runtime after fork_init() and runtime_start_local().
 * Return: 0, or a negative errno (no thread started).
 * Context: upg_runtime_create().
 *
 * fork_stop() - stop it and close every view (children still running
 * keep their mappings, no longer serviced: see docs/app-events.md); undoes
 * fork_init() too.
 * Context: upg_runtime_destroy() or a failed create; last, after the
 * handler threads stopped (they read their uffd under the fork lock).
 */
int fork_start(struct upg_runtime *rt);
void fork_stop(struct upg_runtime *rt);

/**
 * view_fault() - resolve page fault @m of child view @v through the
 * parent's fill path (view_fault.c).
 * Context: the view thread.
 */
void view_fault(struct upg_runtime *rt, struct fork_view *v,
		const struct uffd_msg *m);

/**
 * view_drain() - read and apply the children's pending events while the
 * view thread waits (installed as uffd_eagain_hook; @arg: the runtime).
 * Context: the view thread.
 */
void view_drain(void *arg);

#endif
