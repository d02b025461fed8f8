/* SPDX-License-Identifier: MIT */
/*
 * backends.c - the five backends.  Each run of a backend is a forked
 * child, so that no state (resident pages, page tables, runtime threads,
 * cgroup charges) leaks from one run into the next; the child reports a
 * struct run_result through a pipe.  Before each run the data file's page
 * cache is written back and dropped (fdatasync + POSIX_FADV_DONTNEED), or
 * with --store-cache warm read in whole; the pages cached are counted with
 * mincore() and reported.
 *
 *   upager         libupager in the child, budget_bytes = --budget; a file
 *                  region over the data file (opened O_DIRECT unless
 *                  --upager-io buffered, so that the page cache is not a
 *                  second, unbudgeted cache), or an anonymous region
 *                  populated with the pattern first.  In a memory cgroup of
 *                  budget + 64 MiB when cgroups are available (bounds the
 *                  page cache of the runtime's own swap file).
 *   upager-daemon  the same through upagerd (upg_runtime_connect() and
 *                  $UPAGER_SOCKET); unavailable when that is not set.
 *   kernel-mmap    mmap(MAP_SHARED) of the data file in a memory cgroup of
 *                  --budget without swap, with the advice a user would give
 *                  for the workload (kernel_mmap_advice(); --kernel-advice).
 *   kernel-mmap-default  the same with the default advice (MADV_NORMAL):
 *                  the baseline the figures of issue 5 were measured with.
 *   kernel-swap    anonymous memory populated with the pattern, in a memory
 *                  cgroup of --budget, with swap on a swap file the tool
 *                  creates in --dir.
 *   raw-uffd       anonymous memory and a minimal uffd handler copying the
 *                  pattern page on each MISSING fault; no budget.
 *   upager-redis   upager on the Redis Cluster store of --redis (not in
 *                  "all"): populated with the pattern, flushed, then
 *                  measured; the run's pages are destroyed afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <upager.h>

#include "bench.h"

#define UPAGER_CG_SLACK (64ull << 20)

static struct cgroup_info cgi;
static bool cgi_probed;

static const struct cgroup_info *cgroups(void)
{
	if (!cgi_probed) {
		cgroup_probe(&cgi);
		cgi_probed = true;
	}
	return &cgi;
}

bool backend_available(const struct config *c, enum backend bk, char *why,
		       size_t whysz)
{
	(void)c;
	switch (bk) {
	case BK_UPAGER_DAEMON:
		if (!getenv("UPAGER_SOCKET")) {
			snprintf(why, whysz, "unavailable: UPAGER_SOCKET not set (start upagerd)");
			return false;
		}
		return true;
	case BK_KERNEL_MMAP:
	case BK_KERNEL_MMAP_DEFAULT:
	case BK_KERNEL_SWAP:
		if (cgroups()->version == 0) {
			snprintf(why, whysz, "skipped: %.200s", cgroups()->reason);
			return false;
		}
		return true;
	default:
		return true;
	}
}

/* ---- in the child ---------------------------------------------------------- */

/*
 * The child sends its struct run_result as soon as the measurement is
 * over, then tears the backend down (upg_region_unmap(), which writes back,
 * and upg_runtime_destroy()) and sends a struct teardown.  The parent
 * waits for the teardown only for a bounded time, so that a teardown that
 * never returns is reported as such (with the figures already measured)
 * instead of hanging the tool.
 */
struct teardown {
	int status;
	char msg[200];
};

static int result_fd = -1;
static bool result_sent;
static struct teardown td;

static void write_all(const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(result_fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(4);
		done += (size_t)n;
	}
}

static void send_result(const struct run_result *r)
{
	if (result_sent)
		return;
	write_all(r, sizeof(*r));
	result_sent = true;
}

struct snap {
	struct upg_runtime *rt;
	struct upg_stats st;
	struct rusage ru;
	struct rawuffd *u;
	uint64_t uffd_faults;
};

