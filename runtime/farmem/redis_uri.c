// SPDX-License-Identifier: MIT
/*
 * redis_uri - see redis_uri.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farmem/redis_uri.h"

static int bad(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copy [s, e) %-decoded into dst (size n).  -1 on a bad escape or overflow. */
static int decode(const char *s, const char *e, char *dst, size_t n)
{
	size_t o = 0;
	int hi, lo;

	while (s < e) {
		char c = *s++;

		if (c == '%') {
			if (e - s < 2 || (hi = hexval(s[0])) < 0 ||
			    (lo = hexval(s[1])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			s += 2;
		}
		if (o + 1 >= n)
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return 0;
}

static int parse_uint(const char *s, size_t len, unsigned lo, unsigned hi,
		      unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	if (!len || len > 9)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_seed(const char *s, const char *e, struct node_addr *a)
{
	const char *colon, *hs = s, *he;
	unsigned port;

	if (s < e && *s == '[') {
		he = memchr(s, ']', (size_t)(e - s));
		if (!he || he + 1 >= e || he[1] != ':')
			return -1;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = NULL;
		for (he = s; he < e; he++)
			if (*he == ':')
				colon = he;
		if (!colon)
			return -1;
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(a->host))
		return -1;
	if (parse_uint(colon + 1, (size_t)(e - colon - 1), 1, 65535, &port))
		return -1;
	memcpy(a->host, hs, (size_t)(he - hs));
	a->host[he - hs] = '\0';
	a->port = (int)port;
	return 0;
}

static int name_ok(const char *s, size_t len)
{
	size_t i;

	if (!len || len > REDIS_URI_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int parse_option(struct redis_uri *u, const char *k, size_t klen,
			const char *v, size_t vlen, char *why, size_t whylen)
{
	static const struct {
		const char *key;
		size_t field;
		unsigned lo, hi;
	} num[] = {
		{ "extent_pages", offsetof(struct redis_uri, extent_pages), 1, 256 },
		{ "replicas", offsetof(struct redis_uri, replicas), 0, 16 },
		{ "deadline_ms", offsetof(struct redis_uri, deadline_ms), 100, 3600000 },
		{ "timeout_ms", offsetof(struct redis_uri, timeout_ms), 50, 60000 },
		{ "wait_ms", offsetof(struct redis_uri, wait_ms), 10, 60000 },
		{ "batch", offsetof(struct redis_uri, batch), 1, 1024 },
	};
	size_t i;

	if (klen == 4 && !memcmp(k, "name", 4)) {
		if (!name_ok(v, vlen))
			return bad(why, whylen,
				   "name must be 1-%d of [A-Za-z0-9_.-]",
				   REDIS_URI_NAME_MAX);
		memcpy(u->name, v, vlen);
		u->name[vlen] = '\0';
		return 0;
	}
	for (i = 0; i < sizeof(num) / sizeof(num[0]); i++) {
		if (strlen(num[i].key) != klen || memcmp(k, num[i].key, klen))
			continue;
		if (parse_uint(v, vlen, num[i].lo, num[i].hi,
			       (unsigned *)((char *)u + num[i].field)))
			return bad(why, whylen, "%s must be a number in %u..%u",
				   num[i].key, num[i].lo, num[i].hi);
		return 0;
	}
	return bad(why, whylen, "unknown option '%.*s' (known: name, "
		   "extent_pages, replicas, deadline_ms, timeout_ms, wait_ms, "
		   "batch)", (int)klen, k);
}

int redis_uri_parse(const char *uri, struct redis_uri *u, char *why,
		    size_t whylen)
{
	const char *p, *hosts, *hosts_end, *at, *colon, *e;

	memset(u, 0, sizeof(*u));
	strcpy(u->name, "upager");
	u->extent_pages = 16;
	u->replicas = 1;
	u->deadline_ms = 10000;
	u->timeout_ms = 1000;
	u->wait_ms = 500;
	u->batch = 64;
	if (why && whylen)
		why[0] = '\0';

	if (!uri)
		return bad(why, whylen, "no URI");
	if (strncmp(uri, "redis://", 8))
		return bad(why, whylen, "the URI must start with redis://");
	p = uri + 8;
	hosts_end = p + strcspn(p, "/?");
	at = memchr(p, '@', (size_t)(hosts_end - p));
	hosts = p;
	if (at) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (!colon)
			return bad(why, whylen,
				   "credentials must be user:password@ or :password@");
		if (decode(p, colon, u->user, sizeof(u->user)) ||
		    decode(colon + 1, at, u->pass, sizeof(u->pass)))
			return bad(why, whylen,
				   "user or password too long or a bad %%XX escape");
		if (!u->pass[0])
			return bad(why, whylen, "empty password after ':'");
		hosts = at + 1;
	}
	while (hosts < hosts_end) {
		e = memchr(hosts, ',', (size_t)(hosts_end - hosts));
		if (!e)
			e = hosts_end;
		if (u->nseeds == REDIS_URI_MAX_SEEDS)
			return bad(why, whylen, "more than %d seed nodes",
				   REDIS_URI_MAX_SEEDS);
		if (parse_seed(hosts, e, &u->seeds[u->nseeds]))
			return bad(why, whylen,
				   "seed '%.*s' is not host:port (port 1-65535)",
				   (int)(e - hosts), hosts);
		u->nseeds++;
		hosts = e < hosts_end ? e + 1 : e;
		if (e < hosts_end && hosts == hosts_end)
			return bad(why, whylen, "empty seed after ','");
	}
	if (!u->nseeds)
		return bad(why, whylen, "no seed node: redis://host:port[,host:port...]");

	p = hosts_end;
	if (*p == '/')
		p++;
	if (!*p)
		return 0;
	if (*p != '?')
		return bad(why, whylen, "a path is not allowed; options go after '?'");
	p++;
	while (*p) {
		const char *eq;
		int ret;

		e = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(e - p));
		if (!eq)
			return bad(why, whylen, "option '%.*s' has no '=value'",
				   (int)(e - p), p);
		ret = parse_option(u, p, (size_t)(eq - p), eq + 1,
				   (size_t)(e - eq - 1), why, whylen);
		if (ret)
			return ret;
		p = *e ? e + 1 : e;
	}
	return 0;
}
