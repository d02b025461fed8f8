/* SPDX-License-Identifier: MIT */
/*
 * proto_wire - bounded little-endian cursors for the codec (internal to
 * runtime/proto).
 *
 * Every field is written and read byte by byte, whatever the host's byte
 * order and alignment.  A cursor that would step past its end stops and
 * remembers it (@bad), so that a size mistake in the codec shows up as a
 * rejected message, never as a read or write out of bounds.
 */
#ifndef UPAGER_PROTO_WIRE_H
#define UPAGER_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct proto_msg;

struct wire_reader {
	const uint8_t *p;
	size_t len, pos;
	bool bad; /* a read went past @len: values read are 0 */
};

struct wire_writer {
	uint8_t *p;
	size_t len, pos;
	bool bad; /* a write went past @len: nothing written past it */
};

static inline const uint8_t *wire_take(struct wire_reader *r, size_t n)
{
	const uint8_t *at;

	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		return NULL;
	}
	at = r->p + r->pos;
	r->pos += n;
	return at;
}

static inline uint64_t wire_get_le(struct wire_reader *r, size_t n)
{
	const uint8_t *b = wire_take(r, n);
	uint64_t v = 0;

	if (!b)
		return 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline uint8_t wire_u8(struct wire_reader *r)
{
	return (uint8_t)wire_get_le(r, 1);
}

static inline uint16_t wire_u16(struct wire_reader *r)
{
	return (uint16_t)wire_get_le(r, 2);
}

static inline uint32_t wire_u32(struct wire_reader *r)
{
	return (uint32_t)wire_get_le(r, 4);
}

static inline int32_t wire_s32(struct wire_reader *r)
{
	return (int32_t)wire_u32(r); /* two's complement, as sent */
}

static inline uint64_t wire_u64(struct wire_reader *r)
{
	return wire_get_le(r, 8);
}

static inline void wire_skip(struct wire_reader *r, size_t n)
{
	(void)wire_take(r, n);
}

static inline size_t wire_left(const struct wire_reader *r)
{
	return r->bad ? 0 : r->len - r->pos;
}

static inline uint8_t *wire_room(struct wire_writer *w, size_t n)
{
	uint8_t *at;

	if (w->bad || n > w->len - w->pos) {
		w->bad = true;
		return NULL;
	}
	at = w->p + w->pos;
	w->pos += n;
	return at;
}

static inline void wire_put_le(struct wire_writer *w, uint64_t v, size_t n)
{
	uint8_t *b = wire_room(w, n);

	if (!b)
		return;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static inline void wire_put_u8(struct wire_writer *w, uint8_t v)
{
	wire_put_le(w, v, 1);
}

static inline void wire_put_u16(struct wire_writer *w, uint16_t v)
{
	wire_put_le(w, v, 2);
}

static inline void wire_put_u32(struct wire_writer *w, uint32_t v)
{
	wire_put_le(w, v, 4);
}

static inline void wire_put_s32(struct wire_writer *w, int32_t v)
{
	wire_put_le(w, (uint32_t)v, 4);
}

static inline void wire_put_u64(struct wire_writer *w, uint64_t v)
{
	wire_put_le(w, v, 8);
}

static inline void wire_put_bytes(struct wire_writer *w, const void *src,
				  size_t n)
{
	uint8_t *b = wire_room(w, n);

	if (b && n)
		memcpy(b, src, n);
}

static inline void wire_put_zeros(struct wire_writer *w, size_t n)
{
	uint8_t *b = wire_room(w, n);

	if (b && n)
		memset(b, 0, n);
}

/* ---- shared between the codec files ---------------------------------- */

/* Length of the fixed part of each payload (all of it unless @variable). */
#define LEN_HELLO_FIXED 22u	/* + name bytes */
#define LEN_HELLO_REPLY 34u
#define LEN_REGION_ADD 66u
#define LEN_REGION_ADD_URI_FIXED 68u /* REGION_ADD's 66, u16 length; + URI */
#define LEN_REGION_REMOVE 12u
#define LEN_RANGE 24u
#define LEN_RANGE_FLAGS 28u
#define LEN_STATS 16u
#define LEN_INVALIDATE 48u
#define LEN_INVALIDATE_ACK 12u
#define LEN_REPLY 12u
#define LEN_ERROR_FIXED 6u	/* + text bytes */

/* Payload fields of each type (proto_codec_payload.c). */
int proto_payload_decode(struct wire_reader *r, struct proto_msg *msg);
void proto_payload_encode(struct wire_writer *w, const struct proto_msg *msg);
size_t proto_payload_len(const struct proto_msg *msg);
/* The fixed payload length of @type (the minimum for variable ones). */
uint32_t proto_payload_fixed_len(unsigned type);

/* Is @status 0 or a negative errno? */
static inline bool proto_status_ok(int32_t status)
{
	return status <= 0 && status >= -4095;
}

/*
 * Fixed-width string field (records): text up to the first NUL, every
 * byte after it NUL, so that one name has one encoding.  Return: 0 or
 * -EINVAL.
 */
int proto_wire_get_fixed_str(struct wire_reader *r, char *dst, size_t field);
void proto_wire_put_fixed_str(struct wire_writer *w, const char *src, size_t field);

/* Array replies (proto_codec_arrays.c). */
int proto_arrays_decode(struct wire_reader *r, struct proto_msg *msg);
void proto_arrays_encode(struct wire_writer *w, const struct proto_msg *msg);
int proto_arrays_validate(const struct proto_msg *msg);
size_t proto_arrays_payload_len(const struct proto_msg *msg);
void proto_arrays_release(struct proto_msg *msg);

/* Stream steps (proto_conn.c), shared with the socket reader (proto_io.c). */
struct proto_conn;
int proto_conn_take_fds(struct proto_conn *c, const int *fds, unsigned nfds);
int proto_conn_advance(struct proto_conn *c, size_t n, struct proto_msg *msg);
/* Break the conn for good with @err; return @err. */
int proto_conn_fail(struct proto_conn *c, int err);

#endif
