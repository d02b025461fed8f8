/* SPDX-License-Identifier: MIT */
/*
 * upager-bench - libupager against the kernel's own paging, side by side.
 *
 *   upager-bench WORKLOAD [--size S] [--budget B] [--threads T]
 *                [--store file|anon] [--backend LIST|all] [--runs N]
 *                [--zipf-s S] [--json] [--dir DIR] [--seed N] [--keep]
 *                [--accesses N] [--warmup N] [--upager-io direct|buffered]
 *                [--store-cache cold|warm]
 *                [--handlers N] [--fill-unit S] [--hugetlb]
 *                [--redis URI]
 *
 * See usage() and BENCHMARKS.md.  Exit status: 0 ok, 1 a run failed
 * (verification mismatch, I/O error, a child that died), 2 bad usage,
 * 77 every requested backend was unavailable (skipped).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <upager.h>

#include "bench.h"

const char *const workload_names[WL_COUNT] = {
	"seq-read", "seq-write", "rand-read", "rand-write", "zipf",
	"scan-and-update", "fault-latency",
};

const char *const backend_names[BK_COUNT] = {
	"upager", "upager-daemon", "kernel-mmap", "kernel-swap", "raw-uffd",
	"upager-poll", "upager-spin", "raw-sigbus", "kernel-mmap-default",
	"upager-redis",
};

const char *const kadvice_names[KADV_COUNT] = {
	"auto", "normal", "random", "sequential",
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: upager-bench WORKLOAD [options]\n"
"\n"
"workloads: seq-read seq-write rand-read rand-write zipf scan-and-update\n"
"           fault-latency\n"
"\n"
"  --size S         data size (K/M/G suffixes; default 2G)\n"
"  --budget B       memory budget of every backend (default 512M)\n"
"  --threads T      threads splitting the access stream (default 1)\n"
"  --store file|anon  upager's store: the data file, or an anonymous region\n"
"                   populated with the pattern first (default file)\n"
"  --backend LIST   comma-separated: upager upager-daemon kernel-mmap\n"
"                   kernel-swap raw-uffd, or all (default all); and, not in\n"
"                   all: upager-poll upager-spin (upager with handler_wait\n"
"                   UPG_WAIT_POLL, UPG_WAIT_SPIN), raw-sigbus (raw-uffd with\n"
"                   UFFD_FEATURE_SIGBUS: the faulting thread fills its page),\n"
"                   kernel-mmap-default (kernel-mmap with the default advice),\n"
"                   upager-redis (upager on the Redis Cluster store of\n"
"                   --redis, populated with the pattern and flushed first)\n"
"  --kernel-advice auto|normal|random|sequential  the madvise() advice of\n"
"                   kernel-mmap (default auto: random for rand-read,\n"
"                   rand-write, zipf, fault-latency; for seq-read, seq-write,\n"
"                   scan-and-update the faster of the two measured, see\n"
"                   BENCHMARKS.md); kernel-mmap-default always takes normal.\n"
"                   The ratio column is against the best kernel backend\n"
"                   that ran (kernel-mmap, kernel-mmap-default, kernel-swap).\n"
"  --runs N         runs per backend, each in a fresh child (default 3)\n"
"  --zipf-s S       zipf parameter (default 0.99)\n"
"  --json           one JSON object on stdout; messages on stderr\n"
"  --json-file F    the human table on stdout and the JSON object in F\n"
"  --dir DIR        directory of the data and swap files, on a disk, not\n"
"                   tmpfs (default $TMPDIR, else /var/tmp)\n"
"  --seed N         pattern and trace seed (default 1)\n"
"  --keep           keep the data file (reused by a later run)\n"
"  --accesses N     measured accesses of rand-*, zipf (default pages/4) and\n"
"                   fault-latency (default min(pages, 16384))\n"
"  --warmup N       accesses before the measurement (default: 1/64 of the\n"
"                   pages for seq-*, scan; 10%% of --accesses for random)\n"
"  --upager-io direct|buffered  how upager's file store is opened\n"
"                   (default direct: O_DIRECT, no second cache)\n"
"  --store-cache cold|warm  the data file's page cache before each run:\n"
"                   dropped (default), or read in whole: with --upager-io\n"
"                   buffered, upager's store reads are then memory copies,\n"
"                   and what is left of a fault is the runtime's own cost\n"
"  --handlers N     upager handler threads (default: the runtime's)\n"
"  --fill-unit S    upager's fill unit: bytes filled per fault, a power of\n"
"                   two from 4K to 2M (default: the runtime's, 4K)\n"
"  --hugetlb        upager's region on 2 MiB huge pages (UPG_REGION_HUGETLB;\n"
"                   fill unit 2M); needs a pool in /proc/sys/vm/nr_hugepages\n"
"  --redis URI      the store of upager-redis: redis://host:port[,...][?opts]\n"
"                   (upg_store_open_uri(); a name=bench-PID is added unless\n"
"                   given; its data is destroyed after each run)\n"
"  --spin-us N      upager-spin's busy-poll window (default: the runtime's)\n"
"  --breakdown      upager backends run with UPG_RT_FILL_TIMING: where a\n"
"                   miss's time goes (the handler's wake-up, its own work,\n"
"                   the store read, the copy into the memfd, the mapping\n"
"                   ioctl; the rest is the kernel's delivery and the\n"
"                   faulting thread's wake-up), per miss, below the table\n"
"                   and in the JSON (docs/fault-latency.md)\n"
"  --upager-cgroup on|off  run upager in a memory cgroup of budget + 64M\n"
"                   (default on, when cgroups are available)\n"
"  --version        the program's and the library's version\n"
"\n"
"On a terminal, a run longer than 3 s shows a progress line on stderr\n"
"(UPAGER_BENCH_PROGRESS=never: none; =always: even when not a terminal).\n"
"\n"
"exit status: 0 ok, 1 a run failed, 2 bad usage, 77 every requested backend\n"
"unavailable\n");
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void logmsg(const struct config *c, const char *fmt, ...)
{
	va_list ap;

	(void)c;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int bad_usage(const char *fmt, ...) BENCH_PRINTF(1, 2);

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("upager-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(upager-bench --help for usage)\n", stderr);
	return 2;
}

/* "2G", "512M", "8192", "64k", "1.5G"; returns 0 on error. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': mul = 1ull << 10; end++; break;
	case 'M': mul = 1ull << 20; end++; break;
	case 'G': mul = 1ull << 30; end++; break;
	case 'T': mul = 1ull << 40; end++; break;
	default: break;
	}
	if (mul > 1 && (!strcasecmp(end, "iB") || !strcasecmp(end, "B")))
		end += strlen(end);
	if (*end)
		return -1;
	if (v * (double)mul > 9.0e18)
		return -1;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return (errno || end == s || *end || *s == '-') ? -1 : 0;
}

static int parse_backends(struct config *c, const char *arg)
{
	char buf[256], *tok, *save = NULL;
	int i;

	memset(c->backends, 0, sizeof(c->backends));
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			for (i = 0; i < BK_COUNT_ALL; i++)
				c->backends[i] = true;
			continue;
		}
		for (i = 0; i < BK_COUNT; i++)
			if (!strcmp(tok, backend_names[i]))
				break;
		if (i == BK_COUNT)
			return bad_usage("--backend %s: unknown backend '%s' (upager, "
					 "upager-daemon, kernel-mmap, kernel-swap, raw-uffd, all, "
					 "upager-poll, upager-spin, raw-sigbus, kernel-mmap-default)",
					 arg, tok);
		c->backends[i] = true;
	}
	c->nbackends = 0;
	for (i = 0; i < BK_COUNT; i++)
		c->nbackends += c->backends[i];
	if (!c->nbackends)
		return bad_usage("--backend %s: no backend named", arg);
	return 0;
}

static int parse_args(int argc, char **argv, struct config *c)
{
	enum { O_SIZE = 256, O_BUDGET, O_THREADS, O_STORE, O_BACKEND, O_RUNS, O_ZIPF,
	       O_JSON, O_JSONF, O_DIR, O_SEED, O_KEEP, O_ACCESSES, O_WARMUP, O_UIO, O_HANDLERS, O_UCG,
	       O_FILL_UNIT, O_HUGETLB, O_SPIN, O_SCACHE, O_KADV, O_BREAKDOWN,
	       O_VERSION, O_REDIS };
	static const struct option opts[] = {
		{ "size", required_argument, NULL, O_SIZE },
		{ "budget", required_argument, NULL, O_BUDGET },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "store", required_argument, NULL, O_STORE },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "zipf-s", required_argument, NULL, O_ZIPF },
		{ "json", no_argument, NULL, O_JSON },
		{ "json-file", required_argument, NULL, O_JSONF },
		{ "dir", required_argument, NULL, O_DIR },
		{ "seed", required_argument, NULL, O_SEED },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "accesses", required_argument, NULL, O_ACCESSES },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "upager-io", required_argument, NULL, O_UIO },
		{ "store-cache", required_argument, NULL, O_SCACHE },
		{ "redis", required_argument, NULL, O_REDIS },
		{ "handlers", required_argument, NULL, O_HANDLERS },
		{ "upager-cgroup", required_argument, NULL, O_UCG },
		{ "fill-unit", required_argument, NULL, O_FILL_UNIT },
		{ "hugetlb", no_argument, NULL, O_HUGETLB },
		{ "spin-us", required_argument, NULL, O_SPIN },
		{ "kernel-advice", required_argument, NULL, O_KADV },
		{ "breakdown", no_argument, NULL, O_BREAKDOWN },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmp = getenv("TMPDIR");
	uint64_t v;
	struct stat st;
	int o, i, ret;

	memset(c, 0, sizeof(*c));
	c->size = 2ull << 30;
	c->budget = 512ull << 20;
	c->threads = 1;
	c->store = STORE_FILE;
	c->runs = 3;
	c->zipf_s = 0.99;
	c->seed = 1;
	c->upager_direct = true;
	c->upager_cgroup = true;
	c->warmup = UINT64_MAX;
	for (i = 0; i < BK_COUNT_ALL; i++)
		c->backends[i] = true;
	c->nbackends = BK_COUNT_ALL;
	snprintf(c->dir, sizeof(c->dir), "%s", tmp && *tmp ? tmp : "/var/tmp");

	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *a = optarg;

		switch (o) {
		case O_SIZE:
			if (parse_size(a, &c->size))
				return bad_usage("--size %s: not a size (e.g. 2G, 512M, 64K)", a);
			break;
		case O_BUDGET:
			if (parse_size(a, &c->budget))
				return bad_usage("--budget %s: not a size (e.g. 512M)", a);
			if (c->budget < (1ull << 20))
				return bad_usage("--budget %s: must be at least 1M", a);
			break;
		case O_THREADS:
			if (parse_u64(a, &v) || v < 1 || v > BENCH_MAX_THREADS)
				return bad_usage("--threads %s: must be 1 to %d", a,
						 BENCH_MAX_THREADS);
			c->threads = (unsigned)v;
			break;
		case O_STORE:
			if (!strcmp(a, "file"))
				c->store = STORE_FILE;
			else if (!strcmp(a, "anon"))
				c->store = STORE_ANON;
			else
				return bad_usage("--store %s: must be file or anon", a);
			break;
		case O_BACKEND:
			ret = parse_backends(c, a);
			if (ret)
				return ret;
			break;
		case O_RUNS:
			if (parse_u64(a, &v) || v < 1 || v > BENCH_MAX_RUNS)
				return bad_usage("--runs %s: must be 1 to %d", a, BENCH_MAX_RUNS);
			c->runs = (unsigned)v;
			break;
		case O_ZIPF: {
			char *end;

			c->zipf_s = strtod(a, &end);
			if (end == a || *end || !(c->zipf_s > 0 && c->zipf_s <= 5))
				return bad_usage("--zipf-s %s: must be a number in (0, 5]", a);
			break;
		}
		case O_JSON:
			c->json = true;
			break;
		case O_JSONF:
			if (!*a)
				return bad_usage("--json-file: empty file name");
			snprintf(c->json_file, sizeof(c->json_file), "%s", a);
			break;
		case O_DIR:
			snprintf(c->dir, sizeof(c->dir), "%s", a);
			break;
		case O_SEED:
			if (parse_u64(a, &c->seed))
				return bad_usage("--seed %s: not a number", a);
			break;
		case O_KEEP:
			c->keep = true;
			break;
		case O_ACCESSES:
			if (parse_u64(a, &c->accesses) || !c->accesses)
				return bad_usage("--accesses %s: must be a number >= 1", a);
			break;
		case O_WARMUP:
			if (parse_u64(a, &c->warmup))
				return bad_usage("--warmup %s: not a number", a);
			break;
		case O_UIO:
			if (!strcmp(a, "direct"))
				c->upager_direct = true;
			else if (!strcmp(a, "buffered"))
				c->upager_direct = false;
			else
				return bad_usage("--upager-io %s: must be direct or buffered", a);
			break;
		case O_REDIS:
			if (strlen(a) >= sizeof(c->redis_uri) - 40)
				return bad_usage("--redis: URI too long");
			snprintf(c->redis_uri, sizeof(c->redis_uri), "%s", a);
			break;
		case O_SCACHE:
			if (!strcmp(a, "cold") || !strcmp(a, "warm"))
				c->store_warm = !strcmp(a, "warm");
			else
				return bad_usage("--store-cache %s: must be cold or warm", a);
			break;
		case O_HANDLERS:
			if (parse_u64(a, &v) || v < 1 || v > 64)
				return bad_usage("--handlers %s: must be 1 to 64", a);
			c->handler_threads = (unsigned)v;
			break;
		case O_SPIN:
			if (parse_u64(a, &v) || v < 1 || v > 1000000)
				return bad_usage("--spin-us %s: must be 1 to 1000000", a);
			c->spin_us = (unsigned)v;
			break;
		case O_UCG:
			if (!strcmp(a, "on"))
				c->upager_cgroup = true;
			else if (!strcmp(a, "off"))
				c->upager_cgroup = false;
			else
				return bad_usage("--upager-cgroup %s: must be on or off", a);
			break;
		case O_FILL_UNIT:
			if (parse_size(a, &v) || v < 4096 || v > (2u << 20) ||
			    (v & (v - 1)))
				return bad_usage("--fill-unit %s: must be a power of two "
						 "from 4K to 2M", a);
			c->fill_unit = v;
			break;
		case O_HUGETLB:
			c->hugetlb = true;
			break;
		case O_KADV:
			for (i = 0; i < KADV_COUNT; i++)
				if (!strcmp(a, kadvice_names[i]))
					break;
			if (i == KADV_COUNT)
				return bad_usage("--kernel-advice %s: must be auto, normal, "
						 "random or sequential", a);
			c->kernel_advice = (enum kadvice)i;
			break;
		case O_BREAKDOWN:
			c->breakdown = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case O_VERSION:
			/* the header it was built with, the library it runs with */
			printf("upager-bench %s (libupager %s)\n",
			       UPAGER_VERSION_STRING, upg_version());
			exit(0);
		default:
			if (optopt && optopt < 256)
				return bad_usage("unknown option -%c", optopt);
			return bad_usage("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return bad_usage("no WORKLOAD given (seq-read, seq-write, rand-read, "
				 "rand-write, zipf, scan-and-update, fault-latency)");
	for (i = 0; i < WL_COUNT; i++)
		if (!strcmp(argv[optind], workload_names[i]))
			break;
	if (i == WL_COUNT)
		return bad_usage("%s: unknown workload (seq-read, seq-write, rand-read, "
				 "rand-write, zipf, scan-and-update, fault-latency)",
				 argv[optind]);
	c->wl = (enum workload)i;
	if (optind + 1 < argc)
		return bad_usage("%s: unexpected argument (one WORKLOAD per run)",
				 argv[optind + 1]);

	if (c->size < (1ull << 20))
		return bad_usage("--size %llu: must be at least 1M",
				 (unsigned long long)c->size);
	if (c->size % BENCH_PAGE)
		return bad_usage("--size %llu: must be a multiple of 4K",
				 (unsigned long long)c->size);
	if (c->size / BENCH_PAGE > 0x7fffffffull)
		return bad_usage("--size: at most 8T");
	if (c->budget % BENCH_PAGE)
		return bad_usage("--budget %llu: must be a multiple of 4K",
				 (unsigned long long)c->budget);
	c->npages = c->size / BENCH_PAGE;
	c->budget_pages = c->budget / BENCH_PAGE;
	if (c->wl == WL_FAULT_LATENCY && c->accesses && c->accesses >= c->npages)
		return bad_usage("--accesses %llu: fault-latency touches distinct pages: "
				 "at most %llu with this --size",
				 (unsigned long long)c->accesses,
				 (unsigned long long)c->npages - 1);
	if (stat(c->dir, &st) || !S_ISDIR(st.st_mode))
		return bad_usage("--dir %s: not a directory", c->dir);
	if (access(c->dir, W_OK))
		return bad_usage("--dir %s: not writable", c->dir);
	if (dir_is_tmpfs(c->dir))
		return bad_usage("--dir %s is on tmpfs: the data file must be on a real "
				 "disk (O_DIRECT floor, page cache, swap file); use e.g. "
				 "--dir /var/tmp", c->dir);
	return 0;
}

