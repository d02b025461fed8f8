// SPDX-License-Identifier: MIT
/*
 * test_redis_store - the Redis Cluster store on its own (no runtime):
 * open errors and their errnos, byte round trips across extents, zeros
 * for what was never written, discard, reopening by name, destroying the
 * data, the per-master figures.  Runs against the cluster of the
 * redis_cluster CTest fixture.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "redis_test.h"
#include "store/store.h"

#define PAGE 4096u
#define EXTENT (16 * PAGE)

struct wio {
	struct upg_io io;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	ssize_t res;
};

static void wio_done(struct upg_io *io, ssize_t res)
{
	struct wio *w = io->priv;

	pthread_mutex_lock(&w->lock);
	w->res = res;
	w->done++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* One request, waited for (at most 30 s: the store's deadline is less). */
static ssize_t io_sync(struct upg_store *st, enum upg_io_op op, uint64_t off,
		       void *buf, size_t len)
{
	struct wio w = { .io = { .op = op, .offset = off, .buf = buf, .len = len,
				 .done = wio_done } };
	struct timespec ts;

	w.io.priv = &w;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	ck_assert_int_eq(store_submit(st, NULL, &w.io), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		ck_assert_int_eq(pthread_cond_timedwait(&w.cond, &w.lock, &ts), 0);
	pthread_mutex_unlock(&w.lock);
	ck_assert_int_eq(w.done, 1);
	return w.res;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + seed * 7 + (i >> 12));
}

static int is_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* A loopback port nothing listens on (bound, then released). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static char test_name[64];

static void setup(void)
{
	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "t%d-%ld", (int)getpid(),
		 (long)time(NULL));
}

