// SPDX-License-Identifier: MIT
/*
 * fault-path-probe - what a userfaultfd round trip costs in upager's
 * memory model, step by step, without the runtime.
 *
 * upager-bench's raw-uffd floor resolves a fault on anonymous memory with
 * one UFFDIO_COPY.  upager's regions are memfd-backed (DESIGN.md): a
 * first touch is a MISSING fault on shmem, the handler reads the store
 * into its alias mapping of the memfd (allocating the shmem page), then
 * maps it with UFFDIO_CONTINUE, write-protected so that the first write is
 * seen, from a handler that sleeps in epoll_wait() on the uffd and its
 * io_uring.  Each fill below adds one of those steps, so the difference
 * between two neighbours is the cost of that step:
 *
 *   anon-copy     anonymous, MISSING, UFFDIO_COPY (= raw-uffd's floor)
 *   memfd-copy    memfd MAP_SHARED, MISSING, UFFDIO_COPY
 *   continue      memfd, MISSING|MINOR; memcpy into the alias, CONTINUE
 *   continue-wp   memfd, MISSING|MINOR|WP; memcpy, CONTINUE_MODE_WP
 *   pread-wp      as continue-wp, the alias filled by pread() from a file
 *                 in the page cache (a warm buffered store)
 *   uring-wp      as pread-wp, the read through io_uring (submit, wait)
 *
 * and two that fill the memfd page without touching the alias mapping
 * (no page fault in the handler, no page table of the alias to fill):
 *   pwrite-wp     as continue-wp, the page written with pwrite() to the
 *                 memfd from memory
 *   sendfile-wp   as pread-wp, the file's page sent to the memfd with
 *                 sendfile() (page cache to shmem inside the kernel)
 *   staged-wp     as pread-wp, read into a reused staging page, then
 *                 pwrite() to the memfd (one more 4 KiB copy)
 *
 * and two that prepare the alias before the memcpy of continue-wp:
 *   falloc-wp     fallocate() the memfd page first (allocated, not
 *                 mapped: the memcpy takes a minor fault)
 *   populate-wp   MADV_POPULATE_WRITE on the alias page first (allocated
 *                 and mapped in the kernel, without a fault exception)
 *
 * and each runs with the handler waiting in a blocking read() of the uffd
 * (as raw-uffd) or in epoll_wait() then a non-blocking read() (as
 * upager's handlers).  One faulting thread touches (reads) every page of
 * a fresh region once, in a shuffled order; each touch is timed.  The
 * fills rotate ROUNDS times; the table gives the median over the rounds
 * of each round's p50 and mean.  The content of every touched page is
 * checked.
 *
 * usage: fault-path-probe [PAGES [ROUNDS [DIR]]]
 *   PAGES per region (default 2048), ROUNDS (default 5), DIR for the
 *   data file of the read fills (default /var/tmp; removed at exit).
 * Exit 77 if userfaultfd or a feature it needs is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

enum fill { F_ANON_COPY, F_MEMFD_COPY, F_CONTINUE, F_CONTINUE_WP,
	    F_PREAD_WP, F_URING_WP, F_PWRITE_WP, F_SENDFILE_WP, F_STAGED_WP, F_FALLOC_WP,
	    F_POPULATE_WP, NFILLS };
enum wait { W_READ, W_EPOLL, NWAITS };

static const char *const fill_names[NFILLS] = {
	"anon-copy", "memfd-copy", "continue", "continue-wp", "pread-wp",
	"uring-wp", "pwrite-wp", "sendfile-wp", "staged-wp", "falloc-wp",
	"populate-wp",
};
static const char *const wait_names[NWAITS] = { "read", "epoll" };

static size_t PS;

struct run {
	enum fill fill;
	enum wait wait;
	uint64_t pages;
	int uffd, memfd, datafd, epfd;
	char *app, *alias, *src, *stage;
	struct io_uring ring;
	int err; /* handler's first error, as -errno */
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The word at every 8 bytes of page @pg: what the page must hold. */
static uint64_t word(uint64_t pg, uint64_t i)
{
	return (pg * 0x9e3779b97f4a7c15ull) ^ i;
}

