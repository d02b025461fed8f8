// SPDX-License-Identifier: MIT
/*
 * Regions on a Redis store in daemon mode.  The client's store object
 * cannot cross to upagerd, its URI can: the client sends the URI it was
 * opened with (REGION_ADD_URI), the daemon opens the store itself, under
 * the name scoped to the client's uid (proto_store_scoped_name()), and
 * its own connections do the I/O.  The client keeps the URI the daemon
 * opened, so that after a daemon kill -9 it opens the same store (same
 * seeds, credentials, options and scoped name) and services the region
 * in-process (client/takeover.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/runtime.h"
#include "farmem/redis_uri_format.h"

int client_store_uri(struct upg_runtime *rt, struct upg_store *store,
		     char *buf, size_t len)
{
	struct client_conn *cc = rt->remote;
	int err;

	if (!(cc->features & PROTO_FEAT_STORE_URI))
		return -EOPNOTSUPP; /* a daemon that cannot open stores */
	err = redis_store_uri(store, NULL, buf, len);
	return err == -EINVAL ? -EOPNOTSUPP : err;
}

static void uri_free(struct client_uri *cu)
{
	explicit_bzero(cu->uri, strlen(cu->uri)); /* credentials */
	free(cu->uri);
	free(cu);
}

int client_store_remember(struct upg_runtime *rt, struct upg_region *r,
			  const char *uri, uint32_t uid)
{
	struct client_conn *cc = rt->remote;
	char name[REDIS_URI_NAME_MAX + 1];
	struct client_uri *cu;
	struct redis_uri u;
	int err;

	err = redis_uri_parse(uri, &u, NULL, 0);
	if (!err)
		err = proto_store_scoped_name(u.name, uid, REDIS_URI_NAME_MAX,
					      name, sizeof(name));
	if (err)
		return err;
	memcpy(u.name, name, sizeof(name));
	cu = calloc(1, sizeof(*cu));
	if (cu)
		cu->uri = malloc(REDIS_URI_TEXT_MAX);
	if (!cu || !cu->uri) {
		free(cu);
		return -ENOMEM;
	}
	err = redis_uri_format(&u, cu->uri, REDIS_URI_TEXT_MAX);
	explicit_bzero(&u, sizeof(u));
	if (err) {
		uri_free(cu);
		return err;
	}
	cu->r = r;
	pthread_mutex_lock(&cc->regions_lock);
	cu->next = cc->uris;
	cc->uris = cu;
	pthread_mutex_unlock(&cc->regions_lock);
	return 0;
}

void client_store_forget(struct upg_runtime *rt, struct upg_region *r)
{
	struct client_conn *cc = rt->remote;
	struct client_uri **pp, *cu;

	pthread_mutex_lock(&cc->regions_lock);
	for (pp = &cc->uris; (cu = *pp) && cu->r != r; pp = &cu->next)
		;
	if (cu)
		*pp = cu->next;
	pthread_mutex_unlock(&cc->regions_lock);
	if (cu)
		uri_free(cu);
}

/* Context: the agent thread, cc->regions_lock held (client_takeover()). */
int client_store_open(struct upg_runtime *rt, struct upg_region *r,
		      struct upg_store **out)
{
	struct client_conn *cc = rt->remote;
	struct client_uri *cu;

	for (cu = cc->uris; cu && cu->r != r; cu = cu->next)
		;
	if (!cu)
		return -ENOENT;
	return upg_store_open_uri(cu->uri, out);
}

/* Context: cc->regions_lock held, or nobody else left (conn freed). */
void client_store_forget_all(struct upg_runtime *rt)
{
	struct client_conn *cc = rt->remote;

	while (cc->uris) {
		struct client_uri *cu = cc->uris;

		cc->uris = cu->next;
		uri_free(cu);
	}
}
