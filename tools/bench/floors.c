/* SPDX-License-Identifier: MIT */
/*
 * floors.c - the two floors every report prints, measured in the same
 * invocation:
 *  - one 4 KiB O_DIRECT pread() of the data file at queue depth 1, at
 *    random page offsets (50 untimed, then 2000 timed reads; mean, p50, p99);
 *  - one userfaultfd round trip: a sequential touch of up to 16384 fresh
 *    anonymous pages, each resolved by the raw handler's UFFDIO_COPY of a
 *    zero page (mean per fault; the first 256 untimed).
 * A dependent random miss cannot cost less than their sum.
 *
 * Two more, for what handler threads and queue depth can gain:
 *  - the disk's throughput of random 4 KiB O_DIRECT reads at queue depth 1
 *    and at QD N (N threads each doing pread(), N = --threads, at least 4):
 *    N faulting threads cannot go faster than QD N;
 *  - the round trip of the other wait modes of rawuffd.c: poll(), busy-poll,
 *    and UFFD_FEATURE_SIGBUS (the faulting thread fills its own page).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * How many O_DIRECT reads a floor takes: 2,000 (at 1-4 ms a read on this
 * VM's disk, the floors took 9 s of every invocation), or --accesses when
 * that is smaller (at least 100): a run asked for a few hundred accesses
 * does not wait seconds for its floors (test_bench runs dozens of them).
 */
static unsigned floor_reads(const struct config *c)
{
	if (!c->accesses || c->accesses >= 2000)
		return 2000;
	return c->accesses < 100 ? 100 : (unsigned)c->accesses;
}

static void floor_odirect(const struct config *c, const char *path, struct floors *f)
{
	enum { WARM = 50 };
	const int N = (int)floor_reads(c);
	uint64_t x = c->seed ^ 0x0d1ec7ull;
	double *lat, sum = 0;
	void *buf;
	int fd, i;

	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		snprintf(f->odirect_reason, sizeof(f->odirect_reason),
			 "open O_DIRECT: %s", strerror(errno));
		return;
	}
	lat = calloc(N, sizeof(*lat));
	buf = aligned_alloc(BENCH_PAGE, BENCH_PAGE);
	if (!lat || !buf) {
		snprintf(f->odirect_reason, sizeof(f->odirect_reason), "out of memory");
		goto out;
	}
	for (i = 0; i < WARM + N; i++) {
		uint64_t p;
		double t0;
		ssize_t n;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		p = (x >> 17) % c->npages;
		t0 = now_s();
		n = pread(fd, buf, BENCH_PAGE, (off_t)(p * BENCH_PAGE));
		if (n != BENCH_PAGE) {
			snprintf(f->odirect_reason, sizeof(f->odirect_reason),
				 "pread O_DIRECT: %s", n < 0 ? strerror(errno) : "short read");
			goto out;
		}
		if (i >= WARM) {
			lat[i - WARM] = (now_s() - t0) * 1e6;
			sum += lat[i - WARM];
		}
		if (((uint64_t *)buf)[0] != p) {
			snprintf(f->odirect_reason, sizeof(f->odirect_reason),
				 "page %llu: wrong header", (unsigned long long)p);
			goto out;
		}
	}
	qsort(lat, N, sizeof(*lat), cmp_d);
	f->have_odirect = true;
	f->odirect_reads = N;
	f->odirect_mean_us = sum / N;
	f->odirect_p50_us = lat[N / 2];
	f->odirect_p99_us = lat[N * 99 / 100];
out:
	free(buf);
	free(lat);
	close(fd);
}

struct qd_worker {
	pthread_t tid;
	int fd;
	uint64_t npages, seed;
	unsigned reads;
	int err;
};

static void *qd_worker_main(void *arg)
{
	struct qd_worker *w = arg;
	uint64_t x = w->seed;
	void *buf = aligned_alloc(BENCH_PAGE, BENCH_PAGE);
	unsigned i;

	if (!buf) {
		w->err = ENOMEM;
		return NULL;
	}
	for (i = 0; i < w->reads; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		if (pread(w->fd, buf, BENCH_PAGE,
			  (off_t)(((x >> 17) % w->npages) * BENCH_PAGE)) != BENCH_PAGE) {
			w->err = errno ? errno : EIO;
			break;
		}
	}
	free(buf);
	return NULL;
}