static void pattern(char *page, uint64_t pg)
{
	uint64_t *w = (uint64_t *)page, i;

	for (i = 0; i < PS / 8; i++)
		w[i] = word(pg, i);
}

/* Fill the alias page of @pg as the run's fill says; 0 or -errno. */
static int fill_alias(struct run *r, uint64_t pg)
{
	char *dst = r->alias + pg * PS;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	ssize_t n;
	int ret;

	switch (r->fill) {
	case F_PWRITE_WP:
		n = pwrite(r->memfd, r->src + pg * PS, PS, (off_t)(pg * PS));
		return n == (ssize_t)PS ? 0 : n < 0 ? -errno : -EIO;
	case F_SENDFILE_WP: {
		off_t in = (off_t)(pg * PS);

		if (lseek(r->memfd, (off_t)(pg * PS), SEEK_SET) < 0)
			return -errno;
		n = sendfile(r->memfd, r->datafd, &in, PS);
		return n == (ssize_t)PS ? 0 : n < 0 ? -errno : -EIO;
	}
	case F_STAGED_WP:
		n = pread(r->datafd, r->stage, PS, (off_t)(pg * PS));
		if (n != (ssize_t)PS)
			return n < 0 ? -errno : -EIO;
		n = pwrite(r->memfd, r->stage, PS, (off_t)(pg * PS));
		return n == (ssize_t)PS ? 0 : n < 0 ? -errno : -EIO;
	case F_FALLOC_WP:
		if (fallocate(r->memfd, FALLOC_FL_KEEP_SIZE, (off_t)(pg * PS),
			      (off_t)PS))
			return -errno;
		memcpy(dst, r->src + pg * PS, PS);
		return 0;
	case F_POPULATE_WP:
		if (madvise(dst, PS, MADV_POPULATE_WRITE))
			return -errno;
		memcpy(dst, r->src + pg * PS, PS);
		return 0;
	case F_PREAD_WP:
		n = pread(r->datafd, dst, PS, (off_t)(pg * PS));
		return n == (ssize_t)PS ? 0 : n < 0 ? -errno : -EIO;
	case F_URING_WP:
		sqe = io_uring_get_sqe(&r->ring);
		io_uring_prep_read(sqe, r->datafd, dst, (unsigned)PS,
				   pg * PS);
		ret = io_uring_submit_and_wait(&r->ring, 1);
		if (ret < 0)
			return ret;
		ret = io_uring_wait_cqe(&r->ring, &cqe);
		if (ret < 0)
			return ret;
		ret = cqe->res == (int)PS ? 0 : cqe->res < 0 ? cqe->res : -EIO;
		io_uring_cqe_seen(&r->ring, cqe);
		return ret;
	default:
		memcpy(dst, r->src + pg * PS, PS);
		return 0;
	}
}

static int resolve(struct run *r, uint64_t addr)
{
	uint64_t pg = (addr - (uintptr_t)r->app) / PS;
	int ret;

	addr &= ~(uint64_t)(PS - 1);
	if (r->fill == F_ANON_COPY || r->fill == F_MEMFD_COPY) {
		struct uffdio_copy c = {
			.dst = addr,
			.src = (uintptr_t)(r->src + pg * PS),
			.len = PS,
		};

		return ioctl(r->uffd, UFFDIO_COPY, &c) ? -errno : 0;
	}
	ret = fill_alias(r, pg);
	if (!ret) {
		struct uffdio_continue c = {
			.range = { addr, PS },
			.mode = r->fill == F_CONTINUE ? 0 :
							UFFDIO_CONTINUE_MODE_WP,
		};

		ret = ioctl(r->uffd, UFFDIO_CONTINUE, &c) ? -errno : 0;
	}
	return ret;
}

