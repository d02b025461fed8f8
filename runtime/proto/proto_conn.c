/* SPDX-License-Identifier: MIT */
/*
 * proto_conn - reassemble messages from a byte stream, with their fds.
 *
 * Why reads never cross a message boundary: on a unix stream socket the
 * kernel hands out passed fds with the recvmsg() that first consumes any
 * byte of the skb they were sent with, and a single recvmsg() may glue the
 * tail of earlier skbs in front of it.  If reads could span messages, fds
 * would arrive with bytes of the previous message and their owner would
 * be a guess.  Sized by proto_conn_want(), a read lies inside one message:
 * fds that arrive with its first byte are its fds; fds that arrive later
 * are a protocol violation (closed, and the message rejected).
 *
 * Errors come in two kinds.  A header that cannot be trusted (bad magic,
 * version, size) loses the framing: the conn is broken for good and the
 * daemon hangs up.  A bad payload inside a good frame costs only that
 * message: its bytes are consumed, its fds closed, and the stream goes on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "proto/proto_wire.h"

static void close_fds(const int *fds, unsigned nfds)
{
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void conn_drop_fds(struct proto_conn *c)
{
	close_fds(c->fds, c->nfds);
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		c->fds[i] = -1;
	c->nfds = 0;
}

/* Start the next message. */
static void conn_reset(struct proto_conn *c)
{
	c->have = 0;
	c->need = PROTO_HDR_SIZE;
	c->hdr_done = false;
	c->fds_misplaced = false;
	conn_drop_fds(c);
}

int proto_conn_init(struct proto_conn *c, int sock)
{
	memset(c, 0, sizeof(*c));
	c->sock = sock;
	c->buf = malloc(PROTO_MAX_MSG);
	if (!c->buf)
		return -ENOMEM;
	for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
		c->fds[i] = -1;
	conn_reset(c);
	return 0;
}

void proto_conn_fini(struct proto_conn *c)
{
	if (c->buf)
		conn_drop_fds(c);
	free(c->buf);
	c->buf = NULL;
}

size_t proto_conn_want(const struct proto_conn *c)
{
	return c->need - c->have;
}

int proto_conn_broken(const struct proto_conn *c)
{
	return c->broken;
}

/* Lose the framing for good: nothing more can be read from the stream. */
int proto_conn_fail(struct proto_conn *c, int err)
{
	c->broken = err;
	conn_reset(c);
	return err;
}

/*
 * Take fds that arrived with the next bytes.  Ownership passes to @c
 * whatever happens.  Return: 0, or -ETOOMANYREFS (the conn is broken).
 */
int proto_conn_take_fds(struct proto_conn *c, const int *fds, unsigned nfds)
{
	if (!nfds)
		return 0;
	if (c->broken) {
		close_fds(fds, nfds);
		return c->broken;
	}
	if (c->have != 0) {
		/* Sent in the middle of a message: whose are they? Nobody's. */
		close_fds(fds, nfds);
		c->fds_misplaced = true;
		return 0;
	}
	if (c->nfds + nfds > PROTO_MAX_FDS) {
		close_fds(fds, nfds);
		return proto_conn_fail(c, -ETOOMANYREFS);
	}
	for (unsigned i = 0; i < nfds; i++)
		c->fds[c->nfds++] = fds[i];
	return 0;
}

/*
 * @n bytes were just appended at c->buf + c->have (n <= want).  Advance,
 * and finish the header or the message when complete.
 */
int proto_conn_advance(struct proto_conn *c, size_t n, struct proto_msg *msg)
{
	struct proto_hdr hdr;
	ssize_t got;
	int err;

	c->have += n;
	if (!c->hdr_done && c->have == PROTO_HDR_SIZE) {
		err = proto_decode_header(c->buf, c->have, &hdr);
		if (err)
			return proto_conn_fail(c, err);
		c->hdr_done = true;
		c->need = PROTO_HDR_SIZE + hdr.payload_len;
	}
	if (!c->hdr_done || c->have < c->need)
		return -EAGAIN;

	if (c->fds_misplaced) {
		/* Report it as the wrong fd count it is; keep the seq. */
		proto_decode_header(c->buf, c->have, &msg->hdr);
		memset(&msg->u, 0, sizeof(msg->u));
		msg->nfds = 0;
		for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
			msg->fds[i] = -1;
		conn_reset(c);
		return -EBADF;
	}
	got = proto_decode(c->buf, c->have, c->nfds, msg);
	if (got < 0) {
		conn_reset(c); /* closes the message's fds */
		return (int)got;
	}
	for (unsigned i = 0; i < c->nfds; i++) {
		msg->fds[i] = c->fds[i]; /* the message owns them now */
		c->fds[i] = -1;
	}
	c->nfds = 0;
	conn_reset(c);
	return 0;
}

int proto_conn_feed(struct proto_conn *c, const void *data, size_t len,
		    size_t *consumed, const int *fds, unsigned nfds,
		    struct proto_msg *msg)
{
	size_t n;
	int err;

	*consumed = 0;
	if (nfds && !len) {
		close_fds(fds, nfds); /* a stream never carries fds alone */
		return c->broken ? c->broken : -EINVAL;
	}
	err = proto_conn_take_fds(c, fds, nfds);
	if (err)
		return err;
	if (c->broken)
		return c->broken;
	/* Up to the end of the current message, header and payload alike. */
	err = -EAGAIN;
	while (err == -EAGAIN && *consumed < len) {
		n = proto_conn_want(c);
		if (n > len - *consumed)
			n = len - *consumed;
		memcpy(c->buf + c->have, (const uint8_t *)data + *consumed, n);
		*consumed += n;
		err = proto_conn_advance(c, n, msg);
	}
	return err;
}
