// SPDX-License-Identifier: MIT
/*
 * test_store - the io queue and the store kinds: plugin, file, swap, mem.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/opts.h"
#include "io/io_queue.h"
#include "store/store.h"
#include "store/store_impl.h"

#define PAGE 4096u

/* ---- helpers --------------------------------------------------------- */

/* A request with its completion record. */
struct tio {
	struct upg_io io;
	int calls;
	ssize_t res;
};

static void tio_done(struct upg_io *io, ssize_t res)
{
	struct tio *t = io->priv;

	t->calls++;
	t->res = res;
}

static void tio_init(struct tio *t, enum upg_io_op op, uint64_t offset,
		     void *buf, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->io.op = op;
	t->io.offset = offset;
	t->io.buf = buf;
	t->io.len = len;
	t->io.done = tio_done;
	t->io.priv = t;
	t->res = INT32_MIN;
}

static const char *tmp_base(void)
{
	const char *dir = getenv("TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

/* A fresh, empty directory; the path is malloc'ed. */
static char *make_tmpdir(void)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/upg-test-XXXXXX", tmp_base()), 0);
	ck_assert_ptr_nonnull(mkdtemp(path));
	return path;
}

/* An unlinked read-write temp file. */
static int make_tmpfile(void)
{
	char *path;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/upg-test-XXXXXX", tmp_base()), 0);
	fd = mkostemp(path, O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	return fd;
}

static unsigned dir_entries(const char *path)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(path);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	}
	closedir(d);
	return n;
}

/* A byte that depends on its offset and its page, so that misplaced
 * data shows. */
static unsigned char pattern_byte(uint64_t pos)
{
	return (unsigned char)(pos * 131 + (pos >> 12));
}

static void fill_pattern(void *buf, size_t len, uint64_t offset)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern_byte(offset + i);
}

static bool check_pattern(const void *buf, size_t len, uint64_t offset)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != pattern_byte(offset + i))
			return false;
	}
	return true;
}

static bool all_bytes(const void *buf, size_t len, unsigned char c)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != c)
			return false;
	}
	return true;
}

static void drain(struct upg_io_queue *q)
{
	while (io_queue_pending(q))
		ck_assert_int_ge(io_queue_reap(q, true), 0);
}

/* Submit one request to @st and wait for it; returns its result. */
static ssize_t store_io(struct upg_store *st, struct upg_io_queue *q,
			enum upg_io_op op, uint64_t offset, void *buf,
			size_t len)
{
	struct tio t;

	tio_init(&t, op, offset, buf, len);
	ck_assert_int_eq(store_submit(st, q, &t.io), 0);
	if (q)
		drain(q);
	ck_assert_int_eq(t.calls, 1);
	return t.res;
}

/* ---- opts ------------------------------------------------------------- */

struct opts_v1 {
	size_t sz;
	uint64_t a;
};

struct opts_v2 {
	size_t sz;
	uint64_t a;
	uint64_t b;
};

START_TEST(test_opts_valid)
{
	struct opts_v2 o = { .sz = sizeof(o) };

	ck_assert(opts_valid(NULL, sizeof(struct opts_v1)));
	ck_assert(opts_valid(&o, sizeof(struct opts_v2)));
	/* A newer caller with a zero tail is fine, a non-zero one is not. */
	ck_assert(opts_valid(&o, sizeof(struct opts_v1)));
	o.b = 1;
	ck_assert(!opts_valid(&o, sizeof(struct opts_v1)));
	/* An older caller is fine. */
	o.sz = sizeof(size_t);
	ck_assert(opts_valid(&o, sizeof(struct opts_v2)));
	ck_assert(!OPTS_HAS(&o, a));
	ck_assert_uint_eq(OPTS_GET(&o, a, 42), 42);
	o.sz = 0;
	ck_assert(!opts_valid(&o, sizeof(struct opts_v2)));
	o.sz = sizeof(size_t) - 1;
	ck_assert(!opts_valid(&o, sizeof(struct opts_v2)));
}
END_TEST

/* ---- io queue --------------------------------------------------------- */

#define NREQ 64
#define REQ_LEN (3 * PAGE + 100)	/* not a page multiple */

START_TEST(test_io_many_inflight)
{
	struct upg_io_queue q;
	struct tio *t = calloc(NREQ, sizeof(*t));
	char *wbuf = malloc((size_t)NREQ * REQ_LEN);
	char *rbuf = malloc((size_t)NREQ * REQ_LEN);
	int fd = make_tmpfile();
	unsigned i;

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(wbuf);
	ck_assert_ptr_nonnull(rbuf);
	/* Far fewer SQEs than requests: the SQ fills up again and again. */
	ck_assert_int_eq(io_queue_init(&q, 4), 0);
	ck_assert_uint_eq(q.depth, 4);

	fill_pattern(wbuf, (size_t)NREQ * REQ_LEN, 0);
	for (i = 0; i < NREQ; i++) {
		tio_init(&t[i], UPG_IO_WRITE, (uint64_t)i * REQ_LEN,
			 wbuf + (size_t)i * REQ_LEN, REQ_LEN);
		ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t[i].io), 0);
	}
	drain(&q);
	for (i = 0; i < NREQ; i++) {
		ck_assert_int_eq(t[i].calls, 1);
		ck_assert_int_eq(t[i].res, REQ_LEN);
	}

	memset(rbuf, 0xaa, (size_t)NREQ * REQ_LEN);
	/* Backwards, so that completions do not simply follow the file. */
	for (i = NREQ; i-- > 0;) {
		tio_init(&t[i], UPG_IO_READ, (uint64_t)i * REQ_LEN,
			 rbuf + (size_t)i * REQ_LEN, REQ_LEN);
		ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t[i].io), 0);
	}
	drain(&q);
	for (i = 0; i < NREQ; i++) {
		ck_assert_int_eq(t[i].calls, 1);
		ck_assert_int_eq(t[i].res, REQ_LEN);
	}
	ck_assert(check_pattern(rbuf, (size_t)NREQ * REQ_LEN, 0));
	/* And the file itself holds it. */
	memset(rbuf, 0, REQ_LEN);
	ck_assert_int_eq(pread(fd, rbuf, REQ_LEN, 5 * REQ_LEN), REQ_LEN);
	ck_assert(check_pattern(rbuf, REQ_LEN, 5 * REQ_LEN));

	io_queue_fini(&q);
	close(fd);
	free(rbuf);
	free(wbuf);
	free(t);
}
END_TEST

