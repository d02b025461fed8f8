// SPDX-License-Identifier: MIT
/*
 * test_daemon_isolation - what one client of upagerd may do to another's
 * regions: nothing.  A region belongs to the connection that mapped it and
 * is named by an id that connection chose, so client A naming client B's
 * region id to flush, unmap, fault in (what a pin asks for) or read its
 * figures gets -ENOENT; asking for B's list of regions gets -EPERM when A
 * is another user; a region A maps under B's id is A's own.  B's data is
 * intact after all of it.  Also the per-uid limits: connections (-EUSERS),
 * regions (-EDQUOT) and resident bytes (--uid-cap).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_util.h"
#include "proto/proto.h"
#include "regionutil.h"
#include "testutil.h"
#include "uffd/uffd.h"

#define MiB (1ull << 20)
#define NOBODY 65534

static size_t PS;

/*
 * The daemons' directories, written by the forked tests into a page
 * shared with the parent, whose unchecked teardown removes them: also
 * after a failed test (its daemon is gone by PDEATHSIG, its directory is
 * not).
 */
#define MAX_DIRS 8
static char (*dirs)[64];

static void remember(const struct dt_daemon *d)
{
	int i;

	for (i = 0; i < MAX_DIRS; i++) {
		if (!dirs[i][0]) {
			snprintf(dirs[i], sizeof(dirs[i]), "%s", d->dir);
			return;
		}
	}
}

static void dirs_setup(void)
{
	dirs = mmap(NULL, MAX_DIRS * sizeof(*dirs), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(dirs, MAP_FAILED);
}

static void dirs_teardown(void)
{
	int i;

	for (i = 0; i < MAX_DIRS; i++)
		if (dirs[i][0] && !strncmp(dirs[i], "/tmp/upager-dt-", 15))
			tu_rm_rf(dirs[i]);
	munmap(dirs, MAX_DIRS * sizeof(*dirs));
}

struct conn {
	int fd;
	struct proto_conn pc;
	uint64_t seq;
};

/* 0, or -errno (no ck_assert: also used in a child that is not Check's). */
static int open_conn(struct conn *c, const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	c->seq = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    proto_conn_init(&c->pc, c->fd)) {
		close(c->fd);
		return -errno;
	}
	return 0;
}

static void close_conn(struct conn *c)
{
	proto_conn_fini(&c->pc);
	close(c->fd);
}

/*
 * Send @m (with @nfds fds) and read the answer: its status (a REPLY's or
 * HELLO_REPLY's, 0 for a figures reply, whose `total` goes to *@total when
 * given).  A transport failure is returned as is (negative), and 1 for an
 * answer of an unexpected type.
 */
static int ask(struct conn *c, struct proto_msg *m, const int *fds,
	       unsigned nfds, uint32_t *total)
{
	struct proto_msg r;
	int err, st;

	m->hdr.seq = ++c->seq;
	err = proto_send(c->fd, m, fds, nfds, 5000);
	if (err)
		return err;
	err = proto_recv_timeout(&c->pc, &r, 10000);
	if (err)
		return err;
	switch (r.hdr.type) {
	case PROTO_REPLY:
		st = r.u.reply.status;
		break;
	case PROTO_HELLO_REPLY:
		st = r.u.hello_reply.status;
		break;
	case PROTO_CLIENTS_REPLY:
		st = 0;
		if (total)
			*total = r.u.clients_reply.total;
		break;
	case PROTO_REGIONS_REPLY:
		st = 0;
		if (total)
			*total = r.u.regions_reply.total;
		break;
	case PROTO_STATS_REPLY:
		st = 0;
		break;
	default:
		st = 1;
	}
	proto_msg_release(&r);
	return st;
}

static int hello(struct conn *c, int uffd)
{
	struct proto_msg m;

	proto_msg_init(&m, PROTO_HELLO, 0);
	m.u.hello.version_min = m.u.hello.version_max = PROTO_VERSION_1;
	strcpy(m.u.hello.name, "isolation");
	return ask(c, &m, uffd >= 0 ? &uffd : NULL, uffd >= 0 ? 1 : 0, NULL);
}

static int new_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_REQUIRED_FEATURES };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* The client id and first region id of the client with process @pid, as
 * a monitor of the daemon's own user sees them. */
