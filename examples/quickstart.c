/* SPDX-License-Identifier: MIT */
/*
 * quickstart - the README's example: page a 64 MiB file through a 4 MiB
 * budget with plain loads and stores.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <upager.h>

int main(void)
{
	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = 4 << 20);
	UPG_OPTS(upg_stats, st);
	struct upg_runtime *rt;
	struct upg_region *r;
	const char *dir = getenv("TMPDIR");
	char path[4096];
	size_t len = 64 << 20, i;
	int fd, err;
	char *p;

	/* mkstemp() replaces the XXXXXX with a unique name. */
	snprintf(path, sizeof(path), "%s/quickstartXXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return 1;
	unlink(path);

	err = upg_runtime_create(&ro, &rt);
	if (err) {
		fprintf(stderr, "upg_runtime_create: %s\n", strerror(-err));
		return 1;
	}
	err = upg_region_map_file(rt, fd, len, NULL, &r);
	if (err) {
		fprintf(stderr, "upg_region_map_file: %s\n", strerror(-err));
		return 1;
	}
	p = upg_region_addr(r);
	for (i = 0; i < len; i += 4096)		/* 16x the budget */
		p[i] = (char)(i >> 12);
	for (i = 0; i < len; i += 4096)
		if (p[i] != (char)(i >> 12))
			return 1;
	err = upg_region_unmap(r);		/* writes back */
	upg_runtime_stats(rt, &st);
	printf("peak resident %llu KiB of %llu KiB, %llu pages evicted\n",
	       (unsigned long long)st.resident_peak_bytes >> 10,
	       (unsigned long long)st.budget_bytes >> 10,
	       (unsigned long long)st.pages_evicted);
	return err || upg_runtime_destroy(rt) ? 1 : 0;
}
