/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shared declarations of upager-bench (the .c files of tools/bench).
 *
 * upager-bench is a user program of libupager: it includes only the public
 * header <upager.h>.  Layout:
 *   main.c      arguments, orchestration (floors, backends x runs), exit codes
 *   data.c      the data file (pattern, reuse, page cache drop), pattern words
 *   trace.c     access traces of the workloads, zipf, exact-LRU simulation
 *   exec.c      executing a trace over a mapping (threads, timing, verify)
 *   backends.c  the backends, each run in a forked child
 *   rawuffd.c   the minimal userfaultfd handler (raw-uffd backend, floor)
 *   sysres.c    cgroups, the swap file, cleanup on exit and on signals
 *   floors.c    the O_DIRECT read floor and the uffd round-trip floor
 *   report.c    statistics, the human table and the JSON document
 *   progress.c  the progress line of long runs (terminal only)
 */
#ifndef UPAGER_BENCH_H
#define UPAGER_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_PAGE 4096u
#define BENCH_WORDS (BENCH_PAGE / 8u)
#define BENCH_MAX_RUNS 64
#define BENCH_MAX_THREADS 256
#define BENCH_NQ 101		/* latency quantiles 0..100 % */
#define BENCH_NHIST 40		/* log2 histogram buckets (ns) */

#define BENCH_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum workload {
	WL_SEQ_READ,
	WL_SEQ_WRITE,
	WL_RAND_READ,
	WL_RAND_WRITE,
	WL_ZIPF,
	WL_SCAN_UPDATE,
	WL_FAULT_LATENCY,
	WL_COUNT
};

enum backend {
	BK_UPAGER,
	BK_UPAGER_DAEMON,
	BK_KERNEL_MMAP,
	BK_KERNEL_SWAP,
	BK_RAW_UFFD,
	/* Not in "all": named with --backend (handler wait modes). */
	BK_UPAGER_POLL,
	BK_UPAGER_SPIN,
	BK_RAW_SIGBUS,
	/* kernel-mmap with the default advice (MADV_NORMAL), whatever the
	 * workload: the baseline of issue 5's figures. */
	BK_KERNEL_MMAP_DEFAULT,
	/* upager on the Redis Cluster store of --redis URI. */
	BK_UPAGER_REDIS,
	BK_COUNT
};
#define BK_COUNT_ALL (BK_RAW_UFFD + 1)	/* the backends "all" means */

static inline bool bk_is_upager(int bk)
{
	return bk == BK_UPAGER || bk == BK_UPAGER_DAEMON ||
	       bk == BK_UPAGER_POLL || bk == BK_UPAGER_SPIN ||
	       bk == BK_UPAGER_REDIS;
}

static inline bool bk_is_kernel(int bk)
{
	return bk == BK_KERNEL_MMAP || bk == BK_KERNEL_MMAP_DEFAULT ||
	       bk == BK_KERNEL_SWAP;
}

/* The madvise() advice of a kernel-mmap mapping (--kernel-advice). */
enum kadvice { KADV_AUTO, KADV_NORMAL, KADV_RANDOM, KADV_SEQUENTIAL, KADV_COUNT };

static inline bool bk_is_raw(int bk)
{
	return bk == BK_RAW_UFFD || bk == BK_RAW_SIGBUS;
}

enum store_kind { STORE_FILE, STORE_ANON };

struct config {
	enum workload wl;
	uint64_t size, budget;
	uint64_t npages, budget_pages;
	unsigned threads;
	enum store_kind store;
	bool backends[BK_COUNT];
	unsigned nbackends;
	unsigned runs;
	double zipf_s;
	bool json;
	char json_file[512];	/* --json-file: JSON there, table on stdout */
	bool keep;
	bool upager_direct;	/* file store opened O_DIRECT (default) */
	bool store_warm;	/* --store-cache warm: data file cached before each run */
	bool upager_cgroup;	/* upager in a cgroup of budget + 64 MiB (default) */
	char dir[512];
	uint64_t seed;
	uint64_t accesses;	/* measured accesses */
	uint64_t warmup;	/* accesses before the measurement */
	unsigned handler_threads;
	uint64_t fill_unit;	/* --fill-unit (0: the runtime's default) */
	bool hugetlb;		/* --hugetlb: UPG_REGION_HUGETLB */
	unsigned spin_us;	/* --spin-us: upager-spin's handler_spin_us */
	enum kadvice kernel_advice;	/* --kernel-advice (KADV_AUTO: by workload) */
	bool breakdown;		/* --breakdown: upager's per-miss breakdown */
	char redis_uri[1024];	/* --redis: upager-redis's store */
};

