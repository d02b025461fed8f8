// SPDX-License-Identifier: MIT
/*
 * test_redis_daemon - regions on the Redis Cluster store through upagerd
 * (docs/far-memory.md, "Through upagerd"): the client's store travels as
 * its URI (REGION_ADD_URI), the daemon opens the store and does the I/O.
 *
 *  - a region 4x the daemon's budget round-trips through the daemon, and
 *    its pages are in the cluster under the name scoped to the client's
 *    uid ("u<uid>.<name>"), not under the bare name;
 *  - upagerd killed with SIGKILL at a random point of a verified
 *    workload: the client opens the same URI itself, takes the region
 *    over and goes on; every page verifies, in memory and in the cluster;
 *  - another uid naming the same store through the daemon sees none of
 *    the first uid's pages (as root: the other uid is nobody);
 *  - bad URIs over the protocol get the errno of upg_store_open_uri()
 *    in-process, a scoped name too long gets -ENAMETOOLONG;
 *  - upagerctl stores (and --json) lists the store's masters, connected,
 *    with their slots, while the region is mapped, and nothing after;
 *    while a master is stopped (SIGSTOP) under a workload, it shows that
 *    master not connected, with errors, and the workload goes on and
 *    verifies once it is continued.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <grp.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "daemon_util.h"
#include "farmem/redis_uri.h"
#include "proto/proto.h"
#include "redis_test.h"
#include "region/region.h"
#include "testutil.h"
#include "uffd/uffd.h"

#define PAGE 4096u
#define BUDGET (2u << 20)
#define LEN (4 * BUDGET)
#define OWN_BUDGET (3u << 20)
#define NOBODY 65534

static char test_name[64];
static char uri[1024];

static void setup(void)
{
	rt_need_cluster();
	snprintf(test_name, sizeof(test_name), "d%d-%ld", (int)getpid(),
		 (long)time(NULL));
	rt_uri(uri, sizeof(uri), test_name, NULL);
}

/* The URI of the same cluster under the name @name. */
static void uri_named(char *buf, size_t len, const char *name)
{
	rt_uri(buf, len, name, NULL);
}

/* "u<uid>.<test_name>": where the daemon keeps a client's pages. */
static void scoped(char *buf, size_t len, uid_t uid)
{
	snprintf(buf, len, "u%u.%s", (unsigned)uid, test_name);
}

/*
 * In this process, without a daemon: map @len bytes of the store named
 * @name and return tu_check()'s answer against @seed (UINT64_MAX: all
 * right), or, with @zeros, UINT64_MAX when every page reads as zeros.
 * Destroys the name's data afterwards when @destroy.
 */
