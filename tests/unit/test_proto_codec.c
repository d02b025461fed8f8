// SPDX-License-Identifier: MIT
/*
 * test_proto_codec - the daemon protocol's codec and stream reassembly:
 * a round trip of every message type, every class of malformed input
 * with the errno the decoder promises for it (each input built on
 * purpose), and reassembly of streams split at every byte.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/proto.h"
#include "proto_samples.h"
#include "testutil.h"

/* Byte offsets: docs/protocol.md. */
#define H PROTO_HDR_SIZE
#define OFF_VERSION 4
#define OFF_TYPE 6
#define OFF_FLAGS 8
#define OFF_NFDS 10
#define OFF_RESERVED 11
#define OFF_PLEN 12

static uint8_t buf[PROTO_MAX_MSG + 64];

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Decode and release; the result only. */
static ssize_t dec(const void *b, size_t len, unsigned nfds)
{
	struct proto_msg m;
	ssize_t r = proto_decode(b, len, nfds, &m);

	proto_msg_release(&m);
	return r;
}

/* Encode the sample of @type into buf; its length. */
static size_t sample(enum proto_type type, unsigned *nfds)
{
	return ps_encode(type, buf, nfds);
}

/* A header-only frame of @type with @plen payload bytes (zeros). */
static size_t raw_frame(uint16_t type, uint32_t plen, uint8_t nfds)
{
	memset(buf, 0, H + plen);
	put32(buf, PROTO_MAGIC);
	put16(buf + OFF_VERSION, PROTO_VERSION_1);
	put16(buf + OFF_TYPE, type);
	buf[OFF_NFDS] = nfds;
	put32(buf + OFF_PLEN, plen);
	put64(buf + 16, 77);
	return H + plen;
}

/* ---- round trips --------------------------------------------------------- */

START_TEST(roundtrip_every_type)
{
	for (int t = 1; t < PROTO_TYPE_COUNT; t++) {
		static uint8_t again[PROTO_MAX_MSG];
		struct proto_msg m;
		unsigned nfds;
		size_t len = sample((enum proto_type)t, &nfds);
		ssize_t r = proto_decode(buf, len, nfds, &m);

		ck_assert_msg(r == (ssize_t)len, "%s: decode %zd, want %zu",
			      proto_type_name((unsigned)t), r, len);
		ck_assert_uint_eq(m.hdr.type, (unsigned)t);
		ck_assert_uint_eq(m.hdr.seq, (uint64_t)t * 1000 + 7);
		ck_assert_uint_eq(m.hdr.version, PROTO_VERSION_1);
		ck_assert_uint_eq(m.nfds, nfds);
		for (unsigned i = 0; i < PROTO_MAX_FDS; i++)
			ck_assert_int_eq(m.fds[i], -1);
		/* Every field came back: encoding the decoded form gives
		 * the same bytes (the encoding is canonical). */
		ck_assert_int_eq(proto_encode(&m, nfds, again, sizeof(again)),
				 (ssize_t)len);
		ck_assert_msg(!memcmp(again, buf, len), "%s: bytes differ",
			      proto_type_name((unsigned)t));
		proto_msg_release(&m);
	}
}
END_TEST

START_TEST(roundtrip_fields)
{
	struct proto_msg m;
	unsigned nfds;
	size_t len;

	len = sample(PROTO_HELLO, &nfds);
	ck_assert_int_eq(proto_decode(buf, len, 1, &m), (ssize_t)len);
	ck_assert_str_eq(m.u.hello.name, "quickstart[4242]");
	ck_assert_uint_eq(m.u.hello.version_max, 3);
	ck_assert_uint_eq(m.u.hello.features, PROTO_FEATURES_KNOWN | (1ull << 63));
	ck_assert_uint_eq(m.u.hello.cap_bytes, 256ull << 20);

	len = sample(PROTO_REGION_ADD, &nfds);
	ck_assert_int_eq(proto_decode(buf, len, 3, &m), (ssize_t)len);
	ck_assert_uint_eq(m.u.region_add.region_id, 0xabcdef0123456789ull);
	ck_assert_uint_eq(m.u.region_add.store_offset, 1ull << 32);
	ck_assert_int_eq(m.u.region_add.numa_node, 1);
	ck_assert_uint_eq(m.u.region_add.numa_policy, PROTO_NUMA_PREFERRED);

	len = sample(PROTO_REPLY, &nfds);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_int_eq(m.u.reply.status, -ENOMEM);
	ck_assert_uint_eq(m.u.reply.value, 12288);

	len = sample(PROTO_STATS_REPLY, &nfds);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_uint_eq(m.u.stats_reply.count, 3);
	ck_assert_uint_eq(m.u.stats_reply.counters[2].id, 999);
	ck_assert_uint_eq(m.u.stats_reply.counters[2].value, UINT64_MAX);
	proto_msg_release(&m);
	ck_assert_ptr_null(m.u.stats_reply.counters);

	len = sample(PROTO_CLIENTS_REPLY, &nfds);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_uint_eq(m.u.clients_reply.total, 5);
	ck_assert_str_eq(m.u.clients_reply.recs[0].name, "ooc_sort");
	ck_assert_uint_eq(strlen(m.u.clients_reply.recs[1].name), PROTO_NAME_MAX);
	ck_assert_uint_eq(m.u.clients_reply.recs[1].errors, 2 * 0x0101010101ull * 10);
	proto_msg_release(&m);
	proto_msg_release(&m); /* twice is harmless */

	len = sample(PROTO_ERROR, &nfds);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_int_eq(m.u.error.status, -EPROTO);
	ck_assert_str_eq(m.u.error.text, "bad magic from client 17 (pid 4242)");
}
END_TEST

