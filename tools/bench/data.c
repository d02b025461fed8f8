/* SPDX-License-Identifier: MIT */
/*
 * data.c - the data file and its verifiable pattern.
 *
 * Page p of the data (file or anonymous memory) holds 512 64-bit words:
 *   word 0      p, the page number;
 *   word 1      mix(seed + p), a seed-derived value;
 *   word i >= 2 mix(seed * C + p * 512 + i).
 * A workload touches one word per access, access_word(p) in [2, 511], and a
 * read checks both that word and word 0.  A write stores the word's own
 * pattern value, so the data stays verifiable across runs and backends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "bench.h"

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

uint64_t pattern_word(uint64_t seed, uint64_t page, unsigned word)
{
	if (word == 0)
		return page;
	if (word == 1)
		return mix(seed + page);
	return mix(seed * 0x9e3779b97f4a7c15ull + page * BENCH_WORDS + word);
}

unsigned access_word(uint64_t page)
{
	return 2 + (unsigned)(mix(page ^ 0xa5a5a5a5ull) % (BENCH_WORDS - 2));
}

void fill_page(void *buf, uint64_t seed, uint64_t page)
{
	uint64_t *w = buf;
	unsigned i;

	for (i = 0; i < BENCH_WORDS; i++)
		w[i] = pattern_word(seed, page, i);
}

bool dir_is_tmpfs(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf))
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

/* Does the file at fd hold the pattern's headers (first, middle, last)? */
static bool data_matches(int fd, const struct config *c)
{
	uint64_t pages[3] = { 0, c->npages / 2, c->npages - 1 };
	uint64_t hdr[2];
	int i;

	for (i = 0; i < 3; i++) {
		if (pread(fd, hdr, sizeof(hdr), (off_t)(pages[i] * BENCH_PAGE)) !=
		    (ssize_t)sizeof(hdr))
			return false;
		if (hdr[0] != pattern_word(c->seed, pages[i], 0) ||
		    hdr[1] != pattern_word(c->seed, pages[i], 1))
			return false;
	}
	return true;
}

int data_prepare(const struct config *c, char *path, size_t pathsz,
		 bool *created, char *err, size_t errsz)
{
	enum { CHUNK_PAGES = 256 };
	struct stat st;
	char *buf;
	uint64_t p;
	int fd;

	snprintf(path, pathsz, "%s/upager-bench-%" PRIu64 "K-seed%" PRIu64 ".dat",
		 c->dir, c->size >> 10, c->seed);
	*created = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		bool ok = !fstat(fd, &st) && (uint64_t)st.st_size == c->size &&
			  data_matches(fd, c);

		close(fd);
		if (ok)
			return 0;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "create %s: %s", path, strerror(errno));
		return -errno;
	}
	*created = true;
	sysres_set_datafile(path);
	buf = aligned_alloc(BENCH_PAGE, (size_t)CHUNK_PAGES * BENCH_PAGE);
	if (!buf) {
		close(fd);
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	for (p = 0; p < c->npages; p += CHUNK_PAGES) {
		uint64_t n = c->npages - p < CHUNK_PAGES ? c->npages - p : CHUNK_PAGES;
		size_t len = (size_t)n * BENCH_PAGE, done = 0;
		uint64_t i;

		for (i = 0; i < n; i++)
			fill_page(buf + i * BENCH_PAGE, c->seed, p + i);
		while (done < len) {
			ssize_t w = pwrite(fd, buf + done, len - done,
					   (off_t)(p * BENCH_PAGE + done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				int e = w < 0 ? errno : EIO;

				snprintf(err, errsz, "write %s: %s", path, strerror(e));
				free(buf);
				close(fd);
				return -e;
			}
			done += (size_t)w;
		}
	}
	free(buf);
	if (fdatasync(fd)) {
		snprintf(err, errsz, "fdatasync %s: %s", path, strerror(errno));
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Write back and drop the file's page cache (no sysctl is changed). */
int data_drop_cache(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fdatasync(fd))
		ret = -errno;
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) && !ret)
		ret = -EIO;
	close(fd);
	return ret;
}

/* Read the whole file through the page cache, so that it is all cached
 * (--store-cache warm).  0 or a negative errno. */
int data_warm_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	static char buf[1 << 20];
	ssize_t n;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Pages of the file in the page cache now (mincore), or UINT64_MAX. */
uint64_t data_cached_pages(const char *path, uint64_t size)
{
	size_t npages = (size_t)(size / BENCH_PAGE), i;
	unsigned char *vec;
	uint64_t n = 0;
	void *m;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UINT64_MAX;
	m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return UINT64_MAX;
	vec = malloc(npages ? npages : 1);
	if (vec && !mincore(m, (size_t)size, vec))
		for (i = 0; i < npages; i++)
			n += vec[i] & 1;
	else
		n = UINT64_MAX;
	free(vec);
	munmap(m, (size_t)size);
	return n;
}

/* read_ahead_kb of the block device holding path (a partition's disk), or -1. */
int device_read_ahead_kb(const char *path)
{
	static const char *const sub[] = { "", "/.." };
	char file[128], buf[32];
	struct stat st;
	unsigned i;

	if (stat(path, &st))
		return -1;
	for (i = 0; i < 2; i++) {
		FILE *f;

		snprintf(file, sizeof(file), "/sys/dev/block/%u:%u%s/queue/read_ahead_kb",
			 major(st.st_dev), minor(st.st_dev), sub[i]);
		f = fopen(file, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			fclose(f);
			return atoi(buf);
		}
		fclose(f);
	}
	return -1;
}
