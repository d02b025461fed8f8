// SPDX-License-Identifier: MIT
/*
 * test_daemon - upagerd with real processes: several clients with verified
 * workloads under one budget smaller than their total, a client killed
 * with SIGKILL in the middle of writing (its pages reach its file), the
 * daemon stopped with SIGTERM while clients hold dirty pages (written
 * back, exit 0), UPAGER_SOCKET moving a program to daemon mode, and
 * upagerctl.  Clients report through their exit status (0 or the number
 * of the failed check).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <sched.h>
#include <stdbool.h>
#include <errno.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_util.h"
#include "proto/proto.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)

static size_t PS;

static struct upg_runtime *connect_rt(const struct dt_daemon *d)
{
	struct upg_runtime *rt = NULL;
	int err = upg_runtime_connect(d->sock, NULL, &rt);

	if (err)
		_exit(100 + (-err % 100));
	return rt;
}

/* The budget a client asks for; the daemon's differs. */
#define OWN_BUDGET (8 * MiB)

/* Has @rt taken over from a dead daemon (within 20 s)? */
static bool taken_over(struct upg_runtime *rt, uint64_t own_budget)
{
	uint64_t deadline = tu_now_ns() + 20000000000ull;
	UPG_OPTS(upg_stats, st);

	while (upg_runtime_stats(rt, &st) || st.budget_bytes != own_budget) {
		if (tu_now_ns() > deadline)
			return false;
		sched_yield();
	}
	return true;
}

static void assert_exit0(int st, const char *what)
{
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "%s: %s %d", what,
		      WIFSIGNALED(st) ? "killed by signal" : "exit status",
		      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* A client: 24 MiB of its file rewritten with @seed, read back, flushed,
 * unmapped; an anonymous region too. */
static int client_workload(const struct dt_daemon *d, int fd, uint64_t seed)
{
	struct upg_runtime *rt = connect_rt(d);
	const uint64_t len = 24 * MiB;
	struct upg_region *r, *ra;
	UPG_OPTS(upg_stats, st);

	if (upg_region_map_file(rt, fd, len, NULL, &r))
		return 1;
	tu_fill(upg_region_addr(r), 0, len, seed);
	if (tu_check(upg_region_addr(r), 0, len, seed) != UINT64_MAX)
		return 2;
	if (upg_region_flush(r, 0, 0))
		return 3;
	if (upg_region_map_anon(rt, 8 * MiB, NULL, &ra))
		return 4;
	tu_fill(upg_region_addr(ra), 0, 8 * MiB, seed + 1);
	if (tu_check(upg_region_addr(ra), 0, 8 * MiB, seed + 1) != UINT64_MAX)
		return 5;
	if (upg_fault_in_readable(rt, upg_region_addr(r), len) != 0)
		return 6;
	if (upg_runtime_stats(rt, &st) || !st.pages_evicted)
		return 7;
	if (upg_region_unmap(ra) || upg_region_unmap(r))
		return 8;
	return upg_runtime_destroy(rt) ? 9 : 0;
}

START_TEST(test_clients_share_one_budget)
{
	struct dt_daemon d;
	int fds[3], i;
	pid_t pids[3];

	dt_start(&d, UPAGERD_PATH, "8M");
	for (i = 0; i < 3; i++) {
		fds[i] = tur_data_file(24 * MiB, 700 + (uint64_t)i);
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (!pids[i])
			_exit(client_workload(&d, fds[i], 710 + (uint64_t)i));
	}
	for (i = 0; i < 3; i++)
		assert_exit0(dt_waitpid(pids[i], 240000), "client");
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(tur_file_check(fds[i], 0, 24 * MiB,
						 710 + (uint64_t)i),
				  UINT64_MAX);
		close(fds[i]);
	}
	/* Three clients, 96 MiB in all, through one 8 MiB budget. */
	ck_assert_uint_le(dt_counter(&d, PROTO_CTR_RESIDENT_PEAK_BYTES),
			  8 * MiB + 64 * PS);
	ck_assert_uint_gt(dt_counter(&d, PROTO_CTR_PAGES_EVICTED),
			  3 * 24 * MiB / PS / 2);
	dt_wait_counter(&d, PROTO_CTR_CLIENTS, 0);
	ck_assert_uint_eq(dt_counter(&d, PROTO_CTR_RESIDENT_BYTES), 0);
	assert_exit0(dt_stop(&d), "upagerd");
}
END_TEST

