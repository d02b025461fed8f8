/* SPDX-License-Identifier: MIT */
/*
 * proto - the wire protocol between upagerd and its clients, in one place.
 *
 * Every message is a fixed 24-byte header followed by a payload of at most
 * PROTO_MAX_PAYLOAD bytes, all fields little-endian and fixed width,
 * encoded and decoded field by field (no struct ever goes onto the wire).
 * File descriptors travel with the first byte of their message
 * (SCM_RIGHTS); the header says how many there are, and the type says how
 * many there must be.  docs/protocol.md is the reference for the format,
 * the negotiation rules and every error the decoder returns.
 *
 * Three layers, usable separately:
 *   codec   proto_encode() / proto_decode(): bytes <-> struct proto_msg,
 *           pure functions, no syscalls (the fuzz target drives these);
 *   stream  struct proto_conn: reassembles messages from a byte stream and
 *           ties passed fds to the message they arrived with;
 *   io      proto_send() / proto_conn_recv() / proto_recv_timeout() on a
 *           unix stream socket, plus checks of the kinds of passed fds.
 *
 * The codec validates shape only (sizes, enums, flags, strings, counts).
 * Meaning is the daemon's job: that a region fits in its memfd, that a
 * region id exists, that a peer may ask for every client's figures.
 *
 * No remap message exists: the daemon learns of a region's mremap from the
 * uffd it holds (UFFD_EVENT_REMAP), before the client could tell it.
 */
#ifndef UPAGER_PROTO_H
#define UPAGER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proto/proto_types.h"

/* ---- codec (proto_codec*.c) ------------------------------------------------ */

/**
 * proto_msg_init() - zero a message and set its header for sending.
 * @msg:  the message.
 * @type: enum proto_type.
 * @seq:  request number (a reply passes the request's).
 *
 * The version is PROTO_VERSION_1; a connection that negotiated another
 * sets @msg->hdr.version after this.  No fds, arrays NULL.
 * Context: any.
 */
void proto_msg_init(struct proto_msg *msg, enum proto_type type,
		    uint64_t seq);

/**
 * proto_msg_release() - free what a decoded message owns.
 * @msg: a message from proto_decode() or a receive, or proto_msg_init().
 *
 * Closes the fds still in @msg->fds (not taken with proto_msg_take_fd())
 * and frees the array of an array reply; leaves @msg with none.  Safe to
 * call twice.  Arrays set by a sender for proto_encode() are the sender's:
 * do not call this on such a message unless it allocated them with malloc.
 * Context: any.
 */
void proto_msg_release(struct proto_msg *msg);

/**
 * proto_msg_take_fd() - take ownership of a received fd.
 * @msg: a received message.
 * @i:   index in @msg->fds.
 * Return: the fd (the caller closes it), or -1 if there is none at @i.
 * Context: any.
 */
int proto_msg_take_fd(struct proto_msg *msg, unsigned i);

/**
 * proto_type_name() - name of a message type, for logs.
 * @type: any value.
 * Return: a static string ("HELLO" ...; "?" for an unknown type).
 */
const char *proto_type_name(unsigned type);

/**
 * proto_type_from_client() - may a client send this type?
 * @type: enum proto_type.
 * Return: true for the client-to-daemon types (and BYE).  The decoder does
 * not know who sent a message: the daemon checks direction with this.
 */
bool proto_type_from_client(unsigned type);

/**
 * proto_pick_version() - the version a daemon answers a HELLO with.
 * @peer_min: the client's lowest version.
 * @peer_max: the client's highest version.
 * Return: the highest version in both [@peer_min, @peer_max] and
 * [PROTO_VERSION_MIN, PROTO_VERSION_MAX], or -EPROTONOSUPPORT when the
 * ranges do not meet (the daemon says so in HELLO_REPLY's status).
 */
int proto_pick_version(uint16_t peer_min, uint16_t peer_max);

