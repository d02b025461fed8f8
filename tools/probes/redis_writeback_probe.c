// SPDX-License-Identifier: MIT
/*
 * redis-writeback-probe - the runtime's write-back into the Redis Cluster
 * store, against the file store, in one invocation: how fast
 * upg_region_flush() makes SIZE bytes of dirty pages durable.
 *
 * Each run maps a region of SIZE bytes (budget SIZE + 16 MiB, so nothing
 * is evicted) on a fresh store, writes a pattern over every page (the
 * pages become resident and dirty; not timed), then times one
 * upg_region_flush() of the whole region: for the Redis store that is
 * every page SETRANGEd and acknowledged by WAIT (replicas=1 unless the URI
 * says otherwise); for the file store, written and fsynced (O_DIRECT).
 * The Redis run then reads every byte back through the store and checks
 * it; its data is destroyed at the end.
 *
 * usage: redis-writeback-probe URI SIZE RUNS [DIR]
 *   e.g. redis-writeback-probe "redis://127.0.0.1:31000" 64M 3 /tmp
 * DIR: also run the file store on a file in DIR (not tmpfs), first.
 * Prints the MB/s of each run and the medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "upager.h"

#define PAGE 4096ul
#define MAX_RUNS 15

struct wait_io {
	struct upg_io io;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	ssize_t res;
};

static void io_done(struct upg_io *io, ssize_t res)
{
	struct wait_io *w = io->priv;

	pthread_mutex_lock(&w->lock);
	w->res = res;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static ssize_t read_store(struct upg_store *st, uint64_t off, void *buf,
			  size_t len)
{
	struct wait_io w = { .io = { .op = UPG_IO_READ, .offset = off,
				     .buf = buf, .len = len,
				     .done = io_done } };
	int ret;

	w.io.priv = &w;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	ret = store_submit(st, NULL, &w.io);
	if (ret)
		return ret;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	return w.res;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t word(uint64_t off, unsigned run)
{
	return off * 0x9e3779b97f4a7c15ull + run;
}

/* One run: map @size bytes on @st, dirty them, time the flush.  With
 * @verify, read the store back and check.  Return MB/s, or < 0. */
static double one_run(struct upg_store *st, uint64_t size, unsigned run,
		      bool verify)
{
	UPG_OPTS(upg_runtime_opts, ro);
	struct upg_runtime *rt;
	struct upg_region *r;
	double t0, t1, mbs = -1;
	uint64_t off, j;
	char *p, *buf;
	int ret;

	ro.budget_bytes = size + (16ul << 20);
	ret = upg_runtime_create(&ro, &rt);
	if (ret) {
		fprintf(stderr, "redis-writeback-probe: upg_runtime_create: "
			"%s\n", strerror(-ret));
		return -1;
	}
	ret = upg_region_map_store(rt, st, size, NULL, &r);
	if (ret) {
		fprintf(stderr, "redis-writeback-probe: upg_region_map_store: "
			"%s\n", strerror(-ret));
		upg_runtime_destroy(rt);
		return -1;
	}
	p = upg_region_addr(r);
	for (off = 0; off < size; off += 8)
		*(uint64_t *)(p + off) = word(off, run);
	t0 = now_s();
	ret = upg_region_flush(r, 0, size);
	t1 = now_s();
	if (ret)
		fprintf(stderr, "redis-writeback-probe: upg_region_flush: %s\n",
			strerror(-ret));
	else
		mbs = (double)size / (t1 - t0) / 1e6;
	upg_region_unmap(r);
	upg_runtime_destroy(rt);
	if (mbs < 0 || !verify)
		return mbs;
	buf = malloc(1ul << 20);
	if (!buf)
		return -1;
	for (off = 0; off < size && mbs >= 0; off += 1ul << 20) {
		size_t len = size - off < (1ul << 20) ? size - off : 1ul << 20;

		if (read_store(st, off, buf, len) != (ssize_t)len) {
			fprintf(stderr, "redis-writeback-probe: read back "
				"failed at %llu\n", (unsigned long long)off);
			mbs = -1;
			break;
		}
		for (j = 0; j < len; j += 8)
			if (*(uint64_t *)(buf + j) != word(off + j, run)) {
				fprintf(stderr, "redis-writeback-probe: byte "
					"%llu reads back wrong\n",
					(unsigned long long)(off + j));
				mbs = -1;
				break;
			}
	}
	free(buf);
	return mbs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, unsigned n)
{
	unsigned i;

	printf("%-12s", what);
	for (i = 0; i < n; i++)
		printf(" %7.1f", v[i]);
	qsort(v, n, sizeof(*v), cmp_double);
	printf("   median %.1f MB/s\n", v[n / 2]);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': v <<= 10; /* fall through */
	case 'M': v <<= 10; /* fall through */
	case 'K': v <<= 10; end++; break;
	default: break;
	}
	return *end ? 0 : v;
}

int main(int argc, char **argv)
{
	double file_mbs[MAX_RUNS], redis_mbs[MAX_RUNS];
	char path[4096], uri[4096];
	struct upg_store *st;
	uint64_t size;
	unsigned runs, i;
	bool ok = true;
	int fd, ret;

	if (argc < 4 || argc > 5 || !(size = parse_size(argv[2])) ||
	    size % PAGE || (runs = (unsigned)atoi(argv[3])) < 1 ||
	    runs > MAX_RUNS) {
		fprintf(stderr, "usage: redis-writeback-probe URI SIZE RUNS "
			"[DIR]  (SIZE a page multiple, K/M/G; RUNS 1..%d)\n",
			MAX_RUNS);
		return 2;
	}
	printf("write-back of %llu MiB of dirty pages by upg_region_flush(), "
	       "MB/s per run:\n", (unsigned long long)(size >> 20));
	for (i = 0; argc == 5 && i < runs && ok; i++) {
		snprintf(path, sizeof(path), "%s/redis-writeback-probe-%d.dat",
			 argv[4], (int)getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
		if (fd < 0) {
			fprintf(stderr, "redis-writeback-probe: %s: %s (DIR "
				"must be on a disk that takes O_DIRECT)\n",
				path, strerror(errno));
			return 1;
		}
		unlink(path);
		ret = ftruncate(fd, (off_t)size) ? -errno :
						   upg_store_open_file(fd, &st);
		close(fd);
		if (ret) {
			fprintf(stderr, "redis-writeback-probe: file store: "
				"%s\n", strerror(-ret));
			return 1;
		}
		file_mbs[i] = one_run(st, size, i, false);
		ok = file_mbs[i] >= 0;
		upg_store_put(st);
	}
	if (argc == 5 && ok)
		report("file", file_mbs, runs);
	for (i = 0; i < runs && ok; i++) {
		snprintf(uri, sizeof(uri), "%s%sname=wbprobe-%d-%u", argv[1],
			 strchr(argv[1], '?') ? "&" : "?", (int)getpid(), i);
		ret = upg_store_open_uri(uri, &st);
		if (ret) {
			fprintf(stderr, "redis-writeback-probe: "
				"upg_store_open_uri: %s\n", strerror(-ret));
			return ret == -ECONNREFUSED ? 77 : 1;
		}
		redis_mbs[i] = one_run(st, size, i, true);
		ok = redis_mbs[i] >= 0;
		/* The run's pages leave the cluster, failed run or not. */
		if (upg_store_destroy_data(st))
			ok = false;
		upg_store_put(st);
	}
	if (ok)
		report("redis", redis_mbs, runs);
	return ok ? 0 : 1;
}
