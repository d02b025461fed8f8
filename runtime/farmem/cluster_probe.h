/* SPDX-License-Identifier: MIT */
/*
 * cluster_probe - blocking, time-bounded talks with one cluster node: what
 * opening a store, refreshing the slot map (on the store's refresh thread)
 * and destroying a store's data need.  The store's I/O never goes through
 * here: it uses non-blocking connections (redis_store.c).
 */
#ifndef UPAGER_FARMEM_CLUSTER_PROBE_H
#define UPAGER_FARMEM_CLUSTER_PROBE_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "farmem/redis_uri.h"
#include "farmem/slot_map.h"

/**
 * probe_connect() - a blocking connection to @a, authenticated as @u says,
 * with @timeout_ms for the connect and for every command after it.
 * @why: receives what failed (whylen bytes).
 * Return: 0 and *@out; -ECONNREFUSED (nothing listens, or unreachable),
 * -ETIMEDOUT, -EACCES (AUTH refused), -ENOMEM.
 * Context: blocks up to about twice @timeout_ms; SIGPIPE is kept from the
 * process meanwhile.
 */
int probe_connect(const struct node_addr *a, const struct redis_uri *u,
		  unsigned timeout_ms, redisContext **out, char *why,
		  size_t whylen);

/**
 * probe_slots() - CLUSTER SLOTS on @c into @m.
 * Return: 0; -ENOTCONN (cluster support disabled, or no slot assigned),
 * -EACCES (the node wants AUTH), -EPROTO (a reply that is not a slot map),
 * -ETIMEDOUT (no answer within the connection's timeout), -EIO (connection
 * lost).
 */
int probe_slots(redisContext *c, struct slot_map *m, char *why, size_t whylen);

/**
 * probe_command() - run one command on a blocking connection with SIGPIPE
 * kept away; the reply as redisCommandArgv() gives it (NULL: I/O error).
 */
redisReply *probe_command(redisContext *c, int argc, const char **argv,
			  const size_t *argvlen);

/**
 * probe_unlink_each() - UNLINK every key of @keys (an array reply, as
 * SCAN gives), one command per key (they live in different slots),
 * pipelined; adds the keys removed to *@count.
 * Return: 0, -EIO (connection lost, or an error reply), -EACCES, -ENOMEM.
 */
int probe_unlink_each(redisContext *c, const redisReply *keys,
		      uint64_t *count);

/**
 * cluster_fetch_map() - the slot map from the first of @n nodes that gives
 * one, starting at index @first.
 * Return: 0; otherwise the most telling error of the attempts (-EACCES
 * before -ENOTCONN before -EPROTO before -ETIMEDOUT before -ECONNREFUSED),
 * @why saying what went wrong with the node that produced it.
 */
int cluster_fetch_map(const struct node_addr *nodes, int n, int first,
		      const struct redis_uri *u, unsigned timeout_ms,
		      struct slot_map *m, char *why, size_t whylen);

#endif