/* The wire is little-endian and laid out as documented, on any host. */
START_TEST(golden_bytes_reply)
{
	static const uint8_t want[] = {
		'U', 'P', 'G', 'P', 1, 0, PROTO_REPLY, 0, 0, 0, 0, 0,
		12, 0, 0, 0, 0xb7, 0x36, 0, 0, 0, 0, 0, 0, /* seq 14007 */
		0xf4, 0xff, 0xff, 0xff,			 /* -ENOMEM */
		0x00, 0x30, 0, 0, 0, 0, 0, 0,		 /* 12288 */
	};
	unsigned nfds;

	ck_assert_uint_eq(sample(PROTO_REPLY, &nfds), sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
}
END_TEST

START_TEST(extra_bytes_after_message_ignored)
{
	unsigned nfds;
	size_t len = sample(PROTO_BYE, &nfds);

	memset(buf + len, 0xee, 40);
	ck_assert_int_eq(dec(buf, len + 40, 0), (ssize_t)len);
}
END_TEST

START_TEST(version_negotiation)
{
	ck_assert_int_eq(proto_pick_version(1, 1), 1);
	ck_assert_int_eq(proto_pick_version(1, 9), PROTO_VERSION_MAX);
	ck_assert_int_eq(proto_pick_version(2, 9), -EPROTONOSUPPORT);
	ck_assert_int_eq(proto_pick_version(0, 0), -EPROTONOSUPPORT);
}
END_TEST

/* ---- malformed input, class by class -------------------------------------- */

START_TEST(truncated_needs_more)
{
	for (int t = 1; t < PROTO_TYPE_COUNT; t++) {
		unsigned nfds;
		size_t len = sample((enum proto_type)t, &nfds);

		for (size_t cut = 0; cut < len; cut++)
			ck_assert_msg(dec(buf, cut, nfds) == -EAGAIN,
				      "%s cut at %zu", proto_type_name((unsigned)t),
				      cut);
	}
}
END_TEST

START_TEST(bad_magic)
{
	unsigned nfds;
	size_t len = sample(PROTO_BYE, &nfds);

	buf[3] ^= 0x20; /* "UPGp" */
	ck_assert_int_eq(dec(buf, len, 0), -EPROTO);
	/* Found from the header alone: no waiting for a payload. */
	ck_assert_int_eq(dec(buf, H, 0), -EPROTO);
}
END_TEST

START_TEST(bad_version)
{
	unsigned nfds;
	size_t len = sample(PROTO_REPLY, &nfds);

	put16(buf + OFF_VERSION, 0);
	ck_assert_int_eq(dec(buf, len, 0), -EPROTONOSUPPORT);
	put16(buf + OFF_VERSION, PROTO_VERSION_MAX + 1);
	ck_assert_int_eq(dec(buf, len, 0), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(unknown_type)
{
	static const uint16_t types[] = { 0, PROTO_TYPE_COUNT, 0x7fff, 0xffff };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t len = raw_frame(types[i], 8, 0);

		ck_assert_int_eq(dec(buf, len, 0), -EOPNOTSUPP);
	}
}
END_TEST

START_TEST(payload_over_maximum)
{
	raw_frame(PROTO_STATS_REPLY, 0, 0);
	put32(buf + OFF_PLEN, PROTO_MAX_PAYLOAD + 1);
	ck_assert_int_eq(dec(buf, H, 0), -EMSGSIZE);
	put32(buf + OFF_PLEN, UINT32_MAX);
	ck_assert_int_eq(dec(buf, H, 0), -EMSGSIZE);
}
END_TEST

START_TEST(payload_length_wrong_for_type)
{
	unsigned nfds;

	ck_assert_int_eq(dec(buf, raw_frame(PROTO_REPLY, 11, 0), 0), -EBADMSG);
	ck_assert_int_eq(dec(buf, raw_frame(PROTO_REPLY, 13, 0), 0), -EBADMSG);
	ck_assert_int_eq(dec(buf, raw_frame(PROTO_BYE, 1, 0), 0), -EBADMSG);
	ck_assert_int_eq(dec(buf, raw_frame(PROTO_HELLO, 21, 1), 1), -EBADMSG);
	ck_assert_int_eq(dec(buf, raw_frame(PROTO_STATS_REPLY, 3, 0), 0), -EBADMSG);

	/* A string whose length disagrees with the payload. */
	size_t len = sample(PROTO_HELLO, &nfds);
	put16(buf + H + 20, 15); /* name is 16 bytes */
	ck_assert_int_eq(dec(buf, len, 1), -EBADMSG);
}
END_TEST

START_TEST(wrong_fd_count)
{
	unsigned nfds;
	size_t len;

	len = sample(PROTO_HELLO, &nfds);
	ck_assert_int_eq(dec(buf, len, 0), -EBADF); /* header says 1 */
	ck_assert_int_eq(dec(buf, len, 2), -EBADF);
	buf[OFF_NFDS] = 0; /* a monitor's HELLO (upagerctl): no uffd */
	ck_assert_int_eq(dec(buf, len, 0), (int)len);
	buf[OFF_NFDS] = 2; /* agrees with what came, not with the type */
	ck_assert_int_eq(dec(buf, len, 2), -EBADF);

	len = sample(PROTO_REGION_ADD, &nfds); /* file-backed: 3 */
	buf[OFF_NFDS] = 2;
	ck_assert_int_eq(dec(buf, len, 2), -EBADF);
	/* ANON takes 2 (no store fd), so 3 is wrong there. */
	len = sample(PROTO_REGION_ADD, &nfds);
	put32(buf + H + 48, PROTO_REGION_ANON);
	ck_assert_int_eq(dec(buf, len, 3), -EBADF);
	buf[OFF_NFDS] = 2;
	ck_assert_int_eq(dec(buf, len, 2), (ssize_t)len);

	len = sample(PROTO_REPLY, &nfds);
	buf[OFF_NFDS] = 1;
	ck_assert_int_eq(dec(buf, len, 1), -EBADF);
	buf[OFF_NFDS] = PROTO_MAX_FDS + 1; /* over the limit: header error */
	ck_assert_int_eq(dec(buf, H, 0), -EBADF);
}
END_TEST

/* Patch a 32-bit field of a sample and expect @err. */
static void expect_u32(enum proto_type t, size_t off, uint32_t v, int err)
{
	unsigned nfds;
	size_t len = sample(t, &nfds);

	put32(buf + H + off, v);
	ck_assert_msg(dec(buf, len, nfds) == err, "%s +%zu = %#x",
		      proto_type_name(t), off, v);
}

START_TEST(bad_values_and_flags)
{
	unsigned nfds;
	size_t len;

	/* header flags and the reserved byte */
	len = sample(PROTO_BYE, &nfds);
	put16(buf + OFF_FLAGS, 1);
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);
	len = sample(PROTO_BYE, &nfds);
	buf[OFF_RESERVED] = 1;
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);

	expect_u32(PROTO_REGION_ADD, 48, 1u << 31, -EINVAL);   /* flags */
	expect_u32(PROTO_REGION_ADD, 52, 0x10, -EINVAL);       /* prot */
	expect_u32(PROTO_REGION_ADD, 48, PROTO_REGION_READONLY, -EINVAL);
	expect_u32(PROTO_REGION_ADD, 60, (uint32_t)-2, -EINVAL); /* node */
	expect_u32(PROTO_REGION_ADD, 16, 0, -EINVAL);	       /* length */
	len = sample(PROTO_REGION_ADD, &nfds);
	put16(buf + H + 64, PROTO_NUMA_POLICY_COUNT);
	ck_assert_int_eq(dec(buf, len, 3), -EINVAL);
	len = sample(PROTO_REGION_ADD, &nfds);
	put64(buf + H + 8, UINT64_MAX - 4096); /* addr + length wraps */
	ck_assert_int_eq(dec(buf, len, 3), -EINVAL);

	expect_u32(PROTO_REGION_REMOVE, 8, 2, -EINVAL);
	expect_u32(PROTO_FAULT_IN, 24, 4, -EINVAL);
	expect_u32(PROTO_ADVISE, 24, PROTO_ADV_COUNT, -EINVAL);
	expect_u32(PROTO_STATS, 0, PROTO_SCOPE_COUNT, -EINVAL);
	expect_u32(PROTO_INVALIDATE, 40, 0, -EINVAL);
	expect_u32(PROTO_INVALIDATE, 40, 5, -EINVAL);
	expect_u32(PROTO_INVALIDATE, 44, 4, -EINVAL); /* flag bits: 1 BLOCKABLE, 2 END */
	expect_u32(PROTO_REPLY, 0, 1, -EINVAL);		   /* status > 0 */
	expect_u32(PROTO_REPLY, 0, (uint32_t)-4096, -EINVAL); /* not an errno */
	expect_u32(PROTO_INVALIDATE_ACK, 8, 5, -EINVAL);
	expect_u32(PROTO_ERROR, 0, 0, -EINVAL); /* an error must be < 0 */
	expect_u32(PROTO_HELLO_REPLY, 24, 4097, -EINVAL); /* page size */
	/* A reply choosing a version or a feature the client lacks. */
	len = sample(PROTO_HELLO_REPLY, &nfds);
	put16(buf + H + 32, 2);
	ck_assert_int_eq(dec(buf, len, 0), -EPROTONOSUPPORT);
	len = sample(PROTO_HELLO_REPLY, &nfds);
	put64(buf + H + 0, 1ull << 40);
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);

	/* HELLO: min above max, min 0; unknown features are fine. */
	len = sample(PROTO_HELLO, &nfds);
	put16(buf + H + 16, 4);
	ck_assert_int_eq(dec(buf, len, 1), -EINVAL);
	put16(buf + H + 16, 0);
	ck_assert_int_eq(dec(buf, len, 1), -EINVAL);
	len = sample(PROTO_HELLO, &nfds);
	put64(buf + H, UINT64_MAX);
	ck_assert_int_eq(dec(buf, len, 1), (ssize_t)len);
}
END_TEST