static void *handler(void *arg)
{
	struct run *r = arg;
	struct uffd_msg m;
	struct epoll_event ev;

	for (;;) {
		ssize_t n;

		if (r->wait == W_EPOLL &&
		    epoll_wait(r->epfd, &ev, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			r->err = -errno;
			return NULL;
		}
		n = read(r->uffd, &m, sizeof(m));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != (ssize_t)sizeof(m)) {
			r->err = n < 0 ? -errno : -EIO;
			return NULL;
		}
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		{
			int ret = resolve(r, m.arg.pagefault.address);

			if (ret && ret != -EEXIST && !r->err)
				r->err = ret;
		}
	}
}

static int open_uffd(int flags)
{
	int fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, flags);
	return fd;
}

/* Set up @r's region, uffd and handler; exit 77 if unsupported. */
static void setup(struct run *r)
{
	bool shm = r->fill != F_ANON_COPY;
	uint64_t len = r->pages * PS;
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = shm ? UFFD_FEATURE_MINOR_SHMEM : 0,
	};
	struct uffdio_register reg = { .range = { 0, len } };

	r->uffd = open_uffd(O_CLOEXEC |
			    (r->wait == W_EPOLL ? O_NONBLOCK : 0));
	if (r->uffd < 0 || ioctl(r->uffd, UFFDIO_API, &api)) {
		perror("fault-path-probe: userfaultfd");
		exit(77);
	}
	if (shm) {
		r->memfd = memfd_create("fault-path-probe", MFD_CLOEXEC);
		if (r->memfd < 0 || ftruncate(r->memfd, (off_t)len))
			die("memfd");
		r->app = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			      r->memfd, 0);
		r->alias = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_SHARED, r->memfd, 0);
		if (r->alias == MAP_FAILED)
			die("mmap alias");
	} else {
		r->memfd = -1;
		r->app = mmap(NULL, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (r->app == MAP_FAILED)
		die("mmap");
	reg.range.start = (uintptr_t)r->app;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (r->fill >= F_CONTINUE)
		reg.mode |= UFFDIO_REGISTER_MODE_MINOR;
	if (r->fill >= F_CONTINUE_WP)
		reg.mode |= UFFDIO_REGISTER_MODE_WP;
	if (ioctl(r->uffd, UFFDIO_REGISTER, &reg)) {
		perror("fault-path-probe: UFFDIO_REGISTER");
		exit(77);
	}
	if (r->fill == F_URING_WP && io_uring_queue_init(8, &r->ring, 0))
		die("io_uring_queue_init");
	if (r->wait == W_EPOLL) {
		struct epoll_event ev = { .events = EPOLLIN };

		r->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (r->epfd < 0 ||
		    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->uffd, &ev))
			die("epoll");
	} else {
		r->epfd = -1;
	}
}

