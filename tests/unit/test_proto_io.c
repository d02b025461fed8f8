// SPDX-License-Identifier: MIT
/*
 * test_proto_io - the daemon protocol on real unix stream sockets: fds
 * passed with the right message, fds of rejected messages closed, too
 * many fds, a peer that stops reading or writing (bounded waits), a peer
 * that goes away, and the checks of the kinds of fds a client passes.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/proto.h"
#include "proto_samples.h"
#include "testutil.h"

#define H PROTO_HDR_SIZE

static int sv[2]; /* sv[0] sends, sv[1] receives */
static struct proto_conn conn;

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(proto_conn_init(&conn, sv[1]), 0);
}

static void teardown(void)
{
	proto_conn_fini(&conn);
	close(sv[0]);
	close(sv[1]);
}

static int open_fd_count(void)
{
	int n = 0;
	char p[64];

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n += access(p, F_OK) == 0;
	}
	return n;
}

static int new_memfd(void)
{
	int fd = memfd_create("proto-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static ino_t ino_of(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

static int64_t ms_now(void)
{
	return (int64_t)(tu_now_ns() / 1000000);
}

/* sendmsg with any number of fds, bypassing proto_send_bytes' limit. */
static void raw_send(int sock, const void *b, size_t len, const int *fds,
		     unsigned nfds)
{
	char room[CMSG_SPACE(sizeof(int) * 64)];
	struct iovec iov = { .iov_base = (void *)b, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		memset(room, 0, sizeof(room));
		mh.msg_control = room;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* ---- fds travel with their message ---------------------------------------- */

START_TEST(fds_arrive_with_their_message)
{
	/* Four messages queued before the receiver reads any: fds of the
	 * 1st, 3rd and 4th must not slide onto a neighbour. */
	static const enum proto_type types[] = {
		PROTO_HELLO, PROTO_REPLY, PROTO_REGION_ADD, PROTO_HELLO,
	};
	int sent[4][PROTO_MAX_FDS];
	unsigned nsent[4];
	int base = open_fd_count();

	for (int i = 0; i < 4; i++) {
		struct proto_msg m;

		nsent[i] = ps_sample(types[i], &m);
		m.hdr.seq = 100 + (uint64_t)i;
		for (unsigned k = 0; k < nsent[i]; k++)
			sent[i][k] = new_memfd();
		ck_assert_int_eq(proto_send(sv[0], &m, sent[i], nsent[i], 1000), 0);
	}
	for (int i = 0; i < 4; i++) {
		struct proto_msg m;

		ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), 0);
		ck_assert_uint_eq(m.hdr.type, types[i]);
		ck_assert_uint_eq(m.hdr.seq, 100 + (uint64_t)i);
		ck_assert_uint_eq(m.nfds, nsent[i]);
		for (unsigned k = 0; k < nsent[i]; k++) {
			ck_assert_uint_eq(ino_of(m.fds[k]), ino_of(sent[i][k]));
			ck_assert_int_eq(fcntl(m.fds[k], F_GETFD) & FD_CLOEXEC,
					 FD_CLOEXEC);
		}
		proto_msg_release(&m);
		for (unsigned k = 0; k < nsent[i]; k++)
			close(sent[i][k]);
	}
	ck_assert_int_eq(open_fd_count(), base);
}
END_TEST

START_TEST(send_refuses_wrong_fd_count)
{
	struct proto_msg m;
	int fd = new_memfd();

	ps_sample(PROTO_REPLY, &m);
	ck_assert_int_eq(proto_send(sv[0], &m, &fd, 1, 1000), -EBADF);
	ps_sample(PROTO_REGION_ADD, &m); /* file-backed: three fds */
	ck_assert_int_eq(proto_send(sv[0], &m, &fd, 1, 1000), -EBADF);
	ck_assert_int_eq(proto_conn_recv(&conn, &m), -EAGAIN); /* nothing sent */
	close(fd);
}
END_TEST

START_TEST(rejected_message_fds_closed)
{
	static uint8_t b[PROTO_MAX_MSG];
	struct proto_msg m;
	unsigned nfds;
	size_t len;
	int fds[3], base;

	/* REGION_ADD whose flags have an unknown bit, with its 3 fds. */
	len = ps_encode(PROTO_REGION_ADD, b, &nfds);
	b[H + 48 + 3] = 0x80;
	for (int i = 0; i < 3; i++)
		fds[i] = new_memfd();
	ck_assert_int_eq(proto_send_bytes(sv[0], b, len, fds, 3, 1000), 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	base = open_fd_count();
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), -EINVAL);
	ck_assert_int_eq(open_fd_count(), base);

	/* A HELLO announcing 1 fd but carrying 2. */
	len = ps_encode(PROTO_HELLO, b, &nfds);
	fds[0] = new_memfd();
	fds[1] = new_memfd();
	ck_assert_int_eq(proto_send_bytes(sv[0], b, len, fds, 2, 1000), 0);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), -EBADF);
	ck_assert_uint_eq(m.hdr.seq, PROTO_HELLO * 1000 + 7);
	ck_assert_int_eq(open_fd_count(), base);

	/* Both were payload-level: the connection goes on. */
	len = ps_encode(PROTO_BYE, b, &nfds);
	ck_assert_int_eq(proto_send_bytes(sv[0], b, len, NULL, 0, 1000), 0);
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), 0);
	ck_assert_uint_eq(m.hdr.type, PROTO_BYE);
}
END_TEST

