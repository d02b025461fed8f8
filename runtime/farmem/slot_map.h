/* SPDX-License-Identifier: MIT */
/*
 * slot_map - the Redis Cluster slot router of the far-memory store: key ->
 * slot (CRC16/XMODEM with {hash tags}), the CLUSTER SLOTS map, how to read
 * an error reply (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, OOM ...) and how long
 * to back off.  Pure functions on hiredis replies: no I/O, no threads, so
 * that it is tested on recorded replies (tests/unit/test_slot_map.c).
 */
#ifndef UPAGER_FARMEM_SLOT_MAP_H
#define UPAGER_FARMEM_SLOT_MAP_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define REDIS_SLOTS 16384
/* Masters a map holds, and nodes (masters + replicas) it remembers as
 * places to ask for the next map. */
#define SLOT_MAP_MAX_MASTERS 64
#define SLOT_MAP_MAX_NODES 256
#define SLOT_MAP_HOST_MAX 64

struct node_addr {
	char host[SLOT_MAP_HOST_MAX];
	int port;
};

struct slot_map {
	int nmasters;
	struct node_addr masters[SLOT_MAP_MAX_MASTERS];
	/* Index into masters[] of each slot's owner, -1 when uncovered. */
	int16_t owner[REDIS_SLOTS];
	/* Every node CLUSTER SLOTS named, each once, in its order. */
	int nnodes;
	struct node_addr nodes[SLOT_MAP_MAX_NODES];
};

/**
 * crc16_xmodem() - CRC16 with polynomial 0x1021, initial value 0, no
 * reflection: the checksum Redis Cluster hashes keys with.
 * Return: the CRC of @len bytes at @buf ("123456789" gives 0x31c3).
 */
uint16_t crc16_xmodem(const void *buf, size_t len);

/**
 * key_slot() - the cluster slot of a key: CRC16 of the key, or of the text
 * between its first '{' and the next '}' when that is not empty, mod 16384.
 */
uint16_t key_slot(const char *key, size_t len);

/**
 * slot_map_init() - an empty map: no master, every slot uncovered.
 */
void slot_map_init(struct slot_map *m);

/**
 * slot_map_parse() - fill @m from a CLUSTER SLOTS reply.
 * @r: the reply: an array of [start, end, [host, port, id...], replicas...].
 * @m: the map to fill (initialized here).
 * Return: 0; -EPROTO (not the shape CLUSTER SLOTS has, slot out of range,
 * port out of range), -E2BIG (more masters or nodes than the map holds),
 * -ENOTCONN (no slot assigned: the cluster was never created).
 */
int slot_map_parse(const redisReply *r, struct slot_map *m);

/**
 * slot_map_find() - index of @addr in @m's masters, -1 if absent.
 */
int slot_map_find(const struct slot_map *m, const struct node_addr *addr);

/**
 * slot_map_set_owner() - record a MOVED: @slot now belongs to @addr, added
 * to the masters if new.
 * Return: 0, -E2BIG (the map is full), -EINVAL (@slot out of range).
 */
int slot_map_set_owner(struct slot_map *m, unsigned slot,
		       const struct node_addr *addr);

enum reply_class {
	RC_OK = 0,       /* not an error reply */
	RC_MOVED,        /* the slot lives elsewhere: update, refresh, retry */
	RC_ASK,          /* migrating: retry once there, after ASKING */
	RC_TRYAGAIN,     /* multi-key op during resharding: retry */
	RC_CLUSTERDOWN,  /* slot uncovered / cluster down: back off, refresh */
	RC_NOREPLICAS,   /* min-replicas-to-write not met: back off, retry */
	RC_LOADING,      /* the node is loading its data set: back off */
	RC_MASTERDOWN,   /* a replica without its master (not routed to) */
	RC_READONLY,     /* a write reached a replica: refresh */
	RC_OOM,          /* maxmemory under noeviction: -ENOSPC, no retry */
	RC_AUTH,         /* NOAUTH / WRONGPASS: -EACCES */
	RC_OTHER,        /* any other error: -EIO, no retry */
};

/* Where a MOVED or ASK points. */
struct redirect {
	unsigned slot;
	struct node_addr addr;
};

/**
 * reply_classify() - what an error reply means for the router.
 * @r:  a reply (non-error replies are RC_OK).
 * @rd: receives the slot and target of MOVED/ASK; may be NULL.
 * Return: the class.  A MOVED/ASK whose target does not parse is RC_OTHER.
 */
enum reply_class reply_classify(const redisReply *r, struct redirect *rd);

/**
 * reply_class_retryable() - true if the router retries (after a back-off,
 * within the deadline) on this class.
 */
int reply_class_retryable(enum reply_class rc);

/**
 * backoff_ms() - the pause before retry number @attempt (0 = first):
 * 10 ms doubling up to 320 ms.
 */
unsigned backoff_ms(unsigned attempt);

#endif
