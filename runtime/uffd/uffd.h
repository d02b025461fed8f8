/* SPDX-License-Identifier: MIT */
/*
 * uffd - opening a userfaultfd with the features the runtime needs, and
 * the few ioctls it issues, each retried the way the kernel asks.
 */
#ifndef UPAGER_UFFD_H
#define UPAGER_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uffd/uffd_compat.h"

struct upg_runtime;

struct uffd_ctx {
	int fd;
	uint64_t features; /* UFFD_FEATURE_* enabled on fd */
	int mode;          /* enum upg_uffd_mode */
	bool continue_wp;  /* UFFDIO_CONTINUE_MODE_WP understood */
	/* The process whose address space fd serves, 0 for this one: the
	 * SIGBUS fallback of uffd_poison() signals its thread. */
	pid_t pid;
};

/* Features a region cannot work without (see DESIGN.md sections 2-3). */
#define UFFD_REQUIRED_FEATURES                                              \
	(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM |            \
	 UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_EVENT_REMAP |       \
	 UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE)
/* Features used when the kernel has them. */
/* Hugetlbfs MISSING and MINOR: only for UPG_REGION_HUGETLB regions. */
#define UFFD_HUGETLB_FEATURES \
	(UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_MINOR_HUGETLBFS)
#define UFFD_OPTIONAL_FEATURES \
	(UFFD_FEATURE_POISON | UFFD_FEATURE_THREAD_ID | UFFD_HUGETLB_FEATURES)

/**
 * uffd_open() - open a non-blocking userfaultfd and enable the features.
 * @rt:        for log messages.
 * @user_only: ask for UFFD_USER_MODE_ONLY from the start.
 * @fork_events: also require UFFD_FEATURE_EVENT_FORK.
 * @out:       filled on success.
 *
 * Order (DESIGN.md section 4): /dev/userfaultfd with USERFAULTFD_IOC_NEW,
 * then the userfaultfd(2) syscall, then the syscall in user-mode-only mode.
 * Return: 0; -EPERM/-EACCES with a log line naming the fix when none can be
 * opened; -EOPNOTSUPP when a required feature is missing.
 */
int uffd_open(const struct upg_runtime *rt, bool user_only, bool fork_events,
	      struct uffd_ctx *out);

/*
 * Test injection for uffd_open()'s fallbacks (tests/unit/test_uffd_open.c):
 * while uffd_open_inject points to one, each way of opening counts its
 * attempt and, if its err is negative, fails with it as if the kernel had
 * refused; the features the kernel offers are reported without @hide.
 * NULL (always, outside that test): no effect.
 */
struct uffd_open_inject {
	int dev_err, sys_err, user_err;      /* 0: the real call */
	unsigned dev_tries, sys_tries, user_tries;
	uint64_t hide;
};
extern struct uffd_open_inject *uffd_open_inject;

/**
 * uffd_register() - register [addr, addr+len) for MISSING and MINOR faults,
 * and write-protect faults when @wp.
 */
int uffd_register(const struct uffd_ctx *u, void *addr, size_t len, bool wp);
int uffd_unregister(const struct uffd_ctx *u, void *addr, size_t len);

/*
 * The ioctls below act on the application's mapping.  Each returns 0 or a
 * negative errno; -EAGAIN (the address space is changing: an event is
 * waiting to be read) is retried inside, after letting the handler threads
 * read the event (see uffd_eagain_hook).  -ENOENT means the range is no
 * longer registered (the application unmapped it).
 */

/* Map pages already in the memfd (MINOR resolution / zero-copy fill).
 * Pages already mapped (-EEXIST) are skipped. @wp maps them read-only
 * under uffd write-protect. */
int uffd_continue(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		  bool wp);
/* The same on a mapping of @page-sized pages (a hugetlb region: 2 MiB;
 * @addr and @len are multiples of it): an already mapped page is skipped
 * whole, since the kernel refuses ranges that split one. */
int uffd_continue_unit(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		       bool wp, size_t page);
/* Set (@wp) or clear write-protection; clearing wakes the writers. */
int uffd_writeprotect(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		      bool wp);
/* Wake threads waiting on faults in the range. */
int uffd_wake(const struct uffd_ctx *u, uintptr_t addr, size_t len);
/* Resolve a fault with an error: the faulting thread gets SIGBUS.
 * @tid: the faulting thread, for the fallback when UFFDIO_POISON is
 * missing (0: unknown). */
int uffd_poison(const struct uffd_ctx *u, uintptr_t addr, size_t len,
		pid_t tid);

/* Two page-fault messages for the same page (@mask: ~(page size - 1))
 * and the same kind: a batch's duplicates, resolved once. */
static inline bool uffd_same_fault(const struct uffd_msg *a,
				   const struct uffd_msg *b, uint64_t mask)
{
	return a->event == UFFD_EVENT_PAGEFAULT &&
	       b->event == UFFD_EVENT_PAGEFAULT &&
	       (a->arg.pagefault.address & mask) ==
		       (b->arg.pagefault.address & mask) &&
	       a->arg.pagefault.flags == b->arg.pagefault.flags;
}

/**
 * uffd_batch_first() - whether @msgs[@i] is a page fault to resolve: the
 * first of its kind in the batch @msgs[0..@i].  Several threads faulting
 * on one page queue one message each; the batch resolves it once.  The
 * duplicate-fault loop of the handlers (fault/handler.c) and of the fork
 * view thread (fork/view_thread.c).
 * @mask: ~(page size - 1).
 * @by_thread: duplicates must also come from the same thread (the
 *        handlers: a notifier callback thread's fault is its own).
 */
static inline bool uffd_batch_first(const struct uffd_msg *msgs, int i,
				    uint64_t mask, bool by_thread)
{
	int j;

	if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
		return false;
	for (j = 0; j < i; j++)
		if (uffd_same_fault(&msgs[i], &msgs[j], mask) &&
		    (!by_thread || msgs[i].arg.pagefault.feat.ptid ==
					   msgs[j].arg.pagefault.feat.ptid))
			return false;
	return true;
}

/*
 * Called when an ioctl met -EAGAIN.  A handler thread sets this to a
 * function that reads pending events (otherwise a single handler thread
 * would wait on itself); elsewhere the caller yields to the handlers.
 */
extern __thread void (*uffd_eagain_hook)(void *arg);
extern __thread void *uffd_eagain_arg;

/* What the ioctls above do on -EAGAIN: run the hook, or yield.  For
 * callers that issue a raw ioctl and must drop a lock first. */
void uffd_on_eagain(void);

#endif
