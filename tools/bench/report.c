/* SPDX-License-Identifier: MIT */
/*
 * report.c - per-backend summaries (median, min, max over the runs), the
 * human table and the JSON document.
 *
 * Definitions (also in BENCHMARKS.md):
 *   time          wall time of the measured part (warm-up and final
 *                 writeback/unmap not counted)
 *   accesses/s    measured accesses / time
 *   MB/s          measured accesses x 4 KiB / time / 1e6 (pages touched)
 *   us/access     time x threads / accesses (what one access costs a thread)
 *   vs kernel     reference median time / this median time (> 1: faster);
 *                 the reference is the best kernel backend that ran (the
 *                 lowest median time of kernel-mmap, kernel-mmap-default,
 *                 kernel-swap); when none ran, none
 *   hit ratio     upager: 1 - (pages_filled + pages_zero_filled) / accesses;
 *                 kernel backends: 1 - major faults (getrusage) / accesses;
 *                 raw-uffd: 1 - uffd faults / accesses
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

struct summary {
	bool ok;
	unsigned n;
	double time[3], aps[3], mbps[3], usacc[3];	/* median, min, max */
	double hit;
	unsigned median_run;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median_of(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	if (!n)
		return 0;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void mmm(double *v, unsigned n, double out[3])
{
	out[0] = median_of(v, n);
	out[1] = v[0];
	out[2] = v[n - 1];
}

static void summarize(const struct config *c, const struct backend_result *b,
		      struct summary *s)
{
	double t[BENCH_MAX_RUNS], a[BENCH_MAX_RUNS], m[BENCH_MAX_RUNS];
	double u[BENCH_MAX_RUNS], h[BENCH_MAX_RUNS], med;
	unsigned i, nh = 0, best = 0;

	memset(s, 0, sizeof(*s));
	if (b->status || !b->nruns)
		return;
	for (i = 0; i < b->nruns; i++) {
		const struct run_result *r = &b->runs[i];
		double tm = r->time_s > 0 ? r->time_s : 1e-9;

		t[i] = r->time_s;
		a[i] = (double)r->accesses / tm;
		m[i] = (double)r->accesses * BENCH_PAGE / tm / 1e6;
		u[i] = r->accesses ? tm * 1e6 * c->threads / (double)r->accesses : 0;
		if (r->hit_ratio >= 0)
			h[nh++] = r->hit_ratio;
	}
	s->ok = true;
	s->n = b->nruns;
	mmm(t, b->nruns, s->time);
	mmm(a, b->nruns, s->aps);
	mmm(m, b->nruns, s->mbps);
	mmm(u, b->nruns, s->usacc);
	s->hit = nh ? median_of(h, nh) : -1;
	med = s->time[0];
	for (i = 0; i < b->nruns; i++)
		if (fabs(b->runs[i].time_s - med) < fabs(b->runs[best].time_s - med))
			best = i;
	s->median_run = best;
}

/* The reference of the ratio column: the best kernel backend that ran
 * (lowest median time); -1 when no kernel backend ran. */
static int find_ref_index(const struct backend_result *br,
			  const struct summary *sm, unsigned nbr)
{
	int best = -1;
	unsigned i;

	for (i = 0; i < nbr; i++)
		if (bk_is_kernel(br[i].bk) && sm[i].ok &&
		    (best < 0 || sm[i].time[0] < sm[best].time[0]))
			best = (int)i;
	return best;
}

static const struct summary *find_ref(const struct backend_result *br,
				      const struct summary *sm, unsigned nbr)
{
	int i = find_ref_index(br, sm, nbr);

	return i < 0 ? NULL : &sm[i];
}

/* What a kernel backend ran with, for the human table: "advice random,
 * read_ahead_kb 8192". */
static const char *kernel_setup(const struct backend_result *b, char *buf,
				size_t sz)
{
	char ra[32];

	if (b->read_ahead_kb >= 0)
		snprintf(ra, sizeof(ra), "%d", b->read_ahead_kb);
	else
		snprintf(ra, sizeof(ra), "unknown");
	if (b->advice[0])
		snprintf(buf, sz, "advice %s, data device read_ahead_kb %s",
			 b->advice, ra);
	else
		snprintf(buf, sz, "data device read_ahead_kb %s", ra);
	return buf;
}

static const char *human_bytes(uint64_t b, char *buf, size_t sz)
{
	if (b >= (1ull << 30) && !(b % (1ull << 30)))
		snprintf(buf, sz, "%llu GiB", (unsigned long long)(b >> 30));
	else if (b >= (1ull << 20))
		snprintf(buf, sz, "%.0f MiB", (double)b / (1 << 20));
	else
		snprintf(buf, sz, "%.0f KiB", (double)b / 1024);
	return buf;
}

/*
 * --breakdown: the mean time of a timed miss in each step (us), and the
 * latency it is a part of: the fault's measured latency (fault-latency),
 * else the time per miss of the run (time x threads / pages filled).  The
 * rest is the kernel's part: the fault's delivery to the handler and the
 * faulting thread's wake-up after the mapping ioctl.
 */
struct breakdown {
	double wake, handler, store, submit, copy, map, sum, total, rest;
	bool total_is_latency;
};

static bool breakdown_of(const struct config *c, const struct run_result *r,
			 struct breakdown *b)
{
	double n = (double)r->fills_timed;
	uint64_t miss = r->pages_filled + r->pages_zero_filled;

	if (!r->have_breakdown || !r->fills_timed)
		return false;
	b->wake = (double)r->fill_ns_wake / n / 1e3;
	b->handler = (double)r->fill_ns_handler / n / 1e3;
	b->store = (double)r->fill_ns_store / n / 1e3;
	b->copy = (double)r->fill_ns_copy / n / 1e3;
	b->map = (double)r->fill_ns_map / n / 1e3;
	b->submit = r->fill_submits ?
		(double)r->fill_ns_submit / (double)r->fill_submits / 1e3 : 0;
	b->sum = b->wake + b->handler + b->store + b->copy + b->map;
	b->total_is_latency = r->have_lat;
	if (r->have_lat)
		b->total = r->lat_mean_us;
	else
		b->total = miss ? r->time_s * 1e6 * c->threads / (double)miss : 0;
	b->rest = b->total - b->sum;
	return true;
}

static void breakdown_human(const struct config *c,
			    const struct backend_result *br,
			    const struct summary *sm, unsigned nbr)
{
	bool head = false;
	unsigned i;

	for (i = 0; i < nbr; i++) {
		const struct run_result *r;
		struct breakdown b;

		if (!sm[i].ok)
			continue;
		r = &br[i].runs[sm[i].median_run];
		if (!breakdown_of(c, r, &b))
			continue;
		if (!head) {
			printf("\nper-miss breakdown (--breakdown; mean us per timed demand "
			       "fill of the median run; docs/fault-latency.md):\n"
			       "%-19s %8s %8s %8s %8s %8s %8s %8s %9s %9s %9s\n", "backend",
			       "fills", "wake", "handler", "store", "(submit)", "copy",
			       "map", "sum", "per miss", "kernel");
			head = true;
		}
		printf("%-19s %8llu %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %9.1f %9.1f %9.1f\n",
		       backend_names[br[i].bk], (unsigned long long)r->fills_timed,
		       b.wake, b.handler, b.store, b.submit, b.copy, b.map, b.sum,
		       b.total, b.rest);
	}
	if (head)
		printf("(wake: handler's wait returned -> message read; handler: -> read "
		       "queued; store: -> completion handled, (submit) its io_uring_enter; "
		       "copy: staged data into the memfd; map: the mapping ioctl; per miss: "
		       "%s; kernel = per miss - sum: the fault's delivery and the faulting "
		       "thread's wake-up)\n",
		       c->wl == WL_FAULT_LATENCY ? "the mean fault latency" :
		       "time x threads / pages filled, hits included");
}

void report_human(const struct config *c, const struct trace *t,
		  const struct floors *f, struct backend_result *br,
		  unsigned nbr)
{
	struct summary sm[BK_COUNT];
	const struct summary *ref;
	char b1[32], b2[32];
	unsigned i, q;

	for (i = 0; i < nbr; i++)
		summarize(c, &br[i], &sm[i]);
	ref = find_ref(br, sm, nbr);
	printf("\nupager-bench %s: data %s (%llu pages), budget %s (%llu pages), "
	       "%u thread%s, store %s%s, %u run%s, seed %llu\n",
	       workload_names[c->wl], human_bytes(c->size, b1, sizeof(b1)),
	       (unsigned long long)c->npages, human_bytes(c->budget, b2, sizeof(b2)),
	       (unsigned long long)c->budget_pages, c->threads, c->threads > 1 ? "s" : "",
	       c->store == STORE_ANON ? "anon" : "file",
	       c->store_warm ? " (page cache warm before each run)" : "",
	       c->runs, c->runs > 1 ? "s" : "",
	       (unsigned long long)c->seed);
	printf("trace: %llu measured accesses (+%llu warm-up), %llu writes, "
	       "%llu distinct pages",
	       (unsigned long long)(t->n - t->warmup), (unsigned long long)t->warmup,
	       (unsigned long long)t->writes, (unsigned long long)t->distinct);
	if (c->wl == WL_ZIPF)
		printf(", zipf s=%.3g", c->zipf_s);
	if (t->lru_hit_ratio >= 0)
		printf("; exact-LRU hit ratio with the budget: %.4f", t->lru_hit_ratio);
	printf("\nfloors: O_DIRECT 4 KiB read at QD1: ");
	if (f->have_odirect)
		printf("mean %.1f us (p50 %.1f, p99 %.1f; %llu reads)", f->odirect_mean_us,
		       f->odirect_p50_us, f->odirect_p99_us,
		       (unsigned long long)f->odirect_reads);
	else
		printf("unavailable (%s)", f->odirect_reason);
	printf("; raw-uffd round trip: ");
	if (f->have_uffd)
		printf("mean %.1f us (%llu faults)", f->uffd_mean_us,
		       (unsigned long long)f->uffd_pages);
	else
		printf("unavailable (%s)", f->uffd_reason);
	if (f->have_odirect && f->have_uffd)
		printf("\n        physical limit for a dependent random miss = sum = %.1f us",
		       f->odirect_mean_us + f->uffd_mean_us);
	if (f->have_odirect_qd)
		printf("\n        O_DIRECT random 4 KiB reads/s: QD1 %.0f, QD%u %.0f "
		       "(%.2fx: the most %u faulting threads can gain)",
		       f->odirect_qd1_iops, f->odirect_qd, f->odirect_qdn_iops,
		       f->odirect_qdn_iops / f->odirect_qd1_iops, f->odirect_qd);
	printf("\n        raw round trip by wait mode, mean us:");
	for (q = 0; q < RAW_NMODES; q++) {
		if (f->raw_mode_mean_us[q] >= 0)
			printf(" %s %.1f", raw_mode_names[q], f->raw_mode_mean_us[q]);
		else
			printf(" %s -", raw_mode_names[q]);
	}
	printf("\n\n%-19s %-8s %-24s %10s %8s %8s %8s %6s %9s %9s %9s %9s\n",
	       "backend", "status", "time s med [min-max]", "access/s", "MB/s",
	       "us/acc", "vs kernel",
	       "hit%", "misses", "evicted", "written", "peak MiB");
	for (i = 0; i < nbr; i++) {
		const struct backend_result *b = &br[i];
		const struct summary *s = &sm[i];
		const struct run_result *r;
		char tm[96], ratio[16], hit[16], miss[16], ev[16], wr[16], pk[16];

		if (!s->ok) {
			printf("%-19s %-8s %s\n", backend_names[b->bk],
			       b->status == 77 ? "skipped" : "FAILED", b->reason);
			if (bk_is_kernel(b->bk))
				printf("%-19s   (%s)\n", "",
				       kernel_setup(b, tm, sizeof(tm)));
			continue;
		}
		r = &b->runs[s->median_run];
		snprintf(tm, sizeof(tm), "%.3f [%.3f-%.3f]", s->time[0], s->time[1], s->time[2]);
		if (ref)
			snprintf(ratio, sizeof(ratio), "%.2fx", ref->time[0] / s->time[0]);
		else
			snprintf(ratio, sizeof(ratio), "-");
		if (s->hit >= 0)
			snprintf(hit, sizeof(hit), "%.1f", s->hit * 100);
		else
			snprintf(hit, sizeof(hit), "-");
		snprintf(ev, sizeof(ev), "-");
		snprintf(wr, sizeof(wr), "-");
		if (r->have_upager) {
			snprintf(miss, sizeof(miss), "%llu",
				 (unsigned long long)(r->pages_filled + r->pages_zero_filled));
			snprintf(ev, sizeof(ev), "%llu", (unsigned long long)r->pages_evicted);
			snprintf(wr, sizeof(wr), "%llu", (unsigned long long)r->pages_written_back);
			snprintf(pk, sizeof(pk), "%.1f", (double)r->resident_peak_bytes / (1 << 20));
		} else if (bk_is_raw(b->bk)) {
			snprintf(miss, sizeof(miss), "%llu", (unsigned long long)r->uffd_faults);
			snprintf(pk, sizeof(pk), "-");
		} else {
			snprintf(miss, sizeof(miss), "%llu", (unsigned long long)r->majflt);
			if (r->cg_peak_bytes)
				snprintf(pk, sizeof(pk), "%.1f", (double)r->cg_peak_bytes / (1 << 20));
			else
				snprintf(pk, sizeof(pk), "-");
		}
		printf("%-19s %-8s %-24s %10.0f %8.1f %8.2f %8s %6s %9s %9s %9s %9s\n",
		       backend_names[b->bk], "ok", tm, s->aps[0], s->mbps[0], s->usacc[0],
		       ratio, hit, miss, ev, wr, pk);
		if (bk_is_kernel(b->bk))
			printf("%-19s   (%s%s)\n", "", kernel_setup(b, tm, sizeof(tm)),
			       s == ref ? "; the reference of \"vs kernel\"" : "");
	}
	if (!ref)
		printf("\n(\"vs kernel\": no kernel backend ran)");
	breakdown_human(c, br, sm, nbr);
	printf("\n(vs kernel: against the best kernel backend that ran; "
	       "misses: upager pages filled, kernel major faults, raw-uffd faults; "
	       "peak: upager resident peak, kernel cgroup peak usage; "
	       "values of the median run)\n");
	for (i = 0; i < nbr; i++) {
		const struct run_result *r;

		if (!sm[i].ok || !br[i].runs[sm[i].median_run].have_lat)
			continue;
		r = &br[i].runs[sm[i].median_run];
		printf("\nfault latency, %s (median run, %llu first touches): mean %.1f us, "
		       "p50 %.1f, p90 %.1f, p99 %.1f, p99.9 %.1f, max %.1f us\n",
		       backend_names[br[i].bk], (unsigned long long)r->lat_n, r->lat_mean_us,
		       r->lat_q_us[50], r->lat_q_us[90], r->lat_q_us[99], r->lat_p999_us,
		       r->lat_q_us[100]);
		for (q = 0; q < BENCH_NHIST; q++) {
			unsigned bar;

			if (!r->lat_hist[q])
				continue;
			bar = (unsigned)(50.0 * (double)r->lat_hist[q] / (double)r->lat_n + 0.999);
			printf("  %9.1f us .. %9.1f us %8llu %.*s\n", (double)(1ull << q) / 1e3,
			       (double)(2ull << q) / 1e3, (unsigned long long)r->lat_hist[q],
			       (int)bar, "##################################################");
		}
	}
	fflush(stdout);
}

/* ---- JSON ------------------------------------------------------------------- */

static FILE *jout;

static void fputc_j(int ch)
{
	fputc(ch, jout);
}

static void jstr(const char *s)
{
	fputc_j('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(jout, "\\%c", ch);
		else if (ch == '\n')
			fprintf(jout, "\\n");
		else if (ch < 0x20)
			fprintf(jout, "\\u%04x", ch);
		else
			fputc_j(ch);
	}
	fputc_j('"');
}

static void jnum(double v)
{
	if (isfinite(v))
		fprintf(jout, "%.6g", v);
	else
		fprintf(jout, "null");
}

static void jkey(const char *k)
{
	jstr(k);
	fputc_j(':');
}

static void jmmm(const char *k, const double v[3])
{
	jkey(k);
	fprintf(jout, "{\"median\":");
	jnum(v[0]);
	fprintf(jout, ",\"min\":");
	jnum(v[1]);
	fprintf(jout, ",\"max\":");
	jnum(v[2]);
	fputc_j('}');
}

#define JU(k, v) fprintf(jout, ",\"%s\":%llu", k, (unsigned long long)(v))

static void json_run(const struct config *c, const struct run_result *r)
{
	unsigned i;
	double tm = r->time_s > 0 ? r->time_s : 1e-9;

	fprintf(jout, "{\"status\":");
	jstr(r->status == 0 ? "ok" : r->status == 77 ? "skipped" : "failed");
	fprintf(jout, ",\"message\":");
	jstr(r->msg);
	fprintf(jout, ",\"time_s\":");
	jnum(r->time_s);
	JU("accesses", r->accesses);
	JU("writes", r->writes);
	JU("verify_mismatches", r->mismatches);
	fprintf(jout, ",\"accesses_per_s\":");
	jnum((double)r->accesses / tm);
	fprintf(jout, ",\"mb_per_s\":");
	jnum((double)r->accesses * BENCH_PAGE / tm / 1e6);
	fprintf(jout, ",\"us_per_access\":");
	jnum(r->accesses ? tm * 1e6 * c->threads / (double)r->accesses : 0);
	fprintf(jout, ",\"hit_ratio\":");
	if (r->hit_ratio >= 0)
		jnum(r->hit_ratio);
	else
		fprintf(jout, "null");
	fprintf(jout, ",\"hit_method\":");
	jstr(r->hit_method);
	JU("major_faults", r->majflt);
	JU("minor_faults", r->minflt);
	JU("uffd_faults", r->uffd_faults);
	fprintf(jout, ",\"populate_s\":");
	jnum(r->populate_s);
	JU("cgroup_peak_bytes", r->cg_peak_bytes);
	if (r->advice[0]) {
		fprintf(jout, ",\"advice\":");
		jstr(r->advice);
		fprintf(jout, ",\"vm_flags\":");
		jstr(r->vm_flags);
	}
	fprintf(jout, ",\"cached_pages_at_start\":");
	if (r->cached_pages_at_start == UINT64_MAX)
		fprintf(jout, "null");
	else
		fprintf(jout, "%llu", (unsigned long long)r->cached_pages_at_start);
	if (r->have_upager) {
		fprintf(jout, ",\"upager\":{\"faults_missing\":%llu",
		       (unsigned long long)r->faults_missing);
		JU("faults_wp", r->faults_wp);
		JU("faults_minor", r->faults_minor);
		JU("pages_filled", r->pages_filled);
		JU("pages_zero_filled", r->pages_zero_filled);
		JU("pages_evicted", r->pages_evicted);
		JU("pages_written_back", r->pages_written_back);
		JU("bytes_read", r->bytes_read);
		JU("bytes_written", r->bytes_written);
		JU("resident_peak_bytes", r->resident_peak_bytes);
		JU("budget_overshoot_pages", r->budget_overshoot_pages);
		if (r->have_breakdown) {
			struct breakdown b;
			bool ok = breakdown_of(c, r, &b);

			fprintf(jout, ",\"breakdown\":{\"fills_timed\":%llu",
				(unsigned long long)r->fills_timed);
			JU("wake_ns", r->fill_ns_wake);
			JU("handler_ns", r->fill_ns_handler);
			JU("store_ns", r->fill_ns_store);
			JU("copy_ns", r->fill_ns_copy);
			JU("map_ns", r->fill_ns_map);
			JU("submits", r->fill_submits);
			JU("submit_ns", r->fill_ns_submit);
			fprintf(jout, ",\"per_miss_us\":");
			if (ok) {
				fprintf(jout, "{\"wake\":");
				jnum(b.wake);
				fprintf(jout, ",\"handler\":");
				jnum(b.handler);
				fprintf(jout, ",\"store\":");
				jnum(b.store);
				fprintf(jout, ",\"submit\":");
				jnum(b.submit);
				fprintf(jout, ",\"copy\":");
				jnum(b.copy);
				fprintf(jout, ",\"map\":");
				jnum(b.map);
				fprintf(jout, ",\"sum\":");
				jnum(b.sum);
				fprintf(jout, ",\"total\":");
				jnum(b.total);
				fprintf(jout, ",\"total_is\":");
				jstr(b.total_is_latency ? "mean fault latency" :
					 "time x threads / pages filled");
				fprintf(jout, ",\"kernel\":");
				jnum(b.rest);
				fputc_j('}');
			} else {
				fprintf(jout, "null");
			}
			fputc_j('}');
		}
		fputc_j('}');
	}
	if (r->have_lat) {
		fprintf(jout, ",\"latency\":{\"n\":%llu,\"mean_us\":", (unsigned long long)r->lat_n);
		jnum(r->lat_mean_us);
		fprintf(jout, ",\"p50_us\":");
		jnum(r->lat_q_us[50]);
		fprintf(jout, ",\"p90_us\":");
		jnum(r->lat_q_us[90]);
		fprintf(jout, ",\"p99_us\":");
		jnum(r->lat_q_us[99]);
		fprintf(jout, ",\"p999_us\":");
		jnum(r->lat_p999_us);
		fprintf(jout, ",\"max_us\":");
		jnum(r->lat_q_us[100]);
		fprintf(jout, ",\"percentiles_us\":[");
		for (i = 0; i < BENCH_NQ; i++) {
			if (i)
				fputc_j(',');
			jnum(r->lat_q_us[i]);
		}
		fprintf(jout, "],\"histogram\":[");
		for (i = 0; i < BENCH_NHIST; i++) {
			if (i)
				fputc_j(',');
			fprintf(jout, "%llu", (unsigned long long)r->lat_hist[i]);
		}
		fprintf(jout, "],\"histogram_unit\":\"bucket i counts latencies in [2^i, 2^(i+1)) ns\"}");
	}
	fputc_j('}');
}

void report_json(FILE *out, const struct config *c, const struct trace *t,
		 const struct floors *f, struct backend_result *br,
		 unsigned nbr, const char *datapath)
{
	struct summary sm[BK_COUNT];
	const struct summary *ref;
	int refi;
	struct utsname un;
	char host[128] = "";
	unsigned i, j;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES);

	jout = out;
	for (i = 0; i < nbr; i++)
		summarize(c, &br[i], &sm[i]);
	ref = find_ref(br, sm, nbr);
	refi = find_ref_index(br, sm, nbr);
	uname(&un);
	gethostname(host, sizeof(host) - 1);

	fprintf(jout, "{\"tool\":\"upager-bench\",\"format\":1,\"workload\":");
	jstr(workload_names[c->wl]);
	fprintf(jout, ",\"config\":{\"size_bytes\":%llu,\"budget_bytes\":%llu,\"pages\":%llu,"
	       "\"budget_pages\":%llu,\"threads\":%u,\"store\":",
	       (unsigned long long)c->size, (unsigned long long)c->budget,
	       (unsigned long long)c->npages, (unsigned long long)c->budget_pages,
	       c->threads);
	jstr(c->store == STORE_ANON ? "anon" : "file");
	fprintf(jout, ",\"runs\":%u,\"zipf_s\":", c->runs);
	jnum(c->zipf_s);
	fprintf(jout, ",\"seed\":%llu,\"dir\":", (unsigned long long)c->seed);
	jstr(c->dir);
	fprintf(jout, ",\"data_file\":");
	jstr(datapath);
	fprintf(jout, ",\"upager_io\":");
	jstr(c->upager_direct ? "direct" : "buffered");
	fprintf(jout, ",\"store_cache\":");
	jstr(c->store_warm ? "warm" : "cold");
	fprintf(jout, ",\"handler_threads\":%u,\"upager_cgroup\":%s}", c->handler_threads,
		c->upager_cgroup ? "true" : "false");
	fprintf(jout, ",\"machine\":{\"kernel\":");
	jstr(un.release);
	fprintf(jout, ",\"hostname\":");
	jstr(host);
	fprintf(jout, ",\"cpus\":%ld,\"mem_bytes\":%llu,\"data_device_read_ahead_kb\":%d}",
	       ncpu, (unsigned long long)pages * (unsigned long long)sysconf(_SC_PAGESIZE),
	       device_read_ahead_kb(datapath));
	fprintf(jout, ",\"trace\":{\"accesses\":%llu,\"warmup\":%llu,\"writes\":%llu,"
	       "\"distinct_pages\":%llu,\"lru_hit_ratio\":",
	       (unsigned long long)(t->n - t->warmup), (unsigned long long)t->warmup,
	       (unsigned long long)t->writes, (unsigned long long)t->distinct);
	if (t->lru_hit_ratio >= 0)
		jnum(t->lru_hit_ratio);
	else
		fprintf(jout, "null");
	fprintf(jout, "}");
	fprintf(jout, ",\"floors\":{\"odirect_read\":");
	if (f->have_odirect) {
		fprintf(jout, "{\"reads\":%llu,\"mean_us\":", (unsigned long long)f->odirect_reads);
		jnum(f->odirect_mean_us);
		fprintf(jout, ",\"p50_us\":");
		jnum(f->odirect_p50_us);
		fprintf(jout, ",\"p99_us\":");
		jnum(f->odirect_p99_us);
		fprintf(jout, "}");
	} else {
		fprintf(jout, "{\"unavailable\":");
		jstr(f->odirect_reason);
		fprintf(jout, "}");
	}
	fprintf(jout, ",\"raw_uffd_fault\":");
	if (f->have_uffd) {
		fprintf(jout, "{\"faults\":%llu,\"mean_us\":", (unsigned long long)f->uffd_pages);
		jnum(f->uffd_mean_us);
		fprintf(jout, "}");
	} else {
		fprintf(jout, "{\"unavailable\":");
		jstr(f->uffd_reason);
		fprintf(jout, "}");
	}
	fprintf(jout, ",\"odirect_qd\":");
	if (f->have_odirect_qd) {
		fprintf(jout, "{\"qd\":%u,\"qd1_reads_per_s\":", f->odirect_qd);
		jnum(f->odirect_qd1_iops);
		fprintf(jout, ",\"qdn_reads_per_s\":");
		jnum(f->odirect_qdn_iops);
		fprintf(jout, "}");
	} else {
		fprintf(jout, "null");
	}
	fprintf(jout, ",\"raw_round_trip_us\":{");
	for (i = 0; i < RAW_NMODES; i++) {
		if (i)
			fputc_j(',');
		jstr(raw_mode_names[i]);
		fprintf(jout, ":");
		if (f->raw_mode_mean_us[i] >= 0)
			jnum(f->raw_mode_mean_us[i]);
		else
			fprintf(jout, "null");
	}
	fprintf(jout, "}");
	fprintf(jout, ",\"dependent_miss_limit_us\":");
	if (f->have_odirect && f->have_uffd)
		jnum(f->odirect_mean_us + f->uffd_mean_us);
	else
		fprintf(jout, "null");
	fprintf(jout, "},\"reference_backend\":");
	jstr(refi >= 0 ? backend_names[br[refi].bk] : "none");
	fprintf(jout, ",\"reference_rule\":\"the best kernel backend that ran "
		"(lowest median time of kernel-mmap, kernel-mmap-default, kernel-swap)\"");
	fprintf(jout, ",\"backends\":[");
	for (i = 0; i < nbr; i++) {
		const struct backend_result *b = &br[i];
		const struct summary *s = &sm[i];

		if (i)
			fputc_j(',');
		fprintf(jout, "{\"name\":");
		jstr(backend_names[b->bk]);
		fprintf(jout, ",\"status\":");
		jstr(b->status == 0 ? "ok" : b->status == 77 ? "skipped" : "failed");
		fprintf(jout, ",\"reason\":");
		jstr(b->reason);
		fprintf(jout, ",\"cgroup\":");
		jstr(b->cgroup);
		fprintf(jout, ",\"cgroup_limit_bytes\":%llu,\"store_io\":",
		       (unsigned long long)b->cg_limit);
		jstr(b->store_io);
		if (bk_is_kernel(b->bk)) {
			if (b->advice[0]) {
				fprintf(jout, ",\"advice\":");
				jstr(b->advice);
			}
			fprintf(jout, ",\"read_ahead_kb\":");
			if (b->read_ahead_kb >= 0)
				fprintf(jout, "%d", b->read_ahead_kb);
			else
				fprintf(jout, "null");
		}
		fprintf(jout, ",\"runs\":[");
		for (j = 0; j < b->nruns; j++) {
			if (j)
				fputc_j(',');
			json_run(c, &b->runs[j]);
		}
		fprintf(jout, "]");
		if (s->ok) {
			fprintf(jout, ",\"summary\":{\"runs\":%u,", s->n);
			jmmm("time_s", s->time);
			fputc_j(',');
			jmmm("accesses_per_s", s->aps);
			fputc_j(',');
			jmmm("mb_per_s", s->mbps);
			fputc_j(',');
			jmmm("us_per_access", s->usacc);
			fprintf(jout, ",\"hit_ratio\":");
			if (s->hit >= 0)
				jnum(s->hit);
			else
				fprintf(jout, "null");
			fprintf(jout, ",\"ratio_to_reference\":");
			if (ref)
				jnum(ref->time[0] / s->time[0]);
			else
				fprintf(jout, "null");
			fprintf(jout, ",\"median_run\":%u}", s->median_run);
		} else {
			fprintf(jout, ",\"summary\":null");
		}
		fputc_j('}');
	}
	fprintf(jout, "]}\n");
	fflush(jout);
}