/*
 * A queue never lets more requests be in flight than its CQ holds: a
 * completion the kernel must park on its overflow list needs an entry it
 * allocates GFP_ATOMIC and charges to the memory cgroup, and when that
 * fails the completion is dropped and its waiter sleeps for ever.  Reads
 * of cached data complete inside the submit, so queueing many without a
 * reap used to overflow an 8-entry CQ at once.
 */
START_TEST(test_io_never_overflows_cq)
{
	struct upg_io_queue q;
	struct tio *t = calloc(NREQ, sizeof(*t));
	char *buf = malloc((size_t)NREQ * REQ_LEN);
	int fd = make_tmpfile();
	unsigned i;

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(buf);
	fill_pattern(buf, (size_t)NREQ * REQ_LEN, 0);
	ck_assert_int_eq(pwrite(fd, buf, (size_t)NREQ * REQ_LEN, 0),
			 (ssize_t)NREQ * REQ_LEN);
	memset(buf, 0xaa, (size_t)NREQ * REQ_LEN);
	ck_assert_int_eq(io_queue_init(&q, 4), 0);
	for (i = 0; i < NREQ; i++) {
		tio_init(&t[i], UPG_IO_READ, (uint64_t)i * REQ_LEN,
			 buf + (size_t)i * REQ_LEN, REQ_LEN);
		ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t[i].io), 0);
		ck_assert_uint_le(io_queue_pending(&q), q.ring.cq.ring_entries);
		ck_assert_msg(!io_uring_cq_has_overflow(&q.ring),
			      "CQ overflowed after %u requests", i + 1);
	}
	drain(&q);
	ck_assert_uint_eq(*q.ring.cq.koverflow, 0);
	for (i = 0; i < NREQ; i++) {
		ck_assert_int_eq(t[i].calls, 1);
		ck_assert_int_eq(t[i].res, REQ_LEN);
	}
	ck_assert(check_pattern(buf, (size_t)NREQ * REQ_LEN, 0));
	io_queue_fini(&q);
	close(fd);
	free(buf);
	free(t);
}
END_TEST

START_TEST(test_io_short_read_at_eof)
{
	struct upg_io_queue q;
	char wbuf[10000], rbuf[4 * PAGE];
	struct tio t;
	int fd = make_tmpfile();

	fill_pattern(wbuf, sizeof(wbuf), 0);
	ck_assert_int_eq(pwrite(fd, wbuf, sizeof(wbuf), 0), sizeof(wbuf));
	ck_assert_int_eq(io_queue_init(&q, 8), 0);

	/* Spans the end of the file: the bytes that exist.  The first read
	 * is short and resubmitted; the second meets end of file. */
	memset(rbuf, 0xaa, sizeof(rbuf));
	tio_init(&t, UPG_IO_READ, 0, rbuf, sizeof(rbuf));
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), 0);
	drain(&q);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.res, 10000);
	ck_assert(check_pattern(rbuf, 10000, 0));

	/* Starts in the middle, ends past the end. */
	tio_init(&t, UPG_IO_READ, 9000, rbuf, PAGE);
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), 0);
	drain(&q);
	ck_assert_int_eq(t.res, 1000);
	ck_assert(check_pattern(rbuf, 1000, 9000));

	/* Entirely past the end: nothing. */
	tio_init(&t, UPG_IO_READ, 20000, rbuf, PAGE);
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), 0);
	drain(&q);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.res, 0);

	io_queue_fini(&q);
	close(fd);
}
END_TEST

START_TEST(test_io_hole_reads_zeros)
{
	struct upg_io_queue q;
	char page[PAGE];
	char *rbuf = malloc(16 * PAGE);
	struct tio t;
	int fd = make_tmpfile();

	ck_assert_ptr_nonnull(rbuf);
	fill_pattern(page, PAGE, 0);
	ck_assert_int_eq(pwrite(fd, page, PAGE, 0), PAGE);
	ck_assert_int_eq(pwrite(fd, page, PAGE, 64 * PAGE), PAGE);
	ck_assert_int_eq(io_queue_init(&q, 8), 0);

	memset(rbuf, 0xaa, 16 * PAGE);
	tio_init(&t, UPG_IO_READ, 8 * PAGE, rbuf, 16 * PAGE);
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), 0);
	drain(&q);
	ck_assert_int_eq(t.res, 16 * PAGE);
	ck_assert(all_bytes(rbuf, 16 * PAGE, 0));

	io_queue_fini(&q);
	close(fd);
	free(rbuf);
}
END_TEST

