// SPDX-License-Identifier: MIT
/*
 * test_upagerctl - upagerctl against a real upagerd with one client:
 * status and stats say different things (a summary and every counter),
 * --json watch writes one JSON object per tick, tagged with the tick and
 * the time, and no terminal escape goes to a pipe (but to a terminal).  The JSON is parsed
 * by a small recursive-descent checker below.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_util.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

/* ---- a JSON checker: value := object | array | string | number | literal */

static const char *json_value(const char *p);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && !*++p)
			return NULL;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
	const char *s = p;

	if (*p == '-')
		p++;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	return p > s && isdigit((unsigned char)p[-1]) ? p : NULL;
}

/* Members or elements up to @close, separated by commas. */
static const char *json_items(const char *p, char close, bool members)
{
	p = json_ws(p);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (members) {
			p = json_string(json_ws(p));
			if (!p || *(p = json_ws(p)) != ':')
				return NULL;
			p++;
		}
		p = json_value(p);
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *p)
{
	p = json_ws(p);
	if (*p == '{')
		return json_items(p + 1, '}', true);
	if (*p == '[')
		return json_items(p + 1, ']', false);
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	return json_number(p);
}

/* Is @line exactly one JSON object (and nothing else)? */
static bool json_object_line(const char *line)
{
	const char *end;

	line = json_ws(line);
	if (*line != '{')
		return false;
	end = json_value(line);
	return end && !*json_ws(end);
}

/* The number after "@key": in @obj (top level or not), or -1. */
static double json_num(const char *obj, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(obj, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

START_TEST(test_json_checker)
{
	/* The checker itself must be able to fail. */
	ck_assert(json_object_line("{\"a\": [1, 2.5, {\"b\": \"x\\\"y\"}], "
				   "\"c\": true}"));
	ck_assert(!json_object_line("{\"a\": 1,}"));
	ck_assert(!json_object_line("{\"a\": 1} {\"b\": 2}"));
	ck_assert(!json_object_line("{\"a\": [1, 2}"));
	ck_assert(!json_object_line("[1]"));
	ck_assert(!json_object_line("{\"a\": \"\x1b[H\"}"));
}
END_TEST

/* ---- upagerctl runs ---------------------------------------------------- */

/* Run upagerctl with @args on @d's socket; its stdout (a pipe) into @out.
 * Returns its exit status. */
static int ctl(const struct dt_daemon *d, const char *args, char *out,
	       size_t size)
{
	char cmd[512];
	size_t got = 0, n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s --socket %s %s", UPAGERCTL_PATH,
		 d ? d->sock : "/nonexistent/upagerd.sock", args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (got < size - 1 && (n = fread(out + got, 1, size - 1 - got, f)))
		got += n;
	out[got] = '\0';
	st = pclose(f);
	ck_assert_msg(WIFEXITED(st), "%s: status %#x", cmd, st);
	return WEXITSTATUS(st);
}

/* A daemon with one client that read 8 MiB through a 4 MiB budget. */
struct fixture {
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	int fd;
};

static void setup(struct fixture *fx)
{
	fx->fd = tur_data_file(8 * MiB, 5);
	dt_start(&fx->d, UPAGERD_PATH, "4M");
	fx->rt = dt_connect(&fx->d);
	ck_assert_int_eq(upg_region_map_file(fx->rt, fx->fd, 8 * MiB, NULL,
					     &fx->r), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(fx->r), 0, 8 * MiB, 5),
			  UINT64_MAX);
}

static void teardown(struct fixture *fx)
{
	ck_assert_int_eq(upg_region_unmap(fx->r), 0);
	ck_assert_int_eq(upg_runtime_destroy(fx->rt), 0);
	close(fx->fd);
	ck_assert_int_eq(dt_stop(&fx->d), 0);
}

START_TEST(test_status_and_stats_differ)
{
	static char out[16384];
	struct fixture fx;

	setup(&fx);
	/* status: the summary, faults of all kinds summed, the socket. */
	ck_assert_int_eq(ctl(&fx.d, "--json status", out, sizeof(out)), 0);
	ck_assert_msg(json_object_line(out), "status: %s", out);
	ck_assert_msg(strstr(out, "\"socket\": \"") &&
			      json_num(out, "faults") > 0 &&
			      json_num(out, "clients") == 1 &&
			      json_num(out, "budget_bytes") == 4 * MiB,
		      "status: %s", out);
	ck_assert_msg(!strstr(out, "faults_wp") && !strstr(out, "bytes_read"),
		      "status has counters of stats: %s", out);

	/* stats: every counter by its upg_stats name, nothing derived. */
	ck_assert_int_eq(ctl(&fx.d, "--json stats", out, sizeof(out)), 0);
	ck_assert_msg(json_object_line(out), "stats: %s", out);
	ck_assert_msg(json_num(out, "bytes_read") >= 8 * MiB &&
			      json_num(out, "faults_missing") > 0 &&
			      json_num(out, "faults_wp") >= 0 &&
			      json_num(out, "read_errors") == 0 &&
			      json_num(out, "pages_read_ahead") >= 0 &&
			      json_num(out, "evict_batches_background") >= 0,
		      "stats: %s", out);
	ck_assert_msg(!strstr(out, "\"socket\"") &&
			      !strstr(out, "\"faults\":"),
		      "stats has the summary's fields: %s", out);

	/* The same split in text. */
	ck_assert_int_eq(ctl(&fx.d, "status", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "upagerd on ") &&
			      strstr(out, "(all kinds)") &&
			      !strstr(out, "faults_wp"),
		      "status: %s", out);
	ck_assert_int_eq(ctl(&fx.d, "stats", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "faults_wp ") && strstr(out, "bytes_read ") &&
			      !strstr(out, "upagerd on"),
		      "stats: %s", out);
	teardown(&fx);
}
END_TEST

START_TEST(test_json_watch_one_object_per_tick)
{
	static char out[65536];
	double last_time = 0;
	struct fixture fx;
	char *line, *save;
	int ticks = 0;

	setup(&fx);
	ck_assert_int_eq(ctl(&fx.d, "--json watch --count 3 --interval 0.01",
			     out, sizeof(out)), 0);
	ck_assert_msg(!strchr(out, '\x1b'), "escape in a pipe: %s", out);
	ck_assert_msg(out[0] && out[strlen(out) - 1] == '\n', "%s", out);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		double t = json_num(line, "time");

		ticks++;
		ck_assert_msg(json_object_line(line), "tick %d: %s", ticks,
			      line);
		ck_assert_msg(json_num(line, "tick") == ticks, "tick %d: %s",
			      ticks, line);
		ck_assert_msg(t > 1e9 && t >= last_time, "time: %s", line);
		last_time = t;
		ck_assert_msg(strstr(line, "\"status\": {") &&
				      strstr(line, "\"clients\": [{") &&
				      strstr(line, "\"name\": \"test_upagerctl\""),
			      "tick %d: %s", ticks, line);
	}
	ck_assert_int_eq(ticks, 3);

	/* Text through a pipe: a header per tick, no escapes either. */
	ck_assert_int_eq(ctl(&fx.d, "watch --count 2 --interval 0.01", out,
			     sizeof(out)), 0);
	ck_assert_msg(!strchr(out, '\x1b'), "escape in a pipe: %s", out);
	ck_assert_msg(strstr(out, "--- tick 1 at ") &&
			      strstr(out, "--- tick 2 at ") &&
			      !strstr(out, "--- tick 3"),
		      "watch: %s", out);
	teardown(&fx);
}
END_TEST