START_TEST(bad_strings)
{
	unsigned nfds;
	size_t len;

	len = sample(PROTO_HELLO, &nfds);
	buf[H + 22 + 3] = '\0'; /* NUL inside the name */
	ck_assert_int_eq(dec(buf, len, 1), -EINVAL);

	/* A 65-byte name, with a payload that agrees with it. */
	len = raw_frame(PROTO_HELLO, 22 + PROTO_NAME_MAX + 1, 1);
	put16(buf + H + 16, 1);
	put16(buf + H + 18, 1);
	put16(buf + H + 20, PROTO_NAME_MAX + 1);
	memset(buf + H + 22, 'x', PROTO_NAME_MAX + 1);
	ck_assert_int_eq(dec(buf, len, 1), -EINVAL);
	put16(buf + OFF_PLEN, 22 + PROTO_NAME_MAX);
	put16(buf + H + 20, PROTO_NAME_MAX); /* exactly the maximum is fine */
	ck_assert_int_eq(dec(buf, len - 1, 1), (ssize_t)(len - 1));

	len = raw_frame(PROTO_ERROR, 6 + PROTO_ERRMSG_MAX + 1, 0);
	put32(buf + H, (uint32_t)-EIO);
	put16(buf + H + 4, PROTO_ERRMSG_MAX + 1);
	memset(buf + H + 6, 'e', PROTO_ERRMSG_MAX + 1);
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);

	/* Fixed-width record name: text after its NUL is not allowed. */
	len = sample(PROTO_CLIENTS_REPLY, &nfds);
	buf[H + 12 + 96 + 20] = 'z'; /* "ooc_sort\0...z" */
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);
}
END_TEST