/**
 * proto_validate() - check a decoded-form message as the decoder would.
 * @msg:  the message (header type and version, payload fields).
 * @nfds: the fds that would go with it.
 *
 * proto_encode() calls this, so that nothing is sent that a peer of the
 * same version would reject.
 * Return: 0, or the error proto_decode() would give (see there).
 * Context: any.
 */
int proto_validate(const struct proto_msg *msg, unsigned nfds);

/**
 * proto_encode() - encode a message into a caller buffer.
 * @msg:  the message; @msg->hdr.type, .version, .seq and the payload are
 *        used (the header's flags must be 0, nfds and length are computed).
 * @nfds: the fds that will be sent with it (written into the header).
 * @buf:  where to write.
 * @cap:  bytes available at @buf (PROTO_MAX_MSG always suffices).
 *
 * Return: bytes written (> 0); -ENOSPC (@cap too small), -EMSGSIZE (the
 * payload would exceed PROTO_MAX_PAYLOAD, e.g. too many records), or any
 * error of proto_validate().
 * Context: any; no syscalls, no allocation.
 */
ssize_t proto_encode(const struct proto_msg *msg, unsigned nfds, void *buf,
		     size_t cap);

/**
 * proto_decode_header() - decode and check the fixed header only.
 * @buf: received bytes.
 * @len: how many.
 * @hdr: receives the header.
 *
 * These are the checks after which a byte stream cannot be trusted any
 * more (the message's length is unknown or absurd).
 * Return: 0; -EAGAIN (fewer than PROTO_HDR_SIZE bytes), -EPROTO (bad
 * magic), -EPROTONOSUPPORT (version outside [PROTO_VERSION_MIN,
 * PROTO_VERSION_MAX]), -EMSGSIZE (payload length over PROTO_MAX_PAYLOAD),
 * -EINVAL (unknown header flag, non-zero reserved byte), -EBADF (more than
 * PROTO_MAX_FDS fds announced).
 * Context: any; reads at most @len bytes.
 */
int proto_decode_header(const void *buf, size_t len, struct proto_hdr *hdr);

/**
 * proto_decode() - decode one message from the start of a buffer.
 * @buf:  received bytes (need not be aligned).
 * @len:  how many; bytes past the first message are not looked at.
 * @nfds_received: fds that arrived with the message's first byte.
 * @msg:  receives the message; @msg->nfds = @nfds_received, @msg->fds are
 *        all -1 (the stream layer fills them in).  On error it owns
 *        nothing, and @msg->hdr holds the header fields as far as they
 *        were read (so that an error reply can echo @msg->hdr.seq).
 *
 * Checks, in this order: the header (proto_decode_header()); -EAGAIN if
 * @len < the whole message; then -EOPNOTSUPP (unknown type: the frame is
 * intact, the receiver may skip it and answer), -EBADF (@nfds_received
 * differs from the header's count or from what the type takes), -EBADMSG
 * (payload length wrong for the type, array count or record size not
 * matching the payload), -EINVAL (a field out of range: unknown enum value
 * or flag bit, string with a NUL inside or too long, non-zero reserved
 * field, zero length, ranges that overflow), -ENOMEM (array allocation,
 * whose size was checked against the payload first).
 * Return: the message's length in bytes (> 0), or a negative errno above.
 * Context: any; reads at most @len bytes; never crashes on any input.
 */
ssize_t proto_decode(const void *buf, size_t len, unsigned nfds_received,
		     struct proto_msg *msg);

/* ---- stores opened from a URI (proto_store.c) ------------------------ */

/**
 * proto_store_scoped_name() - the name under which upagerd keeps the
 * pages of a store a client names in REGION_ADD_URI.
 * @name: the store name the client's URI gives.
 * @uid:  the client's uid, as the daemon knows it (SO_PEERCRED), sent
 *        back in REGION_ADD_URI's REPLY value.
 * @max:  the longest name the store accepts (REDIS_URI_NAME_MAX).
 * @out:  receives the scoped name.
 * @len:  size of @out.
 *
 * The name is "u<uid>.<name>", or @name itself when it already starts
 * with "u<uid>." (so a client may name its scoped pages in-process and
 * through the daemon alike).  Each uid thus has names of its own: no
 * client reaches another uid's pages through the daemon, whatever name
 * it gives.  The daemon and the client (to take a region over after the
 * daemon died) both use this one rule.
 * Return: 0; -ENAMETOOLONG (the scoped name is longer than @max or does
 * not fit @len).
 * Context: any.
 */
