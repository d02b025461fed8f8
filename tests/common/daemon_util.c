// SPDX-License-Identifier: MIT
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
	snprintf(d->extra, sizeof(d->extra), "%s", opt ? opt : "");
	snprintf(d->dir, sizeof(d->dir), "/tmp/upager-dt-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
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
	unlink(d->sock);
	rmdir(d->dir);
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

int dt_main(Suite *s, const char *upagerd)
{
	if (access(upagerd, X_OK)) {
		fprintf(stderr, "upagerd not built at %s: skipped\n", upagerd);
		return TEST_SKIP;
	}
	return tu_run(s);
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