static uint64_t in_process_check(const char *name, uint64_t seed, bool zeros,
				 bool destroy)
{
	struct upg_runtime *rt = tu_runtime(4 * BUDGET, 2);
	struct upg_store *st;
	struct upg_region *r;
	char u[1024];
	uint64_t bad = UINT64_MAX, i;

	uri_named(u, sizeof(u), name);
	ck_assert_int_eq(upg_store_open_uri(u, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	if (zeros) {
		const uint64_t *w = upg_region_addr(r);

		for (i = 0; i < LEN / 8 && bad == UINT64_MAX; i++)
			if (w[i])
				bad = i * 8;
	} else {
		bad = tu_check(upg_region_addr(r), 0, LEN, seed);
	}
	ck_assert_int_eq(upg_region_unmap(r), 0);
	if (destroy)
		ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	return bad;
}

/* A daemon with a 2 MiB budget, a runtime connected to it and a region
 * of LEN bytes on the store of `uri` mapped through it. */
static void daemon_map(struct dt_daemon *d, struct upg_runtime **rt,
		       struct upg_store **st, struct upg_region **r)
{
	dt_start(d, UPAGERD_PATH, "2M");
	*rt = dt_connect(d);
	ck_assert_int_eq(upg_store_open_uri(uri, st), 0);
	ck_assert_int_eq(upg_region_map_store(*rt, *st, LEN, NULL, r), 0);
}

START_TEST(daemon_four_times_budget_round_trip)
{
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_region *r;
	struct upg_stats s;
	char name[128];

	daemon_map(&d, &rt, &st, &r);
	/* Only a Redis store travels: a memory store cannot (as a plugin
	 * cannot), and nothing is mapped for it. */
	{
		struct upg_store *mem;
		struct upg_region *r2 = NULL;

		ck_assert_int_eq(upg_store_create_mem(NULL, &mem), 0);
		ck_assert_int_eq(upg_region_map_store(rt, mem, LEN, NULL, &r2),
				 -EOPNOTSUPP);
		ck_assert_ptr_null(r2);
		upg_store_put(mem);
	}
	tu_fill(upg_region_addr(r), 0, LEN, 41);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, LEN, 41),
			  UINT64_MAX);
	s = tu_stats(rt);
	/* The daemon's budget: most of it went to the cluster and came
	 * back, through the daemon's own store. */
	ck_assert_uint_eq(s.budget_bytes, BUDGET);
	ck_assert_uint_ge(s.pages_written_back, (LEN - BUDGET) / PAGE);
	ck_assert_uint_ge(s.pages_filled, (LEN - BUDGET) / PAGE);
	ck_assert_uint_eq(s.io_errors, 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);

	/* The pages are in the cluster under the uid's scoped name, and
	 * the client's own store object (the bare name) has none. */
	scoped(name, sizeof(name), geteuid());
	ck_assert_uint_eq(in_process_check(name, 41, false, true), UINT64_MAX);
	ck_assert_uint_eq(in_process_check(test_name, 0, true, false),
			  UINT64_MAX);
	upg_store_destroy_data(st);
	upg_store_put(st);
}
END_TEST

/*
 * The client of the kill test: maps LEN bytes of the store through the
 * daemon, writes every page (reporting each on @report), waits until the
 * daemon is killed (@killed), verifies every page (the evicted ones come
 * back from the cluster through its own store now), rewrites every page
 * with @seed + 1, verifies, flushes and unmaps.  0, or the failed step.
 */
static int kill_client(const struct dt_daemon *d, int report, int killed,
		       uint64_t seed)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = OWN_BUDGET);
	struct upg_runtime *rt = NULL;
	struct upg_store *st;
	struct upg_region *r;
	uint64_t pg;
	char *a, c;

	if (upg_runtime_connect(d->sock, &o, &rt))
		return 1;
	if (upg_store_open_uri(uri, &st))
		return 2;
	if (upg_region_map_store(rt, st, LEN, NULL, &r))
		return 3;
	a = upg_region_addr(r);
	for (pg = 0; pg < LEN / PAGE; pg++) {
		tu_fill(a + pg * PAGE, pg * PAGE, PAGE, seed);
		if (write(report, &pg, sizeof(pg)) != sizeof(pg))
			return 4;
	}
	if (read(killed, &c, 1) != 1)
		return 5;
	if (tu_check(a, 0, LEN, seed) != UINT64_MAX)
		return 6;
	/* Taken over: under its own budget from now on. */
	if (tu_stats(rt).budget_bytes != OWN_BUDGET)
		return 7;
	tu_fill(a, 0, LEN, seed + 1);
	if (tu_check(a, 0, LEN, seed + 1) != UINT64_MAX)
		return 8;
	if (upg_region_flush(r, 0, 0))
		return 9;
	if (tu_stats(rt).io_errors)
		return 10;
	if (upg_region_unmap(r))
		return 11;
	upg_store_put(st);
	return upg_runtime_destroy(rt) ? 12 : 0;
}

struct kill_client_args {
	const struct dt_daemon *d;
	uint64_t seed;
};

static int kill_client_main(void *arg, int report, int killed)
{
	struct kill_client_args *a = arg;

	return kill_client(a->d, report, killed, a->seed);
}

