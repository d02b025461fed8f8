/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "common/futex.h"
#include "testutil.h"

int tu_tmpfile(uint64_t size)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/upager-test-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

void tu_fill(void *buf, uint64_t off, uint64_t len, uint64_t seed)
{
	uint64_t *w = buf;
	uint64_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = tu_word(seed, off + i * 8);
}

uint64_t tu_check(const void *buf, uint64_t off, uint64_t len, uint64_t seed)
{
	const uint64_t *w = buf;
	uint64_t i;

	/* Relaxed atomic loads (plain moves): tests check pages that other
	 * threads rewrite with the same words (pu_touch_write()). */
	for (i = 0; i < len / 8; i++)
		if (__atomic_load_n(&w[i], __ATOMIC_RELAXED) !=
		    tu_word(seed, off + i * 8))
			return i * 8;
	return UINT64_MAX;
}

struct upg_runtime *tu_runtime(uint64_t budget, unsigned threads)
{
	return tu_runtime_flags(budget, threads, 0);
}

struct upg_runtime *tu_runtime_flags(uint64_t budget, unsigned threads,
				     unsigned flags)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget,
		 .handler_threads = threads, .flags = flags);
	struct upg_runtime *rt = NULL;
	int err = upg_runtime_create(&o, &rt);

	if (err == -EPERM || err == -EACCES || err == -EOPNOTSUPP) {
		fprintf(stderr, "no usable userfaultfd here (%s): skipped\n",
			strerror(-err));
		exit(TEST_SKIP);
	}
	ck_assert_msg(!err, "upg_runtime_create: %s", strerror(-err));
	return rt;
}

struct upg_stats tu_stats(struct upg_runtime *rt)
{
	UPG_OPTS(upg_stats, st);

	ck_assert_int_eq(upg_runtime_stats(rt, &st), 0);
	return st;
}

void tu_check_lost_wakeups(void)
{
	uint64_t lost = atomic_load(&futex_net_lost);
	uint64_t expired = atomic_load(&futex_net_expired);
	uint64_t late = atomic_load(&futex_net_late);

	if (expired)
		fprintf(stderr, "testutil: pid %d: %llu futex safety-net "
				"expiries, %llu late wake-ups, %llu lost\n",
			(int)getpid(), (unsigned long long)expired,
			(unsigned long long)late, (unsigned long long)lost);
	if (lost) {
		fprintf(stderr, "testutil: a waker changed the word but did "
				"not wake (common/futex.h): failing\n");
		fflush(stderr);
		_exit(1);
	}
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* Registered before Check forks: every test's process checks the
	 * safety nets when it exits (a non-zero exit fails its test). */
	atexit(tu_check_lost_wakeups);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) ? errno : 0; /* stops the walk: nftw's value */
}

int tu_rm_rf(const char *dir)
{
	int err = nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	if (err == -1)
		return -errno;
	return -err;
}