static void client_of(const char *sock, pid_t pid, uint64_t *client_id,
		      uint64_t *region_id)
{
	struct proto_msg m, r;
	struct conn c;
	uint32_t i;

	*client_id = *region_id = 0;
	ck_assert_int_eq(open_conn(&c, sock), 0);
	ck_assert_int_eq(hello(&c, -1), 0);
	proto_msg_init(&m, PROTO_STATS, 0);
	m.u.stats.scope = PROTO_SCOPE_CLIENTS;
	m.hdr.seq = ++c.seq;
	ck_assert_int_eq(proto_send(c.fd, &m, NULL, 0, 5000), 0);
	ck_assert_int_eq(proto_recv_timeout(&c.pc, &r, 10000), 0);
	ck_assert_int_eq(r.hdr.type, PROTO_CLIENTS_REPLY);
	for (i = 0; i < r.u.clients_reply.count; i++)
		if (r.u.clients_reply.recs[i].pid == (uint32_t)pid)
			*client_id = r.u.clients_reply.recs[i].client_id;
	proto_msg_release(&r);
	ck_assert_uint_ne(*client_id, 0);
	proto_msg_init(&m, PROTO_STATS, 0);
	m.u.stats.scope = PROTO_SCOPE_REGIONS;
	m.u.stats.id = *client_id;
	m.hdr.seq = ++c.seq;
	ck_assert_int_eq(proto_send(c.fd, &m, NULL, 0, 5000), 0);
	ck_assert_int_eq(proto_recv_timeout(&c.pc, &r, 10000), 0);
	ck_assert_int_eq(r.hdr.type, PROTO_REGIONS_REPLY);
	ck_assert_uint_eq(r.u.regions_reply.count, 1);
	*region_id = r.u.regions_reply.recs[0].region_id;
	proto_msg_release(&r);
	close_conn(&c);
}

/* In client A's process: exit status 0, or the number of the step that
 * went wrong (its message on stderr). */
#define STEP(n, cond)                                                       \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "client A, step %d: %s\n", n, #cond); \
			_exit(n);                                           \
		}                                                           \
	} while (0)

static void client_a(const char *sock, uint64_t b_client, uint64_t b_region,
		     bool other_user)
{
	struct upg_runtime *rt;
	struct upg_region *r;
	struct proto_msg m;
	struct conn c;
	uint32_t total = 0;
	int uffd = new_uffd(), fd, err;

	STEP(1, uffd >= 0);
	/* A's file, made while still root: the test's TMPDIR is private to
	 * its user (tests/common/daemon_util.c). */
	fd = tu_tmpfile(MiB);
	if (other_user) {
		STEP(2, setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 &&
				setuid(NOBODY) == 0);
	}
	/* A's own region through the library: also region id 1 of its
	 * connection, the same number as B's. */
	STEP(3, upg_runtime_connect(sock, NULL, &rt) == 0);
	STEP(4, upg_region_map_file(rt, fd, MiB, NULL, &r) == 0);
	tu_fill(upg_region_addr(r), 0, MiB, 77);
	/* A second connection that names B's region. */
	STEP(5, open_conn(&c, sock) == 0);
	STEP(6, hello(&c, uffd) == 0);
	proto_msg_init(&m, PROTO_FLUSH, 0);
	m.u.flush.region_id = b_region;
	STEP(10, (err = ask(&c, &m, NULL, 0, NULL)) == -ENOENT);
	proto_msg_init(&m, PROTO_FAULT_IN, 0);
	m.u.fault_in.range.region_id = b_region;
	m.u.fault_in.range.length = PS;
	STEP(11, (err = ask(&c, &m, NULL, 0, NULL)) == -ENOENT);
	m.u.fault_in.flags = PROTO_FAULT_IN_WRITE;
	STEP(12, (err = ask(&c, &m, NULL, 0, NULL)) == -ENOENT);
	proto_msg_init(&m, PROTO_STATS, 0);
	m.u.stats.scope = PROTO_SCOPE_REGION;
	m.u.stats.id = b_region;
	STEP(13, (err = ask(&c, &m, NULL, 0, NULL)) == -ENOENT);
	proto_msg_init(&m, PROTO_STATS, 0);
	m.u.stats.scope = PROTO_SCOPE_REGIONS;
	m.u.stats.id = b_client;
	err = ask(&c, &m, NULL, 0, &total);
	/* Another user may not list B's regions; the daemon's own may. */
	STEP(14, other_user ? err == -EPERM : err == 0);
	proto_msg_init(&m, PROTO_STATS, 0);
	m.u.stats.scope = PROTO_SCOPE_CLIENTS;
	STEP(15, ask(&c, &m, NULL, 0, &total) == 0);
	/* Another user sees itself only (B, and A's other connection, are
	 * not listed). */
	STEP(16, !other_user || total == 1);
	proto_msg_init(&m, PROTO_REGION_REMOVE, 0);
	m.u.region_remove.region_id = b_region;
	STEP(17, (err = ask(&c, &m, NULL, 0, NULL)) == -ENOENT);
	m.u.region_remove.flags = PROTO_REMOVE_WAIT_PINS;
	STEP(18, (err = ask(&c, &m, NULL, 0, NULL)) == -ENOENT);
	close_conn(&c);
	close(uffd);
	/* A's own region, same id as B's: A's data, A's to unmap. */
	STEP(20, tu_check(upg_region_addr(r), 0, MiB, 77) == UINT64_MAX);
	STEP(21, upg_region_flush(r, 0, MiB) == 0);
	STEP(22, upg_region_unmap(r) == 0);
	STEP(23, upg_runtime_destroy(rt) == 0);
	STEP(24, tur_file_check(fd, 0, MiB, 77) == UINT64_MAX);
	close(fd);
	_exit(0);
}

