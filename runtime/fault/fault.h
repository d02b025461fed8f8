/* SPDX-License-Identifier: MIT */
/*
 * fault - the handler threads: read userfaultfd messages, resolve page
 * faults (fault/resolve.c), start fills (fault/fill.c) and complete them
 * when their store I/O finishes on the thread's own io_uring queue.
 */
#ifndef UPAGER_FAULT_H
#define UPAGER_FAULT_H

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>

#include "base/rt.h"
#include "io/io_queue.h"

struct upg_region;
struct ra_plan;

#define HANDLER_MSG_BATCH 64
#define HANDLER_BACKLOG 256

struct handler {
	struct upg_runtime *rt;
	pthread_t thread;
	/* Set once the thread has made its first allocation (handler_main):
	 * handlers_start() waits for it. */
	_Atomic uint32_t ready;
	struct upg_io_queue q;
	/* Page faults read while draining events (see drain_events()): they
	 * are handled from the main loop, in order. */
	struct {
		struct upg_mm *mm;
		struct uffd_msg m;
	} backlog[HANDLER_BACKLOG];
	unsigned backlog_head, backlog_len;
	int epfd;
	/* UPG_WAIT_POLL: the poll set, rebuilt on each wait, and each entry's
	 * epoll tag (fault/handler.c). */
	struct pollfd *poll_fds;
	uint64_t *poll_tags;
	unsigned poll_cap;
	bool started;
	/* UPG_RT_FILL_TIMING: when this thread's wait last returned, and
	 * when the messages it handles now were read (0: not timed, e.g.
	 * faults kept in the backlog). */
	uint64_t t_wake, t_msg;
	/* Timed reads queued since the last submission. */
	unsigned timed_queued;
};

int handlers_start(struct upg_runtime *rt);
void handlers_stop(struct upg_runtime *rt);

/**
 * handlers_add_mm() - serve another address space: its uffd joins every
 * handler's epoll set.  Initializes @mm->read_lock and @mm->rt.
 * handlers_del_mm() - stop reading it (its regions must be gone); @mm must
 * stay allocated until the handlers stop, the caller closes its uffd.
 * Context: not a handler thread.
 */
int handlers_add_mm(struct upg_runtime *rt, struct upg_mm *mm);
void handlers_del_mm(struct upg_runtime *rt, struct upg_mm *mm);

/**
 * fault_resolve() - act on one page fault message.
 * Context: handler thread @h.
 */
void fault_resolve(struct handler *h, struct upg_mm *mm,
		   const struct uffd_msg *msg);

/* How a fill was asked for, and who waits for it (fault/fill.c). */
struct fill_ctl {
	uint64_t fault_pg; /* the faulting page, UINT64_MAX for none */
	bool write_fault;  /* fault_pg is being written: map it writable */
	bool write_all;    /* fault-in for writing: every page writable, dirty */
	pid_t tid;         /* faulting thread (0 unknown), for SIGBUS */
	/* For a caller that waits (fault-in): runs in flight, decremented
	 * (and futex-woken at 0) as each completes; first error seen. */
	_Atomic uint32_t *pending;
	_Atomic int *err;
	/* Read-ahead (runtime/readahead/): claim only pages that need a
	 * read, mark them PS_READAHEAD, publish them without REF, and leave
	 * @trigger_pg (if claimed) unmapped so that its first touch faults. */
	bool readahead;
	uint64_t trigger_pg;
	/* Read-ahead under upagerd's fair shares or a client's cap, or
	 * with every resident page busy: the budget may have room for only
	 * part of the range (evict/budget.c, fill_range()).  The part kept
	 * is the stream's side, next to @trigger_pg: the bottom, or the top
	 * if the stream goes @down; the first page left out, in the
	 * stream's direction, is written to *@cut (if not NULL; untouched
	 * if the range is whole). */
	bool down;
	uint64_t *cut;
	/* Publish without REF: the clock may take them first (SEQUENTIAL). */
	bool cold;
	/* UPG_RT_FILL_TIMING, a demand fill: the handler's wake-up and the
	 * fault's message read (struct handler); 0: not timed. */
	uint64_t t_wake, t_msg;
	/* The handler whose submission carries the read (its timed_queued
	 * is counted); NULL: not timed. */
	struct handler *timer;
};

