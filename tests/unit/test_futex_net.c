/* SPDX-License-Identifier: MIT */
/*
 * The futex safety nets (runtime/common/futex.h): a page-state waiter
 * (ps_wait()) whose waker changes the word, clears WAITERS and never
 * wakes is released by the 10 ms net, and the expiry is counted as a lost
 * wake-up; a waker that wakes leaves the counter alone, and one that
 * wakes late (after the net expired) is counted late, not lost, and so is
 * one whose wake came between the expiry and the check (it found nobody
 * asleep: the first form of the check counted it lost).  The counters are
 * what tu_check_lost_wakeups() (every test process, at exit) fails on, so
 * each test here puts them back to 0 once it has looked.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common/futex.h"
#include "notify_util.h"
#include "region/page_state.h"
#include "testutil.h"

struct waker {
	_Atomic uint32_t word;
	bool wake;                /* issue the wake the protocol owes */
	bool late;                /* ... only once the net expired */
	_Atomic pid_t tid;        /* the waiter's, once it runs */
};

static void *waiter(void *arg)
{
	struct waker *w = arg;

	uint32_t s;

	atomic_store(&w->tid, nu_gettid());
	/* As the runtime's callers do: wait again while still FILLING (an
	 * expiry before the change is counted in expired, not lost). */
	while (ps_state(s = atomic_load(&w->word)) == PS_FILLING)
		ps_wait(&w->word, s);
	return NULL;
}

/* Change FILLING|WAITERS to RESIDENT (WAITERS cleared, as every
 * transition that owes a wake does) once the waiter sleeps. */
static void run(struct waker *w)
{
	pthread_t t;
	uint32_t old;

	atomic_store(&w->word, PS_FILLING);
	atomic_store(&futex_net_lost, 0);
	atomic_store(&futex_net_late, 0);
	atomic_store(&futex_net_expired, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, waiter, w), 0);
	/* WAITERS set and the thread asleep: in ps_wait()'s futex_wait(),
	 * the one place it can sleep after setting WAITERS. */
	TU_WAIT_FOR(atomic_load(&w->word) & PS_WAITERS, 10000);
	TU_WAIT_FOR(nu_thread_state(atomic_load(&w->tid)) == 'S', 10000);
	old = atomic_exchange(&w->word, PS_RESIDENT);
	if (w->late) {
		/* Expired, and asleep again in the follow-up. */
		TU_WAIT_FOR(atomic_load(&futex_net_expired), 10000);
		TU_WAIT_FOR(nu_thread_state(atomic_load(&w->tid)) == 'S',
			    10000);
	}
	if (w->wake)
		ps_wake(&w->word, old);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

START_TEST(test_missing_wake_is_counted)
{
	struct waker w = { .wake = false };
	int tries;

	/* The waiter was asleep on FILLING|WAITERS when the word changed,
	 * so only the net released it, and saw WAITERS clear.  Unless this
	 * thread was descheduled between seeing it asleep and the change,
	 * long enough for a 10 ms expiry to wake it first: then try again. */
	for (tries = 0; tries < 5; tries++) {
		run(&w);
		if (atomic_load(&futex_net_lost))
			break;
	}
	ck_assert_uint_eq(atomic_load(&futex_net_lost), 1);
	ck_assert_uint_ge(atomic_load(&futex_net_expired), 1);
	atomic_store(&futex_net_lost, 0);
	atomic_store(&futex_net_expired, 0);
}
END_TEST

START_TEST(test_late_wake_is_not_lost)
{
	struct waker w = { .wake = true, .late = true };
	int tries;

	/* Lost only if this thread took over a second from the expiry to its
	 * wake (descheduled): then try again. */
	for (tries = 0; tries < 5; tries++) {
		run(&w);
		if (atomic_load(&futex_net_late))
			break;
	}
	ck_assert_uint_eq(atomic_load(&futex_net_late), 1);
	ck_assert_uint_ge(atomic_load(&futex_net_expired), 1);
	atomic_store(&futex_net_lost, 0);
	atomic_store(&futex_net_late, 0);
	atomic_store(&futex_net_expired, 0);
}
END_TEST

START_TEST(test_owed_wake_is_not_counted)
{
	struct waker w = { .wake = true };

	run(&w);
	ck_assert_uint_eq(atomic_load(&futex_net_lost), 0);
}
END_TEST

/* The wake issued between the net's expiry and its check: nobody was
 * asleep to receive it, but it was issued, so it is not lost.  Played in
 * one thread, in that order: announce (futex_net_begin()), the waker's
 * store and wake, then the check.  With an unchanged wake sequence the
 * check would wait its second and count a lost wake-up. */
START_TEST(test_wake_between_expiry_and_check)
{
	_Atomic uint32_t word = PS_FILLING | PS_WAITERS;
	uint32_t seq0 = futex_net_begin(&word);
	uint64_t t0 = tu_now_ns();

	atomic_store(&futex_net_lost, 0);
	atomic_store(&futex_net_late, 0);
	ps_wake(&word, atomic_exchange(&word, PS_RESIDENT));
	futex_net_lost_wakeup(&word, seq0);
	ck_assert_uint_eq(atomic_load(&futex_net_lost), 0);
	ck_assert_uint_eq(atomic_load(&futex_net_late), 1);
	/* Seen at once, not after the follow-up's second. */
	ck_assert_uint_lt(tu_now_ns() - t0, 500000000ull);
	atomic_store(&futex_net_late, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("futex_net");
	TCase *tc = tcase_create("ps_wait");

	tcase_add_test(tc, test_missing_wake_is_counted);
	tcase_add_test(tc, test_late_wake_is_not_lost);
	tcase_add_test(tc, test_owed_wake_is_not_counted);
	tcase_add_test(tc, test_wake_between_expiry_and_check);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