static void take_snap(void *arg)
{
	struct snap *s = arg;

	if (s->rt) {
		s->st.sz = sizeof(s->st);
		upg_runtime_stats(s->rt, &s->st);
	}
	getrusage(RUSAGE_SELF, &s->ru);
	if (s->u)
		s->uffd_faults = rawuffd_faults(s->u);
}

static void fail(struct run_result *r, int status, const char *fmt, ...)
	BENCH_PRINTF(3, 4);

static void fail(struct run_result *r, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->status = status;
}

static int populate(char *base, const struct config *c, double *secs)
{
	double t0 = now_s();
	uint64_t p;

	for (p = 0; p < c->npages; p++)
		fill_page(base + p * BENCH_PAGE, c->seed, p);
	*secs = now_s() - t0;
	return 0;
}

static void finish_exec(const struct config *c, const struct trace *t,
			struct exec_out *o, struct run_result *r)
{
	r->time_s = o->time_s;
	r->accesses = t->n - t->warmup;
	r->writes = t->writes;
	r->mismatches = o->mismatches;
	if (o->have_lat)
		exec_latency_summary(o, r);
	if (r->mismatches && !r->status)
		fail(r, 1, "%llu verification mismatches",
		     (unsigned long long)r->mismatches);
	(void)c;
}

static void kernel_counts(const struct snap *s, struct run_result *r)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	r->majflt = (uint64_t)(ru.ru_majflt - s->ru.ru_majflt);
	r->minflt = (uint64_t)(ru.ru_minflt - s->ru.ru_minflt);
}

