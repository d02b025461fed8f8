/* SPDX-License-Identifier: MIT */
/*
 * fork - servicing the regions in fork children (UPG_RT_FORK_EVENTS): the
 * views, their lock and their write-protection (fork/views.c), which the
 * layers below the fault path use (the handlers read every uffd under
 * fork_read_lock(), writeback and eviction write-protect the views); the
 * view thread that serves the children's faults through the fill path is
 * above them, in forkserve/ (forkserve/forkserve.h).
 *
 * By default regions are MADV_DONTFORK: a child has no mapping.  With the
 * flag, the application mapping is inherited and the runtime enables
 * UFFD_FEATURE_EVENT_FORK: each fork of an address space that maps
 * regions (the parent, or a child already serviced) sends UFFD_EVENT_FORK
 * with a new userfaultfd for the child's address space.  The child's
 * mapping of a region is a *view*: same memfd, same page states, its own
 * uffd and address.  One thread (forkserve/view_thread.c) reads every view's
 * uffd and resolves the children's faults through the parent's fill path;
 * eviction and writeback write-protect every view, as they do the parent
 * (views_writeprotect()), and the punch zaps them all.
 *
 * The one race that matters, a child inheriting a writable PTE of a page
 * being written back, and how views_lock closes it:
 *
 *   fork (kernel)                   reader thread      eviction
 *   mmap_changing++ (parent ctx)
 *   copy PTEs (writable: not yet
 *   write-protected)
 *   wait for the FORK msg read <--- wrlock views_lock
 *                                   read(): FORK msg
 *   mmap_changing-- ; child runs    register the view
 *                                   unlock
 *                                                      WP parent: -EAGAIN
 *                                                      while mmap_changing,
 *                                                      so it succeeds only
 *                                                      after the read; then
 *                                                      rdlock views_lock:
 *                                                      the view is there,
 *                                                      WP it too
 *
 * A write-protect that succeeds before the fork copies the PTEs makes the
 * child's copy write-protected; one that succeeds after is done with the
 * reader's registration behind it (every uffd read happens under the write
 * side of views_lock).  So no child can write a page after eviction copied
 * it.  Applies to every generation: a view's uffd is read the same way.
 */
#ifndef UPAGER_FORK_H
#define UPAGER_FORK_H

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/io_queue.h"
#include "uffd/uffd.h"

struct upg_runtime;
struct upg_region;

/* A region as one child address space maps it. */
struct view_region {
	struct upg_region *r;
	uintptr_t addr; /* in the child; 0 once the child unmapped it */
	uint64_t len;
	bool broken;    /* the child moved part of it: faults get SIGBUS */
};

/* One child address space. */
struct fork_view {
	struct uffd_ctx u; /* the uffd from UFFD_EVENT_FORK, our features */
	atomic_bool dead;  /* the child exited or exec'd (ioctls: ESRCH) */
	struct view_region *vr;
	size_t nr_vr;
	struct fork_view *next;
};

#define VIEW_BACKLOG 256

struct fork_state {
	bool enabled;
	/* Write side: reading any userfaultfd (the parent's and the views')
	 * and applying the events read; read side: write-protect passes and
	 * view lookups.  See the diagram above. */
	pthread_rwlock_t lock;
	struct fork_view *views;
	/* A PROT_NONE page every child inherits: a write-protect clear on it
	 * answers -ENOENT while the child lives, -ESRCH once it is gone. */
	void *guard;
	/* The view thread: its I/O queue, stop and wake eventfd. */
	pthread_t thread;
	bool started;
	int efd;
	atomic_bool stopping;
	struct upg_io_queue q;
	/* Page faults read by the -EAGAIN hook, handled in the main loop. */
	struct {
		struct fork_view *v;
		struct uffd_msg m;
	} backlog[VIEW_BACKLOG];
	unsigned backlog_len;
	_Atomic uint64_t live, created, faults;
};

/**
 * fork_init() - set up fork servicing when the runtime asks for it.
 * Context: upg_runtime_create(), before the uffd is opened.
 */
int fork_init(struct upg_runtime *rt);

/* Around every read of a userfaultfd and the handling of its events
 * (no-ops unless fork servicing is on). */
void fork_read_lock(struct upg_runtime *rt);
void fork_read_unlock(struct upg_runtime *rt);

/**
 * fork_on_event() - UFFD_EVENT_FORK read from the parent's uffd: a view
 * of every region the parent maps.
 * Context: inside fork_read_lock().
 */
void fork_on_event(struct upg_runtime *rt, const struct uffd_msg *m);

/**
 * views_writeprotect() - write-protect pages [pg, pg + n) of @r in every
 * child's view, after the parent's mapping was write-protected.
 * Return: 0, or a negative errno (the pages are not safely protected).
 * Context: no runtime lock held (waits out events being read).
 */
int views_writeprotect(struct upg_region *r, uint64_t pg, uint64_t n);

/**
 * fork_forget_region() - @r is being unmapped: drop it from every view
 * (a child's later access gets SIGBUS).
 * Context: upg_region_unmap(), before the region's references drain.
 */
void fork_forget_region(struct upg_region *r);

/* For fork/views.c and forkserve/ (view_thread.c, view_fault.c). */
struct fork_view *view_new(struct upg_runtime *rt, int uffd,
			   const struct fork_view *from);
void view_free(struct fork_view *v);
struct view_region *view_find(struct fork_view *v, uintptr_t addr);
bool view_alive(struct upg_runtime *rt, struct fork_view *v);
void view_on_event(struct upg_runtime *rt, struct fork_view *v,
		   const struct uffd_msg *m);

#endif
