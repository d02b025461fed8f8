// SPDX-License-Identifier: MIT
/*
 * swap-write-probe - what the swap store's writes cost on this
 * filesystem, by how they are laid out (issue 14, docs/anon-writeback.md).
 *
 * The runtime's swap (runtime/store/swap_store.c) is one sparse, unlinked
 * O_DIRECT file.  Before issue 14 an anonymous page i had a fixed offset
 * (extent_base + i * page), so an eviction round of random victims wrote
 * scattered 4 KiB pages, each into a hole the first time.  This probe
 * times, on one file of SIZE bytes, N pages written as:
 *
 *   holes      scattered 4 KiB O_DIRECT pwrite()s, each into a hole
 *              (block allocation and extent insertion per write)
 *   holes-qd   the same scattered writes, RUN at a time through io_uring
 *              (what write_pages() did: every page its own write, all of
 *              a round in flight together)
 *   falloc     the same offsets after fallocate() of the whole file
 *              (unwritten extents: each write converts one)
 *   overwrite  the same offsets again, now written (plain overwrite)
 *   batch      the N pages as contiguous pwritev()s of RUN pages each,
 *              into holes (what a contiguous slot allocator writes)
 *   batch-fa   the same into fallocated space
 *
 * and, for each, the QD1 4 KiB O_DIRECT random read of written pages
 * afterwards (what a fill pays).  Each mode uses a fresh file; the table
 * gives the median of ROUNDS rounds of the per-page write cost (us) and
 * of the read p50.
 *
 * usage: swap-write-probe [PAGES [ROUNDS [DIR [RUN]]]]
 *   PAGES written per mode (default 4096), ROUNDS (default 3), DIR for the
 *   file (default /var/tmp; unlinked at once), RUN pages per vectored
 *   write (default 64).
 * Exit 77 if DIR refuses O_DIRECT.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PG 4096
#define SPREAD 64 /* file size = PAGES * SPREAD pages, so writes scatter */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static int open_file(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);

	if (fd < 0)
		fprintf(stderr, "swap-write-probe: O_TMPFILE|O_DIRECT in %s: %s "
			"(give a DIR on a disk filesystem)\n", dir,
			strerror(errno));
	return fd;
}

enum mode { M_HOLES, M_HOLES_QD, M_FALLOC, M_OVERWRITE, M_BATCH, M_BATCH_FA, M_NR };
static const char *const mode_name[M_NR] = {
	"holes", "holes-qd", "falloc", "overwrite", "batch", "batch-fa",
};

