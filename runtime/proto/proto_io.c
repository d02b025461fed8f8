/* SPDX-License-Identifier: MIT */
/*
 * proto_io - messages over a unix stream socket.
 *
 * Every wait is bounded by a deadline on the monotonic clock: a peer that
 * stops reading (or writing) costs the caller at most its timeout, never a
 * thread.  Writes use MSG_DONTWAIT and poll() between partial writes, so
 * the socket itself may be blocking or not.  Reads are sized by
 * proto_conn_want() (see proto_conn.c for why).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"
#include "proto/proto_wire.h"

/* Room for one more fd than allowed, so that "too many" is seen as such
 * (MSG_CTRUNC) and not mistaken for the maximum. */
#define CMSG_ROOM CMSG_SPACE(sizeof(int) * (PROTO_MAX_FDS + 1))

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/*
 * Wait until @fd is ready for @events or @deadline (ms, -1: never) passes.
 * Return: 0 (ready, or an error/hangup that the next call will report),
 * -ETIMEDOUT, -EBADF, or -errno of poll.
 */
static int wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = -1, n;

		if (deadline >= 0) {
			int64_t d = deadline - now_ms();

			if (d <= 0)
				return -ETIMEDOUT;
			left = d > 1000000 ? 1000000 : (int)d;
		}
		n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			continue; /* the deadline check above decides */
		if (p.revents & POLLNVAL)
			return -EBADF;
		return 0;
	}
}

int proto_send_bytes(int sock, const void *buf, size_t len, const int *fds,
		     unsigned nfds, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char room[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
	} ctl;
	int64_t deadline = deadline_after(timeout_ms);
	bool fds_pending = nfds > 0;
	size_t off = 0;

	if (!buf || !len || nfds > PROTO_MAX_FDS || (nfds && !fds))
		return -EINVAL;

	while (off < len) {
		struct iovec iov = { .iov_base = (char *)buf + off,
				     .iov_len = len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		int err;

		if (fds_pending) {
			struct cmsghdr *cm;

			/* Only with the first byte: that is how the receiver
			 * knows which message they belong to. */
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.room;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			fds_pending = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (n == 0)
			return -EIO; /* cannot happen on a stream with len > 0 */
		err = wait_ready(sock, POLLOUT, deadline);
		if (err)
			return err;
	}
	return 0;
}

int proto_send(int sock, const struct proto_msg *msg, const int *fds,
	       unsigned nfds, int timeout_ms)
{
	uint8_t small[512]; /* every message but the array replies */
	uint8_t *big = NULL;
	ssize_t n;
	int err;

	n = proto_encode(msg, nfds, small, sizeof(small));
	if (n == -ENOSPC) {
		big = malloc(PROTO_MAX_MSG);
		if (!big)
			return -ENOMEM;
		n = proto_encode(msg, nfds, big, PROTO_MAX_MSG);
	}
	if (n < 0) {
		free(big);
		return (int)n;
	}
	err = proto_send_bytes(sock, big ? big : small, (size_t)n, fds, nfds,
			       timeout_ms);
	free(big);
	return err;
}

/* Collect the SCM_RIGHTS fds of a received message header into @out. */
static unsigned collect_fds(struct msghdr *mh, int *out, unsigned cap)
{
	unsigned n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (n < cap)
				out[n++] = fd;
			else
				close(fd); /* cannot happen: room is sized */
		}
	}
	return n;
}

int proto_conn_recv(struct proto_conn *c, struct proto_msg *msg)
{
	for (;;) {
		union {
			struct cmsghdr align;
			char room[CMSG_ROOM];
		} ctl;
		int fds[PROTO_MAX_FDS + 1];
		struct iovec iov;
		struct msghdr mh;
		unsigned nfds;
		ssize_t n;
		int err;

		if (c->broken)
			return c->broken;
		iov.iov_base = c->buf + c->have;
		iov.iov_len = proto_conn_want(c);
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.room;
		mh.msg_controllen = sizeof(ctl.room);

		n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0)
			return proto_conn_fail(c, -errno);

		nfds = collect_fds(&mh, fds, PROTO_MAX_FDS + 1);
		if ((mh.msg_flags & MSG_CTRUNC) || nfds > PROTO_MAX_FDS) {
			/* The kernel dropped the fds that did not fit. */
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			return proto_conn_fail(c, -ETOOMANYREFS);
		}
		if (n == 0) {
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			return proto_conn_fail(c, -ECONNRESET);
		}
		err = proto_conn_take_fds(c, fds, nfds);
		if (err)
			return err;
		err = proto_conn_advance(c, (size_t)n, msg);
		if (err != -EAGAIN)
			return err;
	}
}

int proto_recv_timeout(struct proto_conn *c, struct proto_msg *msg,
		       int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);

	for (;;) {
		int err = proto_conn_recv(c, msg);

		if (err != -EAGAIN)
			return err;
		err = wait_ready(c->sock, POLLIN, deadline);
		if (err)
			return err;
	}
}
