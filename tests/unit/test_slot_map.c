// SPDX-License-Identifier: MIT
/*
 * test_slot_map - the far-memory store's slot router on its own: CRC16 and
 * hash tags against values CLUSTER KEYSLOT gave (redis-server 7.0.15),
 * CLUSTER SLOTS replies recorded from a real cluster and malformed ones fed
 * through hiredis's own reader, error-reply classes, MOVED/ASK parsing.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "farmem/slot_map.h"

/* A reply as hiredis would deliver it, from raw RESP bytes. */
static redisReply *resp(const char *raw)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	ck_assert_ptr_nonnull(rd);
	ck_assert_int_eq(redisReaderFeed(rd, raw, strlen(raw)), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
	ck_assert_ptr_nonnull(reply);
	redisReaderFree(rd);
	return reply;
}

static uint16_t slot_of(const char *k)
{
	return key_slot(k, strlen(k));
}

START_TEST(crc16_known_values)
{
	/* The XMODEM check value, and CLUSTER KEYSLOT of each key. */
	ck_assert_uint_eq(crc16_xmodem("123456789", 9), 0x31c3);
	ck_assert_uint_eq(crc16_xmodem("", 0), 0);
	ck_assert_uint_eq(slot_of("foo"), 12182);
	ck_assert_uint_eq(slot_of("bar"), 5061);
	ck_assert_uint_eq(slot_of("hello"), 866);
	ck_assert_uint_eq(slot_of("123456789"), 12739);
}
END_TEST

START_TEST(hash_tags)
{
	ck_assert_uint_eq(slot_of("{user1000}.following"), 3443);
	ck_assert_uint_eq(slot_of("{user1000}.followers"), 3443);
	/* Empty first tag: the whole key. */
	ck_assert_uint_eq(slot_of("foo{}{bar}"), 8363);
	ck_assert_uint_eq(slot_of("{}"), 15257);
	/* From the first '{' to the first '}' after it. */
	ck_assert_uint_eq(slot_of("foo{{bar}}zap"), 4015);
	ck_assert_uint_eq(slot_of("foo{bar}{zap}"), 5061);
	/* No closing brace: the whole key. */
	ck_assert_uint_eq(slot_of("a{b"), 13340);
	/* The store's keys: the extent number is the tag. */
	ck_assert_uint_eq(slot_of("upg:a:{7}"), slot_of("upg:b:{7}"));
}
END_TEST

/* Recorded from redis-cli --cluster create with 3 masters x 1 replica,
 * once the replicas were known (7.0 adds an empty metadata array). */
static const char cluster_slots_3x1[] =
	"*3\r\n"
	"*4\r\n:0\r\n:5460\r\n"
	"*4\r\n$9\r\n127.0.0.1\r\n:31100\r\n$40\r\n8c37e82a141029ed5d9744b5f30a58974363ef13\r\n*0\r\n"
	"*4\r\n$9\r\n127.0.0.1\r\n:31105\r\n$40\r\n1111111111111111111111111111111111111111\r\n*0\r\n"
	"*4\r\n:5461\r\n:10922\r\n"
	"*4\r\n$9\r\n127.0.0.1\r\n:31101\r\n$40\r\n40e6d9f518d6e160a8f541ea3d643549439bca83\r\n*0\r\n"
	"*4\r\n$9\r\n127.0.0.1\r\n:31103\r\n$40\r\n2222222222222222222222222222222222222222\r\n*0\r\n"
	"*3\r\n:10923\r\n:16383\r\n"
	"*4\r\n$9\r\n127.0.0.1\r\n:31102\r\n$40\r\n2b9ed78bc9dec6f945f7eb4a6c39b6952d76bf8f\r\n*0\r\n";

START_TEST(cluster_slots_parse)
{
	redisReply *r = resp(cluster_slots_3x1);
	struct slot_map *m = malloc(sizeof(*m));

	ck_assert_int_eq(slot_map_parse(r, m), 0);
	ck_assert_int_eq(m->nmasters, 3);
	ck_assert_str_eq(m->masters[m->owner[0]].host, "127.0.0.1");
	ck_assert_int_eq(m->masters[m->owner[0]].port, 31100);
	ck_assert_int_eq(m->masters[m->owner[5460]].port, 31100);
	ck_assert_int_eq(m->masters[m->owner[5461]].port, 31101);
	ck_assert_int_eq(m->masters[m->owner[16383]].port, 31102);
	/* Masters and replicas, each once, in the reply's order. */
	ck_assert_int_eq(m->nnodes, 5);
	ck_assert_int_eq(m->nodes[1].port, 31105);
	ck_assert_int_eq(m->nodes[3].port, 31103);
	ck_assert_int_eq(m->nodes[4].port, 31102);
	freeReplyObject(r);
	free(m);
}
END_TEST

START_TEST(cluster_slots_partial_and_moved)
{
	/* Slots 100..199 only: the rest uncovered (a shard is down). */
	redisReply *r = resp("*1\r\n*3\r\n:100\r\n:199\r\n"
			     "*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n");
	struct slot_map *m = malloc(sizeof(*m));
	struct node_addr a = { "127.0.0.1", 7001 };

	ck_assert_int_eq(slot_map_parse(r, m), 0);
	ck_assert_int_eq(m->owner[99], -1);
	ck_assert_int_eq(m->owner[200], -1);
	ck_assert_int_eq(m->masters[m->owner[150]].port, 7000);
	/* A MOVED for one slot adds its new owner. */
	ck_assert_int_eq(slot_map_set_owner(m, 150, &a), 0);
	ck_assert_int_eq(m->nmasters, 2);
	ck_assert_int_eq(m->masters[m->owner[150]].port, 7001);
	ck_assert_int_eq(m->masters[m->owner[151]].port, 7000);
	ck_assert_int_eq(slot_map_find(m, &a), 1);
	ck_assert_int_eq(slot_map_set_owner(m, REDIS_SLOTS, &a), -EINVAL);
	freeReplyObject(r);
	free(m);
}
END_TEST

