// SPDX-License-Identifier: MIT
/*
 * test_daemon_input - bad input never hurts upagerd or its other clients:
 * garbage, a request before HELLO, a HELLO whose fd is not a userfaultfd,
 * a memfd not sealed or too small, a FIFO or a socket as store, the wrong
 * number of fds, an unknown type, a huge length, a truncated message, a
 * client that stops reading.  Each gets an error answer or is dropped,
 * and a well-behaved client is served after all of them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
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

static size_t PS;
static struct dt_daemon D;

static void setup(void)
{
	dt_start(&D, UPAGERD_PATH, "4M");
}

static void teardown(void)
{
	int st = dt_stop(&D);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "upagerd status %#x", st);
}

struct conn {
	int fd;
	struct proto_conn pc;
	uint64_t seq;
};

static void open_conn(struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", D.sock);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	ck_assert_int_eq(proto_conn_init(&c->pc, c->fd), 0);
	c->seq = 0;
}

static void close_conn(struct conn *c)
{
	proto_conn_fini(&c->pc);
	close(c->fd);
}

/* The daemon hung up on @c (bounded wait). */
static void assert_dropped(struct conn *c)
{
	struct proto_msg m;
	int err;

	do {
		err = proto_recv_timeout(&c->pc, &m, 10000);
		if (!err)
			proto_msg_release(&m);
	} while (!err);
	ck_assert_msg(err == -ECONNRESET, "expected a hang-up, got %d", err);
}

static void send_msg(struct conn *c, struct proto_msg *m, const int *fds,
		     unsigned nfds)
{
	m->hdr.seq = ++c->seq;
	ck_assert_int_eq(proto_send(c->fd, m, fds, nfds, 5000), 0);
}

/* The REPLY to the last request: its status. */
static int reply_status(struct conn *c)
{
	struct proto_msg m;
	int st;

	ck_assert_int_eq(proto_recv_timeout(&c->pc, &m, 10000), 0);
	ck_assert_msg(m.hdr.type == PROTO_REPLY || m.hdr.type == PROTO_HELLO_REPLY,
		      "answer of type %u", m.hdr.type);
	st = m.hdr.type == PROTO_REPLY ? m.u.reply.status :
					 m.u.hello_reply.status;
	proto_msg_release(&m);
	return st;
}

static int new_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_REQUIRED_FEATURES };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		fprintf(stderr, "no userfaultfd: skipped\n");
		exit(TEST_SKIP);
	}
	ck_assert_int_eq(ioctl(fd, UFFDIO_API, &api), 0);
	return fd;
}

static void hello(struct conn *c, int fd, int want)
{
	struct proto_msg m;

	proto_msg_init(&m, PROTO_HELLO, 0);
	m.u.hello.version_min = m.u.hello.version_max = PROTO_VERSION_1;
	strcpy(m.u.hello.name, "bad-input");
	send_msg(c, &m, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	ck_assert_int_eq(reply_status(c), want);
}

static int sealed_memfd(uint64_t len, bool seal)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
	if (seal)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	return fd;
}

static int region_add(struct conn *c, int memfd, int marks, int store,
		      unsigned nfds, uint64_t len)
{
	struct proto_msg m;
	int fds[3] = { memfd, marks, store };

	proto_msg_init(&m, PROTO_REGION_ADD, 0);
	m.u.region_add.region_id = c->seq + 1;
	m.u.region_add.addr = 0x100000000ull;
	m.u.region_add.length = len;
	m.u.region_add.prot = 3;
	m.u.region_add.numa_node = -1;
	/* Sent raw: the encoder refuses a wrong fd count itself. */
	m.hdr.seq = ++c->seq;
	if (nfds == 3) {
		ck_assert_int_eq(proto_send(c->fd, &m, fds, 3, 5000), 0);
	} else {
		static uint8_t buf[PROTO_MAX_MSG];
		ssize_t n = proto_encode(&m, 3, buf, sizeof(buf));

		ck_assert_int_gt(n, 0);
		buf[10] = (uint8_t)nfds; /* header: fd count */
		ck_assert_int_eq(proto_send_bytes(c->fd, buf, (size_t)n, fds,
						  nfds, 5000),
				 0);
	}
	return reply_status(c);
}

/* A well-behaved client, start to end: the daemon still serves. */
static void assert_served(void)
{
	int fd = tur_data_file(8 * MiB, 900);
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (!pid) {
		struct upg_runtime *rt;
		struct upg_region *r;

		if (upg_runtime_connect(D.sock, NULL, &rt) ||
		    upg_region_map_file(rt, fd, 8 * MiB, NULL, &r))
			_exit(1);
		tu_fill(upg_region_addr(r), 0, 8 * MiB, 901);
		if (upg_region_unmap(r) || upg_runtime_destroy(rt))
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(dt_waitpid(pid, 60000), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, 8 * MiB, 901), UINT64_MAX);
	close(fd);
}

