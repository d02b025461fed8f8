// SPDX-License-Identifier: MIT
/*
 * folio-probe - do large shmem folios cut the cost of upager's memory
 * model (DESIGN.md: memfd + alias mapping + UFFDIO_CONTINUE)?
 *
 * Streams SIZE MiB through a shmem object the way a sequential fill does,
 * CHUNK bytes at a time, keeping WINDOW MiB resident, and times each step
 * separately (per GiB):
 *
 *   alloc     allocate + zero the chunk's folios through the alias mapping
 *             (MADV_POPULATE_WRITE; a fill's O_DIRECT read does the same
 *             inside get_user_pages)
 *   read      optional: O_DIRECT pread() of FILE into the (populated) alias
 *   continue  UFFDIO_CONTINUE of the chunk on the application mapping
 *             (registered MISSING|MINOR), one ioctl per folio
 *   touch     first read of one word per 4 KiB page through the
 *             application mapping
 *   touch2    the same touches again (what is left is cache misses, not
 *             page-table or TLB work)
 *   punch     FALLOC_FL_PUNCH_HOLE of the chunk WINDOW MiB behind, whole
 *             folios only (the chunk is a multiple of the folio)
 *
 * The shmem object:
 *   memfd       memfd_create(), as the runtime does today
 *   memfd-64k   memfd, with hugepages-64kB/shmem_enabled set to "advise"
 *               for the run and MADV_HUGEPAGE on both mappings
 *   memfd-2m    the same with hugepages-2048kB
 *   tmpfs-huge  an O_TMPFILE on a tmpfs mounted huge=within_size in a
 *               private mount namespace the probe creates (it disappears
 *               with the probe, whatever way it exits)
 * plus "-nouffd" after any of them: the application mapping is a plain
 * MAP_SHARED mapping of the object, not registered (no CONTINUE; the
 * touches fault normally, and the kernel may map a PMD-sized folio with
 * one PMD), the kernel's own model; or "-remap": registered as above,
 * but each filled chunk is mapped by replacing its part of the
 * application mapping with a plain MAP_SHARED mapping of the object
 * (mmap MAP_FIXED, MADV_HUGEPAGE; the "continue" column), and before the
 * punch the chunk is mapped again and registered MISSING|MINOR (counted
 * in "punch"): a model in which a filled folio can be mapped by a PMD;
 * or "-pretouch": as the registered mapping, but a second thread reads
 * one word of every page of the chunk right after CONTINUE (its time is
 * the "pretouch" column), before the main thread's touches: whether the
 * first-access cost belongs to the PTE (any thread pays it once) or to
 * the thread.
 *
 * The folio sizes obtained are counted from /proc/self/pagemap and
 * /proc/kpageflags (root) on the first chunk and printed.
 *
 * A sysfs setting the probe changes is changed by the parent process,
 * which runs the measurement in a child and restores the setting when the
 * child ends, however it ends (a crash or SIGKILL of the child included);
 * the parent ignores SIGINT/SIGTERM/SIGHUP until it has restored it.  The
 * probe refuses to run if it cannot read the old value or write the file,
 * and holds a lock (/run/folio-probe.lock) so that two probes never
 * save each other's setting as the one to restore.
 *
 * usage: folio-probe MODE [SIZE_MIB [WINDOW_MIB [CHUNK_KIB [FILE [AHEAD_MIB]]]]]
 *   defaults: 2048 MiB, window 512 MiB, chunk 2048 KiB; FILE (>= SIZE)
 *   adds the read step; AHEAD_MIB > 0 (less than the window) moves the
 *   allocation and the read to a filler thread that runs up to that far
 *   ahead of the main thread, as the runtime's read-ahead does (the
 *   "wait" column is the main thread's wait for it; alloc and read are
 *   then the filler's, overlapped).  Exit 77 if the machine cannot give
 *   the mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define THP_DIR "/sys/kernel/mm/transparent_hugepage"
#define PAGE 4096UL

enum step { S_ALLOC, S_READ, S_WAIT, S_CONTINUE, S_PRETOUCH, S_TOUCH,
	    S_TOUCH2, S_PUNCH, S_NR };
static const char *const step_name[S_NR] = {
	"alloc", "read", "wait", "continue", "pretouch", "touch", "touch2",
	"punch",
};

struct probe {
	const char *mode;
	int huge_kib;		/* 0: no sysfs change */
	int tmpfs;
	int uffd_on;
	int remap;
	int pretouch;
	size_t size, window, chunk;
	const char *file;
	size_t ahead;		/* bytes the filler thread may run ahead */
};