START_TEST(open_bad_uri)
{
	static const char *const bad[] = {
		"", "http://127.0.0.1:1", "redis://", "redis://127.0.0.1",
		"redis://127.0.0.1:0", "redis://127.0.0.1:70000",
		"redis://127.0.0.1:1,", "redis://:@127.0.0.1:1",
		"redis://127.0.0.1:1?name=a b", "redis://127.0.0.1:1?bogus=1",
		"redis://127.0.0.1:1?extent_pages=0",
		"redis://127.0.0.1:1?replicas=x", "redis://127.0.0.1:1/path",
		"redis://127.0.0.1:1?name",
	};
	struct upg_store *st = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(upg_store_open_uri(bad[i], &st) == -EINVAL,
			      "%s", bad[i]);
	ck_assert_int_eq(upg_store_open_uri(NULL, &st), -EINVAL);
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(open_no_seed)
{
	struct upg_store *st = NULL;
	char uri[128];

	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d,127.0.0.1:%d",
		 free_port(), free_port());
	ck_assert_int_eq(upg_store_open_uri(uri, &st), -ECONNREFUSED);
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(open_not_a_cluster)
{
	struct upg_store *st = NULL;
	char uri[128], portstr[16], dir[] = "/tmp/redis-notcluster-XXXXXX";
	redisContext *c = NULL;
	int port = free_port(), i, status;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		execlp("redis-server", "redis-server", "--port", portstr,
		       "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		       "--dir", dir, "--logfile", "/dev/null", (char *)NULL);
		_exit(127);
	}
	/* Wait (bounded) until it answers. */
	for (i = 0; i < 400 && !c; i++) {
		c = rt_connect(port);
		if (!c)
			usleep(10000);
	}
	if (c)
		redisFree(c);
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d", port);
	i = c ? upg_store_open_uri(uri, &st) : -1;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	rmdir(dir);
	ck_assert_msg(c, "standalone redis-server did not start");
	ck_assert_int_eq(i, -ENOTCONN);
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(open_wrong_password)
{
	struct upg_store *st = NULL;
	char uri[1024], creds[1100];

	rt_uri(uri, sizeof(uri), test_name, NULL);
	snprintf(creds, sizeof(creds), "redis://:wrong%%21pass@%s", uri + 8);
	ck_assert_int_eq(upg_store_open_uri(creds, &st), -EACCES);
	snprintf(creds, sizeof(creds), "redis://nobody:wrong@%s", uri + 8);
	ck_assert_int_eq(upg_store_open_uri(creds, &st), -EACCES);
	ck_assert_ptr_null(st);
}
END_TEST

/* A seed that accepts connections but answers nothing (a stopped
 * replica: its kernel still completes the handshake): -ETIMEDOUT. */
START_TEST(open_hung_seed)
{
	struct upg_store *st = NULL;
	int m[8], n, i, k, replica = -1, ret, is_master;
	char uri[128], arg[64];

	n = rt_masters(m, 8);
	for (i = 0; i < rt_nports && replica < 0; i++) {
		for (is_master = 0, k = 0; k < n; k++)
			is_master |= rt_ports[i] == m[k];
		if (!is_master)
			replica = rt_ports[i];
	}
	ck_assert_int_gt(replica, 0);
	/* Stopped for well under cluster-node-timeout: nobody fails over. */
	snprintf(arg, sizeof(arg), "%d STOP", replica);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d?timeout_ms=200", replica);
	ret = upg_store_open_uri(uri, &st);
	snprintf(arg, sizeof(arg), "%d CONT", replica);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	ck_assert_int_eq(ret, -ETIMEDOUT);
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(round_trip_zeros_discard_destroy)
{
	unsigned char *w = malloc(4 * EXTENT), *r = malloc(4 * EXTENT);
	struct upg_store *st, *st2;
	char uri[1024];

	rt_uri(uri, sizeof(uri), test_name, NULL);
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);

	/* Never written: zeros, full length. */
	memset(r, 0xaa, 2 * EXTENT);
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, 0, r, 2 * EXTENT), 2 * EXTENT);
	ck_assert(is_zero(r, 2 * EXTENT));

	/* Three pages across an extent boundary, then the whole span. */
	fill(w, 3 * PAGE, 1);
	ck_assert_int_eq(io_sync(st, UPG_IO_WRITE, EXTENT - PAGE, w, 3 * PAGE),
			 3 * PAGE);
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, EXTENT - PAGE, r, 3 * PAGE),
			 3 * PAGE);
	ck_assert(!memcmp(w, r, 3 * PAGE));
	/* A short string (extent 1 holds 2 pages) reads as zeros after. */
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, EXTENT, r, EXTENT), EXTENT);
	ck_assert(!memcmp(w + PAGE, r, 2 * PAGE));
	ck_assert(is_zero(r + 2 * PAGE, EXTENT - 2 * PAGE));

	/* A big write over four extents. */
	fill(w, 4 * EXTENT, 2);
	ck_assert_int_eq(io_sync(st, UPG_IO_WRITE, 8 * EXTENT, w, 4 * EXTENT),
			 4 * EXTENT);
	ck_assert_int_eq(store_flush(st), 0);

	/* Another open of the same name (as another process would) sees it. */
	ck_assert_int_eq(upg_store_open_uri(uri, &st2), 0);
	ck_assert_int_eq(io_sync(st2, UPG_IO_READ, 8 * EXTENT, r, 4 * EXTENT),
			 4 * EXTENT);
	ck_assert(!memcmp(w, r, 4 * EXTENT));

	/* Discard: one page at the end of extent 8, extents 9-10 whole,
	 * one page at the start of extent 11. */
	ck_assert_int_eq(store_discard(st2, 9 * EXTENT - PAGE, 2 * EXTENT + 2 * PAGE), 0);
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, 8 * EXTENT, r, 4 * EXTENT),
			 4 * EXTENT);
	ck_assert(!memcmp(w, r, EXTENT - PAGE));
	ck_assert(is_zero(r + EXTENT - PAGE, 2 * EXTENT + 2 * PAGE));
	ck_assert(!memcmp(w + 3 * EXTENT + PAGE, r + 3 * EXTENT + PAGE,
			  EXTENT - PAGE));
	upg_store_put(st2);

	/* Destroy: everything under the name reads as zeros again. */
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, 0, r, 4 * EXTENT), 4 * EXTENT);
	ck_assert(is_zero(r, 4 * EXTENT));
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, 8 * EXTENT, r, 4 * EXTENT),
			 4 * EXTENT);
	ck_assert(is_zero(r, 4 * EXTENT));
	upg_store_put(st);
	free(w);
	free(r);
}
END_TEST