START_TEST(test_io_error_completes)
{
	struct upg_io_queue q;
	char buf[PAGE];
	struct tio t;
	int fd = make_tmpfile();
	int rofd;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(rofd, 0);
	ck_assert_int_eq(io_queue_init(&q, 8), 0);

	/* The kernel's error reaches done(), unchanged. */
	memset(buf, 1, sizeof(buf));
	tio_init(&t, UPG_IO_WRITE, 0, buf, sizeof(buf));
	ck_assert_int_eq(upg_io_queue_fd(&q, rofd, &t.io), 0);
	drain(&q);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.res, -EBADF);

	/* Requests the queue cannot express are refused, not completed. */
	tio_init(&t, UPG_IO_READ, 0, buf, 0);
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), -EINVAL);
	tio_init(&t, UPG_IO_READ, UINT64_MAX, buf, 1);
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), -EINVAL);
	tio_init(&t, UPG_IO_READ, 0, buf, 1);
	ck_assert_int_eq(upg_io_queue_fd(&q, -1, &t.io), -EINVAL);
	ck_assert_int_eq(upg_io_queue_fd(NULL, fd, &t.io), -EINVAL);
	ck_assert_int_eq(t.calls, 0);

	io_queue_fini(&q);
	close(rofd);
	close(fd);
}
END_TEST

/*
 * A write cut short by RLIMIT_FSIZE is resubmitted for the rest, which
 * then fails: the error, not the partial count, is the result.
 */
START_TEST(test_io_short_write_then_error)
{
	struct rlimit old, lim;
	struct upg_io_queue q;
	char buf[2 * PAGE];
	struct tio t;
	int fd = make_tmpfile();

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 3 * PAGE;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(io_queue_init(&q, 4), 0);

	fill_pattern(buf, sizeof(buf), 2 * PAGE);
	tio_init(&t, UPG_IO_WRITE, 2 * PAGE, buf, sizeof(buf));
	ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t.io), 0);
	drain(&q);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.res, -EFBIG);
	ck_assert_uint_eq(t.io.progress, PAGE);

	io_queue_fini(&q);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	close(fd);
}
END_TEST

/*
 * Completions that queue the next request from inside done(): more chains
 * than SQEs, so queueing from a callback finds the SQ full and reaps
 * re-entrantly.
 */
#define NCHAIN 12
#define CHAIN_STEPS 20

struct chain {
	struct upg_io io;
	struct upg_io_queue *q;
	int fd;
	unsigned step;
	unsigned done;
	bool bad;
	char buf[PAGE];
};

static void chain_done(struct upg_io *io, ssize_t res)
{
	struct chain *c = io->priv;

	if (res != PAGE || !check_pattern(c->buf, PAGE, io->offset))
		c->bad = true;
	if (++c->step == CHAIN_STEPS) {
		c->done = 1;
		return;
	}
	io->offset = (uint64_t)((c->step * 7 + (unsigned)c->fd) % 32) * PAGE;
	memset(c->buf, 0, PAGE);
	if (upg_io_queue_fd(c->q, c->fd, io))
		c->bad = true;
}

START_TEST(test_io_requeue_from_callback)
{
	struct upg_io_queue q;
	struct chain *c = calloc(NCHAIN, sizeof(*c));
	char *data = malloc(32 * PAGE);
	int fd = make_tmpfile();
	unsigned i;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(data);
	fill_pattern(data, 32 * PAGE, 0);
	ck_assert_int_eq(pwrite(fd, data, 32 * PAGE, 0), 32 * PAGE);
	ck_assert_int_eq(io_queue_init(&q, 4), 0);

	for (i = 0; i < NCHAIN; i++) {
		c[i].q = &q;
		c[i].fd = fd;
		c[i].io.op = UPG_IO_READ;
		c[i].io.offset = (uint64_t)(i % 32) * PAGE;
		c[i].io.buf = c[i].buf;
		c[i].io.len = PAGE;
		c[i].io.done = chain_done;
		c[i].io.priv = &c[i];
		ck_assert_int_eq(upg_io_queue_fd(&q, fd, &c[i].io), 0);
	}
	drain(&q);
	for (i = 0; i < NCHAIN; i++) {
		ck_assert_uint_eq(c[i].done, 1);
		ck_assert_uint_eq(c[i].step, CHAIN_STEPS);
		ck_assert(!c[i].bad);
	}

	io_queue_fini(&q);
	close(fd);
	free(data);
	free(c);
}
END_TEST

START_TEST(test_io_fini_waits)
{
	struct upg_io_queue q;
	struct tio t[8];
	char buf[8][PAGE];
	int fd = make_tmpfile();
	unsigned i;

	ck_assert_int_eq(io_queue_init(&q, 4), 0);
	for (i = 0; i < 8; i++) {
		memset(buf[i], (int)i + 1, PAGE);
		tio_init(&t[i], UPG_IO_WRITE, (uint64_t)i * PAGE, buf[i], PAGE);
		ck_assert_int_eq(upg_io_queue_fd(&q, fd, &t[i].io), 0);
	}
	/* No reap: fini must run every completion before the ring goes. */
	io_queue_fini(&q);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(t[i].calls, 1);
		ck_assert_int_eq(t[i].res, PAGE);
	}
	close(fd);
}
END_TEST

/* ---- plugin stores ---------------------------------------------------- */

struct plugin {
	int submits;
	int flushes;
	int closes;
	int submit_ret;
	int flush_ret;
};