int main(int argc, char **argv)
{
	struct backend_result *br;
	struct config c;
	struct trace t;
	struct floors f;
	struct statvfs vfs;
	char datapath[700], err[300];
	unsigned nbr = 0, nok = 0, nskip = 0, nfail = 0, i;
	bool created;
	uint64_t need;
	int ret;

	ret = parse_args(argc, argv, &c);
	if (ret)
		return ret;
	if (upg_check_version(UPAGER_VERSION_MAJOR, UPAGER_VERSION_MINOR)) {
		fprintf(stderr, "upager-bench: built for libupager %s, runs with "
			"%s: install the matching libupager (or fix "
			"LD_LIBRARY_PATH)\n", UPAGER_VERSION_STRING, upg_version());
		return 1;
	}
	if (c.budget >= c.size)
		fprintf(stderr, "upager-bench: warning: --budget %llu MiB is not "
			"below --size %llu MiB: the data fits in memory, nothing "
			"is evicted, and the runs measure first touches only; "
			"give a budget below the size to measure paging\n",
			(unsigned long long)(c.budget >> 20),
			(unsigned long long)(c.size >> 20));
	sysres_init();
	progress_init();

	need = c.size + (c.backends[BK_KERNEL_SWAP] ? c.size + (64ull << 20) : 0);
	if (!statvfs(c.dir, &vfs) &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < need + (64ull << 20)) {
		/* an existing data file counts as free space */
		struct stat st;

		snprintf(datapath, sizeof(datapath), "%s/upager-bench-%lluK-seed%llu.dat",
			 c.dir, (unsigned long long)(c.size >> 10),
			 (unsigned long long)c.seed);
		if (stat(datapath, &st) || (uint64_t)st.st_size != c.size ||
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < need - c.size) {
			fprintf(stderr, "upager-bench: %s: not enough free space (%llu MiB "
				"needed for the data%s file)\n", c.dir,
				(unsigned long long)(need >> 20),
				c.backends[BK_KERNEL_SWAP] ? " and swap" : "");
			return 1;
		}
	}

	logmsg(&c, "upager-bench: preparing %llu MiB of data in %s ...",
	       (unsigned long long)(c.size >> 20), c.dir);
	if (data_prepare(&c, datapath, sizeof(datapath), &created, err, sizeof(err))) {
		fprintf(stderr, "upager-bench: data file: %s\n", err);
		return 1;
	}
	sysres_set_datafile(c.keep ? NULL : datapath);
	logmsg(&c, "upager-bench: data file %s (%s)", datapath,
	       created ? "created" : "reused");

	ret = trace_build(&c, &t);
	if (ret) {
		fprintf(stderr, "upager-bench: trace: %s\n", strerror(-ret));
		return 1;
	}
	floors_measure(&c, datapath, &f);

	br = calloc(BK_COUNT, sizeof(*br));
	if (!br) {
		fprintf(stderr, "upager-bench: out of memory\n");
		trace_free(&t);
		return 1;
	}
	for (i = 0; i < BK_COUNT; i++) {
		struct backend_result *b;

		if (!c.backends[i])
			continue;
		b = &br[nbr++];
		backend_run(&c, (enum backend)i, &t, datapath, b);
		if (b->status == 77) {
			nskip++;
			logmsg(&c, "upager-bench: %s %s", backend_names[i], b->reason);
		} else if (b->status) {
			nfail++;
		} else {
			nok++;
		}
	}
	if (c.json) {
		report_json(stdout, &c, &t, &f, br, nbr, datapath);
	} else {
		report_human(&c, &t, &f, br, nbr);
		if (c.json_file[0]) {
			FILE *jf = fopen(c.json_file, "we");

			if (!jf || (report_json(jf, &c, &t, &f, br, nbr, datapath),
				    fclose(jf))) {
				fprintf(stderr, "upager-bench: --json-file %s: %s\n",
					c.json_file, strerror(errno));
				nfail++;
			}
		}
	}
	trace_free(&t);
	free(br);
	sysres_cleanup();
	if (nfail)
		return 1;
	if (!nok && nskip)
		return 77;
	return 0;
}