/* The client writes pages one by one and tells the parent each one it
 * finished; it is killed at a random point.  Every page it reported must
 * be in its file once the daemon has noticed and written back. */
START_TEST(test_client_sigkill_loses_nothing)
{
	const uint64_t n = 2048; /* 8 MiB through a 2 MiB budget */
	struct dt_daemon d;
	int round;

	dt_start(&d, UPAGERD_PATH, "2M");
	srand((unsigned)getpid());
	for (round = 0; round < 3; round++) {
		int fd = tur_data_file(n * PS, 720);
		uint64_t seed = 721 + (uint64_t)round, done = 0, pg;
		unsigned kill_after = 64 + (unsigned)rand() % 1500;
		int p[2];
		pid_t pid;

		ck_assert_int_eq(pipe(p), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (!pid) {
			struct upg_runtime *rt = connect_rt(&d);
			struct upg_region *r;
			char *a;

			close(p[0]);
			if (upg_region_map_file(rt, fd, n * PS, NULL, &r))
				_exit(1);
			a = upg_region_addr(r);
			for (pg = 0; pg < n; pg++) {
				tu_fill(a + pg * PS, pg * PS, PS, seed);
				if (write(p[1], &pg, sizeof(pg)) != sizeof(pg))
					_exit(2);
			}
			pause();
			_exit(0);
		}
		close(p[1]);
		while (done < kill_after &&
		       read(p[0], &pg, sizeof(pg)) == sizeof(pg))
			done = pg + 1;
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		/* Pages reported before the kill are all written. */
		ck_assert_int_eq(dt_waitpid(pid, 30000) & 0x7f, SIGKILL);
		close(p[0]);
		dt_wait_counter(&d, PROTO_CTR_CLIENTS, 0);
		ck_assert_uint_eq(tur_file_check(fd, 0, done * PS, seed),
				  UINT64_MAX);
		close(fd);
	}
	assert_exit0(dt_stop(&d), "upagerd");
}
END_TEST

/* SIGTERM: every client's dirty pages reach their files, exit status 0. */
START_TEST(test_sigterm_writes_back)
{
	struct dt_daemon d;
	int fd = tur_data_file(16 * MiB, 730), ready[2], hold[2];
	char ch;
	pid_t pid;

	dt_start(&d, UPAGERD_PATH, "32M");
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		UPG_OPTS(upg_runtime_opts, o, .budget_bytes = OWN_BUDGET);
		struct upg_runtime *rt = NULL;
		struct upg_region *r;

		if (upg_runtime_connect(d.sock, &o, &rt))
			_exit(6);
		close(hold[1]);
		if (upg_region_map_file(rt, fd, 16 * MiB, NULL, &r))
			_exit(1);
		/* All resident and dirty (the budget holds it all). */
		tu_fill(upg_region_addr(r), 0, 16 * MiB, 731);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		/* Touch nothing more: the daemon is going away. */
		if (read(hold[0], &ch, 1) < 0)
			_exit(3);
		/* Wait for the takeover (the agent saw the hang-up): the
		 * stats are then this process's own, under its own budget.
		 * Then release everything, which joins the agent thread. */
		if (!taken_over(rt, OWN_BUDGET))
			_exit(4);
		if (upg_region_unmap(r) || upg_runtime_destroy(rt))
			_exit(5);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &ch, 1), 1);
	assert_exit0(dt_stop(&d), "upagerd after SIGTERM");
	ck_assert_uint_eq(tur_file_check(fd, 0, 16 * MiB, 731), UINT64_MAX);
	close(hold[1]);
	assert_exit0(dt_waitpid(pid, 30000), "client");
	close(fd);
}
END_TEST