START_TEST(bad_array_counts)
{
	unsigned nfds;
	size_t len;
	struct proto_msg m;

	/* A count that promises more than the payload holds, or less. */
	len = sample(PROTO_STATS_REPLY, &nfds);
	put32(buf + H, UINT32_MAX);
	ck_assert_int_eq(dec(buf, len, 0), -EBADMSG);
	put32(buf + H, 2);
	ck_assert_int_eq(dec(buf, len, 0), -EBADMSG);

	len = sample(PROTO_CLIENTS_REPLY, &nfds);
	put32(buf + H + 4, 0x10000); /* count */
	put16(buf + H + 8, 0xffff);  /* record size: product fits in u64 */
	ck_assert_int_eq(dec(buf, len, 0), -EBADMSG);
	len = sample(PROTO_CLIENTS_REPLY, &nfds);
	put16(buf + H + 8, PROTO_CLIENT_REC_SIZE - 1); /* shorter than v1 */
	ck_assert_int_eq(dec(buf, len, 0), -EBADMSG);
	len = sample(PROTO_CLIENTS_REPLY, &nfds);
	put32(buf + H + 0, 1); /* total below count */
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);
	len = sample(PROTO_REGIONS_REPLY, &nfds);
	put16(buf + H + 10, 1); /* reserved */
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);

	/* Longer records from a newer daemon: v1 prefix read, rest skipped. */
	len = raw_frame(PROTO_REGIONS_REPLY, 12 + 2 * 120, 0);
	put32(buf + H + 0, 2);
	put32(buf + H + 4, 2);
	put16(buf + H + 8, 120);
	put64(buf + H + 12 + 8, 0x5151);	 /* rec 0 region id */
	put64(buf + H + 12 + 120 + 8, 0x5252); /* rec 1 region id */
	memset(buf + H + 12 + 104, 0xaa, 16);	 /* future fields */
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_uint_eq(m.u.regions_reply.recs[0].region_id, 0x5151);
	ck_assert_uint_eq(m.u.regions_reply.recs[1].region_id, 0x5252);
	proto_msg_release(&m);
}
END_TEST

