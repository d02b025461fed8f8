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
 */
#include <errno.h>
#include <fcntl.h>
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

static void floor_odirect(const struct config *c, const char *path, struct floors *f)
{
	enum { WARM = 50, N = 2000 };
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

static void floor_uffd(const struct config *c, struct floors *f)
{
	uint64_t n = c->npages < 16384 ? c->npages : 16384, warm = n / 64, i;
	size_t len = (size_t)n * BENCH_PAGE;
	volatile char *m;
	struct rawuffd *u;
	uint64_t sink = 0;
	double t0;

	if (warm > 256)
		warm = 256;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		snprintf(f->uffd_reason, sizeof(f->uffd_reason), "mmap: %s", strerror(errno));
		return;
	}
	u = rawuffd_start((void *)m, len, false, 0, f->uffd_reason,
			  sizeof(f->uffd_reason));
	if (!u) {
		munmap((void *)m, len);
		return;
	}
	for (i = 0; i < warm; i++)
		sink += (uint64_t)m[i * BENCH_PAGE];
	t0 = now_s();
	for (; i < n; i++)
		sink += (uint64_t)m[i * BENCH_PAGE];
	f->uffd_mean_us = (now_s() - t0) * 1e6 / (double)(n - warm);
	f->uffd_pages = n - warm;
	f->have_uffd = sink == 0;	/* zero pages read as zeros */
	if (!f->have_uffd)
		snprintf(f->uffd_reason, sizeof(f->uffd_reason), "pages not zero");
	rawuffd_stop(u);
	munmap((void *)m, len);
}

void floors_measure(const struct config *c, const char *datapath,
		    struct floors *f)
{
	memset(f, 0, sizeof(*f));
	data_drop_cache(datapath);
	floor_odirect(c, datapath, f);
	floor_uffd(c, f);
}
