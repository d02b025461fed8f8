/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stress_util.h"

uint64_t su_env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return dflt;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "ignoring %s=%s: not a number\n", name, v);
		return dflt;
	}
	return (uint64_t)x;
}

uint64_t su_seed(const char *what, uint64_t dflt)
{
	uint64_t seed = su_env_u64("UPAGER_TEST_SEED", dflt);

	fprintf(stderr, "%s: seed 0x%" PRIx64 " (UPAGER_TEST_SEED to change)\n",
		what, seed);
	return seed;
}

size_t su_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

void su_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		ck_assert_msg(n > 0, "pwrite at %" PRIu64 ": %s", off,
			      n < 0 ? strerror(errno) : "wrote nothing");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

void su_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		ck_assert_msg(n >= 0, "pread at %" PRIu64 ": %s", off,
			      strerror(errno));
		if (n == 0) { /* past the end of the file: zeros */
			memset(p, 0, len);
			return;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

void su_fill_file(int fd, uint64_t off, uint64_t len, uint64_t seed)
{
	const size_t chunk = 1 << 20;
	char *buf = malloc(chunk);

	ck_assert_ptr_nonnull(buf);
	while (len) {
		size_t n = len < chunk ? (size_t)len : chunk;

		tu_fill(buf, off, n, seed);
		su_pwrite_all(fd, buf, n, off);
		off += n;
		len -= n;
	}
	free(buf);
}

void su_print_stats(const char *tag, const struct upg_stats *st)
{
	fprintf(stderr,
		"%s: faults missing %" PRIu64 " wp %" PRIu64 " minor %" PRIu64
		", filled %" PRIu64 " zero %" PRIu64 ", evicted %" PRIu64
		" (batches bg %" PRIu64 " sync %" PRIu64 "), written back %"
		PRIu64 ", peak %" PRIu64 " KiB of %" PRIu64 " KiB, overshoot %"
		PRIu64 " pages, errors r %" PRIu64 " w %" PRIu64 "\n",
		tag, st->faults_missing, st->faults_wp, st->faults_minor,
		st->pages_filled, st->pages_zero_filled, st->pages_evicted,
		st->evict_batches_background, st->evict_batches_sync,
		st->pages_written_back, st->resident_peak_bytes >> 10,
		st->budget_bytes >> 10, st->budget_overshoot_pages,
		st->read_errors, st->write_errors);
}

struct upg_runtime *su_runtime(uint64_t budget, unsigned threads,
			       unsigned high_pct, unsigned low_pct,
			       unsigned evict_batch)
{
	UPG_OPTS(upg_runtime_opts, o, .budget_bytes = budget,
		 .handler_threads = threads, .high_watermark_pct = high_pct,
		 .low_watermark_pct = low_pct,
		 .evict_batch_pages = evict_batch);
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

pid_t su_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

bool su_in_userfault(pid_t tid)
{
	char path[64], buf[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return strcmp(buf, "handle_userfault") == 0;
}

struct wd_slot {
	atomic_bool used;
	_Atomic pid_t tid;
	_Atomic uint64_t ticks;
	_Atomic uintptr_t addr;
};

static struct {
	struct wd_slot slot[SU_WD_SLOTS];
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop, running;
	pthread_t thread;
	const char *what;
	unsigned stall;
} wd = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void wd_wchan(pid_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
}

static void *wd_main(void *arg)
{
	uint64_t last[SU_WD_SLOTS] = { 0 };
	unsigned still[SU_WD_SLOTS] = { 0 };
	struct timespec ts;
	unsigned i;

	(void)arg;
	pthread_mutex_lock(&wd.lock);
	while (!wd.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&wd.cv, &wd.lock, &ts);
		if (wd.stop)
			break;
		for (i = 0; i < SU_WD_SLOTS; i++) {
			struct wd_slot *s = &wd.slot[i];
			uint64_t t = atomic_load(&s->ticks);
			char wchan[64];
			char *msg;

			if (!atomic_load(&s->used) || t != last[i]) {
				last[i] = t;
				still[i] = 0;
				continue;
			}
			if (++still[i] < wd.stall)
				continue;
			wd_wchan(atomic_load(&s->tid), wchan, sizeof(wchan));
			if (asprintf(&msg,
				     "%s: test thread %d (slot %u) made no "
				     "progress for %u s; it sleeps in '%s', "
				     "touching %#lx%s", wd.what,
				     (int)atomic_load(&s->tid), i, wd.stall,
				     wchan, (unsigned long)atomic_load(&s->addr),
				     strcmp(wchan, "handle_userfault") ? "" :
				     ": a page fault that is never resolved") < 0)
				msg = NULL;
			fprintf(stderr, "WATCHDOG: %s\n", msg ? msg : wd.what);
			pthread_mutex_unlock(&wd.lock);
			{
				const char *f = getenv("CK_FORK");

				if (f && !strcmp(f, "no"))
					abort();
			}
			ck_abort_msg("%s", msg ? msg : "watchdog");
		}
	}
	pthread_mutex_unlock(&wd.lock);
	return NULL;
}

void su_wd_start(const char *what, unsigned stall_seconds)
{
	unsigned i;

	for (i = 0; i < SU_WD_SLOTS; i++) {
		atomic_store(&wd.slot[i].used, false);
		atomic_store(&wd.slot[i].ticks, 0);
	}
	wd.what = what;
	wd.stall = stall_seconds ? stall_seconds : 1;
	wd.stop = false;
	ck_assert_int_eq(pthread_create(&wd.thread, NULL, wd_main, NULL), 0);
	wd.running = true;
}

void su_wd_stop(void)
{
	if (!wd.running)
		return;
	pthread_mutex_lock(&wd.lock);
	wd.stop = true;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.lock);
	pthread_join(wd.thread, NULL);
	wd.running = false;
}

void su_wd_enter(unsigned slot)
{
	struct wd_slot *s = &wd.slot[slot % SU_WD_SLOTS];

	atomic_store(&s->tid, su_gettid());
	atomic_fetch_add(&s->ticks, 1);
	atomic_store(&s->used, true);
}

void su_wd_leave(unsigned slot)
{
	atomic_store(&wd.slot[slot % SU_WD_SLOTS].used, false);
}

void su_wd_note(unsigned slot, const void *addr)
{
	struct wd_slot *s = &wd.slot[slot % SU_WD_SLOTS];

	atomic_store_explicit(&s->addr, (uintptr_t)addr,
			      memory_order_relaxed);
	atomic_fetch_add_explicit(&s->ticks, 1, memory_order_relaxed);
}