static void teardown(struct run *r)
{
	munmap(r->app, r->pages * PS);
	if (r->memfd >= 0) {
		munmap(r->alias, r->pages * PS);
		close(r->memfd);
	}
	if (r->fill == F_URING_WP)
		io_uring_queue_exit(&r->ring);
	if (r->epfd >= 0)
		close(r->epfd);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One region faulted in, page by page in @order; p50 and mean in us. */
static void run_one(struct run *r, const uint64_t *order, double *p50,
		    double *mean)
{
	uint64_t *lat = calloc(r->pages, sizeof(*lat)), sum = 0, i;
	pthread_t t;

	if (!lat)
		die("calloc");
	setup(r);
	if (pthread_create(&t, NULL, handler, r))
		die("pthread_create");
	for (i = 0; i < r->pages; i++) {
		uint64_t pg = order[i], t0 = now_ns();
		const volatile uint64_t *w =
			(const volatile uint64_t *)(r->app + pg * PS);
		uint64_t v = w[1];

		lat[i] = now_ns() - t0;
		sum += lat[i];
		if (v != word(pg, 1) || w[PS / 8 - 1] != word(pg, PS / 8 - 1)) {
			fprintf(stderr,
				"fault-path-probe: %s/%s: page %llu holds "
				"wrong data\n",
				fill_names[r->fill], wait_names[r->wait],
				(unsigned long long)pg);
			exit(1);
		}
	}
	/* Every page is in: the handler waits in read() or epoll_wait(),
	 * both cancellation points (closing the uffd would not wake it). */
	pthread_cancel(t);
	pthread_join(t, NULL);
	close(r->uffd);
	if (r->err) {
		fprintf(stderr, "fault-path-probe: %s/%s: handler: %s\n",
			fill_names[r->fill], wait_names[r->wait],
			strerror(-r->err));
		exit(1);
	}
	teardown(r);
	qsort(lat, r->pages, sizeof(*lat), cmp_u64);
	*p50 = (double)lat[r->pages / 2] / 1e3;
	*mean = (double)sum / (double)r->pages / 1e3;
	free(lat);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 2048;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 5, k, f, w;
	const char *dir = argc > 3 ? argv[3] : "/var/tmp";
	double p50[NFILLS][NWAITS][64], mean[NFILLS][NWAITS][64];
	uint64_t *order, i, state = 88172645463325252ull;
	char path[4096], *src, *stage;
	int datafd;

	PS = (size_t)sysconf(_SC_PAGESIZE);
	if (pages < 16 || pages > (1u << 20) || rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: fault-path-probe [PAGES [ROUNDS "
				"[DIR]]]\n  PAGES: 16..1048576 per region; "
				"ROUNDS: 1..64\n");
		return 2;
	}
	/* The data: in memory for the copies, in a file in the page cache
	 * for the reads. */
	src = aligned_alloc(PS, pages * PS);
	order = calloc(pages, sizeof(*order));
	stage = aligned_alloc(PS, PS);
	if (!src || !order || !stage)
		die("alloc");
	memset(stage, 0, PS); /* mapped before the clock starts */
	for (i = 0; i < pages; i++) {
		pattern(src + i * PS, i);
		order[i] = i;
	}
	for (i = pages - 1; i > 0; i--) { /* xorshift, Fisher-Yates */
		uint64_t j, tmp;

		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		j = state % (i + 1);
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	/* XXXXXX: mkstemp()'s template, replaced by a unique name. */
	if (snprintf(path, sizeof(path), "%s/fault-path-probe.XXXXXX", dir) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "fault-path-probe: DIR is too long (at most "
				"%zu bytes)\n",
			sizeof(path) - sizeof("/fault-path-probe.XXXXXX"));
		return 2;
	}
	datafd = mkstemp(path);
	if (datafd < 0)
		die(path);
	unlink(path);
	if (pwrite(datafd, src, pages * PS, 0) != (ssize_t)(pages * PS))
		die("pwrite");

	for (k = 0; k < rounds; k++)
		for (f = 0; f < NFILLS; f++)
			for (w = 0; w < NWAITS; w++) {
				struct run r = { .fill = (enum fill)f,
						 .wait = (enum wait)w,
						 .pages = pages,
						 .datafd = datafd,
						 .src = src,
						 .stage = stage };

				run_one(&r, order, &p50[f][w][k],
					&mean[f][w][k]);
			}
	printf("fault-path-probe: %llu first touches per region, %u rounds; "
	       "median over rounds of p50 / mean, us\n",
	       (unsigned long long)pages, rounds);
	printf("%-12s %18s %18s\n", "fill", "handler read()",
	       "handler epoll");
	for (f = 0; f < NFILLS; f++) {
		printf("%-12s", fill_names[f]);
		for (w = 0; w < NWAITS; w++) {
			qsort(p50[f][w], rounds, sizeof(double), cmp_double);
			qsort(mean[f][w], rounds, sizeof(double), cmp_double);
			printf(" %8.1f / %7.1f", p50[f][w][rounds / 2],
			       mean[f][w][rounds / 2]);
		}
		printf("\n");
	}
	close(datafd);
	free(order);
	free(src);
	free(stage);
	return 0;
}