/* UPAGER_SOCKET: upg_runtime_create() connects; same calls, same data. */
START_TEST(test_env_moves_to_daemon_mode)
{
	struct dt_daemon d;
	int fd = tur_data_file(16 * MiB, 740);
	pid_t pid;

	dt_start(&d, UPAGERD_PATH, "4M");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		struct upg_runtime *rt = NULL;
		struct upg_region *r;
		struct upg_pin *pin;
		UPG_OPTS(upg_region_stats, rs);

		setenv("UPAGER_SOCKET", d.sock, 1);
		if (upg_runtime_create(NULL, &rt))
			_exit(1);
		if (dt_counter(&d, PROTO_CTR_CLIENTS) != 1)
			_exit(2);
		if (upg_region_map_file(rt, fd, 16 * MiB, NULL, &r))
			_exit(3);
		if (tu_check(upg_region_addr(r), 0, 16 * MiB, 740) != UINT64_MAX)
			_exit(4);
		if (upg_region_stats(r, &rs) || rs.resident_bytes > 4 * MiB ||
		    !rs.resident_bytes)
			_exit(5);
		/* Pins work as in-process (test_daemon_pins has the rest). */
		if (upg_pin(rt, upg_region_addr(r), PS, &pin) ||
		    upg_unpin(pin))
			_exit(6);
		_exit(upg_runtime_destroy(rt) ? 7 : 0);
	}
	assert_exit0(dt_waitpid(pid, 120000), "client");
	assert_exit0(dt_stop(&d), "upagerd");
	close(fd);
}
END_TEST

START_TEST(test_connect_errors)
{
	struct upg_runtime *rt = NULL;
	int err;

	err = upg_runtime_connect("/nonexistent/upagerd.sock", NULL, &rt);
	ck_assert_msg(err == -ENOENT, "connect: %d", err);
	ck_assert_int_eq(upg_runtime_connect("", NULL, &rt), -EINVAL);
	ck_assert_int_eq(upg_runtime_connect(NULL, NULL, &rt), -EINVAL);
	ck_assert_ptr_null(rt);
}
END_TEST

/* upagerctl against a daemon with one client, and without a daemon. */
START_TEST(test_upagerctl)
{
	static const char *cmds[] = { "status", "stats", "clients", "regions" };
	struct dt_daemon d;
	int fd = tur_data_file(8 * MiB, 750), go[2], ready[2], i;
	char cmd[512], out[8192];
	pid_t pid;

	dt_start(&d, UPAGERD_PATH, "4M");
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		struct upg_runtime *rt = connect_rt(&d);
		struct upg_region *r;
		char ch;

		if (upg_region_map_file(rt, fd, 8 * MiB, NULL, &r))
			_exit(1);
		tur_touch_read(upg_region_addr(r), 8 * MiB);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &ch, 1) != 1)
			_exit(2);
		_exit(upg_runtime_destroy(rt) ? 3 : 0);
	}
	ck_assert_int_eq(read(ready[0], cmd, 1), 1);
	for (i = 0; i < 4; i++) {
		FILE *f;
		size_t got;

		snprintf(cmd, sizeof(cmd), "%s --socket %s --json %s",
			 UPAGERCTL_PATH, d.sock, cmds[i]);
		f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		got = fread(out, 1, sizeof(out) - 1, f);
		out[got] = '\0';
		ck_assert_int_eq(pclose(f), 0);
		if (i == 2)
			ck_assert_msg(strstr(out, "\"name\": \"test_daemon\""),
				      "clients: %s", out);
		else if (i == 3)
			ck_assert_msg(strstr(out, "\"length\": 8388608"),
				      "regions: %s", out);
		else
			ck_assert_msg(strstr(out, "\"budget_bytes\": 4194304"),
				      "%s: %s", cmds[i], out);
	}
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	assert_exit0(dt_waitpid(pid, 60000), "client");
	assert_exit0(dt_stop(&d), "upagerd");
	/* No daemon: exit 1 and a message saying so. */
	snprintf(cmd, sizeof(cmd), "%s --socket %s status 2>&1", UPAGERCTL_PATH,
		 d.sock);
	{
		FILE *f = popen(cmd, "r");
		size_t got;

		ck_assert_ptr_nonnull(f);
		got = fread(out, 1, sizeof(out) - 1, f);
		out[got] = '\0';
		ck_assert_int_eq(WEXITSTATUS(pclose(f)), 1);
		ck_assert_msg(strstr(out, "not running"), "%s", out);
	}
	close(fd);
}
END_TEST