int proto_store_scoped_name(const char *name, uint32_t uid, size_t max,
			    char *out, size_t len);

/* ---- stream reassembly (proto_conn.c) ------------------------------- */

/*
 * Per-connection receive state.  Reads are sized by proto_conn_want() so
 * that one read never crosses a message boundary: then fds that arrive
 * with a read belong to the message that read starts, and fds arriving in
 * the middle of a message are a protocol violation.
 */
struct proto_conn {
	int sock;
	uint8_t *buf;		/* PROTO_MAX_MSG bytes */
	size_t have;		/* bytes of the current message so far */
	size_t need;		/* bytes the current message has in total */
	bool hdr_done;		/* @need is known */
	bool fds_misplaced;	/* reject the current message with -EBADF */
	unsigned nfds;
	int fds[PROTO_MAX_FDS]; /* arrived with the current message */
	/* 0, or the sticky error: stream unusable.  Atomic: the client's
	 * agent thread sets it, requesting threads read it. */
	_Atomic int broken;
};

/**
 * proto_conn_init() - set up the receive state of a connection.
 * @c:    the state.
 * @sock: the socket (not owned: proto_conn_fini() does not close it; -1
 *        for a conn fed with proto_conn_feed() only).
 * Return: 0, -ENOMEM.
 */
int proto_conn_init(struct proto_conn *c, int sock);

/**
 * proto_conn_fini() - free the buffer, close fds of an unfinished message.
 * @c: the state (may be zeroed, or finished already).
 */
void proto_conn_fini(struct proto_conn *c);

/**
 * proto_conn_want() - bytes to read next.
 * @c: the state.
 * Return: the bytes missing from the current header, or from the current
 * message once its header is in; never 0 on a usable conn.
 */
size_t proto_conn_want(const struct proto_conn *c);

/**
 * proto_conn_feed() - give the reassembler bytes (and fds) from the stream.
 * @c:        the state.
 * @data:     bytes in stream order.
 * @len:      how many (> 0 when @nfds > 0).
 * @consumed: receives how many were taken: never past the end of the
 *            current message, so the caller feeds the rest again.
 * @fds:      fds that arrived with @data (ownership passes to @c whatever
 *            the result: they end up in @msg or closed).
 * @nfds:     how many.
 * @msg:      receives a completed message (it owns its fds).
 *
 * Return: 0 and a message in @msg; -EAGAIN when more bytes are needed;
 * or the message was rejected, with its fds closed: the errors of
 * proto_decode() (the stream goes on with the next message) or, once
 * proto_conn_broken() is true, the header errors of proto_decode_header()
 * and -ETOOMANYREFS (more than PROTO_MAX_FDS fds), repeated on every call.
 * Context: no syscalls but close().
 */
int proto_conn_feed(struct proto_conn *c, const void *data, size_t len,
		    size_t *consumed, const int *fds, unsigned nfds,
		    struct proto_msg *msg);

/**
 * proto_conn_broken() - has the stream lost its framing?
 * @c: the state.
 * Return: the sticky error (negative), or 0 while messages can still be
 * told apart.  A broken conn only ever returns that error: hang up.
 */
int proto_conn_broken(const struct proto_conn *c);

/* ---- socket io (proto_io.c) -------------------------------------------- */