/* One access: page number, bit 31 = write. */
#define TR_WRITE 0x80000000u
#define TR_PAGE(x) ((x) & 0x7fffffffu)

struct trace {
	uint32_t *acc;		/* warmup + accesses entries */
	uint64_t n;		/* total entries */
	uint64_t warmup;	/* the first warmup entries are not measured */
	uint64_t writes;	/* measured writes */
	uint64_t distinct;	/* distinct pages in the measured part */
	double lru_hit_ratio;	/* exact LRU, budget pages, measured part */
};

/* What a child reports to the parent (one write on a pipe). */
struct run_result {
	int status;		/* 0 ok, 1 failed, 77 unavailable */
	char msg[256];
	double time_s;		/* measured wall time */
	uint64_t accesses, writes;
	uint64_t mismatches;
	double hit_ratio;	/* -1: not known */
	char hit_method[64];
	/* upager counters over the measured part (deltas) and the peak */
	bool have_upager;
	uint64_t faults_missing, faults_wp, faults_minor;
	uint64_t pages_filled, pages_zero_filled, pages_evicted;
	uint64_t pages_written_back, bytes_read, bytes_written;
	uint64_t resident_peak_bytes, budget_overshoot_pages;
	/* --breakdown: UPG_RT_FILL_TIMING's counters (deltas) */
	bool have_breakdown;
	uint64_t fills_timed, fill_ns_wake, fill_ns_handler, fill_ns_store;
	uint64_t fill_ns_copy, fill_ns_map, fill_submits, fill_ns_submit;
	/* kernel counters over the measured part */
	uint64_t majflt, minflt;
	/* raw-uffd: faults served during the measured part */
	uint64_t uffd_faults;
	/* populate phase (anonymous stores) */
	double populate_s;
	/* fault-latency */
	bool have_lat;
	uint64_t lat_n;
	double lat_mean_us;
	double lat_q_us[BENCH_NQ];	/* q[i] = i-th percentile */
	double lat_p999_us;
	uint64_t lat_hist[BENCH_NHIST];	/* bucket b: [2^b, 2^(b+1)) ns */
	/* kernel-mmap: the advice given, and the mapping's VmFlags as
	 * /proc/self/smaps shows them after madvise() ("rr": random,
	 * "sr": sequential) */
	char advice[16];
	char vm_flags[96];
	/* filled by the parent */
	uint64_t cg_peak_bytes;
	uint64_t cached_pages_at_start;
};

struct backend_result {
	enum backend bk;
	int status;		/* 0 ok, 1 failed, 77 skipped */
	char reason[256];
	char cgroup[64];	/* "v1", "v2" or "none" */
	uint64_t cg_limit;
	char store_io[64];
	char advice[16];	/* kernel-mmap*: the advice given, else "" */
	int read_ahead_kb;	/* kernel backends: the data device's; -1 unknown */
	unsigned nruns;
	struct run_result runs[BENCH_MAX_RUNS];
};

/* How the raw handler waits for faults (rawuffd.c). */
enum raw_mode { RAW_READ, RAW_POLL, RAW_SPIN, RAW_SIGBUS, RAW_NMODES };

struct floors {
	bool have_odirect;
	char odirect_reason[160];
	uint64_t odirect_reads;
	double odirect_mean_us, odirect_p50_us, odirect_p99_us;
	/* The disk's random 4 KiB O_DIRECT reads per second at queue depth
	 * 1 and at odirect_qd (the --threads, at least 4): the ceiling of
	 * what more faulting threads can gain. */
	bool have_odirect_qd;
	unsigned odirect_qd;
	double odirect_qd1_iops, odirect_qdn_iops;
	bool have_uffd;
	char uffd_reason[160];
	uint64_t uffd_pages;
	double uffd_mean_us;
	/* The round trip with the other wait modes of rawuffd.c (index
	 * enum raw_mode; [RAW_READ] is uffd_mean_us); < 0: unavailable. */
	double raw_mode_mean_us[RAW_NMODES];
};