/* One round of one mode; *wr = us per page written, *rd = read p50 us. */
static int run_mode(enum mode m, const char *dir, size_t pages, size_t run,
		    char *buf, double *wr, double *rd)
{
	uint64_t file_pages = (uint64_t)pages * SPREAD;
	uint64_t *offs = malloc(pages * sizeof(*offs));
	double *lat = malloc(pages * sizeof(*lat));
	struct iovec *iov = malloc(run * sizeof(*iov));
	double t0;
	size_t i, j;
	int fd, ret = -1;

	if (!offs || !lat || !iov)
		goto out_free;
	fd = open_file(dir);
	if (fd < 0) {
		ret = 77;
		goto out_free;
	}
	/* Distinct random pages (sorted then shuffled: no duplicates). */
	for (i = 0; i < pages; i++)
		offs[i] = (i * SPREAD + (uint64_t)rand() % SPREAD) * PG;
	for (i = pages - 1; i > 0; i--) {
		j = (size_t)rand() % (i + 1);
		uint64_t t = offs[i];
		offs[i] = offs[j];
		offs[j] = t;
	}
	if ((m == M_FALLOC || m == M_BATCH_FA) &&
	    fallocate(fd, 0, 0, (off_t)(file_pages * PG))) {
		fprintf(stderr, "swap-write-probe: fallocate: %s\n",
			strerror(errno));
		goto out_close;
	}
	if (m == M_OVERWRITE) {
		for (i = 0; i < pages; i++)
			if (pwrite(fd, buf, PG, (off_t)offs[i]) != PG)
				goto out_io;
		fdatasync(fd);
	}

	t0 = now_us();
	if (m == M_BATCH || m == M_BATCH_FA) {
		/* Contiguous from a random base: a batch lands in one run. */
		uint64_t base = offs[0] / PG / SPREAD * PG;

		for (i = 0; i < pages; i += run) {
			size_t n = pages - i < run ? pages - i : run;

			for (j = 0; j < n; j++)
				iov[j] = (struct iovec){ buf + j * PG, PG };
			if (pwritev(fd, iov, (int)n, (off_t)(base + i * PG)) !=
			    (ssize_t)(n * PG))
				goto out_io;
		}
		for (i = 0; i < pages; i++)
			offs[i] = base + i * PG;
	} else if (m == M_HOLES_QD) {
		struct io_uring ring;
		struct io_uring_cqe *cqe;

		if (io_uring_queue_init((unsigned)run, &ring, 0))
			goto out_io;
		for (i = 0; i < pages; i += run) {
			size_t n = pages - i < run ? pages - i : run;

			for (j = 0; j < n; j++)
				io_uring_prep_write(io_uring_get_sqe(&ring),
						    fd, buf + j * PG, PG,
						    offs[i + j]);
			io_uring_submit(&ring);
			for (j = 0; j < n; j++) {
				if (io_uring_wait_cqe(&ring, &cqe) ||
				    cqe->res != PG) {
					io_uring_queue_exit(&ring);
					goto out_io;
				}
				io_uring_cqe_seen(&ring, cqe);
			}
		}
		io_uring_queue_exit(&ring);
	} else {
		for (i = 0; i < pages; i++)
			if (pwrite(fd, buf, PG, (off_t)offs[i]) != PG)
				goto out_io;
	}
	*wr = (now_us() - t0) / (double)pages;

	/* Reads of written pages, random order, QD1. */
	for (i = pages - 1; i > 0; i--) {
		j = (size_t)rand() % (i + 1);
		uint64_t t = offs[i];
		offs[i] = offs[j];
		offs[j] = t;
	}
	for (i = 0; i < pages; i++) {
		double t = now_us();

		if (pread(fd, buf, PG, (off_t)offs[i]) != PG)
			goto out_io;
		lat[i] = now_us() - t;
	}
	*rd = median(lat, pages);
	ret = 0;
	goto out_close;
out_io:
	fprintf(stderr, "swap-write-probe: %s: I/O failed: %s\n", mode_name[m],
		strerror(errno));
out_close:
	close(fd);
out_free:
	free(iov);
	free(lat);
	free(offs);
	return ret;
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 4096;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	const char *dir = argc > 3 ? argv[3] : "/var/tmp";
	size_t run = argc > 4 ? strtoul(argv[4], NULL, 0) : 64;
	double wr[M_NR][32], rd[M_NR][32];
	char *buf;
	int m, k, ret;

	if (!pages || rounds < 1 || rounds > 32 || !run || run > 1024) {
		fprintf(stderr, "usage: swap-write-probe [PAGES [ROUNDS(1-32) "
			"[DIR [RUN(1-1024)]]]]\n");
		return 2;
	}
	if (posix_memalign((void **)&buf, PG, run * PG))
		return 1;
	memset(buf, 0xa5, run * PG);
	srand(1);
	/* Modes interleaved within each round: drift hits them alike. */
	for (k = 0; k < rounds; k++)
		for (m = 0; m < M_NR; m++) {
			ret = run_mode((enum mode)m, dir, pages, run, buf,
				       &wr[m][k], &rd[m][k]);
			if (ret)
				return ret;
		}
	printf("swap-write-probe: %zu pages of 4 KiB, file %zu MiB, run %zu, "
	       "%d rounds, %s\n", pages, pages * SPREAD * PG >> 20, run,
	       rounds, dir);
	printf("%-10s %14s %14s\n", "mode", "write us/page", "read p50 us");
	for (m = 0; m < M_NR; m++)
		printf("%-10s %14.1f %14.1f\n", mode_name[m],
		       median(wr[m], (size_t)rounds),
		       median(rd[m], (size_t)rounds));
	free(buf);
	return 0;
}
