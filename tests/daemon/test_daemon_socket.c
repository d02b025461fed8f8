// SPDX-License-Identifier: MIT
/*
 * test_daemon_socket - what upagerd does with the path of its socket.  It
 * replaces only a socket that no daemon answers on: a regular file, a
 * directory or a symbolic link there (never followed) stays as it was and
 * upagerd exits 1 with a message naming the path; a live daemon is not
 * disturbed.  The socket's directory is created with its parents; the
 * socket gets --socket-mode and --socket-group; at exit upagerd removes
 * its own socket and nothing that replaced it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
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

#include "daemon_util.h"
#include "testutil.h"

static char dir[64];

/* Unchecked fixture (the parent process): the directory goes also when a
 * test fails; a daemon a failed test left gets SIGTERM by PDEATHSIG. */
static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/upager-dsock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	tu_rm_rf(dir);
}

static void in_dir(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* upagerd on @sock with up to two more arguments, as user @uid (-1: this
 * process's); its stderr to DIR/stderr. */
static pid_t spawn_as(uid_t uid, const char *sock, const char *a1,
		      const char *a2)
{
	pid_t parent = getpid(), pid;
	char log[128];

	in_dir(log, sizeof(log), "stderr");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent || fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (uid != (uid_t)-1 &&
		    (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
			_exit(125);
		unsetenv("UPAGER_SOCKET");
		execl(UPAGERD_PATH, "upagerd", "--foreground", "--config",
		      "/dev/null", "--budget", "8M", "--swap-dir", dir,
		      "--socket", sock, a1, a2, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static pid_t spawn(const char *sock, const char *a1, const char *a2)
{
	return spawn_as((uid_t)-1, sock, a1, a2);
}

/* Wait (bounded) until upagerd at @sock accepts, or fail the test. */
static void wait_listening(pid_t pid, const char *sock)
{
	uint64_t deadline = tu_now_ns() + 10000ull * 1000000;
	int fd, st;

	while ((fd = dt_try_connect(sock)) < 0) {
		ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0,
			      "upagerd exited at start (status %#x)", st);
		ck_assert_msg(tu_now_ns() < deadline,
			      "upagerd did not listen within 10 s");
		sched_yield();
	}
	close(fd);
}

static void stop(pid_t pid)
{
	int st;

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	st = dt_waitpid(pid, 60000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "upagerd status %#x", st);
}

/* upagerd refused @sock: exit status 1, and its message names @sock and
 * says @why. */
static void assert_refused_as(uid_t uid, const char *sock, const char *why)
{
	char log[128], text[4096];
	pid_t pid = spawn_as(uid, sock, NULL, NULL);
	int st = dt_waitpid(pid, 30000), fd;
	ssize_t n;

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "upagerd on %s: status %#x, want exit 1", sock, st);
	in_dir(log, sizeof(log), "stderr");
	fd = open(log, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_msg(strstr(text, sock) && strstr(text, why),
		      "message without '%s' and '%s': %s", sock, why, text);
}

static void assert_refused(const char *sock, const char *why)
{
	assert_refused_as((uid_t)-1, sock, why);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void assert_content(const char *path, const char *text)
{
	char buf[256];
	struct stat st;
	ssize_t n;
	int fd;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_msg(S_ISREG(st.st_mode), "%s is no longer a file", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, text);
}

START_TEST(test_regular_file_survives)
{
	char path[128];

	in_dir(path, sizeof(path), "precious");
	write_file(path, "system file\n");
	assert_refused(path, "regular file, not a socket");
	assert_content(path, "system file\n");
}
END_TEST

START_TEST(test_symlink_not_followed)
{
	char target[128], link[128], dangling[128], nowhere[128];
	struct stat st;

	/* A link to a file: neither goes. */
	in_dir(target, sizeof(target), "target");
	in_dir(link, sizeof(link), "link.sock");
	write_file(target, "target\n");
	ck_assert_int_eq(symlink(target, link), 0);
	assert_refused(link, "symbolic link");
	assert_content(target, "target\n");
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	/* A link to nowhere: nothing is created where it points. */
	in_dir(dangling, sizeof(dangling), "dangling.sock");
	in_dir(nowhere, sizeof(nowhere), "nowhere");
	ck_assert_int_eq(symlink(nowhere, dangling), 0);
	assert_refused(dangling, "symbolic link");
	ck_assert_int_eq(lstat(nowhere, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_directory_survives)
{
	char path[128], inner[160];

	in_dir(path, sizeof(path), "adir");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(inner, sizeof(inner), "%s/keep", path);
	write_file(inner, "kept\n");
	assert_refused(path, "directory, not a socket");
	assert_content(inner, "kept\n");
}
END_TEST

START_TEST(test_stale_socket_replaced)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[128];
	struct stat st;
	pid_t pid;
	int fd;

	/* A socket file nobody listens on: a daemon that died. */
	in_dir(path, sizeof(path), "stale.sock");
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(dt_try_connect(path), -1);
	pid = spawn(path, NULL, NULL);
	wait_listening(pid, path);
	stop(pid);
	/* Its own socket goes at exit. */
	ck_assert_int_eq(lstat(path, &st), -1);
}
END_TEST

START_TEST(test_live_daemon_kept)
{
	char path[128];
	pid_t first;
	int fd;

	in_dir(path, sizeof(path), "live.sock");
	first = spawn(path, NULL, NULL);
	wait_listening(first, path);
	assert_refused(path, "already listens");
	fd = dt_try_connect(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	stop(first);
}
END_TEST

/*
 * A live daemon's socket that another user may not connect to (EACCES)
 * is not taken for a stale one, even where that user could remove it.
 */
START_TEST(test_unreachable_socket_kept)
{
	char shared[128], path[160];
	pid_t first;
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr, "test_unreachable_socket_kept: needs root to "
				"run a second user: skipped\n");
		return;
	}
	/* A directory anyone may write to, a socket only root may use. */
	ck_assert_int_eq(chmod(dir, 0711), 0);
	in_dir(shared, sizeof(shared), "shared");
	ck_assert_int_eq(mkdir(shared, 0777), 0);
	ck_assert_int_eq(chmod(shared, 0777), 0);
	snprintf(path, sizeof(path), "%s/root.sock", shared);
	first = spawn(path, "--socket-mode=0600", NULL);
	wait_listening(first, path);
	assert_refused_as(65534, path, "cannot tell whether a daemon listens");
	fd = dt_try_connect(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	stop(first);
}
END_TEST

START_TEST(test_directories_made)
{
	char path[160], sub[160];
	const char *const parts[] = { "x", "x/y", "x/y/z" };
	struct stat st;
	unsigned i;
	pid_t pid;

	in_dir(path, sizeof(path), "x/y/z/upagerd.sock");
	pid = spawn(path, NULL, NULL);
	wait_listening(pid, path);
	for (i = 0; i < 3; i++) {
		in_dir(sub, sizeof(sub), parts[i]);
		ck_assert_int_eq(stat(sub, &st), 0);
		ck_assert(S_ISDIR(st.st_mode));
		ck_assert_uint_eq(st.st_mode & 07777, 0755);
	}
	stop(pid);
}
END_TEST

START_TEST(test_mode_and_group)
{
	char path[128], group[16];
	struct stat st;
	gid_t gid = geteuid() == 0 ? 1 : getegid();
	pid_t pid;

	snprintf(group, sizeof(group), "%u", (unsigned)gid);
	in_dir(path, sizeof(path), "grp.sock");
	{
		char a1[32], a2[32];

		snprintf(a1, sizeof(a1), "--socket-group=%s", group);
		snprintf(a2, sizeof(a2), "--socket-mode=0640");
		pid = spawn(path, a1, a2);
	}
	wait_listening(pid, path);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_uint_eq(st.st_gid, gid);
	stop(pid);
}
END_TEST

/* Its socket replaced by a file while it runs: the file stays at exit. */
START_TEST(test_exit_removes_only_its_socket)
{
	char path[128];
	pid_t pid;

	in_dir(path, sizeof(path), "swap.sock");
	pid = spawn(path, NULL, NULL);
	wait_listening(pid, path);
	ck_assert_int_eq(unlink(path), 0);
	write_file(path, "not yours\n");
	stop(pid);
	assert_content(path, "not yours\n");
}
END_TEST

#ifdef UPAGER_HAVE_SYSTEMD
/* One datagram on @fd within 10 s, as a string. */
static void recv_state(int fd, char *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	ck_assert_msg(poll(&p, 1, 10000) == 1, "no sd_notify() within 10 s");
	n = recv(fd, buf, size - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
}

/* Type=notify: READY=1 once the socket listens, STOPPING=1 at SIGTERM. */
START_TEST(test_sd_notify)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[128], notify[128], state[256];
	pid_t pid;
	int fd, st;

	in_dir(notify, sizeof(notify), "notify");
	ck_assert_uint_lt(strlen(notify), sizeof(sa.sun_path));
	memcpy(sa.sun_path, notify, strlen(notify) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", notify, 1), 0);
	in_dir(path, sizeof(path), "notify.sock");
	pid = spawn(path, NULL, NULL);
	unsetenv("NOTIFY_SOCKET");
	recv_state(fd, state, sizeof(state));
	ck_assert_msg(strstr(state, "READY=1"), "got '%s'", state);
	/* Ready means listening: a client connects at once. */
	st = dt_try_connect(path);
	ck_assert_int_ge(st, 0);
	close(st);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	recv_state(fd, state, sizeof(state));
	ck_assert_msg(strstr(state, "STOPPING=1"), "got '%s'", state);
	st = dt_waitpid(pid, 60000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fd);
}
END_TEST
#endif

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_socket");
	TCase *tc = tcase_create("socket");

	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_regular_file_survives);
	tcase_add_test(tc, test_symlink_not_followed);
	tcase_add_test(tc, test_directory_survives);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_live_daemon_kept);
	tcase_add_test(tc, test_unreachable_socket_kept);
	tcase_add_test(tc, test_directories_made);
	tcase_add_test(tc, test_mode_and_group);
	tcase_add_test(tc, test_exit_removes_only_its_socket);
#ifdef UPAGER_HAVE_SYSTEMD
	tcase_add_test(tc, test_sd_notify);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dt_main(suite(), UPAGERD_PATH);
}
