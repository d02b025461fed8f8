// SPDX-License-Identifier: MIT
/*
 * uffd-xproc-probe - does a userfaultfd round trip cost more when the
 * handler lives in another process, as upagerd serves its clients?
 *
 *   uffd-xproc-probe thread|process [FAULTS]
 *
 * Anonymous private memory registered for MISSING faults; each fault is
 * resolved with one UFFDIO_COPY of a zero page by a handler blocked in
 * read() on the uffd: a thread of this process ("thread"), or a forked
 * child that holds the same uffd ("process": the kernel then wakes a task
 * of another address space and the copy lands in a foreign mm).  Prints
 * the mean time per fault as the faulting thread sees it.  Measured on
 * 2026-12-07 (BENCHMARKS.md, "Issue 14's table, measured on a quiet
 * machine"): 36.9 us against 37.1, the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int uffd = -1;
static size_t nfaults = 20000;
static char zero_page[4096] __attribute__((aligned(4096)));

static void *serve(void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < nfaults; i++) {
		struct uffd_msg m;
		struct uffdio_copy c = { .src = (unsigned long)zero_page,
					 .len = sizeof(zero_page) };

		if (read(uffd, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
			perror("uffd-xproc-probe: read");
			exit(1);
		}
		c.dst = m.arg.pagefault.address & ~(unsigned long long)4095;
		if (ioctl(uffd, UFFDIO_COPY, &c)) {
			perror("uffd-xproc-probe: UFFDIO_COPY");
			exit(1);
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	volatile char sum = 0;
	pthread_t t;
	pid_t pid = -1;
	int xproc, status;
	double t0, dt;
	char *p;
	size_t i;

	if (argc < 2 || (strcmp(argv[1], "thread") && strcmp(argv[1], "process"))) {
		fprintf(stderr, "usage: uffd-xproc-probe thread|process [FAULTS]\n");
		return 2;
	}
	xproc = !strcmp(argv[1], "process");
	if (argc > 2 && (nfaults = strtoul(argv[2], NULL, 10)) == 0) {
		fprintf(stderr, "uffd-xproc-probe: FAULTS must be a positive number\n");
		return 2;
	}
	p = mmap(NULL, nfaults * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (p == MAP_FAILED || uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "uffd-xproc-probe: no userfaultfd here: %s\n",
			strerror(errno));
		return 77;
	}
	reg.range.start = (unsigned long)p;
	reg.range.len = nfaults * 4096;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		perror("uffd-xproc-probe: UFFDIO_REGISTER");
		return 1;
	}
	if (xproc) {
		pid = fork();
		if (pid < 0) {
			perror("uffd-xproc-probe: fork");
			return 1;
		}
		if (pid == 0) {
			serve(NULL);
			_exit(0);
		}
	} else if (pthread_create(&t, NULL, serve, NULL)) {
		fprintf(stderr, "uffd-xproc-probe: cannot start the handler\n");
		return 1;
	}
	t0 = now();
	for (i = 0; i < nfaults; i++)
		sum += p[i * 4096];
	dt = now() - t0;
	if (xproc) {
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "uffd-xproc-probe: the handler process failed\n");
			return 1;
		}
	} else {
		pthread_join(t, NULL);
	}
	printf("%s handler: %.1f us per fault (%zu faults)\n",
	       xproc ? "other-process" : "same-process",
	       dt * 1e6 / (double)nfaults, nfaults);
	return 0;
}