static int plugin_submit(void *ctx, struct upg_io_queue *q, struct upg_io *io)
{
	struct plugin *p = ctx;

	(void)q;
	p->submits++;
	if (p->submit_ret)
		return p->submit_ret;
	upg_io_complete(io, (ssize_t)io->len);
	return 0;
}

static int plugin_flush(void *ctx)
{
	struct plugin *p = ctx;

	p->flushes++;
	return p->flush_ret;
}

static void plugin_close(void *ctx)
{
	struct plugin *p = ctx;

	p->closes++;
}

/* What a caller built against a newer header passes. */
struct store_ops_v2 {
	struct upg_store_ops base;
	uint64_t future;
};

START_TEST(test_plugin_bad_ops)
{
	UPG_OPTS(upg_store_ops, ops, .submit = plugin_submit);
	struct store_ops_v2 v2 = { .base = ops };
	struct upg_store *st = NULL;
	struct plugin p = { 0 };

	ck_assert_int_eq(upg_store_create(NULL, &p, &st), -EINVAL);
	ck_assert_int_eq(upg_store_create(&ops, &p, NULL), -EINVAL);

	ops.submit = NULL;
	ck_assert_int_eq(upg_store_create(&ops, &p, &st), -EINVAL);
	ops.submit = plugin_submit;

	ops.sz = 0;
	ck_assert_int_eq(upg_store_create(&ops, &p, &st), -EINVAL);
	/* sz must reach submit. */
	ops.sz = offsetof(struct upg_store_ops, submit);
	ck_assert_int_eq(upg_store_create(&ops, &p, &st), -EINVAL);

	v2.base.sz = sizeof(v2);
	v2.future = 1;
	ck_assert_int_eq(upg_store_create(&v2.base, &p, &st), -EINVAL);
	ck_assert_ptr_null(st);

	v2.future = 0;
	ck_assert_int_eq(upg_store_create(&v2.base, &p, &st), 0);
	ck_assert_ptr_nonnull(st);
	upg_store_put(st);
	ck_assert_int_eq(p.closes, 0);
}
END_TEST

START_TEST(test_plugin_dispatch)
{
	UPG_OPTS(upg_store_ops, ops, .submit = plugin_submit,
		 .flush = plugin_flush, .close = plugin_close);
	struct plugin p = { 0 };
	struct upg_store *st;
	char buf[16];
	struct tio t;

	ck_assert_int_eq(upg_store_create(&ops, &p, &st), 0);
	ck_assert_int_eq(st->kind, STORE_PLUGIN);
	ck_assert_int_eq(store_io(st, NULL, UPG_IO_WRITE, 0, buf, 16), 16);

	/* A submit error comes back and done() does not run. */
	p.submit_ret = -EAGAIN;
	tio_init(&t, UPG_IO_READ, 0, buf, 16);
	ck_assert_int_eq(store_submit(st, NULL, &t.io), -EAGAIN);
	ck_assert_int_eq(t.calls, 0);
	ck_assert_int_eq(p.submits, 2);

	ck_assert_int_eq(store_flush(st), 0);
	p.flush_ret = -EIO;
	ck_assert_int_eq(store_flush(st), -EIO);
	ck_assert_int_eq(p.flushes, 2);

	upg_store_put(st);
	ck_assert_int_eq(p.closes, 1);
}
END_TEST

START_TEST(test_plugin_refcount)
{
	UPG_OPTS(upg_store_ops, ops, .submit = plugin_submit,
		 .close = plugin_close);
	struct plugin p = { 0 };
	struct upg_store *st;

	ck_assert_int_eq(upg_store_create(&ops, &p, &st), 0);
	store_get(st);
	store_get(st);
	upg_store_put(st);
	upg_store_put(st);
	ck_assert_int_eq(p.closes, 0);
	/* No flush callback: flushing is a no-op. */
	ck_assert_int_eq(store_flush(st), 0);
	upg_store_put(st);
	ck_assert_int_eq(p.closes, 1);
	upg_store_put(NULL);
}
END_TEST

START_TEST(test_plugin_old_ops)
{
	/* An older caller's ops end at submit: the bytes after it are not
	 * the caller's and must not be used. */
	struct upg_store_ops ops = {
		.sz = offsetof(struct upg_store_ops, submit) +
		      sizeof(ops.submit),
		.submit = plugin_submit,
		.flush = plugin_flush,
		.close = plugin_close,
	};
	struct plugin p = { 0 };
	struct upg_store *st;

	ck_assert_int_eq(upg_store_create(&ops, &p, &st), 0);
	ck_assert_int_eq(store_flush(st), 0);
	ck_assert_int_eq(p.flushes, 0);
	upg_store_put(st);
	ck_assert_int_eq(p.closes, 0);
}
END_TEST

/* ---- file store ------------------------------------------------------- */