/*
 * Fair share: client A touched 6 MiB and went idle; client B then reads
 * its 32 MiB file twice through the 8 MiB budget.  A is evicted first, but
 * only down to its share (half the low watermark, 3.4 MiB): B makes its
 * room among its own pages from then on.  (CLOCK alone would take all of
 * A's unreferenced pages.)  A is idle, so its residency only falls: its
 * value once B is done is its lowest.  Returns it, in bytes; *@b_faults:
 * the page faults of B.
 */
static uint64_t fair_share_run(const char *opt, uint64_t *b_faults)
{
	struct dt_daemon d;
	int fa = tur_data_file(16 * MiB, 760), fb = tur_data_file(32 * MiB, 761);
	int ready[2], done[2], faults[2];
	uint64_t res;
	pid_t a, b;
	char ch;

	dt_start_opt(&d, UPAGERD_PATH, "8M", opt);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(done), 0);
	ck_assert_int_eq(pipe(faults), 0);
	a = fork();
	ck_assert_int_ge(a, 0);
	if (!a) {
		struct upg_runtime *rt = connect_rt(&d);
		struct upg_region *r;

		close(done[1]);
		if (upg_region_map_file(rt, fa, 16 * MiB, NULL, &r))
			_exit(1);
		tur_touch_read(upg_region_addr(r), 6 * MiB);
		if (write(ready[1], "a", 1) != 1 || read(done[0], &ch, 1) < 0)
			_exit(2);
		_exit(upg_runtime_destroy(rt) ? 3 : 0);
	}
	ck_assert_int_eq(read(ready[0], &ch, 1), 1);
	b = fork();
	ck_assert_int_ge(b, 0);
	if (!b) {
		struct upg_runtime *rt = connect_rt(&d);
		UPG_OPTS(upg_stats, st);
		struct upg_region *r;
		int k;

		if (upg_region_map_file(rt, fb, 32 * MiB, NULL, &r))
			_exit(1);
		for (k = 0; k < 2; k++)
			if (tu_check(upg_region_addr(r), 0, 32 * MiB, 761) !=
			    UINT64_MAX)
				_exit(2);
		if (upg_runtime_stats(rt, &st) ||
		    write(faults[1], &st.faults_missing,
			  sizeof(st.faults_missing)) !=
			    sizeof(st.faults_missing))
			_exit(3);
		_exit(upg_runtime_destroy(rt) ? 4 : 0);
	}
	assert_exit0(dt_waitpid(b, 120000), "client B");
	ck_assert_int_eq(read(faults[0], b_faults, sizeof(*b_faults)),
			 sizeof(*b_faults));
	res = dt_client_resident(&d, a);
	close(done[1]);
	assert_exit0(dt_waitpid(a, 60000), "client A");
	assert_exit0(dt_stop(&d), "upagerd");
	close(fa);
	close(fb);
	close(faults[0]);
	close(faults[1]);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	return res;
}

/* With read-ahead (the default), B's windows must not take A below its
 * share either: a read-ahead reserves only what the budget has free or
 * what clients at or over their share can give, and its window shrinks
 * otherwise (docs/daemon.md).  B did read ahead: it took far fewer
 * faults than the 16384 pages it read (one per page without). */
START_TEST(test_fair_share)
{
	uint64_t b_faults, res = fair_share_run(NULL, &b_faults);

	ck_assert_uint_ge(res, 3 * MiB);
	ck_assert_uint_lt(b_faults, 2 * 32 * MiB / PS / 4);
}
END_TEST

/* The same with demand fills only: a fault a page (but for pages the
 * second pass finds still resident). */
