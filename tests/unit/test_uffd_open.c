/* SPDX-License-Identifier: MIT */
/*
 * uffd/uffd_open.c's fallbacks, with the ways of opening failed on
 * purpose through its injection point (struct uffd_open_inject):
 * /dev/userfaultfd first, then userfaultfd(2), then userfaultfd(2) in
 * user-mode-only mode; and the feature negotiation: a missing required
 * feature or a missing EVENT_FORK (when fork events are asked for) is
 * -EOPNOTSUPP, a missing POISON only turns CONTINUE_MODE_WP off.  Every
 * case opens real descriptors; skipped (77) where the machine cannot open
 * one in kernel mode at all.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"
#include "uffd/uffd.h"

static struct uffd_open_inject in;

static void setup(void)
{
	in = (struct uffd_open_inject){ 0 };
	uffd_open_inject = &in;
}

static void teardown(void)
{
	uffd_open_inject = NULL;
}

static int open_it(bool user_only, bool fork_events, struct uffd_ctx *u)
{
	u->fd = -1;
	return uffd_open(NULL, user_only, fork_events, u);
}

START_TEST(test_dev_first)
{
	struct uffd_ctx u;

	bool dev = access("/dev/userfaultfd", R_OK | W_OK) == 0;

	ck_assert_int_eq(open_it(false, false, &u), 0);
	/* Probe and real fd both from /dev/userfaultfd (from the syscall
	 * where the device is not ours to open). */
	ck_assert_uint_eq(in.dev_tries, 2);
	ck_assert_uint_eq(in.sys_tries, dev ? 0 : 2);
	ck_assert_uint_eq(in.user_tries, 0);
	ck_assert_int_eq(u.mode, UPG_UFFD_KERNEL);
	ck_assert_uint_eq(u.features & UFFD_REQUIRED_FEATURES,
			  UFFD_REQUIRED_FEATURES);
	close(u.fd);
}
END_TEST

START_TEST(test_dev_refused_then_syscall)
{
	struct uffd_ctx u;

	in.dev_err = -EACCES;
	ck_assert_int_eq(open_it(false, false, &u), 0);
	ck_assert_uint_eq(in.dev_tries, 2);
	ck_assert_uint_eq(in.sys_tries, 2);
	ck_assert_uint_eq(in.user_tries, 0);
	ck_assert_int_eq(u.mode, UPG_UFFD_KERNEL);
	close(u.fd);
}
END_TEST

START_TEST(test_both_refused_then_user_only)
{
	struct uffd_ctx u;

	in.dev_err = -EACCES;
	in.sys_err = -EPERM;
	ck_assert_int_eq(open_it(false, false, &u), 0);
	/* The probe learns user-mode-only; the real open goes straight
	 * there. */
	ck_assert_uint_eq(in.dev_tries, 1);
	ck_assert_uint_eq(in.sys_tries, 1);
	ck_assert_uint_eq(in.user_tries, 2);
	ck_assert_int_eq(u.mode, UPG_UFFD_USER_ONLY);
	close(u.fd);
}
END_TEST

START_TEST(test_user_only_asked)
{
	struct uffd_ctx u;

	ck_assert_int_eq(open_it(true, false, &u), 0);
	ck_assert_uint_eq(in.dev_tries, 0);
	ck_assert_uint_eq(in.sys_tries, 0);
	ck_assert_uint_eq(in.user_tries, 2);
	ck_assert_int_eq(u.mode, UPG_UFFD_USER_ONLY);
	close(u.fd);
}
END_TEST

START_TEST(test_all_refused)
{
	struct uffd_ctx u;

	in.dev_err = -EACCES;
	in.sys_err = -EPERM;
	in.user_err = -EPERM;
	ck_assert_int_eq(open_it(false, false, &u), -EPERM);
	ck_assert_int_eq(u.fd, -1);
	/* No syscall at all (seccomp, old kernel): not supported. */
	in.user_err = -ENOSYS;
	ck_assert_int_eq(open_it(false, false, &u), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_required_feature_missing)
{
	struct uffd_ctx u;

	in.hide = UFFD_FEATURE_MINOR_SHMEM;
	ck_assert_int_eq(open_it(false, false, &u), -EOPNOTSUPP);
	ck_assert_int_eq(u.fd, -1);
}
END_TEST

START_TEST(test_fork_events_need_event_fork)
{
	struct uffd_ctx u;

	in.hide = UFFD_FEATURE_EVENT_FORK;
	ck_assert_int_eq(open_it(false, true, &u), -EOPNOTSUPP);
	/* Without fork events it does not matter. */
	ck_assert_int_eq(open_it(false, false, &u), 0);
	ck_assert_uint_eq(u.features & UFFD_FEATURE_EVENT_FORK, 0);
	close(u.fd);
}
END_TEST

START_TEST(test_no_poison_no_continue_wp)
{
	struct uffd_ctx u;

	ck_assert_int_eq(open_it(false, false, &u), 0);
	if (!u.continue_wp) {
		close(u.fd);
		fprintf(stderr, "kernel without UFFD_FEATURE_POISON: the "
				"comparison needs it\n");
		return;
	}
	close(u.fd);
	in.hide = UFFD_FEATURE_POISON;
	ck_assert_int_eq(open_it(false, false, &u), 0);
	ck_assert(!u.continue_wp);
	ck_assert_uint_eq(u.features & UFFD_FEATURE_POISON, 0);
	close(u.fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uffd_open");
	TCase *tc = tcase_create("fallbacks");
	struct uffd_ctx u;

	/* Kernel mode must work here for the fallbacks to be told apart. */
	if (open_it(false, false, &u) || u.mode != UPG_UFFD_KERNEL) {
		fprintf(stderr, "no kernel-mode userfaultfd here: skipped\n");
		return TEST_SKIP;
	}
	close(u.fd);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dev_first);
	tcase_add_test(tc, test_dev_refused_then_syscall);
	tcase_add_test(tc, test_both_refused_then_user_only);
	tcase_add_test(tc, test_user_only_asked);
	tcase_add_test(tc, test_all_refused);
	tcase_add_test(tc, test_required_feature_missing);
	tcase_add_test(tc, test_fork_events_need_event_fork);
	tcase_add_test(tc, test_no_poison_no_continue_wp);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