/* REGION_ADD_URI and STORES_REPLY (feature STORE_URI). */
START_TEST(store_uri_messages)
{
	static uint8_t again[PROTO_MAX_MSG];
	struct proto_msg m;
	unsigned nfds;
	size_t len;
	char name[128];

	len = sample(PROTO_REGION_ADD_URI, &nfds);
	ck_assert_uint_eq(nfds, 2);
	ck_assert_int_eq(proto_decode(buf, len, 2, &m), (ssize_t)len);
	ck_assert_uint_eq(m.u.region_add_uri.add.region_id,
			  0x0123456789abcdefull);
	ck_assert_int_eq(m.u.region_add_uri.add.numa_node, -1);
	ck_assert_str_eq(m.u.region_add_uri.uri,
			 "redis://:p%40ss@127.0.0.1:31000,[::1]:31001"
			 "?name=demo&extent_pages=16&replicas=1");
	/* The encoder refuses what the decoder would: ANON (the daemon's
	 * swap, no URI store) and a third fd. */
	m.u.region_add_uri.add.flags = PROTO_REGION_ANON;
	ck_assert_int_eq(proto_encode(&m, 2, again, sizeof(again)), -EINVAL);
	m.u.region_add_uri.add.flags = 0;
	ck_assert_int_eq(proto_encode(&m, 3, again, sizeof(again)), -EBADF);
	proto_msg_release(&m);
	ck_assert_int_eq(dec(buf, len, 3), -EBADF);
	ck_assert_int_eq(dec(buf, len, 0), -EBADF);
	expect_u32(PROTO_REGION_ADD_URI, 48, PROTO_REGION_ANON, -EINVAL);
	expect_u32(PROTO_REGION_ADD_URI, 16, 0, -EINVAL); /* length */
	len = sample(PROTO_REGION_ADD_URI, &nfds);
	buf[H + 68 + 5] = '\0'; /* NUL inside the URI */
	ck_assert_int_eq(dec(buf, len, 2), -EINVAL);
	len = sample(PROTO_REGION_ADD_URI, &nfds);
	put16(buf + H + 66, 3); /* disagrees with the payload length */
	ck_assert_int_eq(dec(buf, len, 2), -EBADMSG);
	/* An empty URI is the daemon's to refuse (-EINVAL from its parser,
	 * as in-process); the longest is PROTO_URI_MAX bytes. */
	len = raw_frame(PROTO_REGION_ADD_URI, 68, 2);
	put64(buf + H + 16, 4096);
	ck_assert_int_eq(dec(buf, len, 2), (ssize_t)len);
	len = raw_frame(PROTO_REGION_ADD_URI, 68 + PROTO_URI_MAX + 1, 2);
	put64(buf + H + 16, 4096);
	put16(buf + H + 66, PROTO_URI_MAX + 1);
	memset(buf + H + 68, 'u', PROTO_URI_MAX + 1);
	ck_assert_int_eq(dec(buf, len, 2), -EINVAL);
	put16(buf + H + 66, PROTO_URI_MAX);
	put32(buf + OFF_PLEN, 68 + PROTO_URI_MAX);
	ck_assert_int_eq(dec(buf, len - 1, 2), (ssize_t)(len - 1));

	/* STORES_REPLY: a record's fields, one full-width name. */
	len = sample(PROTO_STORES_REPLY, &nfds);
	ck_assert_uint_eq(len, H + 12 + 2 * PROTO_STORE_REC_SIZE);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_uint_eq(m.u.stores_reply.total, 3);
	ck_assert_uint_eq(m.u.stores_reply.count, 2);
	ck_assert_str_eq(m.u.stores_reply.recs[0].name, "u1000.demo");
	ck_assert_str_eq(m.u.stores_reply.recs[0].addr, "127.0.0.1:31000");
	ck_assert_uint_eq(strlen(m.u.stores_reply.recs[1].name),
			  PROTO_STORE_NAME_MAX);
	ck_assert_uint_eq(m.u.stores_reply.recs[1].slots, 5462);
	ck_assert_uint_eq(m.u.stores_reply.recs[1].map_refreshes,
			  2 * 0x0101010101ull * 24);
	proto_msg_release(&m);
	len = sample(PROTO_STORES_REPLY, &nfds);
	put32(buf + H + 12 + 200, 1u << 4); /* unknown state flag */
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);
	len = sample(PROTO_STORES_REPLY, &nfds);
	buf[H + 12 + 16 + 11] = 'z'; /* "u1000.demo\0z" */
	ck_assert_int_eq(dec(buf, len, 0), -EINVAL);
	len = sample(PROTO_STORES_REPLY, &nfds);
	put16(buf + H + 8, PROTO_STORE_REC_SIZE - 8); /* shorter than v1 */
	ck_assert_int_eq(dec(buf, len, 0), -EBADMSG);
	/* A newer daemon's longer records: the known prefix is read. */
	len = raw_frame(PROTO_STORES_REPLY, 12 + PROTO_STORE_REC_SIZE + 8, 0);
	put32(buf + H, 1);
	put32(buf + H + 4, 1);
	put16(buf + H + 8, PROTO_STORE_REC_SIZE + 8);
	memcpy(buf + H + 12 + 16, "u0.x", 4);
	put32(buf + H + 12 + 204, 16384);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), (ssize_t)len);
	ck_assert_str_eq(m.u.stores_reply.recs[0].name, "u0.x");
	ck_assert_uint_eq(m.u.stores_reply.recs[0].slots, 16384);
	proto_msg_release(&m);

	/* The per-uid scope of store names (proto_store_scoped_name()). */
	ck_assert_int_eq(proto_store_scoped_name("demo", 1000, 100, name,
						 sizeof(name)), 0);
	ck_assert_str_eq(name, "u1000.demo");
	ck_assert_int_eq(proto_store_scoped_name("u1000.demo", 1000, 100,
						 name, sizeof(name)), 0);
	ck_assert_str_eq(name, "u1000.demo");
	ck_assert_int_eq(proto_store_scoped_name("u10000.demo", 1000, 100,
						 name, sizeof(name)), 0);
	ck_assert_str_eq(name, "u1000.u10000.demo");
	ck_assert_int_eq(proto_store_scoped_name("u1000", 1000, 100, name,
						 sizeof(name)), 0);
	ck_assert_str_eq(name, "u1000.u1000");
	memset(again, 'n', 98);
	again[97] = '\0'; /* 97 + "u0." = 100 */
	ck_assert_int_eq(proto_store_scoped_name((char *)again, 0, 100, name,
						 sizeof(name)), 0);
	again[97] = 'n';
	again[98] = '\0';
	ck_assert_int_eq(proto_store_scoped_name((char *)again, 0, 100, name,
						 sizeof(name)), -ENAMETOOLONG);
	ck_assert_int_eq(proto_store_scoped_name("demo", 1000, 100, name, 8),
			 -ENAMETOOLONG);
}
END_TEST