static void run_upager(const struct config *c, const struct trace *t,
		       const char *datapath, enum backend bk, struct run_result *r)
{
	bool daemon = bk == BK_UPAGER_DAEMON;
	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = c->budget,
		 .swap_dir = c->dir, .handler_threads = c->handler_threads,
		 .handler_wait = bk == BK_UPAGER_POLL ? UPG_WAIT_POLL :
				 bk == BK_UPAGER_SPIN ? UPG_WAIT_SPIN :
							UPG_WAIT_DEFAULT,
		 .handler_spin_us = bk == BK_UPAGER_SPIN ? c->spin_us : 0,
		 .flags = c->breakdown ? UPG_RT_FILL_TIMING : 0);
	UPG_OPTS(upg_region_opts, rop, .fill_unit = c->fill_unit,
		 .flags = c->hugetlb ? UPG_REGION_HUGETLB : 0);
	UPG_OPTS(upg_stats, st);
	struct upg_runtime *rt = NULL;
	struct upg_region *reg = NULL;
	struct upg_store *rstore = NULL;
	struct snap s = { 0 };
	struct exec_out o;
	int fd = -1, ret;

	if (daemon) {
		ret = upg_runtime_connect(getenv("UPAGER_SOCKET"), &ro, &rt);
		if (ret == -EOPNOTSUPP || ret == -ENOENT || ret == -ECONNREFUSED) {
			fail(r, 77, "unavailable: upg_runtime_connect: %s", strerror(-ret));
			return;
		}
	} else {
		/*
		 * In-process means in-process: upg_runtime_create() connects
		 * to the daemon UPAGER_SOCKET names (daemon mode without a
		 * rebuild), which upager-daemon's runs need set.  This is a
		 * run's own child, so unsetting it here touches no other run.
		 */
		unsetenv("UPAGER_SOCKET");
		ret = upg_runtime_create(&ro, &rt);
	}
	if (ret == -EPERM || ret == -EACCES || ret == -EOPNOTSUPP) {
		fail(r, 77, "skipped: no usable userfaultfd (%s)", strerror(-ret));
		return;
	}
	if (ret) {
		fail(r, 1, "upg_runtime_create: %s", strerror(-ret));
		return;
	}
	if (bk == BK_UPAGER_REDIS) {
		char uri[sizeof(c->redis_uri) + 40];

		if (!c->redis_uri[0]) {
			fail(r, 77, "unavailable: give the cluster with --redis URI");
			goto out_rt;
		}
		snprintf(uri, sizeof(uri), "%s", c->redis_uri);
		if (!strstr(uri, "name="))
			snprintf(uri + strlen(uri), sizeof(uri) - strlen(uri),
				 "%cname=bench-%d", strchr(uri, '?') ? '&' : '?',
				 (int)getpid());
		ret = upg_store_open_uri(uri, &rstore);
		if (ret) {
			fail(r, ret == -ECONNREFUSED ? 77 : 1,
			     "upg_store_open_uri %s: %s", c->redis_uri, strerror(-ret));
			goto out_rt;
		}
		ret = upg_region_map_store(rt, rstore, c->size, &rop, &reg);
	} else if (c->store == STORE_FILE) {
		fd = open(datapath, O_RDWR | O_CLOEXEC | (c->upager_direct ? O_DIRECT : 0));
		if (fd < 0) {
			fail(r, 1, "open %s: %s", datapath, strerror(errno));
			goto out_rt;
		}
		ret = upg_region_map_file(rt, fd, c->size, &rop, &reg);
		close(fd);
	} else {
		ret = upg_region_map_anon(rt, c->size, &rop, &reg);
	}
	if (ret == -ENOMEM && c->hugetlb) {
		fail(r, 77, "skipped: no free 2 MiB huge page (reserve a pool: "
		     "echo N > /proc/sys/vm/nr_hugepages)");
		goto out_rt;
	}
	if (ret) {
		fail(r, 1, "upg_region_map_%s: %s", bk == BK_UPAGER_REDIS ? "store" :
		     c->store == STORE_FILE ? "file" : "anon", strerror(-ret));
		goto out_rt;
	}
	if (c->store == STORE_ANON || bk == BK_UPAGER_REDIS)
		populate(upg_region_addr(reg), c, &r->populate_s);
	/* The file backends start from data at rest in the file; so does
	 * upager-redis: its populated pages are written back (and WAITed
	 * for) before the measurement, whose faults then evict clean pages
	 * as the file backends' do. */
	if (bk == BK_UPAGER_REDIS) {
		ret = upg_region_flush(reg, 0, 0);
		if (ret) {
			fail(r, 1, "upg_region_flush after populating: %s",
			     strerror(-ret));
			goto out_reg;
		}
	}
	s.rt = rt;
	ret = exec_trace(c, t, upg_region_addr(reg), &o, take_snap, &s);
	if (ret) {
		fail(r, 1, "exec: %s", strerror(-ret));
		goto out_reg;
	}
	upg_runtime_stats(rt, &st);
	r->have_upager = true;
#define D(f) r->f = st.f - s.st.f
	D(faults_missing);
	D(faults_wp);
	D(faults_minor);
	D(pages_filled);
	D(pages_zero_filled);
	D(pages_evicted);
	D(pages_written_back);
	D(bytes_read);
	D(bytes_written);
	D(budget_overshoot_pages);
	if (c->breakdown && !daemon) {
		r->have_breakdown = true;
		D(fills_timed);
		D(fill_ns_wake);
		D(fill_ns_handler);
		D(fill_ns_store);
		D(fill_ns_copy);
		D(fill_ns_map);
		D(fill_submits);
		D(fill_ns_submit);
	}
#undef D
	r->resident_peak_bytes = st.resident_peak_bytes;
	kernel_counts(&s, r);
	finish_exec(c, t, &o, r);
	if (t->n > t->warmup) {
		double miss = (double)(r->pages_filled + r->pages_zero_filled) /
			      (double)(t->n - t->warmup);

		r->hit_ratio = miss > 1 ? 0 : 1 - miss;
	}
	snprintf(r->hit_method, sizeof(r->hit_method),
		 "1 - (pages_filled + pages_zero_filled) / accesses");