/* Too many fds: what arrived is closed and the connection is done. */
static void too_many_fds(unsigned n)
{
	uint8_t b[64];
	int fds[64], base;
	struct proto_msg m;
	unsigned nfds;
	size_t len = ps_encode(PROTO_BYE, b, &nfds);

	for (unsigned i = 0; i < n; i++)
		fds[i] = new_memfd();
	raw_send(sv[0], b, len, fds, n);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	base = open_fd_count();
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), -ETOOMANYREFS);
	ck_assert_int_eq(open_fd_count(), base);
	ck_assert_int_eq(proto_conn_broken(&conn), -ETOOMANYREFS);
	ck_assert_int_eq(proto_conn_recv(&conn, &m), -ETOOMANYREFS);
}

START_TEST(too_many_fds_one_over)
{
	too_many_fds(PROTO_MAX_FDS + 1);
}
END_TEST

START_TEST(too_many_fds_truncated)
{
	too_many_fds(32); /* MSG_CTRUNC: the kernel drops what does not fit */
}
END_TEST

/* ---- byte streams and bounded waits ---------------------------------------- */

START_TEST(socket_message_byte_by_byte)
{
	static uint8_t b[PROTO_MAX_MSG];
	struct proto_msg m;
	unsigned nfds;
	size_t len = ps_encode(PROTO_CLIENTS_REPLY, b, &nfds);

	for (size_t i = 0; i < len; i++) {
		ck_assert_int_eq(write(sv[0], b + i, 1), 1);
		if (i + 1 < len)
			ck_assert_int_eq(proto_conn_recv(&conn, &m), -EAGAIN);
	}
	ck_assert_int_eq(proto_conn_recv(&conn, &m), 0);
	ck_assert_uint_eq(m.hdr.type, PROTO_CLIENTS_REPLY);
	ck_assert_str_eq(m.u.clients_reply.recs[0].name, "ooc_sort");
	proto_msg_release(&m);
	ck_assert_int_eq(proto_conn_recv(&conn, &m), -EAGAIN);
}
END_TEST

/* A reply as big as the protocol allows. */
static void big_stats_reply(struct proto_msg *m)
{
	static struct proto_counter ctr[PROTO_COUNTERS_PER_MSG];

	for (uint32_t i = 0; i < PROTO_COUNTERS_PER_MSG; i++)
		ctr[i] = (struct proto_counter){ i + 1, (uint64_t)i * 3 };
	proto_msg_init(m, PROTO_STATS_REPLY, 5);
	m->u.stats_reply.count = PROTO_COUNTERS_PER_MSG;
	m->u.stats_reply.counters = ctr;
}

