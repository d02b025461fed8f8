/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pin_util.h"
#include "testutil.h"

/* Bytes of @io the store holds (a read past the end is short). */
static size_t io_len(const struct pu_store *s, const struct upg_io *io)
{
	if (io->offset >= s->size)
		return 0;
	if (io->offset + io->len > s->size)
		return (size_t)(s->size - io->offset);
	return io->len;
}

static bool hold(struct pu_store *s, struct upg_io *io)
{
	bool held = false;

	pthread_mutex_lock(&s->gate_lock);
	if (s->blocking) {
		s->nr_blocked++;
		while (s->blocking)
			pthread_cond_wait(&s->unblocked, &s->gate_lock);
		s->nr_blocked--;
	}
	if (s->gate_closed) {
		if (s->nr_held == s->held_cap) {
			s->held_cap = s->held_cap ? 2 * s->held_cap : 16;
			s->held = realloc(s->held,
					  s->held_cap * sizeof(*s->held));
			ck_assert_ptr_nonnull(s->held);
		}
		s->held[s->nr_held++] = io;
		held = true;
	}
	pthread_mutex_unlock(&s->gate_lock);
	return held;
}

static int pu_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct pu_store *s = ctx;
	uint64_t first, end, pg, ffirst, fend;
	size_t len = io_len(s, io);

	(void)q;
	first = io->offset / s->page;
	end = (io->offset + io->len + s->page - 1) / s->page;
	if (end > s->npages)
		end = s->npages;
	if (io->op == UPG_IO_READ) {
		atomic_fetch_add(&s->nr_reads, 1);
		for (pg = first; pg < end; pg++) {
			atomic_fetch_add(&s->reads[pg], 1);
			if (atomic_load(&s->watch[pg]) &&
			    atomic_fetch_add(&s->violations, 1) == 0)
				atomic_store(&s->violation_pg, pg);
		}
		ffirst = atomic_load(&s->fail_first);
		fend = atomic_load(&s->fail_end);
		if (first < fend && ffirst < end) {
			upg_io_complete(io, atomic_load(&s->fail_err));
			return 0;
		}
		if (hold(s, io))
			return 0;
		memcpy(io->buf, s->data + io->offset, len);
	} else {
		atomic_fetch_add(&s->nr_writes, 1);
		for (pg = first; pg < end; pg++)
			atomic_fetch_add(&s->writes[pg], 1);
		memcpy(s->data + io->offset, io->buf, len);
	}
	upg_io_complete(io, (ssize_t)len);
	return 0;
}

struct pu_store *pu_store_create(uint64_t size, uint64_t seed)
{
	UPG_OPTS(upg_store_ops, ops, .submit = pu_submit);
	struct pu_store *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->page = (size_t)sysconf(_SC_PAGESIZE);
	s->size = size;
	s->npages = (size + s->page - 1) / s->page;
	s->data = calloc(1, s->npages * s->page);
	s->reads = calloc(s->npages, sizeof(*s->reads));
	s->writes = calloc(s->npages, sizeof(*s->writes));
	s->watch = calloc(s->npages, sizeof(*s->watch));
	ck_assert(s->data && s->reads && s->writes && s->watch);
	pthread_mutex_init(&s->gate_lock, NULL);
	pthread_cond_init(&s->unblocked, NULL);
	tu_fill(s->data, 0, s->npages * s->page, seed);
	ck_assert_int_eq(upg_store_create(&ops, s, &s->st), 0);
	return s;
}

void pu_store_free(struct pu_store *s)
{
	upg_store_put(s->st);
	free(s->data);
	free(s->reads);
	free(s->writes);
	free(s->held);
	pthread_cond_destroy(&s->unblocked);
	pthread_mutex_destroy(&s->gate_lock);
	free(s->watch);
	free(s);
}

uint64_t pu_store_reads(struct pu_store *s, uint64_t pg)
{
	return atomic_load(&s->reads[pg]);
}

uint64_t pu_store_writes(struct pu_store *s, uint64_t pg)
{
	return atomic_load(&s->writes[pg]);
}

uint64_t pu_store_reads_range(struct pu_store *s, uint64_t first,
			      uint64_t end)
{
	uint64_t n = 0;

	for (; first < end; first++)
		n += atomic_load(&s->reads[first]);
	return n;
}

void pu_store_watch(struct pu_store *s, uint64_t first, uint64_t end,
		    int delta)
{
	for (; first < end; first++)
		atomic_fetch_add(&s->watch[first], (uint32_t)delta);
}

void pu_store_fail_reads(struct pu_store *s, uint64_t first, uint64_t end,
			 int err)
{
	atomic_store(&s->fail_err, err);
	atomic_store(&s->fail_first, first);
	atomic_store(&s->fail_end, end);
}

