/* SPDX-License-Identifier: MIT */
/*
 * redis_test - what the tests of the Redis Cluster store share: the
 * cluster the CTest fixture started (tests/redis/CMakeLists via the main
 * CMakeLists: redis/cluster_start, redis/cluster_stop), its seeds, and
 * tools/redis-cluster.sh for killing, stopping and restarting nodes.
 */
#ifndef UPAGER_REDIS_TEST_H
#define UPAGER_REDIS_TEST_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "testutil.h"
#include "upager.h"

#define RT_SKIP 77

static char rt_dir[512];
static int rt_ports[32];
static int rt_nports;

/* Exit 77 if redis-server is not installed; fail if the fixture's
 * cluster is missing although it is.  Fills rt_dir, rt_ports. */
static inline void rt_need_cluster(void)
{
	const char *dir = getenv("UPAGER_REDIS_DIR");
	char path[600];
	FILE *f;

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("redis-server not installed (bash tools/setup.sh): skipped\n");
		exit(RT_SKIP);
	}
	if (!dir) {
		fprintf(stderr, "UPAGER_REDIS_DIR unset: run through ctest "
			"(the redis_cluster fixture starts the cluster)\n");
		exit(1);
	}
	snprintf(rt_dir, sizeof(rt_dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/ports", dir);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s missing: the redis/cluster_start fixture "
			"did not start the cluster\n", path);
		exit(1);
	}
	rt_nports = 0;
	while (rt_nports < 32 && fscanf(f, "%d", &rt_ports[rt_nports]) == 1)
		rt_nports++;
	fclose(f);
	if (!rt_nports) {
		fprintf(stderr, "%s lists no port\n", path);
		exit(1);
	}
}

/*
 * Map @len bytes of the store at @uri, opened afresh (nothing cached in
 * this process), on @rt; check them against tu_word(@seed, ...); then
 * unmap, destroy the store's data and drop it.  Returns tu_check()'s
 * answer: UINT64_MAX when every byte is right, else the first bad offset.
 * Needs testutil.h.
 */
static inline uint64_t rt_read_back_and_destroy(struct upg_runtime *rt,
						const char *uri, uint64_t len,
						uint64_t seed)
{
	struct upg_store *st;
	struct upg_region *r;
	uint64_t bad;

	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, len, NULL, &r), 0);
	bad = tu_check(upg_region_addr(r), 0, len, seed);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	return bad;
}

/* "redis://127.0.0.1:P1,...?name=NAME<extra>" */
static inline void rt_uri(char *buf, size_t len, const char *name,
			  const char *extra)
{
	size_t o;
	int i;

	o = (size_t)snprintf(buf, len, "redis://");
	for (i = 0; i < rt_nports && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s127.0.0.1:%d",
				      i ? "," : "", rt_ports[i]);
	snprintf(buf + o, len - o, "?name=%s%s", name, extra ? extra : "");
}

/* tools/redis-cluster.sh CMD DIR ARGS; returns its exit status. */
static inline int rt_script(const char *cmd, const char *args)
{
	char line[1200];
	int st;

	snprintf(line, sizeof(line), "%s %s %s %s", REDIS_CLUSTER_SH, cmd,
		 rt_dir, args ? args : "");
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A blocking connection to a node, or NULL. */
static inline redisContext *rt_connect(int port)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	if (c)
		redisSetTimeout(c, tv);
	return c;
}

/* 1 if the node on @port says it is a master, 0 if it says replica, -1
 * if it does not answer. */
static inline int rt_is_master(int port)
{
	redisContext *c = rt_connect(port);
	redisReply *r;
	int ret = -1;

	if (!c)
		return -1;
	r = redisCommand(c, "ROLE");
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements &&
	    r->element[0]->type == REDIS_REPLY_STRING)
		ret = !strcmp(r->element[0]->str, "master");
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ret;
}

/* Ports of the masters owning slots now, from the first node whose
 * CLUSTER SLOTS names only nodes that agree they are masters (a node that
 * just rejoined may still hold an old view).  Returns how many. */
static inline int rt_masters(int *out, int max)
{
	int i, n = 0;

	for (i = 0; i < rt_nports; i++) {
		redisContext *c = rt_connect(rt_ports[i]);
		redisReply *r;
		size_t j;
		int k, stale = 0;

		if (!c)
			continue;
		r = redisCommand(c, "CLUSTER SLOTS");
		n = 0;
		if (r && r->type == REDIS_REPLY_ARRAY) {
			for (j = 0; j < r->elements && n < max; j++) {
				redisReply *e = r->element[j];
				int port = (int)e->element[2]->element[1]->integer;
				int dup = 0;

				for (k = 0; k < n; k++)
					dup |= out[k] == port;
				if (!dup)
					out[n++] = port;
			}
		}
		if (r)
			freeReplyObject(r);
		redisFree(c);
		for (k = 0; k < n; k++)
			stale |= rt_is_master(out[k]) == 0;
		if (n && !stale)
			return n;
	}
	return n;
}

/* Run "CONFIG SET name value" on every node; 0 if all answered OK. */
static inline int rt_config_set_all(const char *name, const char *value)
{
	int i, bad = 0;

	for (i = 0; i < rt_nports; i++) {
		redisContext *c = rt_connect(rt_ports[i]);
		redisReply *r;

		if (!c) {
			bad = 1;
			continue;
		}
		r = redisCommand(c, "CONFIG SET %s %s", name, value);
		if (!r || r->type == REDIS_REPLY_ERROR)
			bad = 1;
		if (r)
			freeReplyObject(r);
		redisFree(c);
	}
	return bad ? -1 : 0;
}

/* "CONFIG GET name" of the first node into @out (what a test that
 * changes the setting restores); exits the test process when the node
 * cannot say: a test must not change what it cannot put back. */
static inline void rt_config_get_or_exit(const char *name, char *out,
					 size_t len)
{
	redisContext *c = rt_connect(rt_ports[0]);
	redisReply *r;

	if (!c) {
		fprintf(stderr, "cannot reach 127.0.0.1:%d\n", rt_ports[0]);
		exit(1);
	}
	r = redisCommand(c, "CONFIG GET %s", name);
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		fprintf(stderr, "CONFIG GET %s failed\n", name);
		exit(1);
	}
	snprintf(out, len, "%s", r->element[1]->str);
	freeReplyObject(r);
	redisFree(c);
}

#endif