START_TEST(daemon_kill9_client_takes_over)
{
	struct dt_daemon d;
	char name[128];
	int round;

	srand((unsigned)getpid());
	scoped(name, sizeof(name), geteuid());
	dt_start(&d, UPAGERD_PATH, "2M");
	for (round = 0; round < 2; round++) {
		uint64_t seed = 600 + 2 * (uint64_t)round;
		/* At least one page written: the client has connected and
		 * mapped (a kill before that is a refused connect). */
		unsigned kill_after = 1 + (unsigned)rand() % (LEN / PAGE);
		struct kill_client_args ka = { &d, seed };
		int status = dt_kill9_under_client(&d, kill_after, 120000,
						   kill_client_main, &ka);

		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "round %d (killed after %u pages): client %s %d",
			      round, kill_after,
			      WIFSIGNALED(status) ? "signal" : "status",
			      WIFSIGNALED(status) ? WTERMSIG(status) :
						    WEXITSTATUS(status));
		/* Every page of the last pass is in the cluster, under the
		 * name the daemon used and the client opened again. */
		ck_assert_uint_eq(in_process_check(name, seed + 1, false,
						   true),
				  UINT64_MAX);
		dt_restart(&d, UPAGERD_PATH, "2M");
	}
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

/* As nobody: map the store name through the daemon and find zeros, then
 * write its own pages.  0, or the failed step. */
static int other_uid_client(const char *sock, int go)
{
	struct upg_runtime *rt = NULL;
	struct upg_store *st;
	struct upg_region *r;
	const uint64_t *w;
	uint64_t i;
	char c;

	if (read(go, &c, 1) != 1)
		return 1;
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 2;
	if (upg_runtime_connect(sock, NULL, &rt))
		return 3;
	if (upg_store_open_uri(uri, &st))
		return 4;
	if (upg_region_map_store(rt, st, LEN, NULL, &r))
		return 5;
	w = upg_region_addr(r);
	for (i = 0; i < LEN / 8; i += PAGE / 8)
		if (w[i])
			return 6; /* the other uid's page */
	tu_fill(upg_region_addr(r), 0, LEN, 71);
	if (upg_region_flush(r, 0, 0) || upg_region_unmap(r))
		return 7;
	upg_store_put(st);
	return upg_runtime_destroy(rt) ? 8 : 0;
}

START_TEST(daemon_names_are_scoped_per_uid)
{
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_region *r;
	char mine[128], theirs[128];
	int go[2], status;
	pid_t pid = -1;

	if (geteuid() != 0) {
		/* One uid only: the scoping itself is checked by the round
		 * trip test (the bare name holds nothing). */
		printf("not root: no second uid to try; skipped\n");
		return;
	}
	dt_start_opt(&d, UPAGERD_PATH, "2M", "--socket-mode=0666");
	ck_assert_int_eq(chmod(d.dir, 0711), 0);
	if (getenv("TMPDIR"))
		ck_assert_int_eq(chmod(getenv("TMPDIR"), 0711), 0);
	/* Forked before this process has threads; it waits for our pages. */
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		close(go[1]);
		_exit(other_uid_client(d.sock, go[0]));
	}
	close(go[0]);
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_store_open_uri(uri, &st), 0);
	ck_assert_int_eq(upg_region_map_store(rt, st, LEN, NULL, &r), 0);
	tu_fill(upg_region_addr(r), 0, LEN, 53);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	status = dt_waitpid(pid, 120000);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the other uid's client: %s %d",
		      WIFSIGNALED(status) ? "signal" : "status",
		      WIFSIGNALED(status) ? WTERMSIG(status) :
					    WEXITSTATUS(status));
	/* Ours are intact, in memory and in the cluster. */
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, LEN, 53),
			  UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);
	upg_store_put(st);
	scoped(mine, sizeof(mine), 0);
	scoped(theirs, sizeof(theirs), NOBODY);
	ck_assert_uint_eq(in_process_check(mine, 53, false, true), UINT64_MAX);
	ck_assert_uint_eq(in_process_check(theirs, 71, false, true),
			  UINT64_MAX);
}
END_TEST

/* ---- REGION_ADD_URI by hand: bad URIs ---------------------------------- */

