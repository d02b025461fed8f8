// SPDX-License-Identifier: MIT
/*
 * fuzz_replay_main - run the fuzz target over files, without libFuzzer, so
 * that the normal and sanitizer builds (gcc) exercise the corpus as a
 * ctest; and write the seed corpus.
 *
 *   fuzz_proto_replay DIR|FILE...         run every file; fails if none
 *   fuzz_proto_replay --write-corpus DIR  write the seeds, then run them
 *
 * Seeds: every message type encoded from tests/common/proto_samples.c,
 * each with the fd count it must come with, cut once in the middle, and a
 * stream of several messages.  Byte 0 of a seed is the fuzz target's fd
 * count and chunking byte (see fuzz_proto_decode.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/proto.h"
#include "proto_samples.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	static uint8_t b[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "fuzz_proto_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(b, 1, sizeof(b), f);
	fclose(f);
	LLVMFuzzerTestOneInput(b, n);
	return 1;
}

/* Run @path, a file or a directory of files; the count run, or -1. */
static int run_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int count = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "fuzz_proto_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char sub[4096];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (run_file(sub) < 0) {
			closedir(d);
			return -1;
		}
		count++;
	}
	closedir(d);
	return count;
}

static int write_seed(const char *dir, const char *name, uint8_t lead,
		      const uint8_t *b, size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "fuzz_proto_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = fwrite(&lead, 1, 1, f) == 1 && fwrite(b, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_corpus(const char *dir)
{
	static uint8_t b[PROTO_MAX_MSG], stream[8192];
	size_t slen = 0;
	char name[64];

	mkdir(dir, 0755);
	for (int t = 1; t < PROTO_TYPE_COUNT; t++) {
		unsigned nfds;
		size_t len = ps_encode((enum proto_type)t, b, &nfds);
		const char *tn = proto_type_name((unsigned)t);

		snprintf(name, sizeof(name), "msg-%02d-%s", t, tn);
		if (write_seed(dir, name, (uint8_t)nfds, b, len))
			return -1;
		/* the same, fed to the reassembler in small pieces */
		snprintf(name, sizeof(name), "chunked-%02d-%s", t, tn);
		if (write_seed(dir, name, (uint8_t)(nfds + 6 * 3), b, len))
			return -1;
		snprintf(name, sizeof(name), "cut-%02d-%s", t, tn);
		if (write_seed(dir, name, (uint8_t)nfds, b, len / 2))
			return -1;
		if (nfds == 0 && slen + len <= sizeof(stream)) {
			memcpy(stream + slen, b, len);
			slen += len;
		}
	}
	if (write_seed(dir, "stream-all-fdless", 6 * 5, stream, slen))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc == 3 && !strcmp(argv[1], "--write-corpus")) {
		if (write_corpus(argv[2]))
			return 1;
		argv++;
		argc--;
	}
	for (int i = 1; i < argc; i++) {
		int n = run_path(argv[i]);

		if (n < 0)
			return 1;
		total += n;
	}
	printf("fuzz_proto_replay: %d inputs run\n", total);
	return total > 0 ? 0 : 1;
}