static void shrink_buffers(void)
{
	int small = 1; /* the kernel rounds up to its minimum */

	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small,
				    sizeof(small)), 0);
}

START_TEST(reader_that_stops_gives_timeout)
{
	struct proto_msg m;
	int64_t t0, dt;

	shrink_buffers();
	big_stats_reply(&m);
	t0 = ms_now();
	ck_assert_int_eq(proto_send(sv[0], &m, NULL, 0, 300), -ETIMEDOUT);
	dt = ms_now() - t0;
	ck_assert_int_ge(dt, 300);
	ck_assert_int_lt(dt, 300 + 3000);
}
END_TEST

static void *send_big(void *arg)
{
	struct proto_msg m;

	(void)arg;
	big_stats_reply(&m);
	return (void *)(intptr_t)proto_send(sv[0], &m, NULL, 0, 10000);
}

START_TEST(partial_writes_complete)
{
	struct proto_msg m;
	pthread_t th;
	void *ret;

	shrink_buffers(); /* many partial writes for one message */
	ck_assert_int_eq(pthread_create(&th, NULL, send_big, NULL), 0);
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 10000), 0);
	ck_assert_int_eq(pthread_join(th, &ret), 0);
	ck_assert_int_eq((int)(intptr_t)ret, 0);
	ck_assert_uint_eq(m.u.stats_reply.count, PROTO_COUNTERS_PER_MSG);
	ck_assert_uint_eq(m.u.stats_reply.counters[PROTO_COUNTERS_PER_MSG - 1].value,
			  (uint64_t)(PROTO_COUNTERS_PER_MSG - 1) * 3);
	proto_msg_release(&m);
}
END_TEST

START_TEST(writer_that_stops_gives_timeout)
{
	uint8_t b[128];
	struct proto_msg m;
	unsigned nfds;
	size_t len = ps_encode(PROTO_INVALIDATE, b, &nfds);
	int64_t t0 = ms_now();

	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 100), -ETIMEDOUT);
	ck_assert_int_ge(ms_now() - t0, 100);
	/* Half a message, then silence; the rest later still completes it. */
	ck_assert_int_eq(write(sv[0], b, 30), 30);
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 100), -ETIMEDOUT);
	ck_assert_int_eq(write(sv[0], b + 30, len - 30), (ssize_t)(len - 30));
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), 0);
	ck_assert_uint_eq(m.u.invalidate.cookie, 0x1122334455667788ull);
}
END_TEST