START_TEST(error_keeps_header_for_reply)
{
	struct proto_msg m;
	unsigned nfds;
	size_t len = sample(PROTO_FAULT_IN, &nfds);

	put32(buf + H + 24, 0x80);
	ck_assert_int_eq(proto_decode(buf, len, 0, &m), -EINVAL);
	ck_assert_uint_eq(m.hdr.seq, PROTO_FAULT_IN * 1000 + 7);
	ck_assert_uint_eq(m.hdr.type, PROTO_FAULT_IN);
	proto_msg_release(&m);
}
END_TEST

START_TEST(encoder_refuses_what_decoder_rejects)
{
	static uint8_t out[PROTO_MAX_MSG];
	struct proto_msg m;
	static struct proto_counter many[PROTO_COUNTERS_PER_MSG + 1];

	ps_sample(PROTO_HELLO, &m);
	ck_assert_int_eq(proto_encode(&m, 2, out, sizeof(out)), -EBADF);
	m.hdr.version = 2;
	ck_assert_int_eq(proto_encode(&m, 1, out, sizeof(out)), -EPROTONOSUPPORT);
	ps_sample(PROTO_HELLO, &m);
	memset(m.u.hello.name, 'a', PROTO_NAME_MAX + 1);
	ck_assert_int_eq(proto_encode(&m, 1, out, sizeof(out)), -EINVAL);
	ps_sample(PROTO_HELLO, &m);
	ck_assert_int_eq(proto_encode(&m, 1, out, 30), -ENOSPC);
	ps_sample(PROTO_REPLY, &m);
	m.hdr.type = 0;
	ck_assert_int_eq(proto_encode(&m, 0, out, sizeof(out)), -EOPNOTSUPP);
	ps_sample(PROTO_REPLY, &m);
	m.hdr.flags = 4;
	ck_assert_int_eq(proto_encode(&m, 0, out, sizeof(out)), -EINVAL);

	ps_sample(PROTO_STATS_REPLY, &m);
	m.u.stats_reply.counters = many;
	m.u.stats_reply.count = PROTO_COUNTERS_PER_MSG;
	ck_assert_int_gt(proto_encode(&m, 0, out, sizeof(out)), 0);
	m.u.stats_reply.count = PROTO_COUNTERS_PER_MSG + 1;
	ck_assert_int_eq(proto_encode(&m, 0, out, sizeof(out)), -EMSGSIZE);
}
END_TEST