START_TEST(test_file_store_round_trip)
{
	struct upg_io_queue q;
	struct upg_store *st;
	char wbuf[2 * PAGE], rbuf[3 * PAGE];
	int fd = make_tmpfile();

	ck_assert_int_eq(io_queue_init(&q, 8), 0);
	ck_assert_int_eq(upg_store_open_file(fd, &st), 0);
	ck_assert_int_eq(st->kind, STORE_FILE);
	/* The store holds its own descriptor. */
	ck_assert_int_ne(st->fd, fd);
	ck_assert_int_eq(fcntl(st->fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(fd);

	fill_pattern(wbuf, sizeof(wbuf), PAGE);
	ck_assert_int_eq(store_io(st, &q, UPG_IO_WRITE, PAGE, wbuf,
				  sizeof(wbuf)), sizeof(wbuf));
	ck_assert_int_eq(store_flush(st), 0);

	memset(rbuf, 0xaa, sizeof(rbuf));
	ck_assert_int_eq(store_io(st, &q, UPG_IO_READ, 0, rbuf, sizeof(rbuf)),
			 3 * PAGE);
	ck_assert(all_bytes(rbuf, PAGE, 0));
	ck_assert(check_pattern(rbuf + PAGE, 2 * PAGE, PAGE));

	/* Past the end of the file: short. */
	ck_assert_int_eq(store_io(st, &q, UPG_IO_READ, 2 * PAGE, rbuf,
				  sizeof(rbuf)), PAGE);

	upg_store_put(st);
	io_queue_fini(&q);
}
END_TEST

START_TEST(test_file_store_rejects)
{
	struct upg_store *st = NULL;
	char *dir = make_tmpdir();
	char *fifo, path[64];
	int fd, dfd, pfd;

	/* A FIFO is neither a regular file nor a block device. */
	ck_assert_int_ge(asprintf(&fifo, "%s/fifo", dir), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(upg_store_open_file(fd, &st), -ENODEV);
	close(fd);
	unlink(fifo);

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(upg_store_open_file(dfd, &st), -ENODEV);

	/* Bad descriptors. */
	ck_assert_int_eq(upg_store_open_file(-1, &st), -EBADF);
	fd = make_tmpfile();
	close(fd);
	ck_assert_int_eq(upg_store_open_file(fd, &st), -EBADF);
	fd = make_tmpfile();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	pfd = open(path, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(pfd, 0);
	ck_assert_int_eq(upg_store_open_file(pfd, &st), -EBADF);
	ck_assert_ptr_null(st);

	close(pfd);
	close(fd);
	close(dfd);
	rmdir(dir);
	free(fifo);
	free(dir);
}
END_TEST

/* ---- swap store ------------------------------------------------------- */

static unsigned free_extents(struct upg_store *st)
{
	struct swap_extent *e;
	unsigned n = 0;

	for (e = st->swap_free; e; e = e->next) {
		/* Sorted, merged, and never touching swap_end. */
		if (e->next)
			ck_assert_uint_lt(e->off + e->len, e->next->off);
		else
			ck_assert_uint_lt(e->off + e->len, st->swap_end);
		n++;
	}
	return n;
}

START_TEST(test_swap_extents)
{
	uint64_t p = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t a, b, c, d, e, f, g;
	char *dir = make_tmpdir();
	struct upg_store *st;

	ck_assert_int_eq(swap_store_create(dir, &st), 0);
	ck_assert_int_eq(st->kind, STORE_SWAP);
	ck_assert_int_eq(swap_alloc(st, 0, &a), -EINVAL);
	ck_assert_int_eq(swap_alloc(st, p + 1, &a), -EINVAL);

	ck_assert_int_eq(swap_alloc(st, 4 * p, &a), 0);
	ck_assert_int_eq(swap_alloc(st, 4 * p, &b), 0);
	ck_assert_int_eq(swap_alloc(st, 4 * p, &c), 0);
	ck_assert_int_eq(swap_alloc(st, 4 * p, &d), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 4 * p);
	ck_assert_uint_eq(c, 8 * p);
	ck_assert_uint_eq(d, 12 * p);
	ck_assert_uint_eq(st->swap_end, 16 * p);

	/* Two holes of 4 pages: 8 pages fit in neither, so they come from
	 * the end. */
	swap_free(st, a, 4 * p);
	swap_free(st, c, 4 * p);
	ck_assert_uint_eq(free_extents(st), 2);
	ck_assert_int_eq(swap_alloc(st, 8 * p, &e), 0);
	ck_assert_uint_eq(e, 16 * p);

	/* Freeing b merges both neighbours into one extent [0, 12p). */
	swap_free(st, b, 4 * p);
	ck_assert_uint_eq(free_extents(st), 1);
	ck_assert_uint_eq(st->swap_free->off, 0);
	ck_assert_uint_eq(st->swap_free->len, 12 * p);

	/* First fit splits it, an exact fit takes the rest. */
	ck_assert_int_eq(swap_alloc(st, 2 * p, &f), 0);
	ck_assert_uint_eq(f, 0);
	ck_assert_uint_eq(st->swap_free->off, 2 * p);
	ck_assert_int_eq(swap_alloc(st, 10 * p, &g), 0);
	ck_assert_uint_eq(g, 2 * p);
	ck_assert_ptr_null(st->swap_free);

	/* A double free and a free past the end change nothing. */
	swap_free(st, f, 2 * p);
	swap_free(st, f, 2 * p);
	swap_free(st, p, 2 * p);
	swap_free(st, 64 * p, p);
	ck_assert_uint_eq(free_extents(st), 1);
	ck_assert_uint_eq(st->swap_free->len, 2 * p);

	/* Freeing the top folds back into swap_end, with what touches it. */
	swap_free(st, e, 8 * p);
	ck_assert_uint_eq(st->swap_end, 16 * p);
	swap_free(st, g, 10 * p);
	ck_assert_uint_eq(free_extents(st), 1);
	swap_free(st, d, 4 * p);
	ck_assert_uint_eq(st->swap_end, 0);
	ck_assert_ptr_null(st->swap_free);

	upg_store_put(st);
	ck_assert_uint_eq(dir_entries(dir), 0);
	rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_swap_io_and_punch)
{
	uint64_t p = (uint64_t)sysconf(_SC_PAGESIZE);
	char *dir = make_tmpdir();
	struct upg_io_queue q;
	struct upg_store *st;
	struct stat sb;
	uint64_t a, b;
	/* Page aligned: the swap file is O_DIRECT (the runtime only ever
	 * passes pages of its alias mapping). */
	char *buf = aligned_alloc(p, 16 * p);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(io_queue_init(&q, 8), 0);
	ck_assert_int_eq(swap_store_create(dir, &st), 0);
	/* Unlinked from the start: no name in the directory. */
	ck_assert_uint_eq(dir_entries(dir), 0);
	ck_assert_int_eq(fstat(st->fd, &sb), 0);
	ck_assert_uint_eq(sb.st_nlink, 0);
	ck_assert(S_ISREG(sb.st_mode));

	ck_assert_int_eq(swap_alloc(st, 16 * p, &a), 0);
	ck_assert_int_eq(swap_alloc(st, 16 * p, &b), 0);
	/* Reserving space writes nothing. */
	ck_assert_int_eq(fstat(st->fd, &sb), 0);
	ck_assert_int_eq(sb.st_blocks, 0);

	fill_pattern(buf, 16 * p, b);
	ck_assert_int_eq(store_io(st, &q, UPG_IO_WRITE, b, buf, 16 * p),
			 16 * p);
	memset(buf, 0, 16 * p);
	ck_assert_int_eq(store_io(st, &q, UPG_IO_READ, b, buf, 16 * p),
			 16 * p);
	ck_assert(check_pattern(buf, 16 * p, b));
	/* The first extent was never written: a hole. */
	ck_assert_int_eq(store_io(st, &q, UPG_IO_READ, a, buf, 16 * p),
			 16 * p);
	ck_assert(all_bytes(buf, 16 * p, 0));
	ck_assert_int_eq(store_flush(st), 0);

	ck_assert_int_eq(fsync(st->fd), 0);
	ck_assert_int_eq(fstat(st->fd, &sb), 0);
	ck_assert_int_gt(sb.st_blocks, 0);
	ck_assert_int_eq(lseek(st->fd, 0, SEEK_DATA), (off_t)b);

	/* Freeing punches the blocks out. */
	swap_free(st, b, 16 * p);
	ck_assert_int_eq(fstat(st->fd, &sb), 0);
	ck_assert_int_eq(sb.st_blocks, 0);
	errno = 0;
	ck_assert_int_eq(lseek(st->fd, 0, SEEK_DATA), -1);
	ck_assert_int_eq(errno, ENXIO);

	upg_store_put(st);
	io_queue_fini(&q);
	rmdir(dir);
	free(dir);
	free(buf);
}
END_TEST

START_TEST(test_swap_bad_dir)
{
	struct upg_store *st = NULL;

	ck_assert_int_eq(swap_store_create("/nonexistent/upager", &st),
			 -ENOENT);
	ck_assert_ptr_null(st);
}
END_TEST

/* ---- memory store ----------------------------------------------------- */

static struct upg_store *mem_store(uint64_t capacity)
{
	UPG_OPTS(upg_mem_store_opts, opts, .capacity = capacity);
	struct upg_store *st;

	ck_assert_int_eq(upg_store_create_mem(&opts, &st), 0);
	ck_assert_int_eq(st->kind, STORE_MEM);
	return st;
}

static ssize_t mem_io(struct upg_store *st, enum upg_io_op op,
		      uint64_t offset, void *buf, size_t len)
{
	/* Inline completion: store_io() checks done() already ran. */
	return store_io(st, NULL, op, offset, buf, len);
}

START_TEST(test_mem_round_trip)
{
	struct upg_store *st = mem_store(0);
	char wbuf[10000], rbuf[16000];
	uint64_t far = (uint64_t)1 << 40;
	char tail[100];

	fill_pattern(wbuf, sizeof(wbuf), 5000);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 5000, wbuf, sizeof(wbuf)),
			 sizeof(wbuf));

	memset(rbuf, 0xaa, sizeof(rbuf));
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, rbuf, 15000), 15000);
	ck_assert(all_bytes(rbuf, 5000, 0));
	ck_assert(check_pattern(rbuf + 5000, 10000, 5000));

	/* Overwrite part of it; the rest stays. */
	memset(wbuf, 0x5a, 100);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 8190, wbuf, 100), 100);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 5000, rbuf, 10000), 10000);
	ck_assert(check_pattern(rbuf, 3190, 5000));
	ck_assert(all_bytes(rbuf + 3190, 100, 0x5a));
	ck_assert(check_pattern(rbuf + 3290, 10000 - 3290, 8290));

	/* Far offsets, up to the last byte addressable. */
	fill_pattern(wbuf, PAGE, far);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, far, wbuf, PAGE), PAGE);
	memset(tail, 0x11, sizeof(tail));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, UINT64_MAX - 100, tail, 100),
			 100);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, far - PAGE, rbuf, 2 * PAGE),
			 2 * PAGE);
	ck_assert(all_bytes(rbuf, PAGE, 0));
	ck_assert(check_pattern(rbuf + PAGE, PAGE, far));
	memset(rbuf, 0, sizeof(tail));
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, UINT64_MAX - 100, rbuf, 100),
			 100);
	ck_assert(all_bytes(rbuf, 100, 0x11));
	/* The early data survived the tree growing. */
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 5000, rbuf, 100), 100);
	ck_assert(check_pattern(rbuf, 100, 5000));

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_short_read_past_size)
{
	struct upg_store *st = mem_store(0);
	char buf[4 * PAGE];

	/* Empty: every read is at the end. */
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), 0);

	fill_pattern(buf, 3000, 12000);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 12000, buf, 3000), 3000);
	/* Size is 15000: a read across it is short, past it empty. */
	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 10000, buf, 2 * PAGE), 5000);
	ck_assert(all_bytes(buf, 2000, 0));
	ck_assert(check_pattern(buf + 2000, 3000, 12000));
	ck_assert(all_bytes(buf + 5000, 2 * PAGE - 5000, 0xaa));
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 15000, buf, PAGE), 0);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 1 << 20, buf, PAGE), 0);

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_capacity)
{
	struct upg_store *st = mem_store(16 * PAGE);
	char buf[2 * PAGE];

	memset(buf, 0x33, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 14 * PAGE, buf, 2 * PAGE),
			 2 * PAGE);
	/* Reaches one byte past: refused whole. */
	memset(buf, 0x44, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 14 * PAGE + 1, buf,
				2 * PAGE), -ENOSPC);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 16 * PAGE, buf, 1), -ENOSPC);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 14 * PAGE, buf, 2 * PAGE),
			 2 * PAGE);
	ck_assert(all_bytes(buf, 2 * PAGE, 0x33));

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_opts)
{
	struct {
		struct upg_mem_store_opts base;
		uint64_t future;
	} v2 = { .base = { .sz = sizeof(v2) } };
	struct upg_mem_store_opts old = { .sz = sizeof(size_t),
					  .capacity = PAGE };
	struct upg_store *st;
	char buf[2 * PAGE] = { 0 };

	ck_assert_int_eq(upg_store_create_mem(NULL, NULL), -EINVAL);
	ck_assert_int_eq(upg_store_create_mem(NULL, &st), 0);
	upg_store_put(st);

	v2.base.sz = 0;
	ck_assert_int_eq(upg_store_create_mem(&v2.base, &st), -EINVAL);
	v2.base.sz = sizeof(v2);
	v2.future = 7;
	ck_assert_int_eq(upg_store_create_mem(&v2.base, &st), -EINVAL);
	v2.future = 0;
	ck_assert_int_eq(upg_store_create_mem(&v2.base, &st), 0);
	upg_store_put(st);

	/* An older caller's struct ends before capacity: unlimited. */
	ck_assert_int_eq(upg_store_create_mem(&old, &st), 0);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, 2 * PAGE), 2 * PAGE);
	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_fault_nth_read)
{
	UPG_OPTS(upg_fault_inject, fi, .op = UPG_IO_READ, .nth = 3);
	struct upg_store *st = mem_store(0);
	char buf[PAGE];

	memset(buf, 7, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), PAGE);
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), 0);

	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	/* Writes do not count towards a read rule. */
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), PAGE);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), -EIO);
	/* A failed read moves no data. */
	ck_assert(all_bytes(buf, PAGE, 0));
	/* Once. */
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	ck_assert(all_bytes(buf, PAGE, 7));

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_fault_nth_write)
{
	UPG_OPTS(upg_fault_inject, fi, .op = UPG_IO_WRITE, .nth = 2,
		 .error = -ENOSPC);
	struct upg_store *st = mem_store(0);
	char buf[PAGE];

	ck_assert_int_eq(upg_store_mem_inject(st, &fi), 0);
	memset(buf, 1, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), PAGE);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	memset(buf, 2, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), -ENOSPC);
	/* The failed write changed nothing. */
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	ck_assert(all_bytes(buf, PAGE, 1));
	memset(buf, 3, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), PAGE);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	ck_assert(all_bytes(buf, PAGE, 3));

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_fault_range)
{
	UPG_OPTS(upg_fault_inject, fi, .op = UPG_IO_READ, .offset = 2 * PAGE,
		 .length = PAGE, .error = -ENXIO, .count = UINT32_MAX);
	struct upg_store *st = mem_store(0);
	char buf[4 * PAGE];
	int i;

	memset(buf, 9, sizeof(buf));
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, 4 * PAGE), 4 * PAGE);
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), 0);

	/* Touching the range's edges is not overlapping it. */
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, PAGE, buf, PAGE), PAGE);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 3 * PAGE, buf, PAGE), PAGE);
	/* Until cleared, every overlapping read fails. */
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(mem_io(st, UPG_IO_READ, 2 * PAGE - 1, buf, 2),
				 -ENXIO);
		ck_assert_int_eq(mem_io(st, UPG_IO_READ, 3 * PAGE - 1, buf, 1),
				 -ENXIO);
		ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, 4 * PAGE),
				 -ENXIO);
	}
	/* Writes to the range are not reads. */
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 2 * PAGE, buf, PAGE), PAGE);

	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, 4 * PAGE), 4 * PAGE);
	ck_assert(all_bytes(buf, 4 * PAGE, 9));

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_fault_count)
{
	UPG_OPTS(upg_fault_inject, fi, .op = UPG_IO_WRITE, .count = 3);
	UPG_OPTS(upg_fault_inject, nth, .op = UPG_IO_READ, .nth = 2,
		 .count = 2, .error = -EFAULT);
	struct upg_store *st = mem_store(0);
	char buf[PAGE] = { 0 };
	int i;

	ck_assert_int_eq(upg_store_mem_inject(st, &fi), 0);
	ck_assert_int_eq(upg_store_mem_inject(st, &nth), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), -EIO);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), PAGE);

	/* nth 2, count 2: the second and third reads fail. */
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), -EFAULT);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), -EFAULT);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);

	/* A new rule replaces the old one for its op. */
	nth.nth = 5;
	ck_assert_int_eq(upg_store_mem_inject(st, &nth), 0);
	nth.nth = 1;
	nth.count = 1;
	ck_assert_int_eq(upg_store_mem_inject(st, &nth), 0);
	ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), -EFAULT);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, PAGE), PAGE);

	/* Cleared before it fires: never fires. */
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), 0);
	ck_assert_int_eq(upg_store_mem_clear_faults(st), 0);
	ck_assert_int_eq(mem_io(st, UPG_IO_WRITE, 0, buf, PAGE), PAGE);

	upg_store_put(st);
}
END_TEST

