/* SPDX-License-Identifier: MIT */
/*
 * nofault_pattern - copy out of managed memory under a lock, the way the
 * kernel's filesystems do (fault in only on the failure path).
 *
 * A table of 64-byte records lives in an anonymous region four times the
 * budget.  A "cache" remembers, under `lock`, which record each slot holds;
 * an interval notifier over the table invalidates the cache under the same
 * lock when pages are evicted.  Worker threads look records up:
 *
 *	lock
 *	left = upg_copy_from_nofault(...)     never faults, never waits
 *	if (left) { unlock; upg_fault_in_readable(...); retry }
 *	... use the record, still under the lock ...
 *	unlock
 *
 * Touching the record directly under `lock` instead could deadlock: the
 * fault needs an eviction, the eviction calls the notifier, the notifier
 * needs `lock`, which the faulting thread holds.  The nofault copy never
 * faults, so the lock is never held across a fault.
 *
 *   nofault_pattern [--records N] [--threads N] [--lookups N]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <upager.h>

struct record {
	uint64_t key;
	uint64_t payload[7];
};

static struct upg_runtime *rt;
static struct record *table;
static uint64_t nrecords, lookups_per_thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cache_valid_seq; /* bumped by the notifier, under lock */
static uint64_t retries, fault_ins, invalidations, bad;

static bool invalidate(struct upg_interval_notifier *n,
		       const struct upg_notifier_range *range,
		       uint64_t cur_seq)
{
	/* On the fault path the runtime cannot wait for us: only try. */
	if (range->blockable)
		pthread_mutex_lock(&lock);
	else if (pthread_mutex_trylock(&lock))
		return false;
	upg_interval_set_seq(n, cur_seq);
	cache_valid_seq++;
	invalidations++;
	pthread_mutex_unlock(&lock);
	return true;
}

static const struct upg_interval_notifier_ops ops = {
	.invalidate = invalidate,
};

static uint64_t expected(uint64_t i, unsigned w)
{
	return i * 0x9e3779b97f4a7c15ull + w;
}

static void *worker(void *arg)
{
	uint64_t x = (uintptr_t)arg * 0x2545f4914f6cdd1dull + 1, k;

	for (k = 0; k < lookups_per_thread; k++) {
		struct record rec;
		uint64_t i;
		unsigned w;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = x % nrecords;
		for (;;) {
			size_t left;

			pthread_mutex_lock(&lock);
			left = upg_copy_from_nofault(rt, &rec, &table[i],
						     sizeof(rec));
			if (!left)
				break; /* the lock is still held */
			retries++;
			pthread_mutex_unlock(&lock);
			/* Cold path, without the lock. */
			if (upg_fault_in_readable(rt, &table[i], sizeof(rec)))
				fprintf(stderr, "fault-in failed\n");
			__atomic_fetch_add(&fault_ins, 1, __ATOMIC_RELAXED);
		}
		if (rec.key != i)
			bad++;
		for (w = 0; w < 7; w++)
			if (rec.payload[w] != expected(i, w))
				bad++;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "lookups", required_argument, NULL, 'l' },
		{ 0 },
	};
	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = 8 << 20);
	UPG_OPTS(upg_stats, st);
	struct upg_interval_notifier n;
	unsigned nthreads = 4, t;
	pthread_t th[64];
	struct upg_region *r;
	uint64_t i;
	int c, err;

	nrecords = (32ull << 20) / sizeof(struct record); /* 4x the budget */
	lookups_per_thread = 5000;
	while ((c = getopt_long(argc, argv, "r:t:l:", opts, NULL)) != -1) {
		switch (c) {
		case 'r': nrecords = strtoull(optarg, NULL, 0); break;
		case 't': nthreads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'l': lookups_per_thread = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: nofault_pattern [--records N] "
					"[--threads N] [--lookups N]\n");
			return 2;
		}
	}
	if (!nrecords || !nthreads || nthreads > 64) {
		fprintf(stderr, "nofault_pattern: need records > 0 and 1-64 "
				"threads\n");
		return 2;
	}
	err = upg_runtime_create(&ro, &rt);
	if (!err)
		err = upg_region_map_anon(rt, nrecords * sizeof(*table), NULL,
					  &r);
	if (err) {
		fprintf(stderr, "nofault_pattern: %s\n", strerror(-err));
		return 1;
	}
	table = upg_region_addr(r);
	for (i = 0; i < nrecords; i++) {
		unsigned w;

		table[i].key = i;
		for (w = 0; w < 7; w++)
			table[i].payload[w] = expected(i, w);
	}
	memset(&n, 0, sizeof(n));
	err = upg_interval_notifier_insert(rt, &n, (uintptr_t)table,
					   nrecords * sizeof(*table), &ops);
	if (err) {
		fprintf(stderr, "notifier: %s\n", strerror(-err));
		return 1;
	}
	for (t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)(t + 1));
	for (t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	upg_interval_notifier_remove(&n);
	upg_runtime_stats(rt, &st);
	printf("%llu lookups by %u threads: %llu short nofault copies "
	       "(faulted in and retried), %llu notifier invalidations, "
	       "%llu bad records\n",
	       (unsigned long long)(lookups_per_thread * nthreads), nthreads,
	       (unsigned long long)retries,
	       (unsigned long long)invalidations, (unsigned long long)bad);
	printf("runtime: %llu pages evicted, %llu bytes faulted in, peak "
	       "%llu KiB of %llu KiB\n",
	       (unsigned long long)st.pages_evicted,
	       (unsigned long long)st.bytes_faulted_in,
	       (unsigned long long)(st.resident_peak_bytes >> 10),
	       (unsigned long long)(st.budget_bytes >> 10));
	err = upg_region_unmap(r);
	if (!err)
		err = upg_runtime_destroy(rt);
	return err || bad ? 1 : 0;
}