static double now_s(void);

/* The filler thread of AHEAD_MIB > 0: allocates and reads chunks ahead
 * of the main thread, at most @ahead_chunks ahead of what it consumed. */
struct filler {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *alias;
	int ffd;
	size_t chunk, nch, ahead_chunks;
	size_t filled, consumed;	/* under mu */
	int err;			/* under mu */
	double t_alloc, t_read;		/* the filler's own */
};

static void *filler_thread(void *varg)
{
	struct filler *f = varg;
	double t0;
	int err = 0;

	for (size_t i = 0; i < f->nch && !err; i++) {
		char *p = f->alias + i * f->chunk;

		pthread_mutex_lock(&f->mu);
		while (i >= f->consumed + f->ahead_chunks)
			pthread_cond_wait(&f->cv, &f->mu);
		pthread_mutex_unlock(&f->mu);
		t0 = now_s();
		if (madvise(p, f->chunk, MADV_POPULATE_WRITE))
			err = errno;
		f->t_alloc += now_s() - t0;
		t0 = now_s();
		if (!err && pread(f->ffd, p, f->chunk, (off_t)(i * f->chunk)) !=
				    (ssize_t)f->chunk)
			err = errno ? errno : EIO;
		f->t_read += now_s() - t0;
		pthread_mutex_lock(&f->mu);
		f->filled = i + 1;
		f->err = err;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The bracketed word of a sysfs choice file ("always [never] ..."). */
static int sysfs_choice(const char *path, char *out, size_t outlen)
{
	char buf[256], *a, *b;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	a = strchr(buf, '[');
	b = a ? strchr(a, ']') : NULL;
	if (!a || !b || (size_t)(b - a - 1) >= outlen)
		return -EINVAL;
	memcpy(out, a + 1, (size_t)(b - a - 1));
	out[b - a - 1] = '\0';
	return 0;
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : (n < 0 ? -errno : -EIO);
}

/* Folio sizes (in pages) of the @len bytes at @p, from pagemap and
 * kpageflags: fills @hist[order] with the number of folios of each order
 * seen whole.  Root only. */
static int folio_histogram(const void *p, size_t len, unsigned long hist[11])
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	size_t i, n = len / PAGE, run = 0;
	int ret = 0;

	memset(hist, 0, 11 * sizeof(hist[0]));
	if (pm < 0 || kf < 0) {
		ret = -errno;
		goto out;
	}
	for (i = 0; i <= n; i++) {
		uint64_t ent = 0, fl = 0, pfn;
		int head = 1, tail = 0;

		if (i < n) {
			if (pread(pm, &ent, 8, (off_t)(((uintptr_t)p / PAGE + i) * 8)) != 8 ||
			    !(ent >> 63)) {
				ret = -EIO;
				goto out;
			}
			pfn = ent & ((1ULL << 55) - 1);
			if (!pfn) {
				ret = -EPERM;
				goto out;
			}
			if (pread(kf, &fl, 8, (off_t)(pfn * 8)) != 8) {
				ret = -EIO;
				goto out;
			}
			tail = !!(fl & (1ULL << 16));	/* KPF_COMPOUND_TAIL */
			head = !tail;
		}
		if (head && run) {
			int o = 0;

			while ((1UL << o) < run && o < 10)
				o++;
			hist[o]++;
			run = 0;
		}
		run++;
	}
out:
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return ret;
}

/* The shmem object of the mode, @size bytes. */
static int shmem_object(const struct probe *pr, char *mntdir)
{
	int fd;

	if (pr->tmpfs) {
		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
			fprintf(stderr, "folio-probe: a private mount namespace: "
					"%s (run as root)\n", strerror(errno));
			return -77;
		}
		if (!mkdtemp(mntdir)) {
			perror("folio-probe: mkdtemp");
			return -1;
		}
		if (mount("folio-probe", mntdir, "tmpfs", 0,
			  "huge=within_size,size=100%")) {
			fprintf(stderr, "folio-probe: tmpfs huge=within_size: "
					"%s\n", strerror(errno));
			rmdir(mntdir);
			return -77;
		}
		fd = open(mntdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	} else {
		fd = memfd_create("folio-probe", MFD_CLOEXEC);
	}
	if (fd < 0 || ftruncate(fd, (off_t)pr->size)) {
		perror("folio-probe: shmem object");
		if (fd >= 0)
			close(fd);
		if (pr->tmpfs && (umount2(mntdir, MNT_DETACH) || rmdir(mntdir)))
			fprintf(stderr, "folio-probe: remove %s: %s\n", mntdir,
				strerror(errno));
		return -1;
	}
	return fd;
}

struct pretouch_arg {
	const char *p;
	size_t len;
	unsigned long sum;
};

/* Read one word of every 4 KiB page of arg->p, from a second thread. */
static void *pretouch_thread(void *varg)
{
	struct pretouch_arg *arg = varg;

	for (size_t p = 0; p < arg->len; p += PAGE)
		arg->sum += *(volatile const unsigned long *)(arg->p + p + 128);
	return NULL;
}

/* Replace the @len bytes of @app at @off with a plain shared mapping of
 * @fd, registered with @uffd (MISSING|MINOR) unless @uffd < 0. */
static int remap(int fd, int uffd, char *app, size_t off, size_t len)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)(app + off), len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
	};

	if (mmap(app + off, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, (off_t)off) == MAP_FAILED ||
	    madvise(app + off, len, MADV_HUGEPAGE) ||
	    (uffd >= 0 && ioctl(uffd, UFFDIO_REGISTER, &reg)))
		return -errno;
	return 0;
}

