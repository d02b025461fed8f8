/* SPDX-License-Identifier: MIT */
/*
 * test_bench - upager-bench itself, on tiny sizes: every workload on every
 * backend (--size 48M --budget 24M --runs 1 --accesses 256 --json), in a
 * scratch directory under the test's working directory (on disk, not
 * tmpfs).  Checks the exit status, parses the JSON (a small parser here:
 * no dependency on python or jq) and checks that the fields are there and
 * sane: per backend a status, per run time > 0, accesses > 0, 0
 * verification mismatches, a hit ratio in [0, 1], ordered latency
 * percentiles for fault-latency.  Backends that need root, cgroups or swap
 * may be skipped by the tool: the test prints which, and exits 77 only if
 * no backend ran at all.  Also: the exit codes of bad usage (2) and of an
 * only backend unavailable (77), and that nothing is left behind (data
 * file, swap file, swap area, cgroup).  The kernel baselines: kernel-mmap
 * takes the advice of the workload (the mapping's VmFlags say "rr" for
 * MADV_RANDOM), kernel-mmap-default none, both report the data device's
 * read_ahead_kb, and the reference of the ratio column is the best kernel
 * backend that ran.
 *
 * The tool's path comes from the build (UPAGER_BENCH_EXE), or from
 * $UPAGER_BENCH when set.
 *
 * 48M / 24M rather than 8M / 2M: on a disk that reads ahead 8 MiB per miss
 * (this VM), the kernel's page cache under a memory cgroup not much larger
 * than the read-ahead window is OOM-killed (seen at 8M, once at 16M/8M
 * under load), which is the kernel's behaviour, not the tool's.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "daemon_util.h"
#include <dirent.h>
#include <unistd.h>

#include <check.h>

#ifndef UPAGER_BENCH_EXE
#define UPAGER_BENCH_EXE "upager-bench"
#endif

static const char *const workloads[] = {
	"seq-read", "seq-write", "rand-read", "rand-write", "zipf",
	"scan-and-update", "fault-latency",
};
#define NWL (int)(sizeof(workloads) / sizeof(workloads[0]))

static const char *const backends[] = {
	"upager", "upager-daemon", "kernel-mmap", "kernel-swap", "raw-uffd",
};
#define NBK 5

/* Shared with the forked test cases: what ran and what was skipped. */
struct tally {
	int ran[NBK];
	int skipped[NBK];
	char reason[NBK][200];
};
static struct tally *tally;
static char scratch[512];

static const char *tool(void)
{
	const char *e = getenv("UPAGER_BENCH");

	return e && *e ? e : UPAGER_BENCH_EXE;
}

/* ---- a small JSON parser ------------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype t;
	double num;
	bool b;
	char *str;
	struct jval **items;	/* array items or object values */
	char **keys;		/* object keys */
	size_t n;
};

struct jparser {
	const char *s;
	const char *err;
};

static void jfree(struct jval *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++) {
		jfree(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

static void skip_ws(struct jparser *p)
{
	while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
		p->s++;
}

static struct jval *jparse_value(struct jparser *p, int depth);

static char *jparse_string(struct jparser *p)
{
	size_t cap = 16, n = 0;
	char *out;

	if (*p->s != '"') {
		p->err = "expected a string";
		return NULL;
	}
	p->s++;
	out = malloc(cap);
	while (out && *p->s && *p->s != '"') {
		char ch = *p->s++;

		if ((unsigned char)ch < 0x20) {
			p->err = "control character in a string";
			free(out);
			return NULL;
		}
		if (ch == '\\') {
			ch = *p->s++;
			switch (ch) {
			case '"': case '\\': case '/': break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u': {
				int k;

				for (k = 0; k < 4; k++)
					if (!strchr("0123456789abcdefABCDEF", p->s[k]) || !p->s[k]) {
						p->err = "bad \\u escape";
						free(out);
						return NULL;
					}
				p->s += 4;
				ch = '?';
				break;
			}
			default:
				p->err = "bad escape";
				free(out);
				return NULL;
			}
		}
		if (n + 2 > cap) {
			char *o2 = realloc(out, cap *= 2);

			if (!o2) {
				free(out);
				return NULL;
			}
			out = o2;
		}
		out[n++] = ch;
	}
	if (!out)
		return NULL;
	if (*p->s != '"') {
		p->err = "unterminated string";
		free(out);
		return NULL;
	}
	p->s++;
	out[n] = 0;
	return out;
}

static bool jpush(struct jval *v, struct jval *item, char *key)
{
	struct jval **it = realloc(v->items, (v->n + 1) * sizeof(*it));

	if (!it)
		return false;
	v->items = it;
	if (v->t == J_OBJ) {
		char **k = realloc(v->keys, (v->n + 1) * sizeof(*k));

		if (!k)
			return false;
		v->keys = k;
		v->keys[v->n] = key;
	}
	v->items[v->n++] = item;
	return true;
}

static struct jval *jparse_value(struct jparser *p, int depth)
{
	struct jval *v;

	if (depth > 32) {
		p->err = "nested too deep";
		return NULL;
	}
	skip_ws(p);
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	if (*p->s == '{' || *p->s == '[') {
		char close = *p->s == '{' ? '}' : ']';

		v->t = *p->s == '{' ? J_OBJ : J_ARR;
		p->s++;
		skip_ws(p);
		if (*p->s == close) {
			p->s++;
			return v;
		}
		for (;;) {
			char *key = NULL;
			struct jval *item;

			skip_ws(p);
			if (v->t == J_OBJ) {
				key = jparse_string(p);
				if (!key)
					goto bad;
				skip_ws(p);
				if (*p->s != ':') {
					free(key);
					p->err = "expected ':'";
					goto bad;
				}
				p->s++;
			}
			item = jparse_value(p, depth + 1);
			if (!item || !jpush(v, item, key)) {
				free(key);
				jfree(item);
				goto bad;
			}
			skip_ws(p);
			if (*p->s == ',') {
				p->s++;
				continue;
			}
			if (*p->s == close) {
				p->s++;
				return v;
			}
			p->err = "expected ',' or a closing bracket";
			goto bad;
		}
	}
	if (*p->s == '"') {
		v->t = J_STR;
		v->str = jparse_string(p);
		if (!v->str)
			goto bad;
		return v;
	}
	if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "false", 5)) {
		v->t = J_BOOL;
		v->b = *p->s == 't';
		p->s += v->b ? 4 : 5;
		return v;
	}
	if (!strncmp(p->s, "null", 4)) {
		v->t = J_NULL;
		p->s += 4;
		return v;
	}
	if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) {
		char *end;

		v->t = J_NUM;
		v->num = strtod(p->s, &end);
		if (end == p->s || !isfinite(v->num)) {
			p->err = "bad number";
			goto bad;
		}
		p->s = end;
		return v;
	}
	p->err = "unexpected character";
