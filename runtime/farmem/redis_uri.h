/* SPDX-License-Identifier: MIT */
/*
 * redis_uri - the redis:// URI of upg_store_open_uri(), parsed.
 */
#ifndef UPAGER_FARMEM_REDIS_URI_H
#define UPAGER_FARMEM_REDIS_URI_H

#include <stddef.h>

#include "farmem/slot_map.h"

#define REDIS_URI_MAX_SEEDS 16
#define REDIS_URI_NAME_MAX 100

struct redis_uri {
	char user[128];            /* "" : AUTH with the password only */
	char pass[256];            /* "" : no AUTH */
	int nseeds;
	struct node_addr seeds[REDIS_URI_MAX_SEEDS];
	char name[REDIS_URI_NAME_MAX + 1]; /* the store's key prefix */
	unsigned extent_pages;     /* pages per Redis string */
	unsigned replicas;         /* WAIT for this many replicas */
	unsigned deadline_ms;      /* give up a request after this long */
	unsigned timeout_ms;       /* a node silent this long is hung */
	unsigned wait_ms;          /* WAIT's own timeout */
	unsigned batch;            /* writes per WAIT, at most */
};

/**
 * redis_uri_parse() - parse
 * "redis://[user:pass@]host:port[,host:port...][/][?key=value&...]".
 * @uri: the text.
 * @u:   receives the fields, defaults filled in.
 * @why: receives what is wrong, for the log line (may be NULL).
 * @whylen: size of @why.
 *
 * Keys: name (letters, digits, '_', '-', '.'; default "upager"),
 * extent_pages (1..256, default 16), replicas (0..16, default 1),
 * deadline_ms (100..3600000, default 10000), timeout_ms (50..60000,
 * default 1000), wait_ms (10..60000, default 500), batch (1..1024,
 * default 64).  user and pass may be %XX-escaped; a host may be an IPv6
 * address in brackets.
 * Return: 0, -EINVAL (anything else, with @why saying what).
 */
int redis_uri_parse(const char *uri, struct redis_uri *u, char *why,
		    size_t whylen);

#endif
