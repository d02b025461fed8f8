/* SPDX-License-Identifier: MIT */
/*
 * The executable contracts (runtime/common/assert.h, UPAGER_ASSERTS): each
 * kind of check aborts on a violation - UPG_ASSERT, assert_held() on a
 * mutex nobody holds and on one another thread holds, the thread roles -
 * and stays quiet when the rule holds.  Then the rules placed in the
 * runtime, broken on purpose: runtime_caller_done() without the caller
 * lock, self_zap() off the evictor, fault_resolve() off a handler,
 * handlers_add_mm() from a handler, an eviction from inside a notifier
 * callback.  Every violation runs in Check's forked child and must end in
 * SIGABRT (tcase_add_test_raise_signal).  Skipped (77) in a build without
 * UPAGER_ASSERTS, where the checks compile to nothing.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "core/runtime.h"
#include "evict/evict.h"
#include "region/self_zap.h"
#include "fault/fault.h"
#include "notify/notifier.h"
#include "testutil.h"

/* ---- the mechanism ------------------------------------------------------- */

START_TEST(test_assert_true_is_quiet)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	UPG_ASSERT(1 + 1 == 2);
	pthread_mutex_lock(&m);
	assert_held(&m);
	ck_assert(upg_mutex_held_by_self(&m));
	pthread_mutex_unlock(&m);
	ck_assert(!upg_mutex_held_by_self(&m));
	upg_role_set(UPG_ROLE_HANDLER);
	assert_role(UPG_ROLE_HANDLER);
	assert_not_role(UPG_ROLE_EVICTOR | UPG_ROLE_NOTIFIER_CB);
	upg_role_clear(UPG_ROLE_HANDLER);
	assert_not_role(UPG_ROLE_HANDLER);
}
END_TEST

START_TEST(test_assert_false_aborts)
{
	volatile int two = 2;

	UPG_ASSERT(two == 3);
}
END_TEST

START_TEST(test_assert_held_unlocked_aborts)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	assert_held(&m);
}
END_TEST

struct holder {
	pthread_mutex_t m;
	_Atomic uint32_t locked, release;
};

static void *hold(void *arg)
{
	struct holder *h = arg;

	pthread_mutex_lock(&h->m);
	atomic_store(&h->locked, 1);
	while (!atomic_load(&h->release))
		sched_yield();
	pthread_mutex_unlock(&h->m);
	return NULL;
}

/* Held, but by another thread: lockdep's case, not "is it locked". */
START_TEST(test_assert_held_by_other_thread_aborts)
{
	static struct holder h = { .m = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, hold, &h), 0);
	TU_WAIT_FOR(atomic_load(&h.locked), 10000);
	ck_assert(!upg_mutex_held_by_self(&h.m));
	assert_held(&h.m);
}
END_TEST

START_TEST(test_assert_role_missing_aborts)
{
	assert_role(UPG_ROLE_HANDLER);
}
END_TEST

START_TEST(test_assert_not_role_present_aborts)
{
	upg_role_set(UPG_ROLE_NOTIFIER_CB);
	assert_not_role(UPG_ROLE_NOTIFIER_CB);
}
END_TEST

/* ---- the rules placed in the runtime -------------------------------------- */

/* runtime_caller_done() releases what runtime_caller_queue() took. */
START_TEST(test_caller_done_without_queue_aborts)
{
	struct upg_runtime *rt = tu_runtime(4 << 20, 1);

	runtime_caller_done(rt);
}
END_TEST