/* ---- stream reassembly ------------------------------------------------------ */

/* Five messages back to back, one of them rejected in mid-stream. */
static const enum proto_type stream_types[] = {
	PROTO_REPLY, PROTO_CLIENTS_REPLY, PROTO_FAULT_IN, PROTO_ERROR, PROTO_BYE,
};
#define N_STREAM 5
#define BAD_INDEX 2 /* the FAULT_IN gets an unknown flag */

static size_t build_stream(uint8_t *out)
{
	size_t len = 0;

	for (int i = 0; i < N_STREAM; i++) {
		unsigned nfds;
		size_t n = ps_encode(stream_types[i], out + len, &nfds);

		if (i == BAD_INDEX)
			put32(out + len + H + 24, 0x40);
		len += n;
	}
	return len;
}

/* Feed @len bytes in chunks of @chunk (the last one shorter); check what
 * comes out. */
static void feed_and_check(const uint8_t *s, size_t len, size_t first,
			   size_t chunk)
{
	struct proto_conn c;
	struct proto_msg m;
	int got = 0;
	size_t off = 0;

	ck_assert_int_eq(proto_conn_init(&c, -1), 0);
	while (off < len) {
		size_t n = off == 0 ? first : chunk, used = 0;

		if (n > len - off)
			n = len - off;
		while (n) {
			int r = proto_conn_feed(&c, s + off, n, &used, NULL, 0, &m);

			ck_assert_uint_ge(used, 1);
			off += used;
			n -= used;
			if (r == -EAGAIN)
				continue;
			ck_assert_int_lt(got, N_STREAM);
			if (got == BAD_INDEX) {
				ck_assert_int_eq(r, -EINVAL);
			} else {
				ck_assert_int_eq(r, 0);
				ck_assert_uint_eq(m.hdr.type, stream_types[got]);
			}
			ck_assert_uint_eq(m.hdr.seq, stream_types[got] * 1000u + 7);
			proto_msg_release(&m);
			got++;
		}
	}
	ck_assert_int_eq(got, N_STREAM);
	ck_assert_int_eq(proto_conn_broken(&c), 0);
	ck_assert_uint_eq(proto_conn_want(&c), H); /* at a boundary */
	proto_conn_fini(&c);
}

START_TEST(stream_split_at_every_byte)
{
	static uint8_t s[4096];
	size_t len = build_stream(s);

	for (size_t cut = 1; cut < len; cut++)
		feed_and_check(s, len, cut, len);
	feed_and_check(s, len, 1, 1); /* a byte at a time */
	feed_and_check(s, len, len, len);
	for (size_t chunk = 2; chunk < 40; chunk++)
		feed_and_check(s, len, chunk, chunk);
}
END_TEST

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

START_TEST(stream_fds_go_with_their_message)
{
	struct proto_conn c;
	struct proto_msg m;
	unsigned nfds;
	size_t len = sample(PROTO_HELLO, &nfds), used;
	int fd = memfd_create("hello", MFD_CLOEXEC);
	struct stat a, b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(proto_conn_init(&c, -1), 0);
	ck_assert_int_eq(proto_conn_feed(&c, buf, 5, &used, &fd, 1, &m), -EAGAIN);
	ck_assert_int_eq(proto_conn_feed(&c, buf + 5, len - 5, &used, NULL, 0, &m),
			 0);
	ck_assert_uint_eq(m.nfds, 1);
	ck_assert_int_eq(m.fds[0], fd);
	ck_assert_int_eq(fstat(m.fds[0], &a), 0);
	fd = proto_msg_take_fd(&m, 0);
	proto_msg_release(&m);
	ck_assert_int_eq(fstat(fd, &b), 0); /* taken: not closed */
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	close(fd);
	proto_conn_fini(&c);
}
END_TEST