/* main.c */
extern const char *const workload_names[WL_COUNT];
extern const char *const backend_names[BK_COUNT];
void logmsg(const struct config *c, const char *fmt, ...) BENCH_PRINTF(2, 3);
double now_s(void);

/* data.c */
uint64_t pattern_word(uint64_t seed, uint64_t page, unsigned word);
unsigned access_word(uint64_t page);
void fill_page(void *buf, uint64_t seed, uint64_t page);
int data_prepare(const struct config *c, char *path, size_t pathsz,
		 bool *created, char *err, size_t errsz);
int data_drop_cache(const char *path);
int data_warm_cache(const char *path);
uint64_t data_cached_pages(const char *path, uint64_t size);
bool dir_is_tmpfs(const char *dir);
int device_read_ahead_kb(const char *path);

/* progress.c: a progress line on stderr, when it is a terminal */
#define PROGRESS_STEP 4096u	/* accesses between two progress_add() */
void progress_init(void);
void progress_add(uint64_t n);
void progress_begin(const char *what, uint64_t accesses);
void progress_tick(void);
void progress_end(void);

extern const char *const kadvice_names[KADV_COUNT];
enum kadvice kernel_mmap_advice(const struct config *c, enum backend bk);

/* trace.c */
int trace_build(const struct config *c, struct trace *t);
void trace_free(struct trace *t);

/* exec.c */
struct exec_out {
	double time_s;
	uint64_t mismatches;
	bool have_lat;
	uint32_t *lat_ns;	/* per measured access, fault-latency only */
	uint64_t lat_n;
};
int exec_trace(const struct config *c, const struct trace *t, char *base,
	       struct exec_out *o, void (*before_measure)(void *), void *arg);
void exec_latency_summary(struct exec_out *o, struct run_result *r);

/* rawuffd.c */
struct rawuffd;
extern const char *const raw_mode_names[RAW_NMODES];
struct rawuffd *rawuffd_start(void *addr, uint64_t len, bool pattern,
			      uint64_t seed, enum raw_mode mode, char *err,
			      size_t errsz);
uint64_t rawuffd_faults(const struct rawuffd *u);
void rawuffd_stop(struct rawuffd *u);

/* backends.c */
void backend_run(const struct config *c, enum backend bk, const struct trace *t,
		 const char *datapath, struct backend_result *br);
bool backend_available(const struct config *c, enum backend bk, char *why,
		       size_t whysz);

/* sysres.c */
struct cgroup_info {
	int version;		/* 0 none, 1, 2 */
	char reason[160];
	char base[512];		/* where our cgroups are created */
};
void sysres_init(void);
int cgroup_probe(struct cgroup_info *ci);
int cgroup_create(const struct cgroup_info *ci, uint64_t limit, bool swap,
		  char *path, size_t pathsz, char *err, size_t errsz);
int cgroup_attach(const char *path, int version, pid_t pid);
uint64_t cgroup_peak(const char *path, int version);
void cgroup_remove(const char *path);
int swap_create(const char *dir, uint64_t bytes, char *err, size_t errsz);
void swap_remove(void);
void sysres_set_child(pid_t pid);
void sysres_set_datafile(const char *path);
void sysres_cleanup(void);

/* floors.c */
void floors_measure(const struct config *c, const char *datapath,
		    struct floors *f);

/* report.c */
double median_of(double *v, unsigned n);
void report_human(const struct config *c, const struct trace *t,
		  const struct floors *f, struct backend_result *br,
		  unsigned nbr);
void report_json(FILE *out, const struct config *c, const struct trace *t,
		 const struct floors *f, struct backend_result *br,
		 unsigned nbr, const char *datapath);

#endif /* UPAGER_BENCH_H */