struct conn {
	int fd;
	struct proto_conn pc;
	uint64_t seq;
};

static void open_conn(struct conn *c, const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	c->seq = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	ck_assert_int_eq(proto_conn_init(&c->pc, c->fd), 0);
}

/* Send @m with @fds; the answer's status (REPLY, HELLO_REPLY). */
static int ask(struct conn *c, struct proto_msg *m, const int *fds,
	       unsigned nfds, uint64_t *value)
{
	struct proto_msg r;
	int st;

	m->hdr.seq = ++c->seq;
	ck_assert_int_eq(proto_send(c->fd, m, fds, nfds, 5000), 0);
	ck_assert_int_eq(proto_recv_timeout(&c->pc, &r, 30000), 0);
	if (r.hdr.type == PROTO_REPLY) {
		st = r.u.reply.status;
		if (value)
			*value = r.u.reply.value;
	} else if (r.hdr.type == PROTO_HELLO_REPLY) {
		st = r.u.hello_reply.status;
		if (!st)
			ck_assert(r.u.hello_reply.features &
				  PROTO_FEAT_STORE_URI);
	} else {
		st = 1;
	}
	proto_msg_release(&r);
	return st;
}

/* REGION_ADD_URI of @text with valid memfds: the daemon's status. */
static int add_uri(struct conn *c, const char *text, uint64_t *value)
{
	struct proto_msg m;
	int fds[2], st;

	fds[0] = region_sealed_memfd("t-region", 16 * PAGE);
	fds[1] = region_sealed_memfd("t-marks", 16 * sizeof(uint32_t));
	ck_assert_int_ge(fds[0], 0);
	ck_assert_int_ge(fds[1], 0);
	proto_msg_init(&m, PROTO_REGION_ADD_URI, 0);
	m.u.region_add_uri.add = (struct proto_region_add){
		.region_id = c->seq + 1, .addr = 0x7f0000000000ull,
		.length = 16 * PAGE, .prot = PROT_READ | PROT_WRITE,
		.numa_node = -1,
	};
	snprintf(m.u.region_add_uri.uri, sizeof(m.u.region_add_uri.uri), "%s",
		 text);
	st = ask(c, &m, fds, 2, value);
	close(fds[0]);
	close(fds[1]);
	return st;
}

/* What upg_store_open_uri() says of @text in this process. */
static int in_process_open(const char *text)
{
	struct upg_store *st;
	int err = upg_store_open_uri(text, &st);

	if (!err)
		upg_store_put(st);
	return err;
}