out_reg:
	send_result(r);
	ret = upg_region_unmap(reg);
	if (ret && !td.status) {
		td.status = 1;
		snprintf(td.msg, sizeof(td.msg), "upg_region_unmap: %s", strerror(-ret));
	}
out_rt:
	send_result(r);
	if (rstore) {
		/* The region is unmapped (or was never mapped): drop the
		 * run's pages from the cluster. */
		ret = upg_store_destroy_data(rstore);
		if (ret && !td.status) {
			td.status = 1;
			snprintf(td.msg, sizeof(td.msg), "upg_store_destroy_data: %s",
				 strerror(-ret));
		}
		upg_store_put(rstore);
	}
	ret = upg_runtime_destroy(rt);
	if (ret && !td.status) {
		td.status = 1;
		snprintf(td.msg, sizeof(td.msg), "upg_runtime_destroy: %s", strerror(-ret));
	}
}

/*
 * The advice kernel-mmap gives: what a user who knows the access pattern
 * tells the kernel.  Random for the random workloads (no read-ahead
 * around a miss); for the sequential ones the faster of MADV_SEQUENTIAL
 * and none, as measured on the project's VM (BENCHMARKS.md, "Honest
 * baselines").  kernel-mmap-default never advises.
 */
enum kadvice kernel_mmap_advice(const struct config *c, enum backend bk)
{
	if (bk == BK_KERNEL_MMAP_DEFAULT)
		return KADV_NORMAL;
	if (c->kernel_advice != KADV_AUTO)
		return c->kernel_advice;
	switch (c->wl) {
	case WL_RAND_READ:
	case WL_RAND_WRITE:
	case WL_ZIPF:
	case WL_FAULT_LATENCY:
		return KADV_RANDOM;
	default:
		return KADV_SEQUENTIAL;
	}
}

/* The VmFlags line of the mapping at @addr in /proc/self/smaps, into @out
 * ("" when it cannot be read). */
static void mapping_vmflags(const void *addr, char *out, size_t outsz)
{
	char line[512];
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	out[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		/* a mapping's header: "lo-hi perms ..."; no field line
		 * ("Name:  value") parses as two hex numbers with a '-' */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n;

			snprintf(out, outsz, "%s", line + 8 + strspn(line + 8, " "));
			n = strlen(out);
			while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
				out[--n] = 0;
			break;
		}
	}
	fclose(f);
}

static void run_kernel_mmap(const struct config *c, const struct trace *t,
			    const char *datapath, enum backend bk,
			    struct run_result *r)
{
	static const int madv[KADV_COUNT] = {
		[KADV_NORMAL] = MADV_NORMAL, [KADV_RANDOM] = MADV_RANDOM,
		[KADV_SEQUENTIAL] = MADV_SEQUENTIAL,
	};
	enum kadvice adv = kernel_mmap_advice(c, bk);
	struct snap s = { 0 };
	struct exec_out o;
	char *m;
	int fd, ret;

	fd = open(datapath, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail(r, 1, "open %s: %s", datapath, strerror(errno));
		return;
	}
	m = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		fail(r, 1, "mmap: %s", strerror(errno));
		return;
	}
	snprintf(r->advice, sizeof(r->advice), "%s", kadvice_names[adv]);
	if (madvise(m, c->size, madv[adv])) {
		fail(r, 1, "madvise(%s): %s", kadvice_names[adv], strerror(errno));
		munmap(m, c->size);
		return;
	}
	mapping_vmflags(m, r->vm_flags, sizeof(r->vm_flags));
	ret = exec_trace(c, t, m, &o, take_snap, &s);
	if (ret) {
		fail(r, 1, "exec: %s", strerror(-ret));
	} else {
		kernel_counts(&s, r);
		finish_exec(c, t, &o, r);
	}
	munmap(m, c->size);
}

