/* SPDX-License-Identifier: MIT */
/*
 * pin_util - helpers for the tests of the client contracts (pins,
 * fault-in, nofault copies): a store plugin that records which pages are
 * read and flags reads of pages the test says must stay resident, a
 * runtime from explicit options, a poll that does not fail, and a way to
 * tell that a thread sleeps on a futex.
 */
#ifndef UPAGER_PIN_UTIL_H
#define UPAGER_PIN_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "testutil.h"

/*
 * A store in private memory, served synchronously from submit(), that
 * counts the read requests covering each page and lets a test mark pages
 * "watched": a read of a watched page (the page was not resident while the
 * test held it so) is a violation, counted with the page recorded.
 * Reads can be made to fail over a page range.
 */
struct pu_store {
	struct upg_store *st; /* the caller's reference */
	unsigned char *data;
	uint64_t size, npages;
	size_t page;
	_Atomic uint64_t *reads; /* per page */
	_Atomic uint64_t *writes; /* per page */
	_Atomic uint32_t *watch; /* per page: > 0 while reads are forbidden */
	_Atomic uint64_t violations;
	_Atomic uint64_t violation_pg; /* the first one */
	_Atomic uint64_t nr_reads, nr_writes;
	/* Reads overlapping pages [fail_first, fail_end) fail with fail_err. */
	_Atomic uint64_t fail_first, fail_end;
	_Atomic int fail_err;
	/* Reads held back (not completed) while the gate is closed. */
	pthread_mutex_t gate_lock;
	bool gate_closed;
	struct upg_io **held;
	size_t nr_held, held_cap;
	/* Reads block the submitting thread while blocking is set. */
	pthread_cond_t unblocked;
	bool blocking;
	unsigned nr_blocked;
};

/* A store of @size bytes holding data set @seed (tu_fill). */
struct pu_store *pu_store_create(uint64_t size, uint64_t seed);
/* Drop the caller's store reference and free the memory.  Call after the
 * regions on it are unmapped (or the runtime destroyed). */
void pu_store_free(struct pu_store *s);
/* Read requests that covered page @pg so far. */
uint64_t pu_store_reads(struct pu_store *s, uint64_t pg);
/* Write requests that covered page @pg so far. */
uint64_t pu_store_writes(struct pu_store *s, uint64_t pg);
/* Sum of pu_store_reads() over [first, end). */
uint64_t pu_store_reads_range(struct pu_store *s, uint64_t first,
			      uint64_t end);
/* Watch (+1) or unwatch (-1) pages [first, end). */
void pu_store_watch(struct pu_store *s, uint64_t first, uint64_t end,
		    int delta);
/* Make reads overlapping pages [first, end) fail with @err (end == first:
 * no failures). */
void pu_store_fail_reads(struct pu_store *s, uint64_t first, uint64_t end,
			 int err);
/* Close the gate: reads are accepted but held, not completed, until the
 * gate opens again.  Opening completes them on the calling thread. */
void pu_store_gate(struct pu_store *s, bool closed);
/* Make read submissions block their thread (a handler thread, for a
 * fault) until unblocked. */
void pu_store_block(struct pu_store *s, bool on);
/* Threads blocked in a read submission now. */
unsigned pu_store_blocked(struct pu_store *s);
/* Reads held at the gate now. */
size_t pu_store_held(struct pu_store *s);
/* First byte offset in [off, off+len) where the store differs from data
 * set @seed, relative to @off, or UINT64_MAX. */
uint64_t pu_store_check(struct pu_store *s, uint64_t off, uint64_t len,
			uint64_t seed);

/* A region of @len bytes on @s (store offset @off); fails the test on
 * error. */
struct upg_region *pu_map_store(struct upg_runtime *rt, struct pu_store *s,
				uint64_t off, uint64_t len);
/* Read pages [first, end) at @a (a region's address) and fail the test,
 * naming the page, unless each holds data set @seed. */
void pu_check_pages(const void *a, uint64_t first, uint64_t end,
		    uint64_t seed);
/* Fail the test if the store saw reads of watched pages. */
void pu_assert_no_violation(struct pu_store *s);
/* Fail the test unless @pins pins were taken and dropped, none held. */
void pu_assert_balanced(struct upg_runtime *rt, uint64_t pins);

/* An address range of @len bytes nobody uses (PROT_NONE), for mremap to
 * move a region onto. */
void *pu_reserve(uint64_t len);
/* Move region @r to @to with mremap, as an application may (a REMAP
 * event), and wait until the runtime has it at its new address.  Two
 * regions moved into one reserved range end up adjacent. */
void pu_move_region(struct upg_region *r, void *to);

/* upg_runtime_create(@o), failing the test on error and skipping the
 * program (exit 77) when no userfaultfd can be had. */
struct upg_runtime *pu_runtime(const struct upg_runtime_opts *o);

/* Resident bytes and dirty bytes of a region (upg_region_stats). */
uint64_t pu_region_resident(struct upg_region *r);
uint64_t pu_region_dirty(struct upg_region *r);

/* Is every page of [p, p+len) resident?  Probed with a nofault copy, which
 * neither faults nor reads the store (it marks the pages referenced). */
bool pu_resident(struct upg_runtime *rt, const void *p, size_t len);

/* Read every page of [p, p+len) and wait until the runtime has published
 * them resident (a touched page is, a moment after the access returns). */
void pu_touch_resident(struct upg_runtime *rt, const void *p, size_t len);

/* The calling thread's id. */
pid_t pu_gettid(void);
/* Does thread @tid of this process sleep in a futex wait (its wchan)? */
bool pu_in_futex(pid_t tid);

/*
 * PU_POLL(cond, timeout_ms): poll @cond, yielding, until it holds or the
 * timeout passes; evaluates to its last value.  For a test that must tell
 * "did not happen" apart from a failure, with its own message.
 */
#define PU_POLL(cond, timeout_ms)                                           \
	({                                                                  \
		uint64_t pu_deadline_ = tu_now_ns() +                       \
					(uint64_t)(timeout_ms) * 1000000ull; \
		bool pu_ok_;                                                \
		while (!(pu_ok_ = (cond)) && tu_now_ns() < pu_deadline_)    \
			sched_yield();                                      \
		pu_ok_;                                                     \
	})

/* splitmix64, for choosing pages and ranges from a seed. */
struct pu_rng {
	uint64_t s;
};

static inline uint64_t pu_next(struct pu_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t pu_below(struct pu_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)pu_next(r) * n) >> 64);
}

/* Read (volatile) and rewrite one word of every page of [p, p+len): the
 * pages become dirty, their content unchanged. */
void pu_touch_write(void *p, uint64_t len);

#endif
