// SPDX-License-Identifier: MIT
/*
 * fuzz_proto_decode - libFuzzer target for the daemon protocol's decoder
 * and stream reassembler (built with -DUPAGER_FUZZ=ON and clang; the same
 * file is linked into fuzz_proto_replay for the gcc builds).
 *
 * Input: byte 0 chooses the fd count that "arrived" (byte % 6, so one more
 * than PROTO_MAX_FDS too) and the chunking of the stream (byte / 6); the
 * rest is what the peer sent.  Beyond "no crash, no sanitizer report":
 *   - a decoded message re-encodes, and its encoding decodes again; for
 *     every type but the record arrays (whose newer, longer records are
 *     trimmed to v1) the bytes are the same: the encoding is canonical;
 *   - reassembly in arbitrary chunks closes or hands over every fd it was
 *     given (none leaks, none is closed twice).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FD_CHOICES (PROTO_MAX_FDS + 2)

static uint8_t again[PROTO_MAX_MSG];

static void check_decode(const uint8_t *b, size_t len, unsigned nfds)
{
	struct proto_msg m, m2;
	ssize_t n, n2, r;

	n = proto_decode(b, len, nfds, &m);
	if (n <= 0) {
		proto_msg_release(&m);
		return;
	}
	if ((size_t)n > len)
		abort(); /* claimed more than it was given */
	n2 = proto_encode(&m, nfds, again, sizeof(again));
	if (n2 <= 0)
		abort(); /* accepted but cannot be sent back */
	/* Record replies may come with longer records (a newer daemon's),
	 * which are sent back at this version's size. */
	if (m.hdr.type != PROTO_CLIENTS_REPLY && m.hdr.type != PROTO_REGIONS_REPLY &&
	    m.hdr.type != PROTO_STORES_REPLY &&
	    (n2 != n || memcmp(again, b, (size_t)n)))
		abort(); /* two encodings of one message */
	r = proto_decode(again, (size_t)n2, nfds, &m2);
	if (r != n2)
		abort();
	proto_msg_release(&m2);
	proto_msg_release(&m);
}

static int fuzz_spare_fd(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd;
}

static void check_stream(const uint8_t *b, size_t len, unsigned nfds,
			 unsigned chunking)
{
	struct proto_conn c;
	int fds[FD_CHOICES], given = 0;
	uint32_t rng = chunking * 2654435761u + 1;
	size_t off = 0;

	if (proto_conn_init(&c, -1))
		return;
	for (unsigned i = 0; i < nfds && len; i++)
		fds[given++] = fcntl(fuzz_spare_fd(), F_DUPFD_CLOEXEC, 0);

	while (off < len) {
		struct proto_msg m;
		size_t chunk, used;
		int r;

		rng = rng * 1103515245u + 12345u;
		chunk = chunking == 0 ? len - off : 1 + (rng >> 16) % (chunking * 4);
		if (chunk > len - off)
			chunk = len - off;
		r = proto_conn_feed(&c, b + off, chunk, &used,
				    off == 0 ? fds : NULL, off == 0 ? (unsigned)given : 0,
				    &m);
		if (used == 0 && r == -EAGAIN)
			abort(); /* no progress */
		off += used;
		if (r == 0)
			proto_msg_release(&m);
		if (proto_conn_broken(&c))
			break;
	}
	proto_conn_fini(&c);
	for (int i = 0; i < given; i++)
		if (fcntl(fds[i], F_GETFD) != -1)
			abort(); /* an fd of the stream leaked */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned nfds, chunking;

	if (size < 1)
		return 0;
	nfds = data[0] % FD_CHOICES;
	chunking = data[0] / FD_CHOICES;
	check_decode(data + 1, size - 1, nfds);
	check_stream(data + 1, size - 1, nfds, chunking);
	return 0;
}