/* @mode: the raw handler's, or RAW_NMODES for none (kernel-swap). */
static void run_anon(const struct config *c, const struct trace *t,
		     enum raw_mode mode, struct run_result *r)
{
	bool uffd = mode != RAW_NMODES;
	struct snap s = { 0 };
	struct exec_out o;
	char err[200];
	char *m;
	int ret;

	m = mmap(NULL, c->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		fail(r, 1, "mmap: %s", strerror(errno));
		return;
	}
	if (uffd) {
		s.u = rawuffd_start(m, c->size, true, c->seed, mode, err,
				    sizeof(err));
		if (!s.u) {
			fail(r, 77, "skipped: %s", err);
			munmap(m, c->size);
			return;
		}
	} else {
		populate(m, c, &r->populate_s);
	}
	ret = exec_trace(c, t, m, &o, take_snap, &s);
	if (ret) {
		fail(r, 1, "exec: %s", strerror(-ret));
	} else {
		kernel_counts(&s, r);
		finish_exec(c, t, &o, r);
		if (uffd)
			r->uffd_faults = rawuffd_faults(s.u) - s.uffd_faults;
	}
	if (uffd)
		rawuffd_stop(s.u);
	munmap(m, c->size);
}

static void child_main(const struct config *c, enum backend bk,
		       const struct trace *t, const char *datapath,
		       struct run_result *r)
{
	r->hit_ratio = -1;
	switch (bk) {
	case BK_UPAGER:
	case BK_UPAGER_DAEMON:
	case BK_UPAGER_POLL:
	case BK_UPAGER_SPIN:
	case BK_UPAGER_REDIS:
		run_upager(c, t, datapath, bk, r);
		return;
	case BK_KERNEL_MMAP:
	case BK_KERNEL_MMAP_DEFAULT:
		run_kernel_mmap(c, t, datapath, bk, r);
		break;
	case BK_KERNEL_SWAP:
		run_anon(c, t, RAW_NMODES, r);
		break;
	case BK_RAW_UFFD:
	case BK_RAW_SIGBUS:
		run_anon(c, t, bk == BK_RAW_SIGBUS ? RAW_SIGBUS : RAW_READ, r);
		if (!r->status && r->accesses) {
			double miss = (double)r->uffd_faults / (double)r->accesses;

			r->hit_ratio = miss > 1 ? 0 : 1 - miss;
			snprintf(r->hit_method, sizeof(r->hit_method),
				 "1 - uffd faults / accesses");
		}
		return;
	default:
		fail(r, 1, "unknown backend");
		return;
	}
	if (!r->status && r->accesses) {
		double miss = (double)r->majflt / (double)r->accesses;

		r->hit_ratio = miss > 1 ? 0 : 1 - miss;
		snprintf(r->hit_method, sizeof(r->hit_method),
			 "1 - ru_majflt / accesses");
	}
}

/* ---- in the parent ---------------------------------------------------------- */

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Wait until the child's result (or its death) can be read, redrawing the
 * progress line every second meanwhile. */
static void wait_result(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int pr;

	for (;;) {
		pr = poll(&pfd, 1, 1000);
		if (pr > 0 || (pr < 0 && errno != EINTR))
			return;	/* readable, hung up, or poll failed: read tells */
		if (pr == 0)
			progress_tick();
	}
}

