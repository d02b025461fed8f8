// SPDX-License-Identifier: MIT
/*
 * memfd-read-probe - how fast can O_DIRECT reads fill fresh memfd pages?
 *
 * The floor of upager's sequential read (docs/seq-read.md): every fill
 * reads the store into the runtime's alias of the region's memfd, and a
 * page evicted before was punched out, so each read lands in pages the
 * kernel must allocate and zero first.  The kernel's page cache reads
 * into folios it does not zero.  This probe reads a whole file with
 * io_uring, CHUNK KiB per read, QD reads in flight, into:
 *   buffer   one reused anonymous buffer (the disk's own speed)
 *   memfd    a fresh memfd mapping, as upager's fills do
 *   memfd-populated  the same memfd, its pages allocated and mapped
 *            before the clock starts (zeroing and mapping excluded)
 *   staged   QD reused buffers, each read written into a fresh memfd
 *            with pwrite() as it completes (shmem allocates the pages
 *            for a full-page write without zeroing them, and no page
 *            table is filled; one more copy)
 *
 * usage: memfd-read-probe FILE CHUNK_KIB QD buffer|memfd|memfd-populated|staged
 * The file's page cache does not matter (O_DIRECT); run it twice to see
 * the host's cache warm.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum target { T_BUFFER, T_MEMFD, T_MEMFD_POPULATED, T_STAGED };

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: memfd-read-probe FILE CHUNK_KIB QD "
			"buffer|memfd|memfd-populated|staged\n"
			"  CHUNK_KIB: a multiple of 4 (bytes per read); "
			"QD: 1..256 reads in flight\n");
	return 2;
}

/* The destination of all reads: @size bytes, or @chunk * @qd reused (and
 * for T_STAGED a memfd of @size bytes in *@memfd). */
static char *destination(enum target t, off_t size, size_t chunk, int qd,
			 int *memfd)
{
	char *p;
	int fd;

	if (t == T_BUFFER || t == T_STAGED) {
		p = aligned_alloc(4096, chunk * (size_t)qd);
		if (p)
			memset(p, 0, chunk * (size_t)qd); /* mapped now */
		if (t == T_STAGED) {
			*memfd = memfd_create("memfd-read-probe", MFD_CLOEXEC);
			if (*memfd < 0 || ftruncate(*memfd, size))
				return NULL;
		}
		return p;
	}
	fd = memfd_create("memfd-read-probe", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size))
		return NULL;
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | (t == T_MEMFD_POPULATED ? MAP_POPULATE : 0),
		 fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	enum target t;
	size_t chunk;
	off_t size, off = 0;
	int fd, qd, inflight = 0, ret, memfd = -1, nfree, i;
	int free_slot[256];
	off_t slot_off[256];
	char *dst;
	double t0, dt;

	if (argc != 5)
		return usage();
	chunk = strtoul(argv[2], NULL, 10) << 10;
	qd = atoi(argv[3]);
	if (!chunk || chunk % 4096 || qd < 1 || qd > 256)
		return usage();
	if (!strcmp(argv[4], "buffer"))
		t = T_BUFFER;
	else if (!strcmp(argv[4], "memfd"))
		t = T_MEMFD;
	else if (!strcmp(argv[4], "memfd-populated"))
		t = T_MEMFD_POPULATED;
	else if (!strcmp(argv[4], "staged"))
		t = T_STAGED;
	else
		return usage();
	fd = open(argv[1], O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "memfd-read-probe: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	size = lseek(fd, 0, SEEK_END);
	size -= size % (off_t)chunk;
	if (size <= 0) {
		fprintf(stderr, "memfd-read-probe: %s is smaller than one "
				"chunk\n", argv[1]);
		return 1;
	}
	t0 = now_s();
	dst = destination(t, size, chunk, qd, &memfd);
	for (i = 0; i < qd; i++)
		free_slot[i] = i;
	nfree = qd;
	dt = now_s() - t0;
	if (t == T_MEMFD_POPULATED)
		printf("memfd pages allocated, zeroed and mapped (MAP_POPULATE):"
		       " %.3f s\n", dt);
	ret = io_uring_queue_init((unsigned)qd, &ring, 0);
	if (!dst || ret) {
		fprintf(stderr, "memfd-read-probe: set-up: %s\n",
			strerror(ret ? -ret : ENOMEM));
		return 1;
	}
	t0 = now_s();
	while (off < size || inflight) {
		struct io_uring_cqe *cqe;

		while (inflight < qd && off < size) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			int slot = free_slot[--nfree];
			char *buf = t == T_BUFFER || t == T_STAGED ?
					    dst + (size_t)slot * chunk :
					    dst + off;

			io_uring_prep_read(sqe, fd, buf, (unsigned)chunk,
					   (__u64)off);
			io_uring_sqe_set_data64(sqe, (__u64)slot);
			slot_off[slot] = off;
			off += (off_t)chunk;
			inflight++;
		}
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0) {
			fprintf(stderr, "memfd-read-probe: io_uring: %s\n",
				strerror(-ret));
			return 1;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res != (int)chunk) {
				fprintf(stderr, "memfd-read-probe: read: %s\n",
					cqe->res < 0 ? strerror(-cqe->res) :
						       "short read");
				return 1;
			}
			i = (int)io_uring_cqe_get_data64(cqe);
			io_uring_cqe_seen(&ring, cqe);
			if (t == T_STAGED &&
			    pwrite(memfd, dst + (size_t)i * chunk, chunk,
				   slot_off[i]) != (ssize_t)chunk) {
				perror("memfd-read-probe: pwrite");
				return 1;
			}
			free_slot[nfree++] = i;
			inflight--;
		}
	}
	dt = now_s() - t0;
	printf("%s: %lld MiB in %zu KiB reads, %d in flight: %.3f s, "
	       "%.0f MB/s\n", argv[4], (long long)(size >> 20), chunk >> 10,
	       qd, dt, (double)size / dt / 1e6);
	io_uring_queue_exit(&ring);
	return 0;
}