static int run(const struct probe *pr)
{
	struct filler fl = { .mu = PTHREAD_MUTEX_INITIALIZER,
			     .cv = PTHREAD_COND_INITIALIZER };
	pthread_t filler_th;
	int filler_on = 0;
	char mntdir[] = "/tmp/folio-probe-XXXXXX";
	double t[S_NR] = { 0 }, t0, total;
	unsigned long hist[11];
	size_t off, nch = pr->size / pr->chunk, i;
	char *alias_res = MAP_FAILED, *app_res = MAP_FAILED, *alias, *app;
	const size_t res_len = pr->size + (2UL << 20);
	int fd, ffd = -1, uffd = -1, ret = 1, o;
	volatile unsigned long sink = 0;

	fd = shmem_object(pr, mntdir);
	if (fd < 0)
		return fd == -77 ? 77 : 1;
	if (pr->file) {
		ffd = open(pr->file, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (ffd < 0 || lseek(ffd, 0, SEEK_END) < (off_t)pr->size) {
			fprintf(stderr, "folio-probe: %s: %s\n", pr->file,
				ffd < 0 ? strerror(errno) : "smaller than SIZE");
			goto out;
		}
	}
	/* 2 MiB-aligned mappings, so that a PMD-sized folio can be mapped. */
	alias_res = mmap(NULL, res_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	app_res = mmap(NULL, res_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (alias_res == MAP_FAILED || app_res == MAP_FAILED) {
		perror("folio-probe: reserve");
		goto out;
	}
	alias = (char *)(((uintptr_t)alias_res + (2UL << 20) - 1) &
			 ~((2UL << 20) - 1));
	app = (char *)(((uintptr_t)app_res + (2UL << 20) - 1) &
		       ~((2UL << 20) - 1));
	if (mmap(alias, pr->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) == MAP_FAILED ||
	    mmap(app, pr->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) == MAP_FAILED) {
		perror("folio-probe: mmap");
		goto out;
	}
	if (pr->huge_kib || pr->tmpfs) {
		if (madvise(alias, pr->size, MADV_HUGEPAGE) ||
		    madvise(app, pr->size, MADV_HUGEPAGE)) {
			perror("folio-probe: MADV_HUGEPAGE");
			goto out;
		}
	}
	if (pr->uffd_on) {
		struct uffdio_api api = { .api = UFFD_API,
					  .features = UFFD_FEATURE_MINOR_SHMEM };
		struct uffdio_register reg = {
			.range = { (uintptr_t)app, pr->size },
			.mode = UFFDIO_REGISTER_MODE_MISSING |
				UFFDIO_REGISTER_MODE_MINOR,
		};

		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
				    UFFD_USER_MODE_ONLY);
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
		    ioctl(uffd, UFFDIO_REGISTER, &reg)) {
			fprintf(stderr, "folio-probe: userfaultfd MINOR on "
					"shmem: %s\n", strerror(errno));
			ret = 77;
			goto out;
		}
	}
	total = now_s();
	if (pr->ahead && ffd >= 0) {
		fl.alias = alias;
		fl.ffd = ffd;
		fl.chunk = pr->chunk;
		fl.nch = nch;
		fl.ahead_chunks = pr->ahead / pr->chunk;
		o = pthread_create(&filler_th, NULL, filler_thread, &fl);
		if (o) {
			fprintf(stderr, "folio-probe: pthread_create: %s\n",
				strerror(o));
			goto out;
		}
		filler_on = 1;
	}
	for (i = 0; i < nch; i++) {
		off = i * pr->chunk;
		t0 = now_s();
		if (filler_on) {
			pthread_mutex_lock(&fl.mu);
			while (fl.filled <= i && !fl.err)
				pthread_cond_wait(&fl.cv, &fl.mu);
			o = fl.err;
			pthread_mutex_unlock(&fl.mu);
			t[S_WAIT] += now_s() - t0;
			if (o) {
				fprintf(stderr, "folio-probe: filler: %s\n",
					strerror(o));
				goto out;
			}
		} else if (madvise(alias + off, pr->chunk, MADV_POPULATE_WRITE)) {
			perror("folio-probe: MADV_POPULATE_WRITE");
			goto out;
		} else {
			t[S_ALLOC] += now_s() - t0;
		}
		if (i == 0) {
			int r = folio_histogram(alias, pr->chunk, hist);

			printf("folios in the first chunk:");
			if (r)
				printf(" unknown (%s)", strerror(-r));
			for (o = 0; !r && o <= 10; o++)
				if (hist[o])
					printf(" %lu x %lu KiB", hist[o],
					       (PAGE << o) >> 10);
			printf("\n");
		}
		if (ffd >= 0 && !filler_on) {
			t0 = now_s();
			if (pread(ffd, alias + off, pr->chunk, (off_t)off) !=
			    (ssize_t)pr->chunk) {
				perror("folio-probe: O_DIRECT read");
				goto out;
			}
			t[S_READ] += now_s() - t0;
		}
		if (pr->remap) {
			t0 = now_s();
			if (remap(fd, -1, app, off, pr->chunk)) {
				perror("folio-probe: remap");
				goto out;
			}
			t[S_CONTINUE] += now_s() - t0;
		} else if (uffd >= 0) {
			struct uffdio_continue c = {
				.range = { (uintptr_t)(app + off), pr->chunk },
			};

			t0 = now_s();
			if (ioctl(uffd, UFFDIO_CONTINUE, &c) ||
			    c.mapped != (__s64)pr->chunk) {
				perror("folio-probe: UFFDIO_CONTINUE");
				goto out;
			}
			t[S_CONTINUE] += now_s() - t0;
		}
		if (pr->pretouch) {
			struct pretouch_arg arg = { app + off, pr->chunk, 0 };
			pthread_t th;
			int err;

			t0 = now_s();
			err = pthread_create(&th, NULL, pretouch_thread, &arg);
			if (err) {
				fprintf(stderr, "folio-probe: pthread_create: %s\n",
					strerror(err));
				goto out;
			}
			pthread_join(th, NULL);
			t[S_PRETOUCH] += now_s() - t0;
			sink += arg.sum;
		}
		t0 = now_s();
		for (size_t p = 0; p < pr->chunk; p += PAGE)
			sink += *(volatile unsigned long *)(app + off + p);
		t[S_TOUCH] += now_s() - t0;
		t0 = now_s();
		for (size_t p = 0; p < pr->chunk; p += PAGE)
			sink += *(volatile unsigned long *)(app + off + p + 64);
		t[S_TOUCH2] += now_s() - t0;
		if (filler_on) {
			pthread_mutex_lock(&fl.mu);
			fl.consumed = i + 1;
			pthread_cond_broadcast(&fl.cv);
			pthread_mutex_unlock(&fl.mu);
		}
		if (off >= pr->window) {
			t0 = now_s();
			if (pr->remap &&
			    remap(fd, uffd, app, off - pr->window, pr->chunk)) {
				perror("folio-probe: remap and register");
				goto out;
			}
			if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(off - pr->window), (off_t)pr->chunk)) {
				perror("folio-probe: punch");
				goto out;
			}
			t[S_PUNCH] += now_s() - t0;
		}
	}
	total = now_s() - total;
	if (filler_on) {
		pthread_join(filler_th, NULL);
		filler_on = 0;
		t[S_ALLOC] = fl.t_alloc;
		t[S_READ] = fl.t_read;
	}
	{
		double gib = (double)pr->size / (double)(1UL << 30);

		printf("%s: %zu MiB, chunk %zu KiB, window %zu MiB: %.3f s "
		       "(%.0f MB/s)\n", pr->mode, pr->size >> 20, pr->chunk >> 10,
		       pr->window >> 20, total, (double)pr->size / total / 1e6);
		printf("per GiB:");
		for (o = 0; o < S_NR; o++)
			if ((o != S_READ || ffd >= 0) &&
			    (o != S_CONTINUE || uffd >= 0) &&
			    (o != S_PRETOUCH || pr->pretouch) &&
			    (o != S_WAIT || pr->ahead))
				printf(" %s %.3f s", o == S_CONTINUE && pr->remap ?
				       "remap" : step_name[o], t[o] / gib);
		printf("\n");
	}
	ret = 0;
