// SPDX-License-Identifier: MIT
/*
 * uring-registered-probe - do io_uring's registered files and buffers pay
 * on upager's I/O path?  (docs/io-uring.md records the answers.)
 *
 *   uring-registered-probe files FILE [N]
 *       N random 4 KiB O_DIRECT reads of FILE at queue depth 1, in rounds
 *       that alternate a plain fd and a registered one
 *       (IOSQE_FIXED_FILE); prints the mean of each.  A second thread
 *       exists for the whole run, as in the runtime: the fd table is
 *       shared, so a plain fd costs the atomic fget/fput a registered
 *       one skips.
 *
 *   uring-registered-probe buffers
 *       What a registered buffer over a memfd mapping (upager's alias)
 *       does when the memfd is punched, as eviction does: the buffer
 *       keeps the old pages pinned, so a read through it after the punch
 *       lands in a page the memfd no longer has.  Prints what the memfd
 *       holds afterwards; exit status 0 when that is what happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "uring-registered-probe: %s: %s\n", what,
		strerror(err));
	exit(1);
}

/* One read at QD1; returns its time in ns. */
static uint64_t read_one(struct io_uring *ring, int fd, bool fixed,
			 void *buf, uint64_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	uint64_t t0 = now_ns();
	int ret;

	io_uring_prep_read(sqe, fixed ? 0 : fd, buf, PAGE, off);
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		die("submit", -ret);
	if (io_uring_peek_cqe(ring, &cqe))
		die("no completion", EIO);
	if (cqe->res != PAGE)
		die("read", cqe->res < 0 ? -cqe->res : EIO);
	io_uring_cqe_seen(ring, cqe);
	return now_ns() - t0;
}

static void *idle_thread(void *arg)
{
	int *stop_fd = arg;
	char c;

	/* Blocks until main closes the pipe's write end. */
	return read(*stop_fd, &c, 1) < 0 ? NULL : NULL;
}

static int probe_files(const char *path, unsigned n)
{
	struct io_uring ring;
	uint64_t sum[2] = { 0, 0 }, pages, x = 88172645463325252ull;
	unsigned cnt[2] = { 0, 0 }, i;
	int fd, pfd[2], ret;
	pthread_t th;
	void *buf;

	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		die(path, errno);
	pages = (uint64_t)lseek(fd, 0, SEEK_END) / PAGE;
	if (!pages)
		die("file smaller than a page", EINVAL);
	buf = aligned_alloc(PAGE, PAGE);
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret)
		die("io_uring_queue_init", -ret);
	ret = io_uring_register_files(&ring, &fd, 1);
	if (ret)
		die("io_uring_register_files", -ret);
	if (pipe(pfd) || pthread_create(&th, NULL, idle_thread, &pfd[0]))
		die("thread", errno);
	for (i = 0; i < n; i++) {
		bool fixed = (i / 100) & 1; /* rounds of 100 each way */

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sum[fixed] += read_one(&ring, fd, fixed, buf, (x % pages) * PAGE);
		cnt[fixed]++;
	}
	close(pfd[1]);
	pthread_join(th, NULL);
	printf("4 KiB O_DIRECT reads at QD1, %u each way, 2 threads:\n"
	       "  plain fd:      mean %.2f us\n"
	       "  registered fd: mean %.2f us\n",
	       cnt[0], (double)sum[0] / cnt[0] / 1e3,
	       (double)sum[1] / cnt[1] / 1e3);
	io_uring_queue_exit(&ring);
	return 0;
}

static int probe_buffers(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct iovec iov;
	char src[PAGE], seen[PAGE];
	int mfd, sfd, ret;
	char *alias;
	FILE *tmp;

	/* The "store": a page of 'S'. */
	tmp = tmpfile();
	if (!tmp)
		die("tmpfile", errno);
	sfd = fileno(tmp);
	memset(src, 'S', PAGE);
	if (pwrite(sfd, src, PAGE, 0) != PAGE)
		die("pwrite", errno);
	/* The region's memfd and the runtime's alias of it. */
	mfd = memfd_create("probe", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, PAGE))
		die("memfd", errno);
	alias = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (alias == MAP_FAILED)
		die("mmap", errno);
	memset(alias, 'A', PAGE);
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret)
		die("io_uring_queue_init", -ret);
	iov = (struct iovec){ .iov_base = alias, .iov_len = PAGE };
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (ret)
		die("io_uring_register_buffers", -ret);
	/* Eviction: punch the page out of the memfd. */
	if (fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      PAGE))
		die("punch", errno);
	/* A fill through the registered buffer. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read_fixed(sqe, sfd, alias, PAGE, 0, 0);
	ret = io_uring_submit_and_wait(&ring, 1);
	if (ret < 0 || io_uring_peek_cqe(&ring, &cqe))
		die("read_fixed", ret < 0 ? -ret : EIO);
	printf("read_fixed into the registered alias after the punch: %d\n",
	       cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	if (pread(mfd, seen, PAGE, 0) != PAGE)
		die("pread memfd", errno);
	printf("the memfd's page now holds %s, the alias maps %s; the store "
	       "holds 'S' and the read went to the pinned, punched page\n",
	       seen[0] ? "data" : "zeros", alias[0] ? "data" : "zeros");
	io_uring_queue_exit(&ring);
	return seen[0] == 'S' ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "files"))
		return probe_files(argv[2],
				   argc > 3 ? (unsigned)atoi(argv[3]) : 20000);
	if (argc == 2 && !strcmp(argv[1], "buffers"))
		return probe_buffers();
	fprintf(stderr, "usage: uring-registered-probe files FILE [N] | "
			"buffers\n");
	return 2;
}