START_TEST(test_garbage_and_order)
{
	static const char junk[] = "GET / HTTP/1.1\r\n\r\n0123456789abcdef";
	struct proto_msg m;
	struct conn c;

	/* Garbage: bad magic, the stream is unusable, hang up. */
	open_conn(&c);
	ck_assert_int_eq(write(c.fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_dropped(&c);
	close_conn(&c);
	/* A request before HELLO. */
	open_conn(&c);
	proto_msg_init(&m, PROTO_STATS, 0);
	send_msg(&c, &m, NULL, 0);
	assert_dropped(&c);
	close_conn(&c);
	/* A HELLO whose fd is a pipe, not a userfaultfd. */
	{
		int p[2];

		ck_assert_int_eq(pipe(p), 0);
		open_conn(&c);
		hello(&c, p[0], -EBADF);
		assert_dropped(&c);
		close_conn(&c);
		close(p[0]);
		close(p[1]);
	}
	/* A daemon-only message from a client. */
	open_conn(&c);
	hello(&c, -1, 0);
	proto_msg_init(&m, PROTO_REPLY, 0);
	send_msg(&c, &m, NULL, 0);
	assert_dropped(&c);
	close_conn(&c);
	/* A huge length in the header. */
	open_conn(&c);
	{
		uint8_t h[PROTO_HDR_SIZE] = { 0 };
		uint32_t magic = PROTO_MAGIC, len = 1u << 30;

		memcpy(h, &magic, 4);
		h[4] = 1;  /* version */
		h[6] = PROTO_STATS;
		memcpy(h + 12, &len, 4);
		ck_assert_int_eq(write(c.fd, h, sizeof(h)), (ssize_t)sizeof(h));
		assert_dropped(&c);
	}
	close_conn(&c);
	/* A truncated message, then the client goes. */
	open_conn(&c);
	ck_assert_int_eq(write(c.fd, "UPGP", 4), 4);
	close_conn(&c);
	assert_served();
}
END_TEST

START_TEST(test_bad_regions)
{
	int uffd = new_uffd(), fifo, sv[2], store = tur_data_file(MiB, 902);
	int good = sealed_memfd(MiB, true), marks = sealed_memfd(PS, true);
	char path[128];
	struct proto_msg m;
	struct conn c;

	open_conn(&c);
	hello(&c, uffd, 0);
	/* Not sealed against shrinking. */
	{
		int bad = sealed_memfd(MiB, false);

		ck_assert_int_eq(region_add(&c, bad, marks, store, 3, MiB), -EPERM);
		close(bad);
	}
	/* Smaller than the region. */
	ck_assert_int_eq(region_add(&c, good, marks, store, 3, 4 * MiB), -EINVAL);
	/* A FIFO and a socket as store: they could block an I/O forever. */
	snprintf(path, sizeof(path), "%s/fifo", D.dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	fifo = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fifo, 0);
	ck_assert_int_eq(region_add(&c, good, marks, fifo, 3, MiB), -ENODEV);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(region_add(&c, good, marks, sv[0], 3, MiB), -ENODEV);
	/* The wrong number of fds for the message: refused, stream goes on. */
	ck_assert_int_eq(region_add(&c, good, marks, store, 2, MiB), -EBADF);
	/* An unknown type: refused, stream goes on. */
	{
		uint8_t h[PROTO_HDR_SIZE] = { 0 };
		uint32_t magic = PROTO_MAGIC;

		memcpy(h, &magic, 4);
		h[4] = 1;
		h[6] = 99;
		h[16] = 7; /* seq */
		ck_assert_int_eq(write(c.fd, h, sizeof(h)), (ssize_t)sizeof(h));
		ck_assert_int_eq(reply_status(&c), -EOPNOTSUPP);
	}
	/* Requests on a region that is not this client's. */
	proto_msg_init(&m, PROTO_FLUSH, 0);
	m.u.flush.region_id = 12345;
	send_msg(&c, &m, NULL, 0);
	ck_assert_int_eq(reply_status(&c), -ENOENT);
	/* Still a good connection: figures come back. */
	proto_msg_init(&m, PROTO_STATS, 0);
	m.u.stats.scope = PROTO_SCOPE_SELF;
	send_msg(&c, &m, NULL, 0);
	{
		struct proto_msg r;

		ck_assert_int_eq(proto_recv_timeout(&c.pc, &r, 10000), 0);
		ck_assert_int_eq(r.hdr.type, PROTO_STATS_REPLY);
		proto_msg_release(&r);
	}
	close_conn(&c);
	close(fifo);
	close(sv[0]);
	close(sv[1]);
	close(good);
	close(marks);
	close(store);
	close(uffd);
	assert_served();
}
END_TEST

/* A client that asks and never reads: dropped once a reply cannot go out
 * within the daemon's bound; the others are served. */
START_TEST(test_client_stops_reading)
{
	int small = 4096;
	struct proto_msg m;
	struct conn c;
	int i;

	open_conn(&c);
	ck_assert_int_eq(setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small,
				    sizeof(small)), 0);
	hello(&c, -1, 0);
	for (i = 0; i < 4000; i++) {
		proto_msg_init(&m, PROTO_STATS, 0);
		m.u.stats.scope = PROTO_SCOPE_DAEMON;
		m.hdr.seq = ++c.seq;
		if (proto_send(c.fd, &m, NULL, 0, 3000))
			break; /* the daemon stopped reading us: dropped */
	}
	/* Still reading nothing: the daemon hangs up (its sends are
	 * bounded), which shows while the replies are unread. */
	{
		struct pollfd p = { .fd = c.fd, .events = POLLRDHUP };

		ck_assert_int_eq(poll(&p, 1, 30000), 1);
		ck_assert(p.revents & (POLLRDHUP | POLLHUP));
	}
	close_conn(&c);
	assert_served();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_input");
	TCase *tc = tcase_create("input");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_garbage_and_order);
	tcase_add_test(tc, test_bad_regions);
	tcase_add_test(tc, test_client_stops_reading);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	return dt_main(suite(), UPAGERD_PATH);
}
