/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regionutil.h"
#include "testutil.h"

size_t tur_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

void tur_pread(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		ck_assert_msg(n > 0, "pread at %llu: %s",
			      (unsigned long long)(off + done),
			      n ? strerror(errno) : "end of file");
		done += (uint64_t)n;
	}
}

void tur_pwrite(int fd, const void *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		ck_assert_msg(n > 0, "pwrite: %s", strerror(errno));
		done += (uint64_t)n;
	}
}

int tur_data_file(uint64_t size, uint64_t seed)
{
	int fd = tu_tmpfile(size);
	uint64_t chunk = 1 << 20, off;
	char *buf = malloc(chunk);

	ck_assert_ptr_nonnull(buf);
	for (off = 0; off < size; off += chunk) {
		uint64_t n = size - off < chunk ? size - off : chunk;

		tu_fill(buf, off, (n + 7) & ~7ull, seed);
		tur_pwrite(fd, buf, n, off);
	}
	free(buf);
	return fd;
}

uint64_t tur_file_check(int fd, uint64_t off, uint64_t len, uint64_t seed)
{
	uint64_t chunk = 1 << 20, pos, bad = UINT64_MAX;
	char *buf = malloc(chunk);

	ck_assert_ptr_nonnull(buf);
	for (pos = 0; pos < len && bad == UINT64_MAX; pos += chunk) {
		uint64_t n = len - pos < chunk ? len - pos : chunk;
		uint64_t b;

		tur_pread(fd, buf, n, off + pos);
		b = tu_check(buf, off + pos, n, seed);
		if (b != UINT64_MAX)
			bad = pos + b;
	}
	free(buf);
	return bad;
}

int tur_region_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "upager-region") != NULL;
	fclose(f);
	return n;
}

int tur_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t len;

		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		/* The runtime's threads set up their io_uring rings as they
		 * start, after upg_runtime_create() has returned: not ours
		 * to count. */
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = 0;
			if (strstr(target, "io_uring"))
				continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

void tur_touch_read(const void *p, uint64_t len)
{
	const volatile char *c = p;
	size_t ps = tur_page();
	uint64_t off;

	for (off = 0; off < len; off += ps)
		(void)c[off];
}

uint64_t tur_sum(const void *p, uint64_t len)
{
	const volatile unsigned char *c = p;
	uint64_t s = 0, i;

	for (i = 0; i < len; i++)
		s += c[i];
	return s;
}