/* Random 4 KiB O_DIRECT reads per second with @qd threads each reading
 * synchronously (the page cache dropped first); < 0 on error. */
static double odirect_iops(const struct config *c, const char *path,
			   unsigned qd, unsigned total)
{
	struct qd_worker w[64];
	unsigned i, started = 0;
	double t0, t;
	int fd, err = 0;

	if (qd > 64)
		qd = 64;
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -1;
	data_drop_cache(path);
	t0 = now_s();
	for (i = 0; i < qd; i++) {
		w[i] = (struct qd_worker){ .fd = fd, .npages = c->npages,
					   .seed = c->seed ^ (0x9d2c5680ull * (i + 1) + qd),
					   .reads = total / qd };
		if (pthread_create(&w[i].tid, NULL, qd_worker_main, &w[i]))
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		err |= w[i].err;
	}
	t = now_s() - t0;
	close(fd);
	if (err || started < qd || t <= 0)
		return -1;
	return (double)(total / qd * qd) / t;
}

static void floor_odirect_qd(const struct config *c, const char *path,
			     struct floors *f)
{
	unsigned qd = c->threads > 4 ? c->threads : 4;
	unsigned n = floor_reads(c) / 2;

	f->odirect_qd = qd > 64 ? 64 : qd;
	f->odirect_qd1_iops = odirect_iops(c, path, 1, n);
	f->odirect_qdn_iops = odirect_iops(c, path, f->odirect_qd, n * 4);
	f->have_odirect_qd = f->odirect_qd1_iops > 0 && f->odirect_qdn_iops > 0;
}

/* Mean round trip of one fault with rawuffd's @mode, or < 0. */
static double raw_round_trip(const struct config *c, enum raw_mode mode,
			     uint64_t *pages, char *reason, size_t rsz)
{
	/* 16,384 faults a mode at most, or 4x --accesses (at least 1,024)
	 * when that is fewer: five modes of 16,384 faults took 1 s on a quiet
	 * machine and 10 s on a loaded one. */
	uint64_t cap = c->accesses && c->accesses * 4 < 16384 ?
			       (c->accesses * 4 < 1024 ? 1024 : c->accesses * 4) :
			       16384;
	uint64_t n = c->npages < cap ? c->npages : cap, warm = n / 64, i;
	size_t len = (size_t)n * BENCH_PAGE;
	volatile char *m;
	struct rawuffd *u;
	uint64_t sink = 0;
	double t0, mean;

	if (warm > 256)
		warm = 256;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		snprintf(reason, rsz, "mmap: %s", strerror(errno));
		return -1;
	}
	u = rawuffd_start((void *)m, len, false, 0, mode, reason, rsz);
	if (!u) {
		munmap((void *)m, len);
		return -1;
	}
	for (i = 0; i < warm; i++)
		sink += (uint64_t)m[i * BENCH_PAGE];
	t0 = now_s();
	for (; i < n; i++)
		sink += (uint64_t)m[i * BENCH_PAGE];
	mean = (now_s() - t0) * 1e6 / (double)(n - warm);
	*pages = n - warm;
	rawuffd_stop(u);
	munmap((void *)m, len);
	if (sink) {	/* zero pages read as zeros */
		snprintf(reason, rsz, "pages not zero");
		return -1;
	}
	return mean;
}

static void floor_uffd(const struct config *c, struct floors *f)
{
	char reason[160];
	uint64_t pages;
	int m;

	f->uffd_mean_us = raw_round_trip(c, RAW_READ, &f->uffd_pages,
					 f->uffd_reason, sizeof(f->uffd_reason));
	f->have_uffd = f->uffd_mean_us >= 0;
	f->raw_mode_mean_us[RAW_READ] = f->uffd_mean_us;
	for (m = RAW_POLL; m < RAW_NMODES; m++)
		f->raw_mode_mean_us[m] = raw_round_trip(c, (enum raw_mode)m, &pages,
							reason, sizeof(reason));
}

void floors_measure(const struct config *c, const char *datapath,
		    struct floors *f)
{
	memset(f, 0, sizeof(*f));
	data_drop_cache(datapath);
	floor_odirect(c, datapath, f);
	floor_odirect_qd(c, datapath, f);
	floor_uffd(c, f);
}