bad:
	if (!p->err)
		p->err = "out of memory";
	jfree(v);
	return NULL;
}

static struct jval *jparse(const char *s, const char **err)
{
	struct jparser p = { s, NULL };
	struct jval *v = jparse_value(&p, 0);

	if (v) {
		skip_ws(&p);
		if (*p.s) {
			p.err = "trailing characters after the document";
			jfree(v);
			v = NULL;
		}
	}
	*err = p.err;
	return v;
}

static struct jval *jget(const struct jval *o, const char *key)
{
	size_t i;

	if (!o || o->t != J_OBJ)
		return NULL;
	for (i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key))
			return o->items[i];
	return NULL;
}

static double jnum(const struct jval *o, const char *key, const char *ctx)
{
	const struct jval *v = jget(o, key);

	ck_assert_msg(v && v->t == J_NUM, "%s: \"%s\" missing or not a number", ctx, key);
	return v->num;
}

static const char *jstrv(const struct jval *o, const char *key, const char *ctx)
{
	const struct jval *v = jget(o, key);

	ck_assert_msg(v && v->t == J_STR, "%s: \"%s\" missing or not a string", ctx, key);
	return v->str;
}

/* ---- running the tool ---------------------------------------------------- */

/* Run the tool with argv; stdout into *out (malloc'd); returns the exit
 * status, or -signal. */