START_TEST(test_mem_fault_bad_rules)
{
	UPG_OPTS(upg_fault_inject, fi, .op = UPG_IO_READ);
	UPG_OPTS(upg_store_ops, ops, .submit = plugin_submit);
	struct {
		struct upg_fault_inject base;
		uint32_t future;
	} v2 = { .base = { .sz = sizeof(v2) }, .future = 1 };
	struct upg_store *st = mem_store(0), *plugin;
	struct plugin p = { 0 };

	ck_assert_int_eq(upg_store_mem_inject(st, NULL), -EINVAL);
	fi.error = EIO;
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), -EINVAL);
	fi.error = 0;
	fi.op = (enum upg_io_op)7;
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), -EINVAL);
	fi.op = UPG_IO_READ;
	fi.offset = UINT64_MAX;
	fi.length = 2;
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), -EINVAL);
	fi.offset = 0;
	fi.sz = 0;
	ck_assert_int_eq(upg_store_mem_inject(st, &fi), -EINVAL);
	ck_assert_int_eq(upg_store_mem_inject(st, &v2.base), -EINVAL);

	/* Not a memory store. */
	ck_assert_int_eq(upg_store_create(&ops, &p, &plugin), 0);
	fi.sz = sizeof(fi);
	ck_assert_int_eq(upg_store_mem_inject(plugin, &fi), -EINVAL);
	ck_assert_int_eq(upg_store_mem_clear_faults(plugin), -EINVAL);
	ck_assert_int_eq(upg_store_mem_clear_faults(NULL), -EINVAL);
	upg_store_put(plugin);

	/* Nothing armed by the failures. */
	{
		char buf[16] = { 0 };

		ck_assert_int_eq(mem_io(st, UPG_IO_READ, 0, buf, 16), 0);
	}
	upg_store_put(st);
}
END_TEST

