// SPDX-License-Identifier: MIT
/*
 * redis-store-probe - the Redis Cluster store on its own, without the
 * runtime: what one requester gets from upg_store_open_uri()'s store.
 *
 * Writes COUNT requests of LEN bytes at random LEN-aligned offsets of a
 * COUNT x LEN space (so at most COUNT x LEN bytes land in the cluster), QD1 (each write completes, WAIT included, before the
 * next), then reads them back, QD1, and verifies the bytes.  Prints the
 * latency distribution and MB/s of each phase.  The run's data is
 * destroyed at the end (upg_store_destroy_data()).
 *
 * usage: redis-store-probe URI LEN COUNT
 *   e.g. redis-store-probe "redis://127.0.0.1:31000?name=probe" 65536 2000
 * Compare with upager-bench's upager-redis backend: the difference is the
 * runtime's side of a fault.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "upager.h"

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

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static ssize_t run_io(struct upg_store *st, enum upg_io_op op, uint64_t off,
		      void *buf, size_t len)
{
	struct wait_io w = { .io = { .op = op, .offset = off, .buf = buf,
				     .len = len, .done = io_done } };
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, unsigned n, size_t len)
{
	double sum = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("%-5s %u x %zu B: mean %.1f us, p50 %.1f, p90 %.1f, p99 %.1f, "
	       "max %.1f; %.1f MB/s\n", what, n, len, sum / n, lat[n / 2],
	       lat[n * 9 / 10], lat[n * 99 / 100], lat[n - 1],
	       (double)len * n / sum);
}

int main(int argc, char **argv)
{
	unsigned long len, count, i, j;
	struct upg_store *st;
	uint64_t *offs;
	double *lat, t0;
	char *buf, *rbuf;
	bool ok = false;
	ssize_t res;
	int ret;

	if (argc != 4 || (len = strtoul(argv[2], NULL, 0)) == 0 ||
	    len > (64ul << 20) || (count = strtoul(argv[3], NULL, 0)) == 0 ||
	    count > 1000000) {
		fprintf(stderr, "usage: redis-store-probe URI LEN COUNT "
			"(LEN 1..64M bytes, COUNT 1..1000000)\n");
		return 2;
	}
	ret = upg_store_open_uri(argv[1], &st);
	if (ret) {
		fprintf(stderr, "redis-store-probe: upg_store_open_uri: %s\n",
			strerror(-ret));
		return ret == -ECONNREFUSED ? 77 : 1;
	}
	buf = malloc(len);
	rbuf = malloc(len);
	offs = malloc(count * sizeof(*offs));
	lat = malloc(count * sizeof(*lat));
	if (!buf || !rbuf || !offs || !lat) {
		fprintf(stderr, "redis-store-probe: out of memory\n");
		return 1;
	}
	srand(1);
	for (i = 0; i < count; i++)
		offs[i] = (uint64_t)((unsigned long)rand() % count) * len;

	for (i = 0; i < count; i++) {
		for (j = 0; j < len; j += 8)
			*(uint64_t *)(buf + j) = offs[i] + j;
		t0 = now_us();
		res = run_io(st, UPG_IO_WRITE, offs[i], buf, len);
		lat[i] = now_us() - t0;
		if (res != (ssize_t)len) {
			fprintf(stderr, "redis-store-probe: write: %s\n",
				strerror((int)-res));
			goto out_destroy;
		}
	}
	report("write", lat, (unsigned)count, len);

	for (i = 0; i < count; i++) {
		t0 = now_us();
		res = run_io(st, UPG_IO_READ, offs[i], rbuf, len);
		lat[i] = now_us() - t0;
		if (res != (ssize_t)len) {
			fprintf(stderr, "redis-store-probe: read: %s\n",
				strerror((int)-res));
			goto out_destroy;
		}
		/* The last write of each offset wins: same content anyway. */
		for (j = 0; j + 8 <= len; j += 8)
			if (*(uint64_t *)(rbuf + j) != offs[i] + j) {
				fprintf(stderr, "redis-store-probe: offset %llu "
					"reads back wrong\n",
					(unsigned long long)(offs[i] + j));
				goto out_destroy;
			}
	}
	report("read", lat, (unsigned)count, len);
	ok = true;
out_destroy:
	/* The run's pages leave the cluster, failed run or not. */
	ret = upg_store_destroy_data(st);
	upg_store_put(st);
	return ok && !ret ? 0 : 1;
}