/* On a terminal (a pseudo-terminal here) watch repaints the screen: the
 * escape that must never reach a pipe does reach a terminal. */
START_TEST(test_watch_on_a_terminal)
{
	char out[16384];
	size_t got = 0;
	struct fixture fx;
	int master, st;
	pid_t pid;

	setup(&fx);
	pid = forkpty(&master, NULL, NULL, NULL);
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		execl(UPAGERCTL_PATH, "upagerctl", "--socket", fx.d.sock,
		      "watch", "--count", "2", "--interval", "0.01",
		      (char *)NULL);
		_exit(127);
	}
	/* Read until the child closes the terminal (EIO on Linux), each
	 * wait bounded. */
	for (;;) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		ssize_t n;

		ck_assert_msg(poll(&pfd, 1, 10000) == 1,
			      "no output from upagerctl on the terminal");
		n = read(master, out + got, sizeof(out) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		ck_assert_uint_lt(got, sizeof(out) - 1);
	}
	out[got] = '\0';
	close(master);
	st = dt_waitpid(pid, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_msg(strstr(out, "\033[H\033[2J") &&
			      strstr(out, "upagerd on ") &&
			      !strstr(out, "--- tick"),
		      "watch on a terminal: %s", out);
	teardown(&fx);
}
END_TEST

START_TEST(test_usage)
{
	static char out[4096];

	ck_assert_int_eq(ctl(NULL, "--help", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "status   the daemon at a glance") &&
			      strstr(out, "stats    every counter") &&
			      strstr(out, "--interval SEC"),
		      "help: %s", out);
	ck_assert_int_eq(ctl(NULL, "watch --interval 0 2>/dev/null", out,
			     sizeof(out)), 2);
	ck_assert_int_eq(ctl(NULL, "watch --interval x 2>/dev/null", out,
			     sizeof(out)), 2);
	/* No daemon: 1, whatever the command. */
	ck_assert_int_eq(ctl(NULL, "--json watch --count 1 2>/dev/null", out,
			     sizeof(out)), 1);
	ck_assert_str_eq(out, "");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("upagerctl");
	TCase *tc = tcase_create("upagerctl");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_json_checker);
	tcase_add_test(tc, test_status_and_stats_differ);
	tcase_add_test(tc, test_json_watch_one_object_per_tick);
	tcase_add_test(tc, test_watch_on_a_terminal);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	unsetenv("UPAGER_SOCKET");
	return dt_main(suite(), UPAGERD_PATH);
}
