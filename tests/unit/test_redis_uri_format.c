// SPDX-License-Identifier: MIT
/*
 * test_redis_uri_format - a parsed redis:// URI written back as text
 * (what a client sends upagerd for a region on a Redis store, and what it
 * opens again to take the region over) parses into the same fields:
 * escaped credentials, IPv6 seeds, every option, the longest URI; and
 * redis_store_uri() refuses a store that is not a Redis store.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "farmem/redis_uri_format.h"
#include "testutil.h"
#include "upager.h"

static void same(const struct redis_uri *a, const struct redis_uri *b)
{
	int i;

	ck_assert_str_eq(a->user, b->user);
	ck_assert_str_eq(a->pass, b->pass);
	ck_assert_int_eq(a->nseeds, b->nseeds);
	for (i = 0; i < a->nseeds; i++) {
		ck_assert_str_eq(a->seeds[i].host, b->seeds[i].host);
		ck_assert_int_eq(a->seeds[i].port, b->seeds[i].port);
	}
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->extent_pages, b->extent_pages);
	ck_assert_uint_eq(a->replicas, b->replicas);
	ck_assert_uint_eq(a->deadline_ms, b->deadline_ms);
	ck_assert_uint_eq(a->timeout_ms, b->timeout_ms);
	ck_assert_uint_eq(a->wait_ms, b->wait_ms);
	ck_assert_uint_eq(a->batch, b->batch);
}

/* parse(@text) == parse(format(parse(@text))); the formatted text too
 * is a fixed point. */
static void round_trip(const char *text)
{
	static char out[REDIS_URI_TEXT_MAX], again[REDIS_URI_TEXT_MAX];
	struct redis_uri a, b;
	char why[256];

	ck_assert_msg(redis_uri_parse(text, &a, why, sizeof(why)) == 0,
		      "%s: %s", text, why);
	ck_assert_int_eq(redis_uri_format(&a, out, sizeof(out)), 0);
	ck_assert_msg(redis_uri_parse(out, &b, why, sizeof(why)) == 0,
		      "%s -> %s: %s", text, out, why);
	same(&a, &b);
	ck_assert_int_eq(redis_uri_format(&b, again, sizeof(again)), 0);
	ck_assert_str_eq(out, again);
}

START_TEST(formats_what_parses)
{
	round_trip("redis://127.0.0.1:7000");
	round_trip("redis://127.0.0.1:7000,127.0.0.1:7001/?name=a.b-c_d");
	round_trip("redis://:secret@h:1?replicas=0&batch=1");
	round_trip("redis://alice:p%40ss%3Aw%2Fo%3Frd%2C%25x@[::1]:6379,"
		   "host.example:6380?name=n&extent_pages=256&replicas=16"
		   "&deadline_ms=3600000&timeout_ms=60000&wait_ms=60000"
		   "&batch=1024");
	/* Bytes a password may hold that the URI syntax uses. */
	{
		static char out[REDIS_URI_TEXT_MAX];
		struct redis_uri u, v;

		ck_assert_int_eq(redis_uri_parse("redis://h:1", &u, NULL, 0),
				 0);
		strcpy(u.user, "us:er@");
		strcpy(u.pass, "p:a@s/s?w,o%r d&=");
		ck_assert_int_eq(redis_uri_format(&u, out, sizeof(out)), 0);
		ck_assert_int_eq(redis_uri_parse(out, &v, NULL, 0), 0);
		same(&u, &v);
	}
}
END_TEST

START_TEST(longest_uri_fits)
{
	static char out[REDIS_URI_TEXT_MAX];
	struct redis_uri u, v;
	int i;

	ck_assert_int_eq(redis_uri_parse("redis://h:1", &u, NULL, 0), 0);
	memset(u.user, '@', sizeof(u.user) - 1);
	u.user[sizeof(u.user) - 1] = '\0';
	memset(u.pass, '%', sizeof(u.pass) - 1);
	u.pass[sizeof(u.pass) - 1] = '\0';
	u.nseeds = REDIS_URI_MAX_SEEDS;
	for (i = 0; i < u.nseeds; i++) {
		memset(u.seeds[i].host, ':', sizeof(u.seeds[i].host) - 1);
		u.seeds[i].host[sizeof(u.seeds[i].host) - 1] = '\0';
		u.seeds[i].port = 65535;
	}
	memset(u.name, 'n', REDIS_URI_NAME_MAX);
	u.name[REDIS_URI_NAME_MAX] = '\0';
	u.deadline_ms = 3600000;
	ck_assert_int_eq(redis_uri_format(&u, out, sizeof(out)), 0);
	ck_assert_int_eq(redis_uri_parse(out, &v, NULL, 0), 0);
	same(&u, &v);
	/* A buffer too small: -ENAMETOOLONG and an empty string. */
	ck_assert_int_eq(redis_uri_format(&u, out, 100), -ENAMETOOLONG);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(redis_uri_format(&u, out, 0), -ENAMETOOLONG);
}
END_TEST

START_TEST(store_uri_of_other_stores)
{
	struct upg_store *st;
	char out[64];

	ck_assert_int_eq(redis_store_uri(NULL, NULL, out, sizeof(out)),
			 -EINVAL);
	ck_assert_int_eq(upg_store_create_mem(NULL, &st), 0);
	ck_assert_int_eq(redis_store_uri(st, NULL, out, sizeof(out)), -EINVAL);
	upg_store_put(st);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("redis_uri_format");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, formats_what_parses);
	tcase_add_test(tc, longest_uri_fits);
	tcase_add_test(tc, store_uri_of_other_stores);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