out:
	if (filler_on) {
		/* Let it run to its end: it stops at nch, never waits on us
		 * for more than ahead_chunks past what we consumed. */
		pthread_mutex_lock(&fl.mu);
		fl.consumed = nch;
		pthread_cond_broadcast(&fl.cv);
		pthread_mutex_unlock(&fl.mu);
		pthread_join(filler_th, NULL);
	}
	(void)sink;
	if (uffd >= 0)
		close(uffd);
	if (ffd >= 0)
		close(ffd);
	close(fd);
	if (alias_res != MAP_FAILED)
		munmap(alias_res, res_len);
	if (app_res != MAP_FAILED)
		munmap(app_res, res_len);
	/* Detached, so that the directory (which the parent namespace sees
	 * empty) can be removed even if something still holds the mount. */
	if (pr->tmpfs && strcmp(mntdir, "/tmp/folio-probe-XXXXXX")) {
		if (umount2(mntdir, MNT_DETACH) || rmdir(mntdir))
			fprintf(stderr, "folio-probe: remove %s: %s\n", mntdir,
				strerror(errno));
	}
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: folio-probe memfd|memfd-64k|memfd-2m|tmpfs-huge"
			"[-nouffd|-remap|-pretouch] [SIZE_MIB [WINDOW_MIB [CHUNK_KIB [FILE [AHEAD_MIB]]]]]\n"
			"  CHUNK_KIB a multiple of the folio (default 2048); "
			"FILE adds an O_DIRECT read of each chunk\n"
			"  AHEAD_MIB (< WINDOW_MIB, needs FILE): fill and read "
			"in a thread that far ahead\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct probe pr = { .uffd_on = 1 };
	char path[128], old[32], base[32];
	struct sigaction ign = { .sa_handler = SIG_IGN }, oldsa[3];
	const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	size_t ml;
	pid_t pid;
	int status, ret, i, lockfd;

	if (argc < 2 || argc > 7)
		return usage();
	pr.mode = argv[1];
	ml = strlen(argv[1]);
	if (ml > 7 && !strcmp(argv[1] + ml - 7, "-nouffd")) {
		pr.uffd_on = 0;
		ml -= 7;
	} else if (ml > 6 && !strcmp(argv[1] + ml - 6, "-remap")) {
		pr.remap = 1;
		ml -= 6;
	} else if (ml > 9 && !strcmp(argv[1] + ml - 9, "-pretouch")) {
		pr.pretouch = 1;
		ml -= 9;
	}
	if (ml >= sizeof(base))
		return usage();
	memcpy(base, argv[1], ml);
	base[ml] = '\0';
	if (!strcmp(base, "memfd-64k"))
		pr.huge_kib = 64;
	else if (!strcmp(base, "memfd-2m"))
		pr.huge_kib = 2048;
	else if (!strcmp(base, "tmpfs-huge"))
		pr.tmpfs = 1;
	else if (strcmp(base, "memfd"))
		return usage();
	pr.size = (argc > 2 ? strtoul(argv[2], NULL, 10) : 2048) << 20;
	pr.window = (argc > 3 ? strtoul(argv[3], NULL, 10) : 512) << 20;
	pr.chunk = (argc > 4 ? strtoul(argv[4], NULL, 10) : 2048) << 10;
	pr.file = argc > 5 ? argv[5] : NULL;
	pr.ahead = (argc > 6 ? strtoul(argv[6], NULL, 10) : 0) << 20;
	if (!pr.size || !pr.chunk || pr.chunk % PAGE || pr.size % pr.chunk ||
	    pr.window % pr.chunk || pr.ahead % pr.chunk ||
	    (pr.ahead && (!pr.file || pr.ahead >= pr.window)) || (pr.huge_kib &&
				     pr.chunk % ((size_t)pr.huge_kib << 10)))
		return usage();
	if (!pr.huge_kib)
		return run(&pr);

	/* Two probes at once would each restore what the other set: one at
	 * a time (the lock goes with the process). */
	lockfd = open("/run/folio-probe.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX)) {
		fprintf(stderr, "folio-probe: lock /run/folio-probe.lock: %s "
				"(run as root)\n", strerror(errno));
		return 77;
	}
	/* Set hugepages-<N>kB/shmem_enabled to advise for the child's run. */
	snprintf(path, sizeof(path), THP_DIR "/hugepages-%dkB/shmem_enabled",
		 pr.huge_kib);
	ret = sysfs_choice(path, old, sizeof(old));
	if (ret) {
		fprintf(stderr, "folio-probe: %s: %s: this kernel has no shmem "
				"folios of %d KiB\n", path, strerror(-ret),
			pr.huge_kib);
		return 77;
	}
	if (access(path, W_OK)) {
		fprintf(stderr, "folio-probe: %s is not writable (run as root), "
				"so it could not be restored: not changing it\n",
			path);
		return 77;
	}
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &ign, &oldsa[i]);
	if (strcmp(old, "advise")) {
		ret = sysfs_write(path, "advise");
		if (ret) {
			fprintf(stderr, "folio-probe: set %s: %s\n", path,
				strerror(-ret));
			return 1;
		}
		fprintf(stderr, "folio-probe: %s: %s -> advise for the run\n",
			path, old);
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < 3; i++)
			sigaction(sigs[i], &oldsa[i], NULL);
		ret = run(&pr);
		fflush(NULL);
		_exit(ret);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret = pid < 0 ? 1 : WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (pid > 0 && WIFSIGNALED(status))
		fprintf(stderr, "folio-probe: the run died of signal %d\n",
			WTERMSIG(status));
	if (strcmp(old, "advise")) {
		char now[32];

		if (sysfs_write(path, old) || sysfs_choice(path, now, sizeof(now)) ||
		    strcmp(now, old)) {
			fprintf(stderr, "folio-probe: COULD NOT RESTORE %s to "
					"%s: write it by hand\n", path, old);
			return 1;
		}
		fprintf(stderr, "folio-probe: %s restored to %s\n", path, old);
	}
	return ret;
}