START_TEST(test_caller_queue_pairing_is_quiet)
{
	struct upg_runtime *rt = tu_runtime(4 << 20, 1);

	ck_assert_ptr_nonnull(runtime_caller_queue(rt));
	runtime_caller_done(rt);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/* self_zap(): the evictor thread only (evict/evict.h). */
START_TEST(test_self_zap_off_evictor_aborts)
{
	struct upg_runtime *rt = tu_runtime(4 << 20, 1);
	static char page[4096] __attribute__((aligned(4096)));

	self_zap(rt, (uintptr_t)page, sizeof(page));
}
END_TEST

/* fault_resolve(): handler thread only (fault/fault.h). */
START_TEST(test_fault_resolve_off_handler_aborts)
{
	struct upg_runtime *rt = tu_runtime(4 << 20, 1);
	struct uffd_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.event = UFFD_EVENT_PAGEFAULT;
	fault_resolve(&rt->handlers[0], &rt->self, &msg);
}
END_TEST

/* handlers_add_mm(): not a handler thread (fault/fault.h). */
START_TEST(test_add_mm_from_handler_aborts)
{
	struct upg_runtime *rt = tu_runtime(4 << 20, 1);
	static struct upg_mm mm;

	upg_role_set(UPG_ROLE_HANDLER);
	handlers_add_mm(rt, &mm);
}
END_TEST

/* A notifier callback runs with UPG_ROLE_NOTIFIER_CB, and an eviction
 * from there is refused (evict_batch()). */
struct cb_probe {
	struct upg_interval_notifier n;
	struct upg_runtime *rt;
	bool evict; /* evict from the callback */
	unsigned roles_seen;
};

static bool probe_invalidate(struct upg_interval_notifier *n,
			     const struct upg_notifier_range *range,
			     uint64_t cur_seq)
{
	struct cb_probe *p = (struct cb_probe *)n;
	struct evict_req req = { .want = 1 };

	(void)range;
	upg_interval_set_seq(n, cur_seq);
	p->roles_seen = upg_thread_roles;
	if (p->evict)
		evict_batch(p->rt, NULL, &req);
	return true;
}

static const struct upg_interval_notifier_ops probe_ops = {
	.invalidate = probe_invalidate,
};

static void run_callback(struct cb_probe *p)
{
	static char range[4 * 4096];
	uintptr_t a = (uintptr_t)range;

	p->rt = tu_runtime(4 << 20, 1);
	ck_assert_int_eq(upg_interval_notifier_insert(p->rt, &p->n, a,
						      sizeof(range),
						      &probe_ops),
			 0);
	ck_assert(notify_invalidate_start(p->rt->notify, a, a + 4096,
					  UPG_NOTIFY_EVICT, true));
	notify_invalidate_end(p->rt->notify);
}

START_TEST(test_callback_role_set_and_cleared)
{
	static struct cb_probe p;

	run_callback(&p);
	ck_assert_uint_eq(p.roles_seen & UPG_ROLE_NOTIFIER_CB,
			  UPG_ROLE_NOTIFIER_CB);
	ck_assert_uint_eq(upg_thread_roles & UPG_ROLE_NOTIFIER_CB, 0);
	ck_assert_int_eq(upg_interval_notifier_remove(&p.n), 0);
	ck_assert_int_eq(upg_runtime_destroy(p.rt), 0);
}
END_TEST

START_TEST(test_evict_from_callback_aborts)
{
	static struct cb_probe p = { .evict = true };

	run_callback(&p);
}
END_TEST

static Suite *contracts_suite(void)
{
	Suite *s = suite_create("contracts");
	TCase *tc = tcase_create("mechanism");
	TCase *tr = tcase_create("runtime_rules");

	tcase_add_test(tc, test_assert_true_is_quiet);
	tcase_add_test_raise_signal(tc, test_assert_false_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, test_assert_held_unlocked_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_assert_held_by_other_thread_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_assert_role_missing_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_assert_not_role_present_aborts,
				    SIGABRT);
	suite_add_tcase(s, tc);

	tcase_add_test(tr, test_caller_queue_pairing_is_quiet);
	tcase_add_test(tr, test_callback_role_set_and_cleared);
	tcase_add_test_raise_signal(tr, test_caller_done_without_queue_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tr, test_self_zap_off_evictor_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tr, test_fault_resolve_off_handler_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tr, test_add_mm_from_handler_aborts,
				    SIGABRT);
	tcase_add_test_raise_signal(tr, test_evict_from_callback_aborts,
				    SIGABRT);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
#ifndef UPAGER_ASSERTS
	fprintf(stderr, "built without UPAGER_ASSERTS: the contracts are not "
			"checked (configure with -DUPAGER_ASSERTS=ON)\n");
	return TEST_SKIP;
#else
	/* The violations run in forked children: Check's default, made
	 * explicit (CK_FORK=no would abort the whole program). */
	if (getenv("CK_FORK") && !strcmp(getenv("CK_FORK"), "no")) {
		fprintf(stderr, "test_contracts needs CK_FORK (violations "
				"abort): skipped\n");
		return TEST_SKIP;
	}
	return tu_run(contracts_suite());
#endif
}