START_TEST(cluster_slots_malformed)
{
	static const char *const bad[] = {
		"+OK\r\n",                                   /* not an array */
		"*1\r\n:5\r\n",                              /* entry not an array */
		"*1\r\n*2\r\n:0\r\n:5\r\n",                  /* no node */
		"*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n", /* start > end */
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n", /* slot range */
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:70000\r\n", /* port */
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:1\r\n:1\r\n",   /* host not a string */
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$0\r\n\r\n:1\r\n", /* empty host */
	};
	struct slot_map *m = malloc(sizeof(*m));
	redisReply *r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = resp(bad[i]);
		ck_assert_msg(slot_map_parse(r, m) == -EPROTO, "case %zu", i);
		freeReplyObject(r);
	}
	/* No slot assigned at all: a node of a cluster never created. */
	r = resp("*0\r\n");
	ck_assert_int_eq(slot_map_parse(r, m), -ENOTCONN);
	freeReplyObject(r);
	ck_assert_int_eq(slot_map_parse(NULL, m), -EPROTO);
	free(m);
}
END_TEST

START_TEST(error_classes)
{
	static const struct {
		const char *raw;
		enum reply_class rc;
		int retry;
	} cases[] = {
		{ "-TRYAGAIN Multiple keys request during rehashing of slot\r\n", RC_TRYAGAIN, 1 },
		{ "-CLUSTERDOWN The cluster is down\r\n", RC_CLUSTERDOWN, 1 },
		{ "-CLUSTERDOWN Hash slot not served\r\n", RC_CLUSTERDOWN, 1 },
		{ "-NOREPLICAS Not enough good replicas to write.\r\n", RC_NOREPLICAS, 1 },
		{ "-LOADING Redis is loading the dataset in memory\r\n", RC_LOADING, 1 },
		{ "-READONLY You can't write against a read only replica.\r\n", RC_READONLY, 1 },
		{ "-OOM command not allowed when used memory > 'maxmemory'.\r\n", RC_OOM, 0 },
		{ "-NOAUTH Authentication required.\r\n", RC_AUTH, 0 },
		{ "-WRONGPASS invalid username-password pair or user is disabled.\r\n", RC_AUTH, 0 },
		{ "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", RC_AUTH, 0 },
		{ "-ERR wrong number of arguments for 'getrange' command\r\n", RC_OTHER, 0 },
		{ "-MOVED x 127.0.0.1:1\r\n", RC_OTHER, 0 },
		{ "-MOVED 1 127.0.0.1\r\n", RC_OTHER, 0 },
		{ "-ASK 1 :5\r\n", RC_OTHER, 0 },
		{ ":3\r\n", RC_OK, 0 },
		{ "$-1\r\n", RC_OK, 0 },
	};
	redisReply *r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = resp(cases[i].raw);
		ck_assert_msg(reply_classify(r, NULL) == cases[i].rc, "case %zu", i);
		ck_assert_int_eq(reply_class_retryable(cases[i].rc), cases[i].retry);
		freeReplyObject(r);
	}
}
END_TEST

START_TEST(redirects)
{
	struct redirect rd;
	redisReply *r;

	r = resp("-MOVED 3999 127.0.0.1:31101\r\n");
	ck_assert_int_eq(reply_classify(r, &rd), RC_MOVED);
	ck_assert_uint_eq(rd.slot, 3999);
	ck_assert_str_eq(rd.addr.host, "127.0.0.1");
	ck_assert_int_eq(rd.addr.port, 31101);
	freeReplyObject(r);

	r = resp("-ASK 16383 ::1:6380\r\n"); /* IPv6: the last colon splits */
	ck_assert_int_eq(reply_classify(r, &rd), RC_ASK);
	ck_assert_uint_eq(rd.slot, 16383);
	ck_assert_str_eq(rd.addr.host, "::1");
	ck_assert_int_eq(rd.addr.port, 6380);
	freeReplyObject(r);

	r = resp("-MOVED 16384 127.0.0.1:1\r\n");
	ck_assert_int_eq(reply_classify(r, &rd), RC_OTHER);
	freeReplyObject(r);
}
END_TEST

START_TEST(backoff_grows_and_caps)
{
	ck_assert_uint_eq(backoff_ms(0), 10);
	ck_assert_uint_eq(backoff_ms(1), 20);
	ck_assert_uint_eq(backoff_ms(4), 160);
	ck_assert_uint_eq(backoff_ms(5), 320);
	ck_assert_uint_eq(backoff_ms(1000), 320);
}
END_TEST

static Suite *slot_map_suite(void)
{
	Suite *s = suite_create("slot_map");
	TCase *tc = tcase_create("router");

	tcase_add_test(tc, crc16_known_values);
	tcase_add_test(tc, hash_tags);
	tcase_add_test(tc, cluster_slots_parse);
	tcase_add_test(tc, cluster_slots_partial_and_moved);
	tcase_add_test(tc, cluster_slots_malformed);
	tcase_add_test(tc, error_classes);
	tcase_add_test(tc, redirects);
	tcase_add_test(tc, backoff_grows_and_caps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(slot_map_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