START_TEST(test_other_clients_regions)
{
	bool other_user = geteuid() == 0;
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_region *r;
	uint64_t b_client, b_region, ids[2];
	int fd = tur_data_file(4 * MiB, 500), st, go[2];
	pid_t pid;

	/* Another user must reach the socket (its directory is 0700). */
	dt_start_opt(&d, UPAGERD_PATH, "8M", "--socket-mode=0666");
	remember(&d);
	if (other_user) {
		const char *tmp = getenv("TMPDIR");

		ck_assert_int_eq(chmod(d.dir, 0711), 0);
		/* dt_main()'s private TMPDIR, which holds d.dir: searchable
		 * too (nothing in it is readable by name but the socket). */
		if (tmp)
			ck_assert_int_eq(chmod(tmp, 0711), 0);
	}
	/* A is forked before this process has threads (B's runtime): a
	 * child of a threaded process must not start threads (it may
	 * inherit a lock held; ThreadSanitizer refuses it).  It waits for
	 * B's ids. */
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		close(go[1]);
		if (read(go[0], ids, sizeof(ids)) != sizeof(ids))
			_exit(99);
		client_a(d.sock, ids[0], ids[1], other_user);
	}
	close(go[0]);
	/* B: this process, one region, written, not yet flushed. */
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, 4 * MiB, NULL, &r), 0);
	tu_fill(upg_region_addr(r), 0, 4 * MiB, 501);
	client_of(d.sock, getpid(), &b_client, &b_region);
	ck_assert_uint_eq(b_region, 1); /* the id A's own region gets too */
	ids[0] = b_client;
	ids[1] = b_region;
	ck_assert_int_eq(write(go[1], ids, sizeof(ids)), (ssize_t)sizeof(ids));
	close(go[1]);
	st = dt_waitpid(pid, 60000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "client A: status %#x (exit = the step that failed)", st);
	/* B's region: still mapped, its data intact, flushed to its file. */
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, 4 * MiB, 501),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_flush(r, 0, 4 * MiB), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, 4 * MiB, 501), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
	st = dt_stop(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "upagerd status %#x", st);
}
END_TEST

START_TEST(test_clients_per_uid)
{
	struct dt_daemon d;
	struct conn c[3];
	int st, i;

	dt_start_opt(&d, UPAGERD_PATH, "8M", "--max-clients-per-uid=2");
	remember(&d);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(open_conn(&c[i], d.sock), 0);
		ck_assert_int_eq(hello(&c[i], -1), 0);
	}
	ck_assert_int_eq(open_conn(&c[2], d.sock), 0);
	ck_assert_int_eq(hello(&c[2], -1), -EUSERS);
	close_conn(&c[2]);
	/* One goes: room for another. */
	close_conn(&c[0]);
	{
		uint64_t deadline = tu_now_ns() + 10000ull * 1000000;

		for (;;) {
			ck_assert_int_eq(open_conn(&c[2], d.sock), 0);
			st = hello(&c[2], -1);
			if (st == 0)
				break;
			/* The daemon may not have seen c[0] close yet. */
			ck_assert_int_eq(st, -EUSERS);
			close_conn(&c[2]);
			ck_assert_msg(tu_now_ns() < deadline,
				      "a closed connection still counts");
			sched_yield();
		}
	}
	close_conn(&c[1]);
	close_conn(&c[2]);
	st = dt_stop(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "upagerd status %#x", st);
}
END_TEST

