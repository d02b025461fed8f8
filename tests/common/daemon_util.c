// SPDX-License-Identifier: MIT
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/mman.h>
#include "upager.h"
#include "daemon_util.h"
#include "proto/proto.h"
#include "testutil.h"
#include "upager.h"

static int try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Every daemon this process started, with its directory, so that an exit
 * (the end of a Check test: a forked process; a failed assertion exits
 * too) leaves no daemon and no directory behind, whether the test stopped
 * its daemon, killed it (dt_kill9) or failed half-way.
 */
static struct {
	pid_t pid;	/* 0: not running */
	char dir[sizeof(((struct dt_daemon *)0)->dir)];
} started[16];
static pid_t owner;	/* the process that started them; 0: none yet */

/* Remove @dir and what a test put in it (the socket, a fifo: files only). */
static void remove_dir(const char *dir)
{
	char path[sizeof(((struct dt_daemon *)0)->dir) + 256];
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (dp) {
		while ((de = readdir(dp))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
		closedir(dp);
	}
	rmdir(dir);
}

static void cleanup_at_exit(void)
{
	unsigned i;

	/* not in a forked client of the test that exits */
	if (getpid() != owner)
		return;
	for (i = 0; i < sizeof(started) / sizeof(started[0]); i++) {
		if (!started[i].dir[0])
			continue;
		if (started[i].pid > 0 && !kill(started[i].pid, SIGKILL))
			waitpid(started[i].pid, NULL, 0);
		remove_dir(started[i].dir);
		started[i].dir[0] = '\0';
	}
}

/* Record (or update) the daemon of @dir; pid 0 when it is gone. */
static void track(const char *dir, pid_t pid)
{
	unsigned i, free_slot = UINT32_MAX;

	if (owner != getpid()) {
		/* a new process (a Check test is forked): its own list */
		memset(started, 0, sizeof(started));
		owner = getpid();
		atexit(cleanup_at_exit);
	}
	for (i = 0; i < sizeof(started) / sizeof(started[0]); i++) {
		if (!strcmp(started[i].dir, dir)) {
			started[i].pid = pid;
			return;
		}
		if (!started[i].dir[0] && free_slot == UINT32_MAX)
			free_slot = i;
	}
	ck_assert_msg(free_slot != UINT32_MAX, "more than %zu daemons in one test",
		      sizeof(started) / sizeof(started[0]));
	snprintf(started[free_slot].dir, sizeof(started[free_slot].dir), "%s",
		 dir);
	started[free_slot].pid = pid;
}

static void untrack(const char *dir)
{
	unsigned i;

	for (i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (!strcmp(started[i].dir, dir))
			started[i].dir[0] = '\0';
}

static void spawn(struct dt_daemon *d, const char *upagerd, const char *budget,
		  const char *cap)
{
	pid_t parent = getpid();
	int fd;

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (!d->pid) {
		/* Never outlive the test. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		unsetenv("UPAGER_SOCKET");
		execl(upagerd, "upagerd", "--foreground", "--socket", d->sock,
		      "--budget", budget, "--swap-dir", d->dir, "--config",
		      "/dev/null", "--client-cap", cap ? cap : "0",
		      d->extra[0] ? d->extra : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	track(d->dir, d->pid);
	/* Ready when it accepts; bounded. */
	{
		uint64_t deadline = tu_now_ns() + 10000ull * 1000000;

		while ((fd = try_connect(d->sock)) < 0) {
			int st;

			ck_assert_msg(waitpid(d->pid, &st, WNOHANG) == 0,
				      "upagerd exited at start (status %#x)",
				      st);
			ck_assert_msg(tu_now_ns() < deadline,
				      "upagerd did not listen within 10 s");
			sched_yield();
		}
		close(fd);
	}
}

static void start(struct dt_daemon *d, const char *upagerd,
		  const char *budget, const char *cap, const char *opt)
{
	const char *tmp = getenv("TMPDIR");

	/* $TMPDIR when the socket path fits there, else /tmp */
	if (!tmp || !*tmp || strlen(tmp) + sizeof("/upager-dt-XXXXXX") >
				     sizeof(d->dir))
		tmp = "/tmp";
	snprintf(d->extra, sizeof(d->extra), "%s", opt ? opt : "");
	snprintf(d->dir, sizeof(d->dir), "%s/upager-dt-XXXXXX", tmp);
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	track(d->dir, 0);
	snprintf(d->sock, sizeof(d->sock), "%s/upagerd.sock", d->dir);
	spawn(d, upagerd, budget, cap);
}

void dt_start_cap(struct dt_daemon *d, const char *upagerd,
		  const char *budget, const char *cap)
{
	start(d, upagerd, budget, cap, NULL);
}

void dt_start(struct dt_daemon *d, const char *upagerd, const char *budget)
{
	start(d, upagerd, budget, NULL, NULL);
}

void dt_start_opt(struct dt_daemon *d, const char *upagerd,
		  const char *budget, const char *opt)
{
	start(d, upagerd, budget, NULL, opt);
}

void dt_restart(struct dt_daemon *d, const char *upagerd, const char *budget)
{
	spawn(d, upagerd, budget, NULL);
}

void dt_kill9(struct dt_daemon *d)
{
	int st;

	ck_assert_int_eq(kill(d->pid, SIGKILL), 0);
	st = dt_waitpid(d->pid, 30000);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	d->pid = 0;
	track(d->dir, 0);
}

int dt_waitpid(pid_t pid, unsigned timeout_ms)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000;
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		ck_assert_msg(r == 0, "waitpid %d: %s", (int)pid,
			      strerror(errno));
		ck_assert_msg(tu_now_ns() < deadline,
			      "process %d still running after %u ms",
			      (int)pid, timeout_ms);
		sched_yield();
	}
}

int dt_stop(struct dt_daemon *d)
{
	int st;

	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	st = dt_waitpid(d->pid, 60000);
	d->pid = 0;
	remove_dir(d->dir);
	untrack(d->dir);
	return st;
}

/* A monitor connection: HELLO done, @pc ready.  -1 if no daemon. */
static int monitor(const struct dt_daemon *d, struct proto_conn *pc)
{
	struct proto_msg m, r;
	int fd = try_connect(d->sock);

	if (fd < 0)
		return -1;
	if (proto_conn_init(pc, fd)) {
		close(fd);
		return -1;
	}
	proto_msg_init(&m, PROTO_HELLO, 1);
	m.u.hello.version_min = m.u.hello.version_max = PROTO_VERSION_1;
	if (proto_send(fd, &m, NULL, 0, 5000) ||
	    proto_recv_timeout(pc, &r, 5000)) {
		proto_conn_fini(pc);
		close(fd);
		return -1;
	}
	proto_msg_release(&r);
	return fd;
}

uint64_t dt_client_resident(const struct dt_daemon *d, pid_t pid)
{
	struct proto_conn pc;
	struct proto_msg m, r;
	uint64_t v = UINT64_MAX;
	uint32_t i;
	int fd = monitor(d, &pc);

	if (fd < 0)
		return v;
	proto_msg_init(&m, PROTO_STATS, 2);
	m.u.stats.scope = PROTO_SCOPE_CLIENTS;
	if (!proto_send(fd, &m, NULL, 0, 5000) &&
	    !proto_recv_timeout(&pc, &r, 5000)) {
		if (r.hdr.type == PROTO_CLIENTS_REPLY)
			for (i = 0; i < r.u.clients_reply.count; i++)
				if (r.u.clients_reply.recs[i].pid ==
				    (uint32_t)pid)
					v = r.u.clients_reply.recs[i]
						    .resident_bytes;
		proto_msg_release(&r);
	}
	proto_conn_fini(&pc);
	close(fd);
	return v;
}

uint64_t dt_counter(const struct dt_daemon *d, uint32_t id)
{
	struct proto_conn conn;
	struct proto_msg m, r;
	uint64_t v = UINT64_MAX;
	uint32_t i;
	int fd = try_connect(d->sock);

	if (fd < 0)
		return v;
	if (proto_conn_init(&conn, fd)) {
		close(fd);
		return v;
	}
	proto_msg_init(&m, PROTO_HELLO, 1);
	m.u.hello.version_min = m.u.hello.version_max = PROTO_VERSION_1;
	if (proto_send(fd, &m, NULL, 0, 5000) ||
	    proto_recv_timeout(&conn, &r, 5000))
		goto out;
	proto_msg_release(&r);
	proto_msg_init(&m, PROTO_STATS, 2);
	m.u.stats.scope = PROTO_SCOPE_DAEMON;
	if (proto_send(fd, &m, NULL, 0, 5000) ||
	    proto_recv_timeout(&conn, &r, 5000))
		goto out;
	if (r.hdr.type == PROTO_STATS_REPLY)
		for (i = 0; i < r.u.stats_reply.count; i++)
			if (r.u.stats_reply.counters[i].id == id)
				v = r.u.stats_reply.counters[i].value;
	proto_msg_release(&r);
out:
	proto_conn_fini(&conn);
	close(fd);
	return v;
}

void dt_wait_counter(const struct dt_daemon *d, uint32_t id, uint64_t want)
{
	TU_WAIT_FOR(dt_counter(d, id) == want, 30000);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		fprintf(stderr, "left behind: %s\n", path);
	return remove(path) && errno != ENOENT ? -1 : 0;
}

int dt_main(Suite *s, const char *upagerd)
{
	const char *tmp = getenv("TMPDIR");
	char *old = tmp ? strdup(tmp) : NULL;
	char dir[32 + sizeof(((struct dt_daemon *)0)->dir)];
	DIR *dp;
	int ret;

	if (access(upagerd, X_OK)) {
		fprintf(stderr, "upagerd not built at %s: skipped\n", upagerd);
		free(old);
		return TEST_SKIP;
	}
	/* The tests run under a private TMPDIR that must be empty at the
	 * end: what a daemon test leaves behind fails it (and is removed). */
	if (!tmp || !*tmp || strlen(tmp) > 20)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/upager-dtest-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "dt_main: mkdtemp %s: %s\n", dir, strerror(errno));
		free(old);
		return 1;
	}
	setenv("TMPDIR", dir, 1);
	ret = tu_run(s);
	dp = opendir(dir);
	if (dp) {
		struct dirent *de;

		while ((de = readdir(dp)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				fprintf(stderr, "dt_main: the tests left files "
						"in TMPDIR (%s)\n", dir);
				ret = ret ? ret : 1;
				break;
			}
		closedir(dp);
	}
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	return ret;
}