START_TEST(daemon_bad_uri_same_errno)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_REQUIRED_FEATURES };
	char long_name[REDIS_URI_NAME_MAX + 1], text[1024];
	static const char *bad[] = {
		"redis://",				/* no seed */
		"redis://127.0.0.1",			/* no port */
		"redis://127.0.0.1:1?name=x",		/* nobody listens */
		"redis://127.0.0.1:1?bogus=1",		/* unknown option */
		"redis://127.0.0.1:1?name=a/b",		/* bad name */
		"http://127.0.0.1:1",			/* not redis:// */
	};
	struct dt_daemon d;
	struct conn c;
	unsigned i;
	int uffd;

	dt_start(&d, UPAGERD_PATH, "2M");
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	ck_assert_int_ge(uffd, 0);
	ck_assert_int_eq(ioctl(uffd, UFFDIO_API, &api), 0);
	open_conn(&c, d.sock);
	{
		struct proto_msg m;

		proto_msg_init(&m, PROTO_HELLO, 0);
		m.u.hello.version_min = m.u.hello.version_max = PROTO_VERSION_1;
		m.u.hello.features = PROTO_FEAT_STORE_URI;
		strcpy(m.u.hello.name, "bad-uri");
		ck_assert_int_eq(ask(&c, &m, &uffd, 1, NULL), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int want = in_process_open(bad[i]);

		ck_assert_int_lt(want, 0);
		ck_assert_msg(add_uri(&c, bad[i], NULL) == want,
			      "%s: the daemon's errno differs from "
			      "in-process %d", bad[i], want);
	}
	/* A name the store accepts but too long once scoped to the uid. */
	memset(long_name, 'n', REDIS_URI_NAME_MAX);
	long_name[REDIS_URI_NAME_MAX] = '\0';
	uri_named(text, sizeof(text), long_name);
	ck_assert_int_eq(in_process_open(text), 0);
	ck_assert_int_eq(add_uri(&c, text, NULL), -ENAMETOOLONG);
	/* The connection goes on: a good URI maps (the daemon answers with
	 * the uid it scoped the name to), then is removed. */
	{
		struct proto_msg m;
		uint64_t uid = UINT64_MAX;

		ck_assert_int_eq(add_uri(&c, uri, &uid), 0);
		ck_assert_uint_eq(uid, geteuid());
		proto_msg_init(&m, PROTO_REGION_REMOVE, 0);
		m.u.region_remove.region_id = c.seq;
		ck_assert_int_eq(ask(&c, &m, NULL, 0, NULL), 0);
	}
	proto_conn_fini(&c.pc);
	close(c.fd);
	close(uffd);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

/* ---- upagerctl stores -------------------------------------------------- */

/* Run upagerctl with @args on @d; its output in @out. */
static void ctl(const struct dt_daemon *d, const char *args, char *out,
		size_t len)
{
	char cmd[512];
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s --socket %s %s", UPAGERCTL_PATH,
		 d->sock, args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (n + 1 < len && fgets(out + n, (int)(len - n), f))
		n += strlen(out + n);
	out[n] = '\0';
	ck_assert_int_eq(pclose(f), 0);
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

START_TEST(upagerctl_shows_store_masters)
{
	static char out[32768];
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_region *r;
	char name[128], want[192], *line;
	unsigned masters = 0, slots = 0;

	scoped(name, sizeof(name), geteuid());
	daemon_map(&d, &rt, &st, &r);
	/* Pages written back and read on every master: all connected. */
	tu_fill(upg_region_addr(r), 0, LEN, 5);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, LEN, 5), UINT64_MAX);

	ctl(&d, "stores", out, sizeof(out));
	printf("%s", out);
	ck_assert_ptr_nonnull(strstr(out, "STATE"));
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long cl, rg, sl;
		char nm[128], addr[80], state[32], conn[16];

		if (sscanf(line, "%lu %lu %127s %79s %31s %15s %lu", &cl, &rg,
			   nm, addr, state, conn, &sl) != 7)
			continue;
		ck_assert_str_eq(nm, name);
		if (!strcmp(state, "connected")) {
			masters++;
			slots += (unsigned)sl;
		}
	}
	ck_assert_uint_eq(masters, (unsigned)rt_nports / 2);
	ck_assert_uint_eq(slots, 16384);

	ctl(&d, "--json stores", out, sizeof(out));
	printf("%s", out);
	ck_assert(out[0] == '[');
	snprintf(want, sizeof(want), "\"store\": \"%s\"", name);
	ck_assert_uint_eq(count_of(out, want), (unsigned)rt_nports / 2);
	ck_assert_uint_eq(count_of(out, "\"state\": \"connected\""),
			  (unsigned)rt_nports / 2);
	ck_assert_uint_eq(count_of(out, "\"owns_slots\": true"),
			  (unsigned)rt_nports / 2);

	/* Unmapped: the daemon holds no store any more. */
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ctl(&d, "--json stores", out, sizeof(out));
	ck_assert_str_eq(out, "[]\n");
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
	uri_named(want, sizeof(want), name);
	ck_assert_int_eq(upg_store_open_uri(want, &st), 0);
	ck_assert_int_eq(upg_store_destroy_data(st), 0);
	upg_store_put(st);
}
END_TEST

/* ---- upagerctl stores while a master is stopped ------------------------ */

struct writer {
	char *p;
	_Atomic bool stop;
	_Atomic uint64_t passes; /* complete passes: pass k is seed 900 + k */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t k;

	for (k = 0; !atomic_load(&w->stop); k++) {
		tu_fill(w->p, 0, LEN, 900 + k);
		atomic_store(&w->passes, k + 1);
	}
	return NULL;
}