/**
 * proto_send_bytes() - write encoded bytes to a stream socket.
 * @sock:       a connected unix stream socket (blocking or not).
 * @buf:        the bytes; @fds go with the first of them.
 * @len:        how many (> 0).
 * @fds:        fds to pass (SCM_RIGHTS), or NULL.
 * @nfds:       how many, at most PROTO_MAX_FDS.
 * @timeout_ms: bound on the whole write; -1: none (not for the daemon).
 *
 * Handles partial writes, EINTR, and never raises SIGPIPE.
 * Return: 0; -ETIMEDOUT (the peer stopped reading: part of the message
 * may be written, so the connection must be dropped), -EPIPE or
 * -ECONNRESET (peer gone), -EINVAL, other -errno of sendmsg/poll.
 * Context: blocks up to @timeout_ms.
 */
int proto_send_bytes(int sock, const void *buf, size_t len, const int *fds,
		     unsigned nfds, int timeout_ms);

/**
 * proto_send() - encode a message and send it with its fds.
 * @sock: a connected unix stream socket.
 * @msg:  the message (see proto_encode()).
 * @fds:  fds to pass, or NULL.
 * @nfds: how many; must be what the type takes.
 * @timeout_ms: as for proto_send_bytes().
 * Return: 0, an error of proto_encode(), or of proto_send_bytes().
 * Context: blocks up to @timeout_ms; may allocate a buffer for large
 * messages (-ENOMEM).
 */
int proto_send(int sock, const struct proto_msg *msg, const int *fds,
	       unsigned nfds, int timeout_ms);

/**
 * proto_conn_recv() - read what the socket has, up to one whole message.
 * @c:   the state, made with the socket.
 * @msg: receives a message.
 *
 * Reads with recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC), so it suits an
 * epoll loop (call it until -EAGAIN, edge-triggered or not).
 * Return: 0 and a message; -EAGAIN (nothing more to read yet); the
 * rejections of proto_conn_feed() (fds of the rejected message closed);
 * -ETOOMANYREFS (fds were truncated: MSG_CTRUNC; what arrived is closed);
 * -ECONNRESET (the peer closed the connection); other -errno of recvmsg.
 * After -ETOOMANYREFS, -ECONNRESET and recvmsg errors the conn is broken.
 * Context: never blocks.
 */
int proto_conn_recv(struct proto_conn *c, struct proto_msg *msg);

/**
 * proto_recv_timeout() - blocking receive of one message, for the client
 * and tools.
 * @c:          the state, made with the socket.
 * @msg:        receives the message.
 * @timeout_ms: bound; -1: none.
 * Return: as proto_conn_recv(), with -ETIMEDOUT instead of -EAGAIN.
 * Context: blocks in poll() up to @timeout_ms.
 */
int proto_recv_timeout(struct proto_conn *c, struct proto_msg *msg,
		       int timeout_ms);

/* ---- passed fds and peers (proto_fd.c) --------------------------------- */

/**
 * proto_fd_is_memfd_sealed() - may the daemon map this fd as a region?
 * @fd: a received fd.
 * Return: true if @fd is a regular file opened read-write whose seals
 * include F_SEAL_SHRINK (memfds and other shmem files): a client cannot
 * shrink it under the daemon's alias mapping, which would SIGBUS the
 * daemon.  False for anything else, including unsealed memfds.
 */
bool proto_fd_is_memfd_sealed(int fd);

/**
 * proto_fd_is_store() - is this fd a store whose I/O always completes?
 * @fd: a received fd.
 * Return: true for a regular file or a block device, opened for reading
 * and writing.  False for FIFOs, sockets, ttys and the like, whose reads
 * may block for ever.
 */
bool proto_fd_is_store(int fd);

/**
 * proto_fd_is_uffd() - is this fd a userfaultfd?
 * @fd: a received fd.
 * Return: true if it is an anon inode "[userfaultfd]" (checked through
 * /proc/self/fd, which names the anon inode's class).
 */
bool proto_fd_is_uffd(int fd);

/**
 * proto_peer_cred() - who is at the other end of a unix socket?
 * @sock: a connected unix socket.
 * @out:  receives pid, uid, gid as of connect() (SO_PEERCRED).
 * Return: 0, or -errno of getsockopt.
 */
int proto_peer_cred(int sock, struct ucred *out);

#endif