void pu_store_gate(struct pu_store *s, bool closed)
{
	struct upg_io **held = NULL;
	size_t n = 0, i;

	pthread_mutex_lock(&s->gate_lock);
	s->gate_closed = closed;
	if (!closed) {
		held = s->held;
		n = s->nr_held;
		s->held = NULL;
		s->nr_held = s->held_cap = 0;
	}
	pthread_mutex_unlock(&s->gate_lock);
	for (i = 0; i < n; i++) {
		size_t len = io_len(s, held[i]);

		memcpy(held[i]->buf, s->data + held[i]->offset, len);
		upg_io_complete(held[i], (ssize_t)len);
	}
	free(held);
}

void pu_store_block(struct pu_store *s, bool on)
{
	pthread_mutex_lock(&s->gate_lock);
	s->blocking = on;
	if (!on)
		pthread_cond_broadcast(&s->unblocked);
	pthread_mutex_unlock(&s->gate_lock);
}

unsigned pu_store_blocked(struct pu_store *s)
{
	unsigned n;

	pthread_mutex_lock(&s->gate_lock);
	n = s->nr_blocked;
	pthread_mutex_unlock(&s->gate_lock);
	return n;
}

size_t pu_store_held(struct pu_store *s)
{
	size_t n;

	pthread_mutex_lock(&s->gate_lock);
	n = s->nr_held;
	pthread_mutex_unlock(&s->gate_lock);
	return n;
}

uint64_t pu_store_check(struct pu_store *s, uint64_t off, uint64_t len,
			uint64_t seed)
{
	return tu_check(s->data + off, off, len, seed);
}

struct upg_region *pu_map_store(struct upg_runtime *rt, struct pu_store *s,
				uint64_t off, uint64_t len)
{
	UPG_OPTS(upg_region_opts, ro, .store_offset = off);
	struct upg_region *r = NULL;

	ck_assert_int_eq(upg_region_map_store(rt, s->st, len, &ro, &r), 0);
	return r;
}

void pu_check_pages(const void *a, uint64_t first, uint64_t end,
		    uint64_t seed)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t pg, bad;

	for (pg = first; pg < end; pg++) {
		bad = tu_check((const char *)a + pg * ps, pg * ps, ps, seed);
		ck_assert_msg(bad == UINT64_MAX,
			      "page %llu differs at byte %llu",
			      (unsigned long long)pg, (unsigned long long)bad);
	}
}

void pu_assert_no_violation(struct pu_store *s)
{
	ck_assert_msg(atomic_load(&s->violations) == 0,
		      "%llu store reads of pinned pages (first: page %llu): "
		      "a pinned page was evicted",
		      (unsigned long long)atomic_load(&s->violations),
		      (unsigned long long)atomic_load(&s->violation_pg));
}

void pu_assert_balanced(struct upg_runtime *rt, uint64_t pins)
{
	struct upg_stats st = tu_stats(rt);

	ck_assert_uint_eq(st.pins_acquired, pins);
	ck_assert_uint_eq(st.pins_released, pins);
	ck_assert_uint_eq(st.pinned_bytes, 0);
}

void *pu_reserve(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p;
}

void pu_move_region(struct upg_region *r, void *to)
{
	uint64_t len = upg_region_length(r);
	void *got = mremap(upg_region_addr(r), len, len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, to);

	ck_assert_msg(got == to, "mremap: %s", strerror(errno));
	TU_WAIT_FOR(upg_region_addr(r) == to, 5000);
}

struct upg_runtime *pu_runtime(const struct upg_runtime_opts *o)
{
	struct upg_runtime *rt = NULL;
	int err = upg_runtime_create(o, &rt);

	if (err == -EPERM || err == -EACCES || err == -EOPNOTSUPP) {
		fprintf(stderr, "no usable userfaultfd here (%s): skipped\n",
			strerror(-err));
		exit(TEST_SKIP);
	}
	ck_assert_msg(!err, "upg_runtime_create: %s", strerror(-err));
	return rt;
}

uint64_t pu_region_resident(struct upg_region *r)
{
	UPG_OPTS(upg_region_stats, st);

	ck_assert_int_eq(upg_region_stats(r, &st), 0);
	return st.resident_bytes;
}

uint64_t pu_region_dirty(struct upg_region *r)
{
	UPG_OPTS(upg_region_stats, st);

	ck_assert_int_eq(upg_region_stats(r, &st), 0);
	return st.dirty_bytes;
}

bool pu_resident(struct upg_runtime *rt, const void *p, size_t len)
{
	char *buf = malloc(len);
	size_t left;

	ck_assert_ptr_nonnull(buf);
	left = upg_copy_from_nofault(rt, buf, p, len);
	free(buf);
	return left == 0;
}

void pu_touch_resident(struct upg_runtime *rt, const void *p, size_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	const volatile char *c = p;
	size_t off;

	for (off = 0; off < len; off += ps)
		(void)c[off];
	TU_WAIT_FOR(pu_resident(rt, p, len), 5000);
}

pid_t pu_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

bool pu_in_futex(pid_t tid)
{
	char path[64], buf[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, "futex") != NULL;
}

void pu_touch_write(void *p, uint64_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t *w, off;

	/* Atomic, relaxed: other threads read the same words meanwhile. */
	for (off = 0; off < len; off += ps) {
		w = (uint64_t *)(void *)((char *)p + off);
		__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	}
}