/* The JSON object of master @port in upagerctl's array @out (NUL-ended
 * in @obj), or false. */
static bool master_obj(const char *out, int port, char *obj, size_t len)
{
	char key[64];
	const char *a, *b;

	snprintf(key, sizeof(key), "\"master\": \"127.0.0.1:%d\"", port);
	a = strstr(out, key);
	if (!a)
		return false;
	while (a > out && *a != '{')
		a--;
	b = strchr(a, '}');
	if (!b || (size_t)(b - a + 1) >= len)
		return false;
	memcpy(obj, a, (size_t)(b - a + 1));
	obj[b - a + 1] = '\0';
	return true;
}

START_TEST(upagerctl_shows_a_stopped_master)
{
	static char out[32768], human[32768];
	struct writer w = { 0 };
	struct dt_daemon d;
	struct upg_runtime *rt;
	struct upg_store *st;
	struct upg_region *r;
	char name[128], arg[64], obj[1024];
	int m[8], n, i;
	bool seen = false;
	uint64_t last;
	pthread_t t;

	scoped(name, sizeof(name), geteuid());
	daemon_map(&d, &rt, &st, &r);
	w.p = upg_region_addr(r);
	ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &w), 0);
	/* One whole pass first: every master has taken writes. */
	for (i = 0; i < 600 && atomic_load(&w.passes) < 1; i++)
		usleep(100000);
	ck_assert_uint_ge(atomic_load(&w.passes), 1);

	n = rt_masters(m, 8);
	ck_assert_int_eq(n, 3);
	snprintf(arg, sizeof(arg), "%d STOP", m[0]);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	/* The daemon's store times the stopped master out (timeout_ms),
	 * counts errors, retries, and then learns of its replica's
	 * promotion: upagerctl must show it other than connected, with
	 * errors.  Polled, bounded (30 s). */
	for (i = 0; i < 300 && !seen; i++) {
		ctl(&d, "--json stores", out, sizeof(out));
		if (master_obj(out, m[0], obj, sizeof(obj)) &&
		    !strstr(obj, "\"state\": \"connected\"") &&
		    !strstr(obj, "\"errors\": 0,")) {
			seen = true;
			ctl(&d, "stores", human, sizeof(human));
		} else {
			usleep(100000);
		}
	}
	snprintf(arg, sizeof(arg), "%d CONT", m[0]);
	ck_assert_int_eq(rt_script("signal", arg), 0);
	ck_assert_msg(seen, "upagerctl never showed master %d stopped: %s",
		      m[0], out);
	printf("master %d stopped:\n%s%s\n", m[0], human, obj);
	ck_assert_int_eq(rt_script("wait-ok", "30"), 0);

	/* The workload goes on; its last pass is whole, here and in the
	 * cluster. */
	last = atomic_load(&w.passes);
	for (i = 0; i < 600 && atomic_load(&w.passes) < last + 1; i++)
		usleep(100000);
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	last = 900 + atomic_load(&w.passes) - 1;
	ck_assert_uint_eq(tu_check(w.p, 0, LEN, last), UINT64_MAX);
	ck_assert_int_eq(upg_region_flush(r, 0, 0), 0);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);
	upg_store_put(st);
	ck_assert_uint_eq(in_process_check(name, last, false, true),
			  UINT64_MAX);
}
END_TEST

static Suite *redis_daemon_suite(void)
{
	Suite *s = suite_create("redis_daemon");
	TCase *tc = tcase_create("daemon");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, daemon_four_times_budget_round_trip);
	tcase_add_test(tc, daemon_kill9_client_takes_over);
	tcase_add_test(tc, daemon_names_are_scoped_per_uid);
	tcase_add_test(tc, daemon_bad_uri_same_errno);
	tcase_add_test(tc, upagerctl_shows_store_masters);
	tcase_add_test(tc, upagerctl_shows_a_stopped_master);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dt_main(redis_daemon_suite(), UPAGERD_PATH);
}
