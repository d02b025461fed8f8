/* SPDX-License-Identifier: MIT */
/*
 * notify_util - helpers for the tests of interval notifiers and of the
 * application's events (tests/unit/test_notifier.c, test_app_events.c):
 *
 *  - a recording notifier (struct nu_notifier) that logs every invalidate
 *    call and checks the contract of each call as it is made (odd
 *    sequence, a range that overlaps the notifier, never called once its
 *    removal returned), with an optional hook;
 *  - a recording store plugin (struct nu_store) that counts the reads
 *    (fills) and writes (writebacks) of every page and can hold reads or
 *    writes at a gate the test opens;
 *  - small things: a seeded PRNG, residency by mincore(), thread ids and
 *    states (to see that a thread is asleep in a call).
 *
 * Callbacks never call ck_assert (they run on runtime threads): they count
 * violations, and the test asserts the counts.
 */
#ifndef UPAGER_NOTIFY_UTIL_H
#define UPAGER_NOTIFY_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "upager.h"

/* ---- recording notifier -------------------------------------------------- */

struct nu_call {
	uintptr_t start, end;
	uint64_t seq;
	enum upg_notify_event event;
	bool blockable;
	bool accepted; /* the callback returned true */
	pid_t tid;
};

struct nu_notifier;

/*
 * Called first in every invalidate call, with no lock of the helper held.
 * Return false to refuse (only honoured when !range->blockable; a refused
 * call does not set the sequence).
 */
typedef bool (*nu_hook_fn)(struct nu_notifier *nn,
			   const struct upg_notifier_range *range,
			   uint64_t cur_seq);

#define NU_EVENTS 5 /* indexes 1..4: enum upg_notify_event */

struct nu_notifier {
	/*
	 * The runtime's notifier.  It must be all zeros before its first
	 * upg_interval_notifier_insert(): the runtime keeps its private
	 * state in it and reads that state to refuse a double insert
	 * (-EEXIST).  nu_init() zeroes the whole struct.
	 */
	struct upg_interval_notifier n;
	/* The "user lock" the callback takes around upg_interval_set_seq()
	 * (trylock when !blockable): &own_lock unless nu_init() got one. */
	pthread_mutex_t *user_lock;
	pthread_mutex_t own_lock;
	pthread_mutex_t log_lock;
	struct nu_call *calls;
	size_t ncalls, cap;
	_Atomic unsigned long events[NU_EVENTS];
	_Atomic unsigned long blockable_calls, nonblockable_calls;
	/* Contract violations seen inside the callback. */
	_Atomic unsigned long bad_seq;       /* even cur_seq */
	_Atomic unsigned long bad_range;     /* no overlap with the notifier */
	_Atomic unsigned long after_removed; /* called while not inserted */
	/* Refuse non-blockable calls (return false). */
	_Atomic bool refuse;
	_Atomic unsigned long refused;
	/* Set by nu_insert() before inserting, cleared once nu_remove()'s
	 * upg_interval_notifier_remove() has returned. */
	_Atomic bool live;
	nu_hook_fn hook;
	void *priv;
};

/* Zero @nn and set it up; @user_lock may be NULL (own lock). */
void nu_init(struct nu_notifier *nn, pthread_mutex_t *user_lock);
/* Free the log (after removal). */
void nu_fini(struct nu_notifier *nn);
/* upg_interval_notifier_insert() / _remove() keeping nn->live right. */
int nu_insert(struct upg_runtime *rt, struct nu_notifier *nn, uintptr_t addr,
	      size_t len);
int nu_remove(struct nu_notifier *nn);

unsigned long nu_count(struct nu_notifier *nn, enum upg_notify_event ev);
unsigned long nu_total(struct nu_notifier *nn);
/* Sum of the three violation counters. */
unsigned long nu_violations(struct nu_notifier *nn);
/* A copy of the log (free() it); *@n receives its length. */
struct nu_call *nu_calls(struct nu_notifier *nn, size_t *n);

extern const struct upg_interval_notifier_ops nu_ops;

static inline bool nu_overlaps(uintptr_t a0, uintptr_t a1, uintptr_t b0,
			       uintptr_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* ---- recording store ----------------------------------------------------- */

struct nu_store {
	struct upg_store *st; /* the caller's reference (nu_store_put) */
	size_t ps;
	uint64_t size, npages;
	unsigned char *data;
	/* Requests that covered each page (by store offset / page size). */
	_Atomic uint64_t *reads, *writes;
	_Atomic uint64_t total_reads, total_writes;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* By enum upg_io_op: requests overlapping [off, off+len) of a closed
	 * gate wait in submit() (on the runtime's thread) until it opens. */
	struct nu_gate {
		bool closed;
		uint64_t off, len;
		unsigned blocked;          /* requests waiting now */
		uint64_t last_blocked_off; /* offset of the last one held */
	} gate[2];
	_Atomic bool closed; /* the runtime dropped its last reference */
};

/* A store of @size bytes holding data set @seed (tu_fill). */
struct nu_store *nu_store_create(uint64_t size, uint64_t seed);
/* Drop the caller's reference (the regions keep theirs). */
void nu_store_put(struct nu_store *ns);
/* Free the memory once the store is closed (after the regions went). */
void nu_store_free(struct nu_store *ns);
uint64_t nu_store_reads(struct nu_store *ns, uint64_t pg);
uint64_t nu_store_writes(struct nu_store *ns, uint64_t pg);
/* Hold requests @op overlapping [off, off+len) until opened. */
void nu_store_close_gate(struct nu_store *ns, enum upg_io_op op, uint64_t off,
			 uint64_t len);
void nu_store_open_gate(struct nu_store *ns, enum upg_io_op op);
/* Requests @op held now; *@last_off: the offset of the last one held. */
unsigned nu_store_blocked(struct nu_store *ns, enum upg_io_op op,
			  uint64_t *last_off);

/* ---- odds and ends ------------------------------------------------------- */

/* xorshift64*: deterministic for a seed (never 0). */
static inline uint64_t nu_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A runtime with these options; skips the program like tu_runtime(). */
struct upg_runtime *nu_runtime(const struct upg_runtime_opts *o);

pid_t nu_gettid(void);
/* State letter of thread @tid of this process ('R', 'S', 'D' ...), or 0. */
char nu_thread_state(pid_t tid);
/* Is thread @tid asleep in a userfaultfd fault (its wchan says so)? */
bool nu_thread_in_fault(pid_t tid);
/* Is the page at @addr in its file's page cache (mincore)? */
bool nu_resident(const void *addr);

#endif