START_TEST(test_regions_per_uid)
{
	struct dt_daemon d;
	struct upg_runtime *rt, *rt2;
	struct upg_region *r[3];
	int fd = tu_tmpfile(MiB), st, i;

	dt_start_opt(&d, UPAGERD_PATH, "8M", "--max-regions-per-uid=2");
	remember(&d);
	rt = dt_connect(&d);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(upg_region_map_file(rt, fd, MiB, NULL, &r[i]),
				 0);
	ck_assert_int_eq(upg_region_map_file(rt, fd, MiB, NULL, &r[2]),
			 -EDQUOT);
	/* The limit is the user's, over its connections. */
	rt2 = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt2, fd, MiB, NULL, &r[2]),
			 -EDQUOT);
	ck_assert_int_eq(upg_region_unmap(r[0]), 0);
	ck_assert_int_eq(upg_region_map_file(rt2, fd, MiB, NULL, &r[2]), 0);
	ck_assert_int_eq(upg_region_unmap(r[2]), 0);
	ck_assert_int_eq(upg_region_unmap(r[1]), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt2), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
	st = dt_stop(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "upagerd status %#x", st);
}
END_TEST

/* A client of test_uid_cap: maps @fd, reads it all, says so on @ready,
 * waits on @go; reads it all again on a 'a' and says so, exits on 'x'. */
static int capped_reader(const struct dt_daemon *d, int fd, int ready,
			 int go)
{
	struct upg_runtime *rt;
	struct upg_region *r;
	char ch;

	if (upg_runtime_connect(d->sock, NULL, &rt) ||
	    upg_region_map_file(rt, fd, 8 * MiB, NULL, &r))
		return 1;
	for (;;) {
		if (tu_check(upg_region_addr(r), 0, 8 * MiB, 510) != UINT64_MAX)
			return 2;
		if (write(ready, "r", 1) != 1 || read(go, &ch, 1) != 1)
			return 3;
		if (ch == 'x')
			break;
	}
	return upg_region_unmap(r) || upg_runtime_destroy(rt) ? 4 : 0;
}

/*
 * --uid-cap: two clients of one user, each reading 8 MiB under a 16 MiB
 * budget, hold together no more than the user's 4 MiB (2 MiB each, plus at
 * most one fill each); when one goes, the other may hold the whole 4 MiB.
 */
START_TEST(test_uid_cap)
{
	const uint64_t slack = 64 * PS;
	int fd = tur_data_file(8 * MiB, 510), ready[2][2], go[2][2], i, st;
	struct dt_daemon d;
	uint64_t res[2], deadline;
	pid_t pid[2];
	char ch;

	dt_start_opt(&d, UPAGERD_PATH, "16M", "--uid-cap=4M");
	remember(&d);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe(ready[i]), 0);
		ck_assert_int_eq(pipe(go[i]), 0);
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (!pid[i])
			_exit(capped_reader(&d, fd, ready[i][1], go[i][0]));
	}
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(read(ready[i][0], &ch, 1), 1);
	for (i = 0; i < 2; i++) {
		res[i] = dt_client_resident(&d, pid[i]);
		ck_assert_uint_le(res[i], 2 * MiB + slack);
	}
	ck_assert_uint_le(res[0] + res[1], 4 * MiB + 2 * slack);
	/* The first goes: the second's part is the whole 4 MiB. */
	ck_assert_int_eq(write(go[0][1], "x", 1), 1);
	st = dt_waitpid(pid[0], 60000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client 1: %#x",
		      st);
	deadline = tu_now_ns() + 10000ull * 1000000;
	while (dt_client_resident(&d, pid[0]) != UINT64_MAX) {
		ck_assert_msg(tu_now_ns() < deadline,
			      "upagerd still lists the client gone");
		sched_yield();
	}
	ck_assert_int_eq(write(go[1][1], "a", 1), 1);
	ck_assert_int_eq(read(ready[1][0], &ch, 1), 1);
	res[1] = dt_client_resident(&d, pid[1]);
	ck_assert_uint_le(res[1], 4 * MiB + slack);
	ck_assert_msg(res[1] > 3 * MiB, "alone, it holds only %llu bytes",
		      (unsigned long long)res[1]);
	ck_assert_int_eq(write(go[1][1], "x", 1), 1);
	st = dt_waitpid(pid[1], 60000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client 2: %#x",
		      st);
	for (i = 0; i < 2; i++) {
		close(ready[i][0]);
		close(ready[i][1]);
		close(go[i][0]);
		close(go[i][1]);
	}
	close(fd);
	st = dt_stop(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "upagerd status %#x", st);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_isolation");
	TCase *tc = tcase_create("isolation");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, dirs_setup, dirs_teardown);
	tcase_add_test(tc, test_other_clients_regions);
	tcase_add_test(tc, test_clients_per_uid);
	tcase_add_test(tc, test_regions_per_uid);
	tcase_add_test(tc, test_uid_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return dt_main(suite(), UPAGERD_PATH);
}
