// SPDX-License-Identifier: MIT
/*
 * test_takeover - upagerd killed with SIGKILL under a client's verified
 * workload, at random points: the client notices, services its regions
 * itself, finishes, and its data is whole (in memory, then in its file).
 * A restarted daemon serves new clients.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_util.h"
#include "proto/proto.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

/*
 * The client rewrites every page of a file region and of an anonymous
 * region (4x the daemon's budget together), reporting each page written;
 * waits until the test has killed the daemon (@killed); then reads
 * everything back, flushes, and exits 0 if all is whole and it ran under
 * its own budget after the takeover.
 */
#define OWN_BUDGET (3 * MiB)

static int client(const struct dt_daemon *d, int fd, int report, int killed,
		  uint64_t n, uint64_t seed)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = OWN_BUDGET);
	struct upg_runtime *rt = NULL;
	struct upg_region *r, *ra;
	char *a, *b, c;
	uint64_t pg;

	if (upg_runtime_connect(d->sock, &o, &rt))
		return 1;
	if (upg_region_map_file(rt, fd, n * PS, NULL, &r) ||
	    upg_region_map_anon(rt, n * PS, NULL, &ra))
		return 2;
	a = upg_region_addr(r);
	b = upg_region_addr(ra);
	for (pg = 0; pg < n; pg++) {
		tu_fill(a + pg * PS, pg * PS, PS, seed);
		tu_fill(b + pg * PS, pg * PS, PS, seed + 1);
		if (write(report, &pg, sizeof(pg)) != sizeof(pg))
			return 3;
	}
	if (read(killed, &c, 1) != 1)
		return 9;
	if (tu_check(a, 0, n * PS, seed) != UINT64_MAX)
		return 4;
	if (tu_check(b, 0, n * PS, seed + 1) != UINT64_MAX)
		return 5;
	if (upg_region_flush(r, 0, 0))
		return 6;
	/* Taken over (the reads above needed a fill): the client's own
	 * budget, not the dead daemon's. */
	if (tu_stats(rt).budget_bytes != OWN_BUDGET)
		return 10;
	if (tu_stats(rt).resident_peak_bytes > OWN_BUDGET + 64 * PS)
		return 11;
	if (upg_region_unmap(ra) || upg_region_unmap(r))
		return 7;
	return upg_runtime_destroy(rt) ? 8 : 0;
}

struct client_args {
	const struct dt_daemon *d;
	int fd;
	uint64_t n, seed;
};

static int client_main(void *arg, int report, int killed)
{
	struct client_args *a = arg;

	return client(a->d, a->fd, report, killed, a->n, a->seed);
}

START_TEST(test_daemon_sigkill_client_takes_over)
{
	const uint64_t n = 1024; /* 4 MiB a region, 2 MiB budget */
	struct dt_daemon d;
	int round;

	srand((unsigned)getpid());
	dt_start(&d, UPAGERD_PATH, "2M");
	for (round = 0; round < 3; round++) {
		uint64_t seed = 800 + 2 * (uint64_t)round;
		/* At least one page: the client must have connected and
		 * mapped before the kill, or it has no daemon to lose (a
		 * kill before its connect is a refused connect, not a
		 * takeover). */
		unsigned kill_after = 1 + (unsigned)rand() % (unsigned)n;
		int fd = tur_data_file(n * PS, 799), st;
		struct client_args ca = { &d, fd, n, seed };

		st = dt_kill9_under_client(&d, kill_after, 240000, client_main,
					   &ca);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "round %d (killed after %u pages): client %s %d",
			      round, kill_after,
			      WIFSIGNALED(st) ? "signal" : "status",
			      WIFSIGNALED(st) ? WTERMSIG(st) :
						WEXITSTATUS(st));
		ck_assert_uint_eq(tur_file_check(fd, 0, n * PS, seed),
				  UINT64_MAX);
		close(fd);
		/* A restarted daemon serves the next client. */
		dt_restart(&d, UPAGERD_PATH, "2M");
	}
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("takeover");
	TCase *tc = tcase_create("takeover");

	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, test_daemon_sigkill_client_takes_over);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return dt_main(suite(), UPAGERD_PATH);
}
