/* SPDX-License-Identifier: MIT */
/*
 * ooc_sort - sort a file of 64-bit keys that is much larger than the memory
 * the paging runtime may use, by plain loads and stores through regions.
 *
 *   ooc_sort [--size-mb N] [--budget-mb N] [--dir DIR] [--threads N]
 *
 * 1. writes DIR/ooc_sort.in: N MiB of pseudo-random keys (sum and hash
 *    noted on the way);
 * 2. maps it as a file region and sorts it in runs of a quarter of the
 *    budget each (qsort on each run, in place);
 * 3. merges the runs into DIR/ooc_sort.out, mapped as a second region,
 *    streaming each run: the k-way merge touches one page per run;
 * 4. unmaps both (writeback), then verifies the output file with read(2):
 *    sorted, and the same multiset of keys (count, sum, hash sum);
 * 5. prints the runtime's statistics.
 * Exit status 0 only if the output verifies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <upager.h>

struct digest {
	uint64_t count, sum, hash_sum;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void digest_add(struct digest *d, uint64_t key)
{
	d->count++;
	d->sum += key;
	d->hash_sum += mix(key);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "ooc_sort: %s: %s\n", what, strerror(err));
	return 1;
}

/* Write the input with ordinary I/O: the runtime is not involved yet. */
static int make_input(int fd, uint64_t nkeys, struct digest *d)
{
	enum { BUF = 1 << 16 };
	static uint64_t buf[BUF];
	uint64_t x = 0x243f6a8885a308d3ull, i = 0;

	while (i < nkeys) {
		size_t n = nkeys - i < BUF ? (size_t)(nkeys - i) : BUF, j;

		for (j = 0; j < n; j++) {
			x = mix(x + 0x9e3779b97f4a7c15ull);
			buf[j] = x;
			digest_add(d, x);
		}
		if (pwrite(fd, buf, n * 8, (off_t)(i * 8)) != (ssize_t)(n * 8))
			return errno ? errno : EIO;
		i += n;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Min-heap of run cursors for the k-way merge. */
struct cursor {
	const uint64_t *pos, *end;
};

static void sift_down(struct cursor *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct cursor t;

		if (l < n && *h[l].pos < *h[m].pos)
			m = l;
		if (r < n && *h[r].pos < *h[m].pos)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void merge(const uint64_t *in, uint64_t nkeys, uint64_t run_keys,
		  uint64_t *out)
{
	size_t nruns = (size_t)((nkeys + run_keys - 1) / run_keys), n = 0, i;
	struct cursor *h = calloc(nruns, sizeof(*h));

	for (i = 0; i < nruns; i++) {
		uint64_t b = i * run_keys;
		uint64_t e = b + run_keys < nkeys ? b + run_keys : nkeys;

		h[n++] = (struct cursor){ in + b, in + e };
	}
	for (i = n; i-- > 0;)
		sift_down(h, n, i);
	while (n) {
		*out++ = *h[0].pos++;
		if (h[0].pos == h[0].end)
			h[0] = h[--n];
		sift_down(h, n, 0);
	}
	free(h);
}

/* Read the output back with read(2) and check it. */
static int verify(int fd, uint64_t nkeys, const struct digest *want)
{
	enum { BUF = 1 << 16 };
	static uint64_t buf[BUF];
	struct digest got = { 0 };
	uint64_t prev = 0, i = 0;

	while (i < nkeys) {
		size_t n = nkeys - i < BUF ? (size_t)(nkeys - i) : BUF, j;

		if (pread(fd, buf, n * 8, (off_t)(i * 8)) != (ssize_t)(n * 8)) {
			fprintf(stderr, "ooc_sort: output too short\n");
			return 1;
		}
		for (j = 0; j < n; j++) {
			if (i + j && buf[j] < prev) {
				fprintf(stderr, "ooc_sort: not sorted at key "
						"%llu\n",
					(unsigned long long)(i + j));
				return 1;
			}
			prev = buf[j];
			digest_add(&got, buf[j]);
		}
		i += n;
	}
	if (memcmp(&got, want, sizeof(got))) {
		fprintf(stderr, "ooc_sort: output keys differ from input\n");
		return 1;
	}
	return 0;
}

static void print_stats(struct upg_runtime *rt)
{
	UPG_OPTS(upg_stats, st);

	if (upg_runtime_stats(rt, &st))
		return;
	printf("stats:\n"
	       "  budget            %8.1f MiB\n"
	       "  resident peak     %8.1f MiB\n"
	       "  faults            %8llu missing, %llu write-protect, "
	       "%llu minor\n"
	       "  pages filled      %8llu from store, %llu zero-filled\n"
	       "  pages evicted     %8llu (batches: %llu background, %llu "
	       "on fault)\n"
	       "  pages written     %8llu\n"
	       "  bytes read        %8.1f MiB\n"
	       "  bytes written     %8.1f MiB\n"
	       "  recency samples   %8llu (re-referenced %llu)\n"
	       "  I/O errors        %8llu\n"
	       "  budget overshoot  %8llu pages\n"
	       "  userfaultfd mode  %s\n",
	       st.budget_bytes / 1048576.0, st.resident_peak_bytes / 1048576.0,
	       (unsigned long long)st.faults_missing,
	       (unsigned long long)st.faults_wp,
	       (unsigned long long)st.faults_minor,
	       (unsigned long long)st.pages_filled,
	       (unsigned long long)st.pages_zero_filled,
	       (unsigned long long)st.pages_evicted,
	       (unsigned long long)st.evict_batches_background,
	       (unsigned long long)st.evict_batches_sync,
	       (unsigned long long)st.pages_written_back,
	       st.bytes_read / 1048576.0, st.bytes_written / 1048576.0,
	       (unsigned long long)st.pages_sampled,
	       (unsigned long long)st.pages_referenced,
	       (unsigned long long)st.io_errors,
	       (unsigned long long)st.budget_overshoot_pages,
	       st.uffd_mode == UPG_UFFD_KERNEL ? "kernel and user faults" :
						 "user faults only");
}

static void usage(void)
{
	fprintf(stderr, "usage: ooc_sort [--size-mb N] [--budget-mb N] "
			"[--dir DIR] [--threads N]\n"
			"  N MiB of keys (default 256) sorted through a "
			"runtime with a budget of N MiB (default 64)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size-mb", required_argument, NULL, 's' },
		{ "budget-mb", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t size_mb = 256, budget_mb = 64, nkeys, run_keys, i;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	unsigned threads = 2;
	char in_path[4096], out_path[4096];
	struct upg_region *rin, *rout;
	struct upg_runtime *rt;
	struct digest d = { 0 };
	int c, fin, fout, err, rc;
	uint64_t *keys, *out;
	double t0, t1, t2, t3;

	while ((c = getopt_long(argc, argv, "s:b:d:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': size_mb = strtoull(optarg, NULL, 0); break;
		case 'b': budget_mb = strtoull(optarg, NULL, 0); break;
		case 'd': dir = optarg; break;
		case 't': threads = (unsigned)strtoul(optarg, NULL, 0); break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!size_mb || !budget_mb || budget_mb * 4 > size_mb) {
		fprintf(stderr, "ooc_sort: the data must be at least 4x the "
				"budget (--size-mb %llu, --budget-mb %llu)\n",
			(unsigned long long)size_mb,
			(unsigned long long)budget_mb);
		return 2;
	}
	nkeys = (size_mb << 20) / 8;
	snprintf(in_path, sizeof(in_path), "%s/ooc_sort.in", dir);
	snprintf(out_path, sizeof(out_path), "%s/ooc_sort.out", dir);
	fin = open(in_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fout = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fin < 0 || fout < 0)
		return die(dir, errno);
	printf("ooc_sort: %llu MiB of keys, budget %llu MiB, files in %s\n",
	       (unsigned long long)size_mb, (unsigned long long)budget_mb,
	       dir);
	t0 = now();
	err = make_input(fin, nkeys, &d);
	if (err)
		return die("writing input", err);
	/* Start cold: the kernel's page cache must not hold the input. */
	fdatasync(fin);
	posix_fadvise(fin, 0, 0, POSIX_FADV_DONTNEED);

	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = budget_mb << 20,
		 .handler_threads = threads);
	err = upg_runtime_create(&ro, &rt);
	if (err)
		return die("upg_runtime_create", -err);
	err = upg_region_map_file(rt, fin, nkeys * 8, NULL, &rin);
	if (!err)
		err = upg_region_map_file(rt, fout, nkeys * 8, NULL, &rout);
	if (err)
		return die("upg_region_map_file", -err);
	keys = upg_region_addr(rin);
	out = upg_region_addr(rout);

	/* Runs of a quarter of the budget: sorting one stays in memory. */
	t1 = now();
	run_keys = (budget_mb << 20) / 4 / 8;
	for (i = 0; i < nkeys; i += run_keys)
		qsort(keys + i, nkeys - i < run_keys ? nkeys - i : run_keys,
		      8, cmp_u64);
	t2 = now();
	merge(keys, nkeys, run_keys, out);
	t3 = now();
	printf("input %.2f s, sort runs %.2f s, merge %llu runs %.2f s\n",
	       t1 - t0, t2 - t1,
	       (unsigned long long)((nkeys + run_keys - 1) / run_keys),
	       t3 - t2);

	err = upg_region_unmap(rin);
	if (!err)
		err = upg_region_unmap(rout);
	if (err)
		return die("upg_region_unmap", -err);
	print_stats(rt);
	err = upg_runtime_destroy(rt);
	if (err)
		return die("upg_runtime_destroy", -err);

	rc = verify(fout, nkeys, &d);
	printf("verify: %s (%llu keys sorted, same multiset as the input)\n",
	       rc ? "FAILED" : "ok", (unsigned long long)nkeys);
	close(fin);
	close(fout);
	unlink(in_path);
	unlink(out_path);
	return rc;
}