/* done() submitting to the same memory store, inline: no self-deadlock. */
struct mem_chain {
	struct upg_io io;
	struct upg_store *st;
	unsigned left;
	char buf[64];
};

static void mem_chain_done(struct upg_io *io, ssize_t res)
{
	struct mem_chain *c = io->priv;

	ck_assert_int_eq(res, (ssize_t)io->len);
	if (--c->left)
		ck_assert_int_eq(store_submit(c->st, NULL, io), 0);
}

START_TEST(test_mem_submit_from_done)
{
	struct mem_chain c = {
		.io = { .op = UPG_IO_WRITE, .len = 64, .done = mem_chain_done },
		.left = 10,
	};

	c.st = mem_store(0);
	c.io.buf = c.buf;
	c.io.priv = &c;
	ck_assert_int_eq(store_submit(c.st, NULL, &c.io), 0);
	ck_assert_uint_eq(c.left, 0);
	upg_store_put(c.st);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("opts");
	tcase_add_test(tc, test_opts_valid);
	suite_add_tcase(s, tc);

	tc = tcase_create("io_queue");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_io_many_inflight);
	tcase_add_test(tc, test_io_never_overflows_cq);
	tcase_add_test(tc, test_io_short_read_at_eof);
	tcase_add_test(tc, test_io_hole_reads_zeros);
	tcase_add_test(tc, test_io_error_completes);
	tcase_add_test(tc, test_io_short_write_then_error);
	tcase_add_test(tc, test_io_requeue_from_callback);
	tcase_add_test(tc, test_io_fini_waits);
	suite_add_tcase(s, tc);

	tc = tcase_create("plugin");
	tcase_add_test(tc, test_plugin_bad_ops);
	tcase_add_test(tc, test_plugin_dispatch);
	tcase_add_test(tc, test_plugin_refcount);
	tcase_add_test(tc, test_plugin_old_ops);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_file_store_round_trip);
	tcase_add_test(tc, test_file_store_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("swap");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_swap_extents);
	tcase_add_test(tc, test_swap_io_and_punch);
	tcase_add_test(tc, test_swap_bad_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("mem");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_mem_round_trip);
	tcase_add_test(tc, test_mem_short_read_past_size);
	tcase_add_test(tc, test_mem_capacity);
	tcase_add_test(tc, test_mem_opts);
	tcase_add_test(tc, test_mem_fault_nth_read);
	tcase_add_test(tc, test_mem_fault_nth_write);
	tcase_add_test(tc, test_mem_fault_range);
	tcase_add_test(tc, test_mem_fault_count);
	tcase_add_test(tc, test_mem_fault_bad_rules);
	tcase_add_test(tc, test_mem_submit_from_done);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
