// SPDX-License-Identifier: MIT
/*
 * test_version - the library's version at run time: upg_version_major(),
 * upg_version_minor(), upg_version() agree with the header's macros, and
 * upg_check_version() accepts what the library provides and refuses the
 * rest.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <upager.h>

START_TEST(test_version_matches_header)
{
	char want[32];

	ck_assert_int_eq(upg_version_major(), UPAGER_VERSION_MAJOR);
	ck_assert_int_eq(upg_version_minor(), UPAGER_VERSION_MINOR);
	snprintf(want, sizeof(want), "%d.%d.%d", UPAGER_VERSION_MAJOR,
		 UPAGER_VERSION_MINOR, UPAGER_VERSION_PATCH);
	ck_assert_str_eq(upg_version(), want);
	ck_assert_str_eq(UPAGER_VERSION_STRING, want);
	ck_assert(upg_version() == upg_version()); /* static, not allocated */
}
END_TEST

START_TEST(test_check_version)
{
	int maj = UPAGER_VERSION_MAJOR, min = UPAGER_VERSION_MINOR;

	/* what the library provides: its own version and older minors */
	ck_assert_int_eq(upg_check_version(maj, min), 0);
	ck_assert_int_eq(upg_check_version(maj, 0), 0);
	if (min > 0)
		ck_assert_int_eq(upg_check_version(maj, min - 1), 0);
	/* a newer minor, another major: not provided */
	ck_assert_int_eq(upg_check_version(maj, min + 1), -ENOTSUP);
	ck_assert_int_eq(upg_check_version(maj + 1, 0), -ENOTSUP);
	ck_assert_int_eq(upg_check_version(maj + 1, min), -ENOTSUP);
	if (maj > 0)
		ck_assert_int_eq(upg_check_version(maj - 1, min), -ENOTSUP);
	/* nonsense */
	ck_assert_int_eq(upg_check_version(-1, 0), -EINVAL);
	ck_assert_int_eq(upg_check_version(maj, -1), -EINVAL);
}
END_TEST

START_TEST(test_check_version_macro_agrees)
{
	/* The compile-time check and the run-time one give the same answers
	 * (this test is built with the library's own header). */
	ck_assert(UPAGER_CHECK_VERSION(UPAGER_VERSION_MAJOR,
				       UPAGER_VERSION_MINOR));
	ck_assert(!UPAGER_CHECK_VERSION(UPAGER_VERSION_MAJOR,
					UPAGER_VERSION_MINOR + 1));
	ck_assert(!UPAGER_CHECK_VERSION(UPAGER_VERSION_MAJOR + 1, 0));
}
END_TEST

static Suite *version_suite(void)
{
	Suite *s = suite_create("version");
	TCase *tc = tcase_create("version");

	tcase_add_test(tc, test_version_matches_header);
	tcase_add_test(tc, test_check_version);
	tcase_add_test(tc, test_check_version_macro_agrees);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(version_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
