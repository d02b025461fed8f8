/* SPDX-License-Identifier: MIT */
/*
 * consumer - what a user's program does with an installed libupager: the
 * version check, UPG_OPTS(), and a store (no userfaultfd needed, so that
 * it runs anywhere).  Prints "consumer: ok VERSION" and exits 0.
 */
#include <stdio.h>

#include <upager.h>

int main(void)
{
	UPG_OPTS(upg_mem_store_opts, mo, .capacity = 1 << 20);
	struct upg_store *st;
	int err;

	err = upg_check_version(UPAGER_VERSION_MAJOR, UPAGER_VERSION_MINOR);
	if (err) {
		fprintf(stderr, "consumer: libupager %s, built for %s: %d\n",
			upg_version(), UPAGER_VERSION_STRING, err);
		return 1;
	}
	err = upg_store_create_mem(&mo, &st);
	if (err) {
		fprintf(stderr, "consumer: upg_store_create_mem: %d\n", err);
		return 1;
	}
	upg_store_put(st);
	printf("consumer: ok %s\n", upg_version());
	return 0;
}
