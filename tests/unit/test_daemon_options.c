// SPDX-License-Identifier: MIT
/*
 * test_daemon_options - upagerd's settings (runtime/daemon/options.c): the
 * size parser refuses signs, junk and overflow; every long option is in
 * --help, in the man page and accepted as a config file key; the cgroup
 * memory limit is read (v1 and v2, lowest on the way up); a budget above
 * the memory is refused without --force.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/options.h"
#include "testutil.h"

static char dir[64];

/* rm -rf of the test's directory, from the parent (unchecked fixture):
 * also after a failed test. */
static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/upager-dopt-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	tu_rm_rf(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static int size(const char *s, uint64_t *v)
{
	*v = 12345;
	return daemon_parse_size(s, v);
}

START_TEST(test_parse_size)
{
	uint64_t v;

	ck_assert_int_eq(size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(size("64K", &v), 0);
	ck_assert_uint_eq(v, 64 << 10);
	ck_assert_int_eq(size("8M", &v), 0);
	ck_assert_uint_eq(v, 8 << 20);
	ck_assert_int_eq(size("2GiB", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(size("3Gi", &v), 0);
	ck_assert_uint_eq(v, 3ull << 30);
	ck_assert_int_eq(size("1TB", &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(size("16777215T", &v), 0);
	ck_assert_uint_eq(v, 16777215ull << 40);
	ck_assert_int_eq(size("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	/* Signs: strtoull() would wrap -5M to 16 EiB. */
	ck_assert_int_eq(size("-5M", &v), -EINVAL);
	ck_assert_int_eq(size("+5M", &v), -EINVAL);
	ck_assert_int_eq(size(" 5M", &v), -EINVAL);
	/* Overflow, of the digits or of the suffix. */
	ck_assert_int_eq(size("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(size("99999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(size("16777216T", &v), -ERANGE);
	ck_assert_int_eq(size("17179869184G", &v), -ERANGE);
	/* Junk. */
	ck_assert_int_eq(size("", &v), -EINVAL);
	ck_assert_int_eq(size("M", &v), -EINVAL);
	ck_assert_int_eq(size("10Gx", &v), -EINVAL);
	ck_assert_int_eq(size("10 G", &v), -EINVAL);
	ck_assert_int_eq(size("10P", &v), -EINVAL);
	ck_assert_int_eq(size("0x10", &v), -EINVAL);
	ck_assert_int_eq(size("1.5G", &v), -EINVAL);
	ck_assert_int_eq(size("10iB", &v), -EINVAL);
	ck_assert_int_eq(size("10MiBs", &v), -EINVAL);
	/* Nothing written on error. */
	ck_assert_uint_eq(v, 12345);
}
END_TEST

START_TEST(test_bad_values)
{
	struct daemon_opts o;

	daemon_opts_init(&o);
	ck_assert_int_eq(daemon_set_opt(&o, "budget", "-5M", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "budget", "99999999999T", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "budget", "512K", "t"), -EINVAL);
	ck_assert_uint_eq(o.budget_bytes, 256ull << 20);
	ck_assert_int_eq(daemon_set_opt(&o, "client-cap", "-1", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "threads", "0", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "threads", "65", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "threads", "-2", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "socket-mode", "0999", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "socket-mode", "01777", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "ack-timeout", "0", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "log-level", "loud", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "no-readahead", "maybe", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "socket-group",
					 "no-such-group-upager", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "socket", "", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "no-such-key", "1", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "max-clients-per-uid", "x", "t"),
			 -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "uid-cap", "512K", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "uid-cap", "-4M", "t"), -EINVAL);
	ck_assert_int_eq(daemon_set_opt(&o, "uid-cap", "0", "t"), 0);
	ck_assert_uint_eq(o.uid_cap_bytes, 0);
	ck_assert_int_eq(daemon_set_opt(&o, "uid-cap", "4M", "t"), 0);
	ck_assert_uint_eq(o.uid_cap_bytes, 4 << 20);
	/* Good ones. */
	ck_assert_int_eq(daemon_set_opt(&o, "budget", "1G", "t"), 0);
	ck_assert_uint_eq(o.budget_bytes, 1ull << 30);
	ck_assert_int_eq(daemon_set_opt(&o, "socket-mode", "0600", "t"), 0);
	ck_assert_uint_eq(o.socket_mode, 0600);
	ck_assert_int_eq(daemon_set_opt(&o, "socket-group", "0", "t"), 0);
	ck_assert(o.socket_group_set);
	ck_assert_uint_eq(o.socket_gid, 0);
	ck_assert_int_eq(daemon_set_opt(&o, "no-readahead", "yes", "t"), 0);
	ck_assert(o.no_readahead);
	ck_assert_int_eq(daemon_set_opt(&o, "readahead", "yes", "t"), 0);
	ck_assert(!o.no_readahead);
	ck_assert_int_eq(daemon_set_opt(&o, "readahead", "off", "t"), 0);
	ck_assert(o.no_readahead);
	ck_assert(!o.fill_timing);
	ck_assert_int_eq(daemon_set_opt(&o, "fill-timing", "maybe", "t"),
			 -EINVAL);
	ck_assert(!o.fill_timing);
	ck_assert_int_eq(daemon_set_opt(&o, "fill-timing", "yes", "t"), 0);
	ck_assert(o.fill_timing);
	ck_assert_int_eq(daemon_set_opt(&o, "fill-timing", "no", "t"), 0);
	ck_assert(!o.fill_timing);
}
END_TEST

/* A good value for each long option that takes one; NULL for a flag. */
static const char *example(const char *name)
{
	static const char *const ex[][2] = {
		{ "socket", "/tmp/x.sock" },  { "socket-mode", "0660" },
		{ "socket-group", "0" },      { "budget", "64M" },
		{ "threads", "4" },	      { "client-cap", "8M" },	      { "uid-cap", "16M" },
		{ "max-clients-per-uid", "8" }, { "max-regions-per-uid", "16" },
		{ "ack-timeout", "200" },     { "swap-dir", "/var/tmp" },
		{ "log-level", "debug" },
	};
	unsigned i;

	for (i = 0; i < sizeof(ex) / sizeof(ex[0]); i++)
		if (!strcmp(ex[i][0], name))
			return ex[i][1];
	return NULL;
}

/* @text holds @needle followed by a character that cannot continue an
 * option name ("--socket" is not found in "--socket-mode" alone). */
static bool has_option(const char *text, const char *needle)
{
	size_t n = strlen(needle);
	const char *p;

	for (p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
		char next = p[n];

		if (next != '-' && (next < 'a' || next > 'z'))
			return true;
	}
	return false;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot read %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Every long option: in --help, in the man page, and a config key (by the
 * same path as a file read by upagerd: daemon_read_config()). */
START_TEST(test_every_option_documented_and_a_key)
{
	const struct option *opt;
	char *help = NULL, *man, path[128], needle[64];
	size_t help_len = 0;
	FILE *f = open_memstream(&help, &help_len);
	unsigned n = 0;

	ck_assert_ptr_nonnull(f);
	daemon_usage(f);
	fclose(f);
	man = read_all(UPAGER_SOURCE_DIR "/docs/man/upagerd.8");
	for (opt = daemon_longopts; opt->name; opt++, n++) {
		struct daemon_opts o;
		const char *val = example(opt->name);
		char line[256], *p, *q;

		snprintf(needle, sizeof(needle), "--%s", opt->name);
		ck_assert_msg(has_option(help, needle), "%s is not in --help",
			      needle);
		/* In roff, '-' is written '\-'. */
		for (p = needle, q = line; *p; p++) {
			if (*p == '-')
				*q++ = '\\';
			*q++ = *p;
		}
		*q = '\0';
		ck_assert_msg(has_option(man, line),
			      "%s is not in docs/man/upagerd.8 (as %s)", needle,
			      line);
		if (!strcmp(opt->name, "config") || !strcmp(opt->name, "help") ||
		    !strcmp(opt->name, "version"))
			continue;
		ck_assert_msg((opt->has_arg == required_argument) == (val != NULL),
			      "%s: give test_daemon_options an example value",
			      needle);
		snprintf(path, sizeof(path), "%s/%s.conf", dir, opt->name);
		snprintf(line, sizeof(line), "# one key\n  %s = %s  \n", opt->name,
			 val ? val : "yes");
		write_file(path, line);
		daemon_opts_init(&o);
		ck_assert_msg(daemon_read_config(&o, path, true) == 0,
			      "'%s = %s' refused in a config file", opt->name,
			      val ? val : "yes");
		unlink(path);
	}
	ck_assert_uint_ge(n, 18);
	free(man);
	free(help);
}
END_TEST

START_TEST(test_config_file)
{
	struct daemon_opts o;
	char path[128];

	snprintf(path, sizeof(path), "%s/upagerd.conf", dir);
	write_file(path, "# upagerd\n\nbudget = 32M\nno-readahead = yes\n"
			 "threads=3\nsocket-mode = 0600\nforce = no\n");
	daemon_opts_init(&o);
	ck_assert_int_eq(daemon_read_config(&o, path, true), 0);
	ck_assert_uint_eq(o.budget_bytes, 32 << 20);
	ck_assert(o.no_readahead);
	ck_assert_uint_eq(o.threads, 3);
	ck_assert_uint_eq(o.socket_mode, 0600);
	ck_assert(!o.force);
	write_file(path, "budget = -5M\n");
	ck_assert_int_eq(daemon_read_config(&o, path, true), -EINVAL);
	write_file(path, "budget\n");
	ck_assert_int_eq(daemon_read_config(&o, path, true), -EINVAL);
	write_file(path, "config = /etc/other\n");
	ck_assert_int_eq(daemon_read_config(&o, path, true), -EINVAL);
	unlink(path);
	ck_assert_int_eq(daemon_read_config(&o, path, false), 0);
	ck_assert_int_eq(daemon_read_config(&o, path, true), -ENOENT);
}
END_TEST

static void mkdirs(const char *sub, const char *file, const char *text)
{
	char path[256], *p;

	snprintf(path, sizeof(path), "%s/%s/", dir, sub);
	for (p = path + strlen(dir) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert(!mkdir(path, 0755) || errno == EEXIST);
		*p = '/';
	}
	if (file) {
		strcat(path, file);
		write_file(path, text);
	}
}

START_TEST(test_cgroup_limit)
{
	char root[128], proc[128];
	uint64_t limit;

	snprintf(root, sizeof(root), "%s/cg", dir);
	snprintf(proc, sizeof(proc), "%s/cgroup", dir);
	/* v2: the lowest limit on the way up counts. */
	mkdirs("cg/a/b/c", "memory.max", "max\n");
	mkdirs("cg/a/b", "memory.max", "1073741824\n");
	mkdirs("cg/a", "memory.max", "2147483648\n");
	write_file(proc, "0::/a/b/c\n");
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, proc, &limit), 0);
	ck_assert_uint_eq(limit, 1ull << 30);
	/* No limit anywhere. */
	write_file(proc, "0::/\n");
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, proc, &limit), 0);
	ck_assert_uint_eq(limit, UINT64_MAX);
	/* A cgroup this namespace does not show: its parents still count. */
	write_file(proc, "0::/a/b/gone\n");
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, proc, &limit), 0);
	ck_assert_uint_eq(limit, 1ull << 30);
	/* v1: the memory controller's hierarchy; its "unlimited". */
	mkdirs("cg/memory/x/y", "memory.limit_in_bytes",
	       "9223372036854771712\n");
	mkdirs("cg/memory/x", "memory.limit_in_bytes", "536870912\n");
	write_file(proc, "5:cpu:/x/y\n4:memory:/x/y\n0::/\n");
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, proc, &limit), 0);
	ck_assert_uint_eq(limit, 512ull << 20);
	write_file(proc, "4:memory:/x/y/z\n");
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, proc, &limit), 0);
	ck_assert_uint_eq(limit, 512ull << 20);
	mkdirs("cg/memory/w", "memory.limit_in_bytes",
	       "9223372036854771712\n");
	write_file(proc, "4:memory:/w\n");
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, proc, &limit), 0);
	ck_assert_uint_eq(limit, UINT64_MAX);
	/* Unreadable /proc file. */
	ck_assert_int_eq(daemon_cgroup_memory_limit(root, "/nonexistent/cg",
						    &limit),
			 -ENOENT);
}
END_TEST

START_TEST(test_budget_check)
{
	struct daemon_opts o;
	const char *what = NULL;
	uint64_t mem = daemon_memory_limit(&what);

	ck_assert_ptr_nonnull(what);
	ck_assert_uint_gt(mem, 1 << 20);
	daemon_opts_init(&o);
	o.budget_bytes = 64 << 20;
	ck_assert_int_eq(daemon_check_budget(&o, 64 << 20, "limit"), 0);
	ck_assert_int_eq(daemon_check_budget(&o, 63 << 20, "limit"), -EINVAL);
	o.force = true;
	ck_assert_int_eq(daemon_check_budget(&o, 63 << 20, "limit"), 0);
	/* The machine's own figure: twice it is refused. */
	o.force = false;
	o.budget_bytes = mem * 2;
	ck_assert_int_eq(daemon_check_budget(&o, mem, what), -EINVAL);
	o.budget_bytes = mem / 2;
	ck_assert_int_eq(daemon_check_budget(&o, mem, what), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_options");
	TCase *tc = tcase_create("options");

	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_every_option_documented_and_a_key);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_cgroup_limit);
	tcase_add_test(tc, test_budget_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