START_TEST(peer_gone)
{
	uint8_t b[128];
	struct proto_msg m;
	unsigned nfds;
	size_t len = ps_encode(PROTO_REPLY, b, &nfds);

	/* Writer closes in mid-message: the reader sees the end. */
	ck_assert_int_eq(write(sv[0], b, len - 1), (ssize_t)(len - 1));
	close(sv[0]);
	sv[0] = -1;
	ck_assert_int_eq(proto_recv_timeout(&conn, &m, 5000), -ECONNRESET);
	ck_assert_int_eq(proto_conn_broken(&conn), -ECONNRESET);

	/* Reader gone: the writer gets -EPIPE, not SIGPIPE. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	sv[1] = -1;
	ps_sample(PROTO_REPLY, &m);
	ck_assert_int_eq(proto_send(sv[0], &m, NULL, 0, 1000), -EPIPE);
}
END_TEST

/* ---- kinds of fds ------------------------------------------------------------ */

START_TEST(memfd_must_be_sealed_shrink)
{
	int sealed = new_memfd(), unsealed = new_memfd(), rdonly, path;
	int nosealing = memfd_create("x", MFD_CLOEXEC);
	char p[64];

	ck_assert_int_eq(ftruncate(sealed, 1 << 20), 0);
	ck_assert_int_eq(fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	ck_assert(proto_fd_is_memfd_sealed(sealed));
	ck_assert(!proto_fd_is_memfd_sealed(unsealed));
	ck_assert(!proto_fd_is_memfd_sealed(nosealing)); /* F_SEAL_SEAL only */

	snprintf(p, sizeof(p), "/proc/self/fd/%d", sealed);
	rdonly = open(p, O_RDONLY | O_CLOEXEC);
	path = open(p, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(rdonly, 0);
	ck_assert_int_ge(path, 0);
	ck_assert(!proto_fd_is_memfd_sealed(rdonly)); /* cannot be mapped rw */
	ck_assert(!proto_fd_is_memfd_sealed(path));

	int file = tu_tmpfile(4096);
	ck_assert(!proto_fd_is_memfd_sealed(file)); /* no seals on ext4/tmp */
	ck_assert(!proto_fd_is_memfd_sealed(-1));
	close(file);
	close(path);
	close(rdonly);
	close(nosealing);
	close(unsealed);
	close(sealed);
}
END_TEST

START_TEST(store_must_be_file_or_block_device)
{
	char dir[] = "/tmp/upg-proto-XXXXXX", fifo[64];
	int file = tu_tmpfile(8192), f, s[2], devnull, path;

	ck_assert(proto_fd_is_store(file));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	f = open(fifo, O_RDWR | O_CLOEXEC); /* does not block on Linux */
	ck_assert_int_ge(f, 0);
	ck_assert(!proto_fd_is_store(f));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	ck_assert(!proto_fd_is_store(s[0]));
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert(!proto_fd_is_store(devnull)); /* a character device */
	path = open("/tmp", O_PATH | O_CLOEXEC);
	ck_assert(!proto_fd_is_store(path));
	ck_assert(!proto_fd_is_store(-1));

	close(path);
	close(devnull);
	close(s[0]);
	close(s[1]);
	close(f);
	unlink(fifo);
	rmdir(dir);
	close(file);
}
END_TEST

START_TEST(uffd_is_recognised)
{
	int efd = eventfd(0, EFD_CLOEXEC), mfd = new_memfd();
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	ck_assert(!proto_fd_is_uffd(efd)); /* another anon inode */
	ck_assert(!proto_fd_is_uffd(mfd));
	ck_assert(!proto_fd_is_uffd(-1));
	if (uffd >= 0) {
		ck_assert(proto_fd_is_uffd(uffd));
		close(uffd);
		ck_assert(!proto_fd_is_uffd(uffd)); /* closed */
	} else {
		fprintf(stderr, "uffd_is_recognised: no userfaultfd (%s), "
				"positive case not run\n", strerror(errno));
	}
	close(mfd);
	close(efd);
}
END_TEST

START_TEST(peer_credentials)
{
	struct ucred uc;

	ck_assert_int_eq(proto_peer_cred(sv[1], &uc), 0);
	ck_assert_int_eq(uc.pid, getpid());
	ck_assert_uint_eq(uc.uid, getuid());
	ck_assert_uint_eq(uc.gid, getgid());
	ck_assert_int_eq(proto_peer_cred(-1, &uc), -EBADF);
}
END_TEST

static Suite *proto_io_suite(void)
{
	Suite *s = suite_create("proto_io");
	TCase *tc = tcase_create("fds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fds_arrive_with_their_message);
	tcase_add_test(tc, send_refuses_wrong_fd_count);
	tcase_add_test(tc, rejected_message_fds_closed);
	tcase_add_test(tc, too_many_fds_one_over);
	tcase_add_test(tc, too_many_fds_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, socket_message_byte_by_byte);
	tcase_add_test(tc, reader_that_stops_gives_timeout);
	tcase_add_test(tc, partial_writes_complete);
	tcase_add_test(tc, writer_that_stops_gives_timeout);
	tcase_add_test(tc, peer_gone);
	suite_add_tcase(s, tc);

	tc = tcase_create("fd_kinds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, memfd_must_be_sealed_shrink);
	tcase_add_test(tc, store_must_be_file_or_block_device);
	tcase_add_test(tc, uffd_is_recognised);
	tcase_add_test(tc, peer_credentials);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(proto_io_suite());
}