START_TEST(stream_rejected_and_misplaced_fds_closed)
{
	struct proto_conn c;
	struct proto_msg m;
	unsigned nfds;
	size_t len, used;
	int base = open_fd_count(), fds[3];

	ck_assert_int_eq(proto_conn_init(&c, -1), 0);
	/* REGION_ADD with a bad flag: rejected, its 3 fds closed. */
	len = sample(PROTO_REGION_ADD, &nfds);
	put32(buf + H + 48, 1u << 20);
	for (int i = 0; i < 3; i++)
		fds[i] = memfd_create("r", MFD_CLOEXEC);
	ck_assert_int_eq(proto_conn_feed(&c, buf, len, &used, fds, 3, &m), -EINVAL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(fcntl(fds[i], F_GETFD), -1);
	ck_assert_int_eq(open_fd_count(), base);

	/* fds that come in the middle of a message: closed, message -EBADF */
	len = sample(PROTO_REPLY, &nfds);
	fds[0] = memfd_create("late", MFD_CLOEXEC);
	ck_assert_int_eq(proto_conn_feed(&c, buf, 10, &used, NULL, 0, &m), -EAGAIN);
	ck_assert_int_eq(proto_conn_feed(&c, buf + 10, len - 10, &used, fds, 1, &m),
			 -EBADF);
	ck_assert_int_eq(fcntl(fds[0], F_GETFD), -1);
	ck_assert_uint_eq(m.hdr.seq, PROTO_REPLY * 1000 + 7);

	/* The stream goes on after both. */
	len = sample(PROTO_BYE, &nfds);
	ck_assert_int_eq(proto_conn_feed(&c, buf, len, &used, NULL, 0, &m), 0);
	ck_assert_int_eq(open_fd_count(), base);
	proto_conn_fini(&c);
}
END_TEST

START_TEST(stream_bad_header_breaks_for_good)
{
	struct proto_conn c;
	struct proto_msg m;
	unsigned nfds;
	size_t len, used;
	int fd, base = open_fd_count();

	ck_assert_int_eq(proto_conn_init(&c, -1), 0);
	len = sample(PROTO_BYE, &nfds);
	buf[0] = 'X';
	ck_assert_int_eq(proto_conn_feed(&c, buf, len, &used, NULL, 0, &m), -EPROTO);
	ck_assert_int_eq(proto_conn_broken(&c), -EPROTO);
	len = sample(PROTO_BYE, &nfds); /* even a good message now */
	fd = memfd_create("after", MFD_CLOEXEC);
	ck_assert_int_eq(proto_conn_feed(&c, buf, len, &used, &fd, 1, &m), -EPROTO);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);

	/* More fds than any message may carry: closed, conn broken. */
	proto_conn_fini(&c);
	ck_assert_int_eq(proto_conn_init(&c, -1), 0);
	{
		int many[PROTO_MAX_FDS + 1];

		for (unsigned i = 0; i <= PROTO_MAX_FDS; i++)
			many[i] = memfd_create("m", MFD_CLOEXEC);
		len = sample(PROTO_BYE, &nfds);
		ck_assert_int_eq(proto_conn_feed(&c, buf, len, &used, many,
						 PROTO_MAX_FDS + 1, &m),
				 -ETOOMANYREFS);
		ck_assert_int_eq(proto_conn_broken(&c), -ETOOMANYREFS);
		for (unsigned i = 0; i <= PROTO_MAX_FDS; i++)
			ck_assert_int_eq(fcntl(many[i], F_GETFD), -1);
		/* fds with no bytes: a stream cannot do that */
		proto_conn_fini(&c);
		ck_assert_int_eq(proto_conn_init(&c, -1), 0);
		many[0] = memfd_create("m", MFD_CLOEXEC);
		ck_assert_int_eq(proto_conn_feed(&c, buf, 0, &used, many, 1, &m),
				 -EINVAL);
		ck_assert_int_eq(fcntl(many[0], F_GETFD), -1);
	}
	proto_conn_fini(&c);
	ck_assert_int_eq(open_fd_count(), base);
}
END_TEST

static Suite *proto_codec_suite(void)
{
	Suite *s = suite_create("proto_codec");
	TCase *tc = tcase_create("roundtrip");

	tcase_add_test(tc, roundtrip_every_type);
	tcase_add_test(tc, roundtrip_fields);
	tcase_add_test(tc, golden_bytes_reply);
	tcase_add_test(tc, extra_bytes_after_message_ignored);
	tcase_add_test(tc, version_negotiation);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, truncated_needs_more);
	tcase_add_test(tc, bad_magic);
	tcase_add_test(tc, bad_version);
	tcase_add_test(tc, unknown_type);
	tcase_add_test(tc, payload_over_maximum);
	tcase_add_test(tc, payload_length_wrong_for_type);
	tcase_add_test(tc, wrong_fd_count);
	tcase_add_test(tc, bad_values_and_flags);
	tcase_add_test(tc, bad_strings);
	tcase_add_test(tc, bad_array_counts);
	tcase_add_test(tc, store_uri_messages);
	tcase_add_test(tc, error_keeps_header_for_reply);
	tcase_add_test(tc, encoder_refuses_what_decoder_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_add_test(tc, stream_split_at_every_byte);
	tcase_add_test(tc, stream_fds_go_with_their_message);
	tcase_add_test(tc, stream_rejected_and_misplaced_fds_closed);
	tcase_add_test(tc, stream_bad_header_breaks_for_good);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(proto_codec_suite());
}