/**
 * fill_range() - claim the ABSENT pages of [first, end) of @r and start
 * filling them: reserve budget (evicting with @q if full), read each
 * contiguous run into the alias (async on @q) or zero-fill it, and map it
 * into the application as @c says.  A read-ahead range is cut to whole
 * fill units from the stream's side when the budget has too little room
 * for it (fair shares, busy pages: see struct fill_ctl).
 * Return: pages claimed.
 * Context: the thread owning @q.
 */
uint64_t fill_range(struct upg_io_queue *q, struct upg_region *r,
		    uint64_t first, uint64_t end, const struct fill_ctl *c);

/**
 * fill_readahead() - carry out read-ahead plan @plan for @r (made by
 * readahead_on_miss() or readahead_on_use()): count the pages the stream
 * used, then claim and start reading the window, except what the budget
 * has no room for (the stream is told: readahead_cut()).
 * @q: the I/O queue of the calling thread.
 * Context: the thread owning @q (a handler); no lock held.
 */
void fill_readahead(struct upg_io_queue *q, struct upg_region *r,
		    const struct ra_plan *plan);

/**
 * map_resident_page() - map a resident page into the application: after
 * a minor fault (the clock zapped its PTE), or for fault-in and pins.
 * @write:     the page is to be written: map it writable and mark it dirty
 *             (so is a clean page when the kernel lacks CONTINUE_MODE_WP);
 *             otherwise a clean page is mapped write-protected.
 * @unprotect: also lift write-protection, for a page that may be mapped
 *             already (fault-in); a minor fault's page is not mapped.
 * Return: false if the page is not resident (any more).
 */
bool map_resident_page(struct upg_region *r, uint64_t pg, bool write,
		       bool unprotect);

/**
 * fill_start() - make the fill unit around page @pg of @r resident, for a
 * MISSING fault at @pg (@write: the fault was a write).  Reserves budget
 * (evicting synchronously if it must), claims the absent pages, and starts
 * their store reads or zero-fills.  Resolution completes asynchronously.
 * @tid: faulting thread (0 if unknown), for error delivery.
 * Context: handler thread @h.
 */
void fill_start(struct handler *h, struct upg_region *r, uint64_t pg,
		bool write, pid_t tid);

/* What wp_fault_lift() did with a write-protect fault. */
enum wp_lift {
	WP_LIFTED,	/* resident: marked DIRTY | REF, protection lifted */
	WP_HANDED_OFF,	/* in transition: @busy took the fault (parked it) */
	WP_ABSENT,	/* evicted: the caller wakes the fault (MISSING next) */
};

/**
 * wp_fault_lift() - the write-protect fault loop, one copy for the
 * handlers (fault/resolve.c) and the fork view thread (fork/view_fault.c):
 * a write to a clean page.  A resident page is marked DIRTY | REF under its
 * LOCK and the protection of [@addr, @addr + @len) is lifted through @u
 * (which wakes the writer): DIRTY is set first, so no write goes unseen.
 * @busy: the page is FILLING or EVICTING (word @s): returns true when it
 *        took the fault (parked it, served it), false to look again (it
 *        waited, or the word changed under it).
 * @word: on WP_LIFTED, the page's word as seen before the lock.
 * @err: on WP_LIFTED, the result of UFFDIO_WRITEPROTECT (0 or -errno).
 * Return: WP_LIFTED, WP_HANDED_OFF or WP_ABSENT (see enum wp_lift).
 * Context: the thread that reads @u (a handler, or the view thread); not
 * for hugetlb units (resolve_wp_unit() locks the whole unit).
 */
enum wp_lift wp_fault_lift(const struct uffd_ctx *u, _Atomic uint32_t *p,
			   uintptr_t addr, size_t len,
			   bool (*busy)(void *arg, _Atomic uint32_t *p,
					uint32_t s),
			   void *arg, uint32_t *word, int *err);

#endif
