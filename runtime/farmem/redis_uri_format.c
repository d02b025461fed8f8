// SPDX-License-Identifier: MIT
/*
 * redis_uri_format - see redis_uri_format.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "farmem/redis_store.h"
#include "farmem/redis_uri_format.h"
#include "store/store.h"

struct text {
	char *p;
	size_t len, pos;
	bool full;
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->pos, t->len - t->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->len - t->pos)
		t->full = true;
	else
		t->pos += (size_t)n;
}

/* What the parser takes as it is in a user or password; the rest is
 * escaped (':', '@', '/', '?', ',' and '%' must be). */
static bool plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' ||
	       c == '-';
}

static void put_escaped(struct text *t, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (plain(c))
			put(t, "%c", c);
		else
			put(t, "%%%02X", c);
	}
}

int redis_uri_format(const struct redis_uri *u, char *buf, size_t len)
{
	struct text t = { .p = buf, .len = len };
	int i;

	if (!len)
		return -ENAMETOOLONG;
	buf[0] = '\0';
	put(&t, "redis://");
	if (u->pass[0]) {
		put_escaped(&t, u->user);
		put(&t, ":");
		put_escaped(&t, u->pass);
		put(&t, "@");
	}
	for (i = 0; i < u->nseeds; i++) {
		const struct node_addr *a = &u->seeds[i];

		put(&t, strchr(a->host, ':') ? "%s[%s]:%d" : "%s%s:%d",
		    i ? "," : "", a->host, a->port);
	}
	put(&t, "?name=%s&extent_pages=%u&replicas=%u&deadline_ms=%u"
		"&timeout_ms=%u&wait_ms=%u&batch=%u",
	    u->name, u->extent_pages, u->replicas, u->deadline_ms,
	    u->timeout_ms, u->wait_ms, u->batch);
	if (t.full) {
		buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int redis_store_uri(const struct upg_store *st, struct redis_uri *out,
		    char *buf, size_t len)
{
	const struct rstore *rs;

	if (!st || st->kind != STORE_REDIS)
		return -EINVAL;
	rs = st->ctx;
	if (out)
		*out = rs->uri;
	return buf ? redis_uri_format(&rs->uri, buf, len) : 0;
}