static void one_run(const struct config *c, enum backend bk,
		    const struct trace *t, const char *datapath,
		    const char *cgpath, int cgver, struct run_result *r)
{
	int res[2], go[2], st;
	bool got = false;
	pid_t pid;
	char b = 1;

	memset(r, 0, sizeof(*r));
	if (pipe2(res, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		fail(r, 1, "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fail(r, 1, "fork: %s", strerror(errno));
		close(res[0]);
		close(res[1]);
		close(go[0]);
		close(go[1]);
		return;
	}
	if (pid == 0) {
		struct run_result out;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		close(res[0]);
		close(go[1]);
		result_fd = res[1];
		memset(&out, 0, sizeof(out));
		/* wait until the parent has put us in the cgroup */
		if (read(go[0], &b, 1) != 1)
			_exit(3);
		child_main(c, bk, t, datapath, &out);
		send_result(&out);
		write_all(&td, sizeof(td));
		_exit(0);
	}
	sysres_set_child(pid);
	close(res[1]);
	close(go[0]);
	if (cgpath && cgroup_attach(cgpath, cgver, pid)) {
		fail(r, 1, "cannot move the child into %s", cgpath);
		kill(pid, SIGKILL);
	} else if (write(go[1], &b, 1) != 1) {
		fail(r, 1, "cannot start the child");
	}
	close(go[1]);
	if (!r->status)
		wait_result(res[0]);
	got = !r->status && !read_full(res[0], r, sizeof(*r));
	progress_end();
	if (got) {
		/* bounded wait for the teardown: 2 min + 1 s per 20 MiB of budget */
		int limit_s = 120 + (int)(c->budget >> 20) / 20;
		struct pollfd pfd = { .fd = res[0], .events = POLLIN };
		struct teardown tdr;
		int pr;

		do
			pr = poll(&pfd, 1, limit_s * 1000);
		while (pr < 0 && errno == EINTR);
		if (pr == 0) {
			kill(pid, SIGKILL);
			fail(r, 1, "teardown hung: %s did not return within %d s "
			     "(child killed; figures above were measured before)",
			     bk_is_upager(bk) ?
			     "upg_region_unmap()/upg_runtime_destroy()" : "munmap()",
			     limit_s);
		} else if (read_full(res[0], &tdr, sizeof(tdr))) {
			fail(r, 1, "child died during teardown");
		} else if (tdr.status) {
			tdr.msg[sizeof(tdr.msg) - 1] = 0;
			fail(r, 1, "teardown: %s", tdr.msg);
		}
	}
	close(res[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	sysres_set_child(0);
	if (got)
		return;	/* r->status says how the teardown went */
	if (WIFSIGNALED(st))
		fail(r, 1, "child killed by signal %d (%s)%s", WTERMSIG(st),
		     strsignal(WTERMSIG(st)),
		     WTERMSIG(st) == SIGKILL && cgpath ? ": out of memory in the cgroup?" : "");
	else if (!r->status)
		fail(r, 1, "child exited with status %d without a report",
		     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

void backend_run(const struct config *c, enum backend bk, const struct trace *t,
		 const char *datapath, struct backend_result *br)
{
	const struct cgroup_info *ci = NULL;
	uint64_t limit = 0;
	bool swap = false;
	unsigned i;

	memset(br, 0, sizeof(*br));
	br->bk = bk;
	snprintf(br->cgroup, sizeof(br->cgroup), "none");
	snprintf(br->store_io, sizeof(br->store_io), "-");
	br->read_ahead_kb = bk_is_kernel(bk) ? device_read_ahead_kb(datapath) : -1;
	if (bk == BK_KERNEL_MMAP || bk == BK_KERNEL_MMAP_DEFAULT)
		snprintf(br->advice, sizeof(br->advice), "%s",
			 kadvice_names[kernel_mmap_advice(c, bk)]);
	if (!backend_available(c, bk, br->reason, sizeof(br->reason))) {
		br->status = 77;
		return;
	}
	switch (bk) {
	case BK_KERNEL_MMAP:
	case BK_KERNEL_MMAP_DEFAULT:
		ci = cgroups();
		limit = c->budget;
		snprintf(br->store_io, sizeof(br->store_io), "page cache");
		break;
	case BK_KERNEL_SWAP:
		ci = cgroups();
		limit = c->budget;
		swap = true;
		snprintf(br->store_io, sizeof(br->store_io), "swap file");
		break;
	case BK_UPAGER:
	case BK_UPAGER_DAEMON:
	case BK_UPAGER_POLL:
	case BK_UPAGER_SPIN:
	case BK_UPAGER_REDIS:
		if (c->upager_cgroup && cgroups()->version) {
			ci = cgroups();
			limit = c->budget + UPAGER_CG_SLACK;
		}
		snprintf(br->store_io, sizeof(br->store_io), "%s, fill %lluK%s",
			 bk == BK_UPAGER_REDIS ? "Redis Cluster" :
			 c->store == STORE_ANON ? "runtime swap file" :
			 c->upager_direct ? "file O_DIRECT" : "file buffered",
			 (unsigned long long)(c->hugetlb ? 2048 :
					      c->fill_unit ? c->fill_unit >> 10 : 4),
			 c->hugetlb ? ", hugetlb" : "");
		break;
	default:
		break;
	}
	if (ci) {
		snprintf(br->cgroup, sizeof(br->cgroup), "v%d", ci->version);
		br->cg_limit = limit;
	}
	if (bk == BK_KERNEL_SWAP &&
	    swap_create(c->dir, c->size + (64ull << 20), br->reason, sizeof(br->reason))) {
		char tmp[sizeof(br->reason)];

		memcpy(tmp, br->reason, sizeof(tmp));
		snprintf(br->reason, sizeof(br->reason), "skipped: swap file: %.200s", tmp);
		br->status = 77;
		return;
	}
	for (i = 0; i < c->runs; i++) {
		struct run_result *r = &br->runs[i];
		char cgpath[600] = "", err[200];
		uint64_t cached;

		if (c->store_warm)
			data_warm_cache(datapath);
		else
			data_drop_cache(datapath);
		cached = data_cached_pages(datapath, c->size);
		if (ci && cgroup_create(ci, limit, swap, cgpath, sizeof(cgpath), err,
					sizeof(err))) {
			memset(r, 0, sizeof(*r));
			fail(r, 1, "cgroup: %s", err);
		} else {
			char what[120];

			logmsg(c, "upager-bench: %s %s run %u/%u ...", workload_names[c->wl],
			       backend_names[bk], i + 1, c->runs);
			snprintf(what, sizeof(what), "upager-bench: %s %s run %u/%u",
				 workload_names[c->wl], backend_names[bk], i + 1, c->runs);
			progress_begin(what, t->n);
			one_run(c, bk, t, datapath, ci ? cgpath : NULL,
				ci ? ci->version : 0, r);
			if (ci) {
				r->cg_peak_bytes = cgroup_peak(cgpath, ci->version);
				cgroup_remove(cgpath);
			}
		}
		r->cached_pages_at_start = cached;
		br->nruns = i + 1;
		if (r->status == 77) {
			br->status = 77;
			snprintf(br->reason, sizeof(br->reason), "%s", r->msg);
			break;
		}
		if (r->status && (bk == BK_KERNEL_MMAP || bk == BK_KERNEL_MMAP_DEFAULT) &&
		    strstr(r->msg, "out of memory")) {
			int ra = device_read_ahead_kb(datapath);
			size_t l = strlen(r->msg);

			if (ra > 0)
				snprintf(r->msg + l, sizeof(r->msg) - l,
					 " (the disk reads ahead %d KiB per miss: a budget "
					 "below ~2x that can OOM the page cache)", ra);
		}
		if (r->status) {
			br->status = 1;
			snprintf(br->reason, sizeof(br->reason), "run %u: %s", i + 1, r->msg);
			logmsg(c, "upager-bench: %s: %s", backend_names[bk], br->reason);
			break;
		}
		logmsg(c, "upager-bench: %s %s run %u: %.3f s", workload_names[c->wl],
		       backend_names[bk], i + 1, r->time_s);
	}
	if (bk == BK_KERNEL_SWAP)
		swap_remove();
}