struct upg_runtime *dt_connect(const struct dt_daemon *d)
{
	struct upg_runtime *rt = NULL;

	ck_assert_int_eq(upg_runtime_connect(d->sock, NULL, &rt), 0);
	return rt;
}

uint64_t dt_resident_pages(const void *p, uint64_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t n = len / ps, i, got = 0;
	unsigned char *v = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(mincore((void *)p, len, v), 0);
	for (i = 0; i < n; i++)
		got += v[i] & 1;
	free(v);
	return got;
}

int dt_try_connect(const char *path)
{
	return try_connect(path);
}

int dt_kill9_under_client(struct dt_daemon *d, uint64_t kill_after,
			  unsigned timeout_ms, dt_client_fn fn, void *arg)
{
	uint64_t pg = 0, seen = 0;
	int p[2], k[2];
	pid_t pid;

	ck_assert_uint_ge(kill_after, 1);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe(k), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		close(p[0]);
		close(k[1]);
		_exit(fn(arg, p[1], k[0]));
	}
	close(p[1]);
	close(k[0]);
	while (seen < kill_after && read(p[0], &pg, sizeof(pg)) == sizeof(pg))
		seen = pg + 1;
	dt_kill9(d);
	ck_assert_int_eq(write(k[1], "k", 1), 1);
	close(k[1]);
	/* Drain the reports so that the client never blocks on us. */
	while (read(p[0], &pg, sizeof(pg)) > 0)
		;
	close(p[0]);
	return dt_waitpid(pid, timeout_ms);
}