/* The store's published figures once nothing is queued or in flight
 * (the I/O thread publishes them after completing, so wait, bounded). */
static struct upg_redis_stats settled_stats(struct upg_store *st)
{
	UPG_OPTS(upg_redis_stats, s);
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	uint32_t i;
	int tries, busy;

	for (tries = 0; tries < 500; tries++) {
		ck_assert_int_eq(upg_store_redis_stats(st, &s), 0);
		for (busy = 0, i = 0; i < s.nmasters; i++)
			busy |= s.masters[i].queued || s.masters[i].in_flight;
		if (!busy && s.retrying == 0)
			return s;
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("the store did not settle within 5 s");
	return s;
}

START_TEST(per_master_stats)
{
	unsigned char *buf = malloc(8 * EXTENT);
	struct upg_redis_stats s;
	struct upg_store *st, *mem;
	uint32_t i, owners = 0, slots = 0;
	char uri[1024];

	rt_uri(uri, sizeof(uri), test_name, NULL);
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	/* 8 extents: all three masters see traffic. */
	fill(buf, 8 * EXTENT, 3);
	ck_assert_int_eq(io_sync(st, UPG_IO_WRITE, 0, buf, 8 * EXTENT), 8 * EXTENT);
	ck_assert_int_eq(io_sync(st, UPG_IO_READ, 0, buf, 8 * EXTENT), 8 * EXTENT);
	s = settled_stats(st);
	ck_assert_uint_ge(s.map_refreshes, 1);
	for (i = 0; i < s.nmasters; i++) {
		if (!(s.masters[i].flags & UPG_REDIS_OWNS_SLOTS))
			continue;
		owners++;
		slots += s.masters[i].slots;
		ck_assert_msg(strncmp(s.masters[i].addr, "127.0.0.1:", 10) == 0,
			      "%s", s.masters[i].addr);
		ck_assert_uint_eq(s.masters[i].flags & (UPG_REDIS_READ_UP |
							UPG_REDIS_WRITE_UP),
				  UPG_REDIS_READ_UP | UPG_REDIS_WRITE_UP);
		ck_assert_uint_ge(s.masters[i].connects, 2);
	}
	ck_assert_uint_eq(owners, 3);
	ck_assert_uint_eq(slots, 16384);

	/* Bad calls. */
	s.sz = 4;
	ck_assert_int_eq(upg_store_redis_stats(st, &s), -EINVAL);
	ck_assert_int_eq(upg_store_redis_stats(st, NULL), -EINVAL);
	ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
	s.sz = sizeof(s);
	ck_assert_int_eq(upg_store_redis_stats(mem, &s), -EINVAL);
	upg_store_put(mem);

	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	free(buf);
}
END_TEST

START_TEST(destroy_needs_redis_store)
{
	struct upg_store *st;

	ck_assert_int_eq(upg_store_create_mem(NULL, &st), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), -EINVAL);
	ck_assert_int_eq(upg_store_destroy_data(NULL), -EINVAL);
	upg_store_put(st);
}
END_TEST

static Suite *redis_store_suite(void)
{
	Suite *s = suite_create("redis_store");
	TCase *tc = tcase_create("open");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, open_bad_uri);
	tcase_add_test(tc, open_no_seed);
	tcase_add_test(tc, open_not_a_cluster);
	tcase_add_test(tc, open_wrong_password);
	tcase_add_test(tc, open_hung_seed);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, round_trip_zeros_discard_destroy);
	tcase_add_test(tc, destroy_needs_redis_store);
	tcase_add_test(tc, per_master_stats);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(redis_store_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