START_TEST(test_fair_share_no_readahead)
{
	uint64_t b_faults, res = fair_share_run("--no-readahead", &b_faults);

	ck_assert_uint_ge(res, 3 * MiB);
	ck_assert_uint_ge(b_faults, 32 * MiB / PS);
}
END_TEST

/* --client-cap: a client never holds much more than its cap, though the
 * budget has room. */
/*
 * A region's NUMA policy reaches upagerd, which applies it to the memfd
 * (the shared policy of shmem): the client's own mapping reads it back,
 * and the region's stats say it.  (This machine has one node: that
 * pages land on another node cannot be seen here.)
 */
START_TEST(test_numa_policy)
{
	const uint64_t len = 4 * MiB;
	UPG_OPTS(upg_region_opts, o, .numa_policy = UPG_NUMA_BIND,
		 .numa_node = 0);
	UPG_OPTS(upg_region_opts, bad, .numa_policy = UPG_NUMA_BIND,
		 .numa_node = 4095);
	UPG_OPTS(upg_region_stats, rs);
	int fd = tur_data_file(len, 780), mode = -1;
	unsigned long mask = 0;
	struct upg_runtime *rt;
	struct upg_region *r;
	struct dt_daemon d;

	dt_start(&d, UPAGERD_PATH, "16M");
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, &bad, &r), -EINVAL);
	ck_assert_int_eq(upg_region_map_file(rt, fd, len, &o, &r), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, len, 780),
			  UINT64_MAX);
	if (syscall(SYS_get_mempolicy, &mode, &mask, sizeof(mask) * 8,
		    upg_region_addr(r), MPOL_F_ADDR)) {
		ck_assert_int_eq(errno, ENOSYS); /* no NUMA in the kernel */
	} else {
		ck_assert_int_eq(mode, MPOL_BIND);
		ck_assert_uint_eq(mask & 1, 1);
	}
	ck_assert_int_eq(upg_region_stats(r, &rs), 0);
	ck_assert_int_eq(rs.numa_policy, UPG_NUMA_BIND);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, len, 780), UINT64_MAX);
	close(fd);
	assert_exit0(dt_stop(&d), "upagerd");
}
END_TEST

START_TEST(test_client_cap)
{
	struct dt_daemon d;
	int fd = tur_data_file(16 * MiB, 770), ready[2], go[2];
	pid_t pid;
	char ch;

	dt_start_cap(&d, UPAGERD_PATH, "16M", "2M");
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		struct upg_runtime *rt = connect_rt(&d);
		struct upg_region *r;

		if (upg_region_map_file(rt, fd, 16 * MiB, NULL, &r))
			_exit(1);
		if (tu_check(upg_region_addr(r), 0, 16 * MiB, 770) != UINT64_MAX)
			_exit(2);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &ch, 1) != 1)
			_exit(3);
		_exit(upg_runtime_destroy(rt) ? 4 : 0);
	}
	ck_assert_int_eq(read(ready[0], &ch, 1), 1);
	/* The cap, plus at most one fill's worth beyond it. */
	ck_assert_uint_le(dt_client_resident(&d, pid), 2 * MiB + 64 * PS);
	ck_assert_uint_gt(dt_counter(&d, PROTO_CTR_PAGES_EVICTED), 1024);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	assert_exit0(dt_waitpid(pid, 60000), "client");
	assert_exit0(dt_stop(&d), "upagerd");
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, test_clients_share_one_budget);
	tcase_add_test(tc, test_client_sigkill_loses_nothing);
	tcase_add_test(tc, test_sigterm_writes_back);
	tcase_add_test(tc, test_env_moves_to_daemon_mode);
	tcase_add_test(tc, test_connect_errors);
	tcase_add_test(tc, test_upagerctl);
	tcase_add_test(tc, test_client_cap);
	tcase_add_test(tc, test_numa_policy);
	suite_add_tcase(s, tc);
	/* A case of its own, so that CK_RUN_CASE=fair runs only these. */
	tc = tcase_create("fair");
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, test_fair_share);
	tcase_add_test(tc, test_fair_share_no_readahead);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return dt_main(suite(), UPAGERD_PATH);
}
