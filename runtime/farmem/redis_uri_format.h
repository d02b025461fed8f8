/* SPDX-License-Identifier: MIT */
/*
 * redis_uri_format - a parsed redis:// URI written back as text, and the
 * URI of an open Redis store: what travels to upagerd when a client maps
 * a region on a Redis store through it (docs/far-memory.md, "Through
 * upagerd").
 */
#ifndef UPAGER_FARMEM_REDIS_URI_FORMAT_H
#define UPAGER_FARMEM_REDIS_URI_FORMAT_H

#include <stddef.h>

#include "farmem/redis_uri.h"

struct upg_store;

/* Room that always suffices for redis_uri_format()'s text and its NUL:
 * %XX-escaped credentials, 16 bracketed seeds, every option. */
#define REDIS_URI_TEXT_MAX 4096

/**
 * redis_uri_format() - write @u as a URI that redis_uri_parse() reads
 * back into the same fields.
 * @u:   parsed fields (seeds, credentials, name, every option).
 * @buf: receives the text, NUL-terminated.
 * @len: size of @buf (REDIS_URI_TEXT_MAX always suffices).
 *
 * Every option is written, defaults included, so the text does not
 * depend on what the parser's defaults are.  The user and the password
 * are %XX-escaped except [A-Za-z0-9._~-]; a host with a ':' (IPv6) is
 * bracketed.
 * Return: 0, -ENAMETOOLONG (@len too small).
 * Context: any; no allocation.
 */
int redis_uri_format(const struct redis_uri *u, char *buf, size_t len);

/**
 * redis_store_uri() - the URI a Redis store was opened with, as text.
 * @st:  a store.
 * @out: receives the parsed fields (may be NULL).
 * @buf: receives redis_uri_format()'s text (may be NULL).
 * @len: size of @buf.
 * Return: 0; -EINVAL (@st is not a store of upg_store_open_uri()),
 * -ENAMETOOLONG.
 * Context: any; the fields never change after the open.
 */
int redis_store_uri(const struct upg_store *st, struct redis_uri *out,
		    char *buf, size_t len);

#endif