static int run_tool(char *const argv[], char **out)
{
	size_t cap = 1 << 16, n = 0;
	int pfd[2], st;
	pid_t pid;
	char *buf;

	ck_assert(pipe(pfd) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	buf = malloc(cap);
	ck_assert(buf);
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			buf = realloc(buf, cap *= 2);
			ck_assert(buf);
		}
		r = read(pfd[0], buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* run_tool(), with the tool's stderr into *errout (malloc'd) through a
 * regular file in the scratch directory: no terminal there, as in a log. */
static int run_tool_stderr(char *const argv[], char **out, char **errout)
{
	char path[1100], *buf;
	int fd, saved, rc;
	struct stat st;

	snprintf(path, sizeof(path), "%s/stderr.txt", scratch);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	saved = dup(2);
	ck_assert(saved >= 0 && dup2(fd, 2) == 2);
	rc = run_tool(argv, out);
	dup2(saved, 2);
	close(saved);
	unlink(path);
	ck_assert(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert(buf);
	ck_assert(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
	buf[st.st_size] = 0;
	close(fd);
	*errout = buf;
	return rc;
}

static int bk_index(const char *name)
{
	int i;

	for (i = 0; i < NBK; i++)
		if (!strcmp(name, backends[i]))
			return i;
	return -1;
}

static void check_latency(const struct jval *run, const char *ctx)
{
	const struct jval *lat = jget(run, "latency");
	double p50, p90, p99, mx;

	ck_assert_msg(lat && lat->t == J_OBJ, "%s: no latency object", ctx);
	ck_assert_msg(jnum(lat, "n", ctx) > 0, "%s: no latency samples", ctx);
	p50 = jnum(lat, "p50_us", ctx);
	p90 = jnum(lat, "p90_us", ctx);
	p99 = jnum(lat, "p99_us", ctx);
	mx = jnum(lat, "max_us", ctx);
	ck_assert_msg(p50 >= 0 && p50 <= p90 && p90 <= p99 && p99 <= mx,
		      "%s: percentiles out of order: %g %g %g %g", ctx, p50, p90, p99, mx);
	ck_assert_msg(jget(lat, "histogram") && jget(lat, "histogram")->t == J_ARR,
		      "%s: no histogram", ctx);
}

static void check_run(const struct jval *run, const char *wl, const char *ctx)
{
	double t, acc, hit;
	const struct jval *h;

	ck_assert_msg(!strcmp(jstrv(run, "status", ctx), "ok"), "%s: run status %s: %s",
		      ctx, jstrv(run, "status", ctx), jstrv(run, "message", ctx));
	t = jnum(run, "time_s", ctx);
	acc = jnum(run, "accesses", ctx);
	ck_assert_msg(t > 0 && t < 600, "%s: time_s %g", ctx, t);
	ck_assert_msg(acc > 0, "%s: accesses %g", ctx, acc);
	ck_assert_msg(jnum(run, "verify_mismatches", ctx) == 0, "%s: %g mismatches", ctx,
		      jnum(run, "verify_mismatches", ctx));
	ck_assert_msg(jnum(run, "accesses_per_s", ctx) > 0, "%s: throughput", ctx);
	ck_assert_msg(jnum(run, "us_per_access", ctx) > 0, "%s: us_per_access", ctx);
	h = jget(run, "hit_ratio");
	ck_assert_msg(h && (h->t == J_NULL || h->t == J_NUM), "%s: hit_ratio", ctx);
	if (h->t == J_NUM) {
		hit = h->num;
		ck_assert_msg(hit >= 0 && hit <= 1, "%s: hit ratio %g", ctx, hit);
	}
	if (!strcmp(wl, "fault-latency"))
		check_latency(run, ctx);
}

START_TEST(test_workload)
{
	const char *wl = workloads[_i];
	char *argv[] = { (char *)tool(), (char *)wl, "--size", "48M", "--budget", "24M",
			 "--runs", "1", "--accesses", "256", "--json", "--dir", scratch,
			 "--backend", "all", NULL };
	const struct jval *bks, *fl;
	struct jval *doc;
	const char *err = NULL;
	char *out = NULL, ctx[128];
	struct dt_daemon d;
	int rc, seen = 0;
	size_t i;

	/* The upager-daemon backend runs through a real upagerd with the
	 * same budget. */
	dt_start(&d, UPAGERD_PATH, "24M");
	setenv("UPAGER_SOCKET", d.sock, 1);
	rc = run_tool(argv, &out);
	unsetenv("UPAGER_SOCKET");
	ck_assert_int_eq(dt_stop(&d), 0);
	ck_assert_msg(rc == 0 || rc == 77, "%s: exit status %d", wl, rc);
	doc = jparse(out, &err);
	ck_assert_msg(doc, "%s: invalid JSON (%s): %.300s", wl, err ? err : "?", out);
	ck_assert_str_eq(jstrv(doc, "tool", wl), "upager-bench");
	ck_assert_str_eq(jstrv(doc, "workload", wl), wl);
	ck_assert(jget(doc, "config") && jget(doc, "machine") && jget(doc, "trace"));
	fl = jget(doc, "floors");
	ck_assert_msg(fl && jget(fl, "odirect_read") && jget(fl, "raw_uffd_fault"),
		      "%s: floors missing", wl);
	if (jget(jget(fl, "odirect_read"), "mean_us"))
		ck_assert(jnum(jget(fl, "odirect_read"), "mean_us", wl) > 0);
	bks = jget(doc, "backends");
	ck_assert_msg(bks && bks->t == J_ARR && bks->n == NBK, "%s: backends", wl);
	for (i = 0; i < bks->n; i++) {
		const struct jval *b = bks->items[i], *runs;
		const char *name = jstrv(b, "name", wl), *st = jstrv(b, "status", wl);
		int k = bk_index(name);

		snprintf(ctx, sizeof(ctx), "%s/%s", wl, name);
		ck_assert_msg(k >= 0, "%s: unknown backend", ctx);
		ck_assert_msg(strcmp(st, "failed"), "%s failed: %s", ctx,
			      jstrv(b, "reason", ctx));
		if (!strcmp(st, "skipped")) {
			__atomic_add_fetch(&tally->skipped[k], 1, __ATOMIC_RELAXED);
			snprintf(tally->reason[k], sizeof(tally->reason[k]), "%s",
				 jstrv(b, "reason", ctx));
			continue;
		}
		ck_assert_str_eq(st, "ok");
		runs = jget(b, "runs");
		ck_assert_msg(runs && runs->t == J_ARR && runs->n == 1, "%s: runs", ctx);
		check_run(runs->items[0], wl, ctx);
		ck_assert_msg(jget(b, "summary") && jget(b, "summary")->t == J_OBJ,
			      "%s: summary", ctx);
		ck_assert(jnum(jget(jget(b, "summary"), "time_s"), "median", ctx) > 0);
		if (!strcmp(name, "upager"))
			ck_assert_msg(jget(runs->items[0], "upager"), "%s: no upager stats", ctx);
		__atomic_add_fetch(&tally->ran[k], 1, __ATOMIC_RELAXED);
		seen++;
	}
	ck_assert_msg(rc == (seen ? 0 : 77), "%s: exit %d with %d backends run", wl, rc, seen);
	jfree(doc);
	free(out);
}
END_TEST

/* The handler wait-mode backends, named (they are not in "all"), and the
 * floors that go with them: the disk at QD1 and QDn, and the raw round
 * trip of every wait mode, SIGBUS included. */
START_TEST(test_wait_mode_backends)
{
	static const char *const names[] = { "upager-poll", "upager-spin",
					     "raw-sigbus" };
	static const char *const modes[] = { "read", "poll", "busy-poll",
					     "sigbus" };
	char *argv[] = { (char *)tool(), "fault-latency", "--size", "48M",
			 "--budget", "24M", "--runs", "1", "--accesses", "256",
			 "--json", "--dir", scratch, "--spin-us", "200",
			 "--backend", "upager-poll,upager-spin,raw-sigbus", NULL };
	const struct jval *bks, *fl, *rt, *qd;
	const char *err = NULL;
	struct jval *doc;
	char *out = NULL;
	size_t i;
	int rc;

	rc = run_tool(argv, &out);
	ck_assert_msg(rc == 0 || rc == 77, "exit status %d", rc);
	doc = jparse(out, &err);
	ck_assert_msg(doc, "invalid JSON (%s): %.300s", err ? err : "?", out);
	fl = jget(doc, "floors");
	ck_assert(fl);
	rt = jget(fl, "raw_round_trip_us");
	ck_assert_msg(rt && rt->t == J_OBJ, "raw_round_trip_us missing");
	for (i = 0; i < 4; i++) {
		const struct jval *v = jget(rt, modes[i]);

		ck_assert_msg(v, "raw round trip %s missing", modes[i]);
		if (v->t == J_NUM)
			ck_assert_msg(v->num > 0, "raw round trip %s: %g",
				      modes[i], v->num);
	}
	qd = jget(fl, "odirect_qd");
	ck_assert(qd);
	if (qd->t == J_OBJ) {
		ck_assert(jnum(qd, "qd", "odirect_qd") >= 4);
		ck_assert(jnum(qd, "qd1_reads_per_s", "odirect_qd") > 0);
		ck_assert(jnum(qd, "qdn_reads_per_s", "odirect_qd") > 0);
	}
	bks = jget(doc, "backends");
	ck_assert_msg(bks && bks->t == J_ARR && bks->n == 3, "backends");
	for (i = 0; i < bks->n; i++) {
		const struct jval *b = bks->items[i], *runs;
		const char *name = jstrv(b, "name", "wait"),
			   *st = jstrv(b, "status", name);

		ck_assert_str_eq(name, names[i]);
		ck_assert_msg(strcmp(st, "failed"), "%s failed: %s", name,
			      jstrv(b, "reason", name));
		if (!strcmp(st, "skipped"))
			continue;
		runs = jget(b, "runs");
		ck_assert_msg(runs && runs->t == J_ARR && runs->n == 1, "%s: runs",
			      name);
		check_run(runs->items[0], "fault-latency", name);
	}
	jfree(doc);
	free(out);
}
END_TEST

/* --store-cache warm: the data file is wholly in the page cache when each
 * run starts (counted by the tool with mincore), and the config says so;
 * without it (cold, the default) it is dropped first. */
START_TEST(test_store_cache)
{
	static const char *const modes[] = { "warm", "cold" };
	unsigned m;

	for (m = 0; m < 2; m++) {
		char *argv[] = { (char *)tool(), "fault-latency", "--size", "8M",
				 "--budget", "4M", "--runs", "1", "--accesses",
				 "64", "--json", "--dir", scratch, "--upager-io",
				 "buffered", "--store-cache", (char *)modes[m],
				 "--backend", "upager", NULL };
		const struct jval *cfg, *b, *run;
		const char *err = NULL;
		struct jval *doc;
		char *out = NULL;
		double pages, cached;
		int rc;

		rc = run_tool(argv, &out);
		ck_assert_msg(rc == 0, "%s: exit status %d", modes[m], rc);
		doc = jparse(out, &err);
		ck_assert_msg(doc, "invalid JSON (%s): %.300s", err ? err : "?",
			      out);
		cfg = jget(doc, "config");
		ck_assert_str_eq(jstrv(cfg, "store_cache", modes[m]), modes[m]);
		ck_assert_str_eq(jstrv(cfg, "upager_io", modes[m]), "buffered");
		pages = jnum(cfg, "pages", modes[m]);
		b = jget(doc, "backends")->items[0];
		ck_assert_str_eq(jstrv(b, "status", modes[m]), "ok");
		run = jget(b, "runs")->items[0];
		cached = jnum(run, "cached_pages_at_start", modes[m]);
		if (m == 0)
			ck_assert_msg(cached == pages, "warm: %g of %g pages "
				      "cached", cached, pages);
		else
			ck_assert_msg(cached < pages, "cold: all %g pages "
				      "cached", pages);
		check_run(run, "fault-latency", modes[m]);
		jfree(doc);
		free(out);
	}
}
END_TEST

START_TEST(test_usage_errors)
{
	char *a1[] = { (char *)tool(), "rand-read", "--budget", "0", NULL };
	char *a2[] = { (char *)tool(), "no-such-workload", NULL };
	char *a3[] = { (char *)tool(), "rand-read", "--backend", "kernel-pagecache", NULL };
	char *a4[] = { (char *)tool(), NULL };
	char *a5[] = { (char *)tool(), "rand-read", "--size", "12X", NULL };
	char *a6[] = { (char *)tool(), "rand-read", "--store-cache", "hot", NULL };
	char *a7[] = { (char *)tool(), "rand-read", "--kernel-advice", "willneed", NULL };

	ck_assert_int_eq(run_tool(a1, NULL), 2);
	ck_assert_int_eq(run_tool(a2, NULL), 2);
	ck_assert_int_eq(run_tool(a3, NULL), 2);
	ck_assert_int_eq(run_tool(a4, NULL), 2);
	ck_assert_int_eq(run_tool(a5, NULL), 2);
	ck_assert_int_eq(run_tool(a6, NULL), 2);
	ck_assert_int_eq(run_tool(a7, NULL), 2);
}
END_TEST

/* A backend object of the document by name, or NULL. */
static const struct jval *backend_named(const struct jval *doc, const char *name)
{
	const struct jval *bks = jget(doc, "backends");
	size_t i;

	for (i = 0; bks && i < bks->n; i++)
		if (!strcmp(jstrv(bks->items[i], "name", "backend"), name))
			return bks->items[i];
	return NULL;
}

/* Whether the space-separated VmFlags list @flags has @flag. */
static bool has_vmflag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);
	const char *p;

	for (p = flags; (p = strstr(p, flag)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

/* kernel-mmap with the workload's advice and kernel-mmap-default side by
 * side: what each was given and what the kernel recorded for the mapping,
 * read_ahead_kb next to them, and the ratio against the faster one. */
START_TEST(test_kernel_advice)
{
	static const struct {
		const char *wl, *opt, *advice, *flag;
	} cases[] = {
		{ "rand-read", NULL, "random", "rr" },
		{ "zipf", NULL, "random", "rr" },
		{ "seq-read", NULL, NULL, NULL },	/* the measured choice */
		{ "seq-read", "sequential", "sequential", "sr" },
		{ "rand-read", "normal", "normal", NULL },
	};
	unsigned k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *argv[] = { (char *)tool(), (char *)cases[k].wl, "--size", "48M",
				 "--budget", "24M", "--runs", "1", "--accesses", "256",
				 "--json", "--dir", scratch, "--backend",
				 "upager,kernel-mmap,kernel-mmap-default",
				 cases[k].opt ? "--kernel-advice" : NULL,
				 (char *)cases[k].opt, NULL };
		const struct jval *km, *kd, *ra, *b;
		const char *err = NULL, *ref, *best = NULL;
		double best_t = 0;
		struct jval *doc;
		char *out = NULL, ctx[64];
		size_t i;
		int rc;

		snprintf(ctx, sizeof(ctx), "%s/%s", cases[k].wl,
			 cases[k].opt ? cases[k].opt : "auto");
		rc = run_tool(argv, &out);
		ck_assert_msg(rc == 0 || rc == 77, "%s: exit status %d", ctx, rc);
		doc = jparse(out, &err);
		ck_assert_msg(doc, "%s: invalid JSON (%s)", ctx, err ? err : "?");
		km = backend_named(doc, "kernel-mmap");
		kd = backend_named(doc, "kernel-mmap-default");
		ck_assert_msg(km && kd, "%s: kernel-mmap or kernel-mmap-default missing", ctx);
		ck_assert_msg(!backend_named(doc, "kernel-swap"), "%s: kernel-swap not asked", ctx);
		if (cases[k].advice)
			ck_assert_str_eq(jstrv(km, "advice", ctx), cases[k].advice);
		else
			ck_assert_msg(!strcmp(jstrv(km, "advice", ctx), "sequential") ||
				      !strcmp(jstrv(km, "advice", ctx), "normal"),
				      "%s: advice %s", ctx, jstrv(km, "advice", ctx));
		ck_assert_str_eq(jstrv(kd, "advice", ctx), "normal");
		ra = jget(km, "read_ahead_kb");
		ck_assert_msg(ra && (ra->t == J_NUM || ra->t == J_NULL),
			      "%s: read_ahead_kb missing", ctx);
		ck_assert_msg(jget(kd, "read_ahead_kb"), "%s: default: read_ahead_kb", ctx);
		ck_assert_msg(!jget(backend_named(doc, "upager"), "read_ahead_kb"),
			      "%s: read_ahead_kb on upager", ctx);
		if (!strcmp(jstrv(km, "status", ctx), "skipped")) {
			jfree(doc);
			free(out);
			continue;	/* no memory cgroup here */
		}
		for (b = km; b; b = b == km ? kd : NULL) {
			const struct jval *run;
			const char *flags, *adv;

			ck_assert_msg(!strcmp(jstrv(b, "status", ctx), "ok"), "%s: %s: %s", ctx,
				      jstrv(b, "name", ctx), jstrv(b, "reason", ctx));
			run = jget(b, "runs")->items[0];
			check_run(run, cases[k].wl, ctx);
			adv = jstrv(run, "advice", ctx);
			flags = jstrv(run, "vm_flags", ctx);
			ck_assert_str_eq(adv, jstrv(b, "advice", ctx));
			ck_assert_msg(*flags, "%s: no VmFlags read", ctx);
			ck_assert_msg(has_vmflag(flags, "rr") == !strcmp(adv, "random"),
				      "%s: advice %s, VmFlags %s", ctx, adv, flags);
			ck_assert_msg(has_vmflag(flags, "sr") == !strcmp(adv, "sequential"),
				      "%s: advice %s, VmFlags %s", ctx, adv, flags);
			if (!best || jnum(jget(jget(b, "summary"), "time_s"), "median", ctx) <
				     best_t) {
				best = jstrv(b, "name", ctx);
				best_t = jnum(jget(jget(b, "summary"), "time_s"), "median", ctx);
			}
		}
		ref = jstrv(doc, "reference_backend", ctx);
		ck_assert_msg(!strcmp(ref, best), "%s: reference %s, best kernel backend %s",
			      ctx, ref, best);
		for (i = 0; i < jget(doc, "backends")->n; i++) {
			b = jget(doc, "backends")->items[i];
			if (!strcmp(jstrv(b, "name", ctx), best))
				ck_assert(jnum(jget(b, "summary"), "ratio_to_reference", ctx) == 1);
		}
		jfree(doc);
		free(out);
	}
}
END_TEST

/* --breakdown: the upager run carries the runtime's fill timing, per miss
 * (docs/fault-latency.md); steps that add up to at most the fault's mean
 * latency, plus a kernel part; without the option, no breakdown. */
START_TEST(test_breakdown)
{
	static const char *const steps[] = { "wake", "handler", "store", "copy",
					     "map" };
	unsigned m;

	for (m = 0; m < 2; m++) {
		char *argv[] = { (char *)tool(), "fault-latency", "--size", "8M",
				 "--budget", "4M", "--runs", "1", "--accesses", "64",
				 "--json", "--dir", scratch, "--backend", "upager",
				 m ? NULL : "--breakdown", NULL };
		const struct jval *run, *up, *bd, *pm;
		const char *err = NULL;
		struct jval *doc;
		char *out = NULL;
		double sum = 0;
		unsigned i;
		int rc;

		rc = run_tool(argv, &out);
		ck_assert_msg(rc == 0 || rc == 77, "exit status %d", rc);
		doc = jparse(out, &err);
		ck_assert_msg(doc, "invalid JSON (%s)", err ? err : "?");
		if (rc == 77) {
			jfree(doc);
			free(out);
			return;
		}
		run = jget(jget(doc, "backends")->items[0], "runs")->items[0];
		check_run(run, "fault-latency", "breakdown");
		up = jget(run, "upager");
		ck_assert(up);
		bd = jget(up, "breakdown");
		if (m) {
			ck_assert_msg(!bd, "a breakdown without --breakdown");
			jfree(doc);
			free(out);
			continue;
		}
		ck_assert_msg(bd && bd->t == J_OBJ, "no breakdown");
		ck_assert_msg(jnum(bd, "fills_timed", "breakdown") >= 64,
			      "%g fills timed for 64 first touches",
			      jnum(bd, "fills_timed", "breakdown"));
		pm = jget(bd, "per_miss_us");
		ck_assert_msg(pm && pm->t == J_OBJ, "no per_miss_us");
		for (i = 0; i < 5; i++) {
			double v = jnum(pm, steps[i], "per_miss_us");

			ck_assert_msg(v >= 0, "%s: %g us", steps[i], v);
			sum += v;
		}
		ck_assert_msg(jnum(pm, "store", "per_miss_us") > 0, "store: 0 us");
		ck_assert_msg(fabs(sum - jnum(pm, "sum", "per_miss_us")) < 0.01 * sum + 0.01,
			      "steps %g us, sum %g", sum, jnum(pm, "sum", "per_miss_us"));
		ck_assert_msg(fabs(jnum(pm, "total", "per_miss_us") -
				   jnum(jget(run, "latency"), "mean_us", "latency")) < 0.01,
			      "total is not the mean latency");
		ck_assert_msg(jnum(pm, "total", "per_miss_us") -
				      jnum(pm, "kernel", "per_miss_us") - sum < 0.01,
			      "kernel part inconsistent");
		jfree(doc);
		free(out);
	}
}
END_TEST

/* The daemon backend alone: 77 while daemon mode is not built (or no
 * socket is set); 0 once it runs. */
START_TEST(test_only_backend_unavailable)
{
	char *argv[] = { (char *)tool(), "rand-read", "--size", "4M", "--budget", "2M",
			 "--runs", "1", "--accesses", "64", "--json", "--dir", scratch,
			 "--backend", "upager-daemon", NULL };
	struct jval *doc;
	const char *err;
	char *out;
	int rc;

	unsetenv("UPAGER_SOCKET");
	rc = run_tool(argv, &out);
	ck_assert_msg(rc == 77, "exit status %d, expected 77", rc);
	doc = jparse(out, &err);
	ck_assert_msg(doc, "invalid JSON (%s)", err ? err : "?");
	ck_assert_str_eq(jstrv(jget(doc, "backends")->items[0], "status", "daemon"),
			 "skipped");
	jfree(doc);
	free(out);
}
END_TEST

/* The in-process backend stays in-process when UPAGER_SOCKET is set (for
 * upager-daemon): upg_runtime_create() would otherwise connect to that
 * daemon, and "upager" would measure the daemon with the daemon's budget.
 * A socket nothing listens on makes the difference plain: connecting
 * fails, in-process runs. */
START_TEST(test_inprocess_ignores_socket)
{
	char *argv[] = { (char *)tool(), "rand-read", "--size", "4M", "--budget", "2M",
			 "--runs", "1", "--accesses", "64", "--json", "--dir", scratch,
			 "--backend", "upager", NULL };
	char sock[PATH_MAX];
	struct jval *doc;
	const char *err;
	char *out;
	int rc;

	snprintf(sock, sizeof(sock), "%s/nobody-listens.sock", scratch);
	setenv("UPAGER_SOCKET", sock, 1);
	rc = run_tool(argv, &out);
	unsetenv("UPAGER_SOCKET");
	ck_assert_msg(rc == 0, "exit status %d, expected 0: %s", rc, out);
	doc = jparse(out, &err);
	ck_assert_msg(doc, "invalid JSON (%s)", err ? err : "?");
	ck_assert_str_eq(jstrv(jget(doc, "backends")->items[0], "status", "upager"), "ok");
	jfree(doc);
	free(out);
}
END_TEST

/* upager-redis without --redis: unavailable (77), said in the JSON; with
 * a URI nothing listens on: unavailable too (-ECONNREFUSED). */
START_TEST(test_redis_backend_unavailable)
{
	char *argv[] = { (char *)tool(), "rand-read", "--size", "4M", "--budget", "2M",
			 "--runs", "1", "--accesses", "64", "--json", "--dir", scratch,
			 "--backend", "upager-redis", NULL, NULL, NULL };
	struct jval *doc;
	const char *err;
	char *out;
	int rc;

	rc = run_tool(argv, &out);
	ck_assert_msg(rc == 77, "exit status %d, expected 77", rc);
	doc = jparse(out, &err);
	ck_assert_msg(doc, "invalid JSON (%s)", err ? err : "?");
	ck_assert_str_eq(jstrv(jget(doc, "backends")->items[0], "status", "redis"),
			 "skipped");
	jfree(doc);
	free(out);

	argv[15] = (char *)"--redis";
	argv[16] = (char *)"redis://127.0.0.1:1";
	rc = run_tool(argv, &out);
	ck_assert_msg(rc == 77, "exit status %d with a dead seed, expected 77", rc);
	free(out);
}
END_TEST

/* Two runs of raw-uffd on tiny data (each run costs the floors too, so the
 * checks share them):
 *  - stderr not a terminal, budget below the size: no \r and no escape
 *    sequence in stderr (no progress line in a log), and no warning;
 *  - UPAGER_BENCH_PROGRESS=always, budget above the size: the progress
 *    line is drawn and erased, the budget is warned about on stderr only,
 *    and the JSON on stdout is the same document (it parses). */
START_TEST(test_progress_and_budget_warning)
{
	char *quiet[] = { (char *)tool(), "rand-read", "--size", "8M",
			  "--budget", "4M", "--runs", "1", "--accesses", "64",
			  "--json", "--dir", scratch, "--backend", "raw-uffd",
			  NULL };
	char *loud[] = { (char *)tool(), "rand-read", "--size", "4M",
			 "--budget", "8M", "--runs", "1", "--accesses", "64",
			 "--json", "--dir", scratch, "--backend", "raw-uffd",
			 NULL };
	const char *perr = NULL;
	struct jval *doc;
	char *out, *err;
	int rc;

	unsetenv("UPAGER_BENCH_PROGRESS");
	rc = run_tool_stderr(quiet, &out, &err);
	ck_assert_msg(rc == 0 || rc == 77, "exit status %d: %s", rc, err);
	ck_assert_msg(!strchr(err, '\r') && !strchr(err, '\033'),
		      "terminal control characters in a non-terminal stderr: %s",
		      err);
	ck_assert_msg(!strstr(err, "warning"), "unexpected warning: %s", err);
	free(out);
	free(err);

	setenv("UPAGER_BENCH_PROGRESS", "always", 1);
	rc = run_tool_stderr(loud, &out, &err);
	unsetenv("UPAGER_BENCH_PROGRESS");
	ck_assert_msg(rc == 0 || rc == 77, "exit status %d: %s", rc, err);
	ck_assert_msg(strstr(err, "upager-bench: warning: --budget 8 MiB is "
				  "not below --size 4 MiB"),
		      "no budget warning in: %s", err);
	ck_assert_msg(!strstr(out, "warning"), "warning on stdout: %s", out);
	doc = jparse(out, &perr);
	ck_assert_msg(doc, "invalid JSON with a progress line (%s): %.300s",
		      perr ? perr : "?", out);
	jfree(doc);
	if (rc == 0) {
		/* (77: no userfaultfd, no run to show the progress of) */
		ck_assert_msg(strstr(err, "\rupager-bench: rand-read raw-uffd "
					  "run 1/1: "),
			      "no progress line in: %s", err);
		ck_assert_msg(strstr(err, "% of "), "no percentage in: %s",
			      err);
		ck_assert_msg(strstr(err, "\r\033[K"),
			      "progress line not erased: %s", err);
	}
	free(out);
	free(err);
}
END_TEST

/* Nothing left behind in the scratch directory, in /proc/swaps, or as an
 * upager-bench cgroup. */
static void check_clean(void)
{
	char line[1024];
	struct dirent *de;
	FILE *f;
	DIR *d;

	d = opendir(scratch);
	if (d) {
		while ((de = readdir(d)))
			ck_assert_msg(de->d_name[0] == '.', "left behind: %s/%s", scratch,
				      de->d_name);
		closedir(d);
	}
	f = fopen("/proc/swaps", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			ck_assert_msg(!strstr(line, "upager-bench"), "swap left on: %s", line);
		fclose(f);
	}
}

START_TEST(test_nothing_left)
{
	char *argv[] = { (char *)tool(), "rand-write", "--size", "48M", "--budget", "24M",
			 "--runs", "1", "--accesses", "64", "--json", "--dir", scratch,
			 "--backend", "kernel-swap,kernel-mmap", NULL };
	int rc = run_tool(argv, NULL);

	ck_assert_msg(rc == 0 || rc == 77, "exit status %d", rc);
	check_clean();
}
END_TEST

static void rm_scratch(void)
{
	struct dirent *de;
	char p[1024];
	DIR *d = opendir(scratch);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", scratch, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(scratch);
}

int main(void)
{
	Suite *s = suite_create("bench");
	TCase *tc = tcase_create("bench");
	SRunner *sr;
	int nfail, ran = 0, i;
	char cwd[400];

	if (access(tool(), X_OK)) {
		fprintf(stderr, "test_bench: %s not built: %s\n", tool(), strerror(errno));
		return 1;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return 1;
	snprintf(scratch, sizeof(scratch), "%s/bench-scratch-XXXXXX", cwd);
	if (!mkdtemp(scratch)) {
		fprintf(stderr, "test_bench: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	tally = mmap(NULL, sizeof(*tally), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tally == MAP_FAILED)
		return 1;
	memset(tally, 0, sizeof(*tally));

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_workload, 0, NWL);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_wait_mode_backends);
	tcase_add_test(tc, test_only_backend_unavailable);
	tcase_add_test(tc, test_inprocess_ignores_socket);
	tcase_add_test(tc, test_redis_backend_unavailable);
	tcase_add_test(tc, test_nothing_left);
	tcase_add_test(tc, test_store_cache);
	tcase_add_test(tc, test_progress_and_budget_warning);
	tcase_add_test(tc, test_kernel_advice);
	tcase_add_test(tc, test_breakdown);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_scratch();

	for (i = 0; i < NBK; i++) {
		ran += tally->ran[i];
		if (tally->skipped[i])
			printf("test_bench: %s skipped in %d workload(s): %s\n", backends[i],
			       tally->skipped[i], tally->reason[i]);
		else
			printf("test_bench: %s ran in %d workload(s)\n", backends[i],
			       tally->ran[i]);
	}
	if (nfail)
		return 1;
	if (!ran) {
		printf("test_bench: no backend could run: skipped\n");
		return 77;
	}
	return 0;
}
