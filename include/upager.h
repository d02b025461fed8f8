/* SPDX-License-Identifier: MIT */
/*
 * upager.h - the public interface of libupager, a userspace paging runtime.
 *
 * An application maps *managed regions*: address ranges whose pages live in
 * a backing store (a file, a swap file the runtime owns, or a store plugin).
 * The runtime keeps at most a budget of pages resident, services page faults
 * through userfaultfd, and writes dirty pages back before it drops them.
 *
 * Conventions (after liburing and libbpf):
 *  - every function that can fail returns 0 or a negative errno;
 *  - options and stats structs begin with `size_t sz`; declare them with
 *    UPG_OPTS() so that sz is set and the rest is zeroed.  A zero field
 *    means "default".  Fields the library does not know (a newer caller)
 *    must be zero, or the call fails with -EINVAL;
 *  - a handle that is not live (already unmapped or destroyed) gives -EBADF.
 *
 * Thread safety: every function may be called from any application thread.
 * Functions that may wait for store I/O say so under "Context".  None may be
 * called from a store plugin's callbacks or a log callback.
 */
#ifndef UPAGER_H
#define UPAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset(), for UPG_OPTS() */
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of this header.  CMake checks at configure time that it is
 * the project's version.  upg_version_major() and upg_version_minor() give
 * the version of the library actually loaded, and upg_check_version()
 * compares it with what a program needs.
 */
#define UPAGER_VERSION_MAJOR 0
#define UPAGER_VERSION_MINOR 1
#define UPAGER_VERSION_PATCH 0
/* "MAJOR.MINOR.PATCH" of this header, e.g. "0.1.0". */
#define UPAGER_VERSION_STRING \
	UPG_VERSION_STR__(UPAGER_VERSION_MAJOR, UPAGER_VERSION_MINOR, \
			  UPAGER_VERSION_PATCH)
#define UPG_VERSION_STR__(a, b, c) \
	UPG_STR__(a) "." UPG_STR__(b) "." UPG_STR__(c)
#define UPG_STR__(x) #x
/*
 * True at compile time when this header is version major.minor or a later
 * minor of the same major: the compile-time twin of upg_check_version()
 * (liburing's IO_URING_CHECK_VERSION, with the sense of a requirement:
 * true means "satisfied").
 */
#define UPAGER_CHECK_VERSION(major, minor) \
	(UPAGER_VERSION_MAJOR == (major) && UPAGER_VERSION_MINOR >= (minor))

#if defined(UPAGER_BUILDING) && defined(__GNUC__)
#define UPG_API __attribute__((visibility("default")))
#else
#define UPG_API
#endif

/*
 * UPG_OPTS(type, name[, initialisers...]) - declare an options or stats
 * struct with sz set and every other byte zero (padding included: the
 * library may compare bytes it does not know with zero), then the fields
 * given:
 *
 *	UPG_OPTS(upg_stats, st);
 *	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = 64 << 20,
 *		 .handler_threads = 4);
 *
 * The struct is declared, cleared with memset(), and each ".field = value"
 * initialiser is then applied in order as an assignment, so one spelling
 * works in C and in C++ (C++11 and later, where designated initialisers
 * are not standard before C++20).  Each initialiser is an assignment (no
 * braced list), at most 32 of them; the macro expands to a declaration
 * followed by statements, so it must be used at block scope, where a
 * statement may stand (not at file scope, not as the body of an if).
 */
#define UPG_OPTS(...) UPG_OPTS__(__VA_ARGS__, )
#define UPG_OPTS__(type, name, ...)                  \
	struct type name;                             \
	memset(&name, 0, sizeof(name));               \
	name.sz = sizeof(struct type);                \
	UPG_OPTS_SET__(name, __VA_ARGS__) (void)0
/* "(void)(o INIT);" for each argument, the empty last one included (it
 * gives "(void)(o );"). */
#define UPG_OPTS_SET__(o, ...) \
	UPG_OPTS_PICK__(__VA_ARGS__, \
			UPG_OPTS_S33__, UPG_OPTS_S32__, UPG_OPTS_S31__, \
			UPG_OPTS_S30__, UPG_OPTS_S29__, UPG_OPTS_S28__, \
			UPG_OPTS_S27__, UPG_OPTS_S26__, UPG_OPTS_S25__, \
			UPG_OPTS_S24__, UPG_OPTS_S23__, UPG_OPTS_S22__, \
			UPG_OPTS_S21__, UPG_OPTS_S20__, UPG_OPTS_S19__, \
			UPG_OPTS_S18__, UPG_OPTS_S17__, UPG_OPTS_S16__, \
			UPG_OPTS_S15__, UPG_OPTS_S14__, UPG_OPTS_S13__, \
			UPG_OPTS_S12__, UPG_OPTS_S11__, UPG_OPTS_S10__, \
			UPG_OPTS_S9__, UPG_OPTS_S8__, UPG_OPTS_S7__, \
			UPG_OPTS_S6__, UPG_OPTS_S5__, UPG_OPTS_S4__, \
			UPG_OPTS_S3__, UPG_OPTS_S2__, UPG_OPTS_S1__, ) \
	(o, __VA_ARGS__)
#define UPG_OPTS_PICK__(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, \
			a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, \
			a23, a24, a25, a26, a27, a28, a29, a30, a31, a32, \
			a33, m, ...) m
#define UPG_OPTS_S1__(o, x) (void)(o x);
#define UPG_OPTS_S2__(o, x, ...) \
	(void)(o x); UPG_OPTS_S1__(o, __VA_ARGS__)
#define UPG_OPTS_S3__(o, x, ...) \
	(void)(o x); UPG_OPTS_S2__(o, __VA_ARGS__)
#define UPG_OPTS_S4__(o, x, ...) \
	(void)(o x); UPG_OPTS_S3__(o, __VA_ARGS__)
#define UPG_OPTS_S5__(o, x, ...) \
	(void)(o x); UPG_OPTS_S4__(o, __VA_ARGS__)
#define UPG_OPTS_S6__(o, x, ...) \
	(void)(o x); UPG_OPTS_S5__(o, __VA_ARGS__)
#define UPG_OPTS_S7__(o, x, ...) \
	(void)(o x); UPG_OPTS_S6__(o, __VA_ARGS__)
#define UPG_OPTS_S8__(o, x, ...) \
	(void)(o x); UPG_OPTS_S7__(o, __VA_ARGS__)
#define UPG_OPTS_S9__(o, x, ...) \
	(void)(o x); UPG_OPTS_S8__(o, __VA_ARGS__)
#define UPG_OPTS_S10__(o, x, ...) \
	(void)(o x); UPG_OPTS_S9__(o, __VA_ARGS__)
#define UPG_OPTS_S11__(o, x, ...) \
	(void)(o x); UPG_OPTS_S10__(o, __VA_ARGS__)
#define UPG_OPTS_S12__(o, x, ...) \
	(void)(o x); UPG_OPTS_S11__(o, __VA_ARGS__)
#define UPG_OPTS_S13__(o, x, ...) \
	(void)(o x); UPG_OPTS_S12__(o, __VA_ARGS__)
#define UPG_OPTS_S14__(o, x, ...) \
	(void)(o x); UPG_OPTS_S13__(o, __VA_ARGS__)
#define UPG_OPTS_S15__(o, x, ...) \
	(void)(o x); UPG_OPTS_S14__(o, __VA_ARGS__)
#define UPG_OPTS_S16__(o, x, ...) \
	(void)(o x); UPG_OPTS_S15__(o, __VA_ARGS__)
#define UPG_OPTS_S17__(o, x, ...) \
	(void)(o x); UPG_OPTS_S16__(o, __VA_ARGS__)
#define UPG_OPTS_S18__(o, x, ...) \
	(void)(o x); UPG_OPTS_S17__(o, __VA_ARGS__)
#define UPG_OPTS_S19__(o, x, ...) \
	(void)(o x); UPG_OPTS_S18__(o, __VA_ARGS__)
#define UPG_OPTS_S20__(o, x, ...) \
	(void)(o x); UPG_OPTS_S19__(o, __VA_ARGS__)
#define UPG_OPTS_S21__(o, x, ...) \
	(void)(o x); UPG_OPTS_S20__(o, __VA_ARGS__)
#define UPG_OPTS_S22__(o, x, ...) \
	(void)(o x); UPG_OPTS_S21__(o, __VA_ARGS__)
#define UPG_OPTS_S23__(o, x, ...) \
	(void)(o x); UPG_OPTS_S22__(o, __VA_ARGS__)
#define UPG_OPTS_S24__(o, x, ...) \
	(void)(o x); UPG_OPTS_S23__(o, __VA_ARGS__)
#define UPG_OPTS_S25__(o, x, ...) \
	(void)(o x); UPG_OPTS_S24__(o, __VA_ARGS__)
#define UPG_OPTS_S26__(o, x, ...) \
	(void)(o x); UPG_OPTS_S25__(o, __VA_ARGS__)
#define UPG_OPTS_S27__(o, x, ...) \
	(void)(o x); UPG_OPTS_S26__(o, __VA_ARGS__)
#define UPG_OPTS_S28__(o, x, ...) \
	(void)(o x); UPG_OPTS_S27__(o, __VA_ARGS__)
#define UPG_OPTS_S29__(o, x, ...) \
	(void)(o x); UPG_OPTS_S28__(o, __VA_ARGS__)
#define UPG_OPTS_S30__(o, x, ...) \
	(void)(o x); UPG_OPTS_S29__(o, __VA_ARGS__)
#define UPG_OPTS_S31__(o, x, ...) \
	(void)(o x); UPG_OPTS_S30__(o, __VA_ARGS__)
#define UPG_OPTS_S32__(o, x, ...) \
	(void)(o x); UPG_OPTS_S31__(o, __VA_ARGS__)
#define UPG_OPTS_S33__(o, x, ...) \
	(void)(o x); UPG_OPTS_S32__(o, __VA_ARGS__)

/* ------------------------------------------------------------------------
 * Version (after liburing's io_uring_major_version() and
 * io_uring_check_version())
 * ---------------------------------------------------------------------- */

/**
 * upg_version_major() - the major version of the library loaded.
 *
 * UPAGER_VERSION_MAJOR is the version of the header a program was compiled
 * with; this is the version of the libupager it runs with.
 * Return: the major version (0 for 0.1.0).
 * Context: any thread; does not block.
 */
UPG_API int upg_version_major(void);

/**
 * upg_version_minor() - the minor version of the library loaded.
 * Return: the minor version (1 for 0.1.0).
 * Context: any thread; does not block.
 */
UPG_API int upg_version_minor(void);

/**
 * upg_version() - the full version of the library loaded, as text.
 * Return: a static string "MAJOR.MINOR.PATCH", e.g. "0.1.0".
 * Context: any thread; does not block.
 */
UPG_API const char *upg_version(void);

/**
 * upg_check_version() - does the library loaded provide version
 * @major.@minor?
 * @major: the major version the caller needs.
 * @minor: the lowest minor version the caller needs.
 *
 * A library provides @major.@minor when its major version is @major and
 * its minor version is @minor or later (minor versions only add).  A
 * program checks at start-up that the library it was linked with at run
 * time is as new as the header it was compiled with:
 *
 *	if (upg_check_version(UPAGER_VERSION_MAJOR, UPAGER_VERSION_MINOR))
 *		errx(1, "libupager %s is older than this program's %s",
 *		     upg_version(), UPAGER_VERSION_STRING);
 *
 * Unlike liburing's io_uring_check_version(), which returns true when the
 * library is too old, this returns 0 or a negative errno like every call.
 * Return: 0 when the library provides @major.@minor; -ENOTSUP when it does
 * not (another major version, or an older minor); -EINVAL for a negative
 * @major or @minor.
 * Context: any thread; does not block.
 */
UPG_API int upg_check_version(int major, int minor);

struct upg_runtime;
struct upg_region;
struct upg_store;
struct upg_io_queue;

/* ------------------------------------------------------------------------
 * Logging
 * ---------------------------------------------------------------------- */

/* 0 in struct upg_runtime_opts.log_level means the default, UPG_LOG_WARN. */
enum upg_log_level {
	UPG_LOG_ERROR = 1,
	UPG_LOG_WARN = 2,
	UPG_LOG_INFO = 3,
	UPG_LOG_DEBUG = 4,
};

/**
 * typedef upg_log_fn - receives the runtime's log messages.
 * @level: severity of the message.
 * @msg:   one line of text, without a trailing newline.
 * @ctx:   the log_ctx given in struct upg_runtime_opts.
 *
 * Context: called from any runtime or application thread, possibly with
 * runtime locks held: it must not call back into libupager.
 */
typedef void (*upg_log_fn)(enum upg_log_level level, const char *msg,
			   void *ctx);

/* ------------------------------------------------------------------------
 * Runtime
 * ---------------------------------------------------------------------- */

/* Which userfaultfd mode the runtime obtained (struct upg_stats.uffd_mode). */
enum upg_uffd_mode {
	UPG_UFFD_NONE = 0,
	/* Faults raised by the kernel on the application's behalf (a read(2)
	 * into a region) are serviced too. */
	UPG_UFFD_KERNEL = 1,
	/* UFFD_USER_MODE_ONLY: a system call that touches a non-resident page
	 * fails with EFAULT instead of faulting; fault the range in first. */
	UPG_UFFD_USER_ONLY = 2,
};

/* struct upg_runtime_opts.flags */
/* Ask for a user-mode-only userfaultfd even when more is allowed. */
#define UPG_RT_USER_MODE_ONLY (1u << 0)
/* Service regions in fork children too (UFFD_FEATURE_EVENT_FORK): a child
 * inherits the regions' mappings and shares their data with the parent.
 * Without it regions are not inherited (an access in the child is
 * SIGSEGV).  See docs/app-events.md for what a child may do. */
#define UPG_RT_FORK_EVENTS (1u << 1)
/* Read ahead where the access-pattern detector sees sequential or strided
 * streams (docs/readahead.md).  The default: this flag changes nothing and
 * is kept for callers that set it when read-ahead was opt-in. */
#define UPG_RT_READAHEAD (1u << 2)
/* No read-ahead: every miss reads its fill unit only (upg_advise() still
 * works: WILLNEED and DONTNEED act, SEQUENTIAL changes nothing).  With
 * UPG_RT_READAHEAD as well: -EINVAL. */
#define UPG_RT_NO_READAHEAD (1u << 3)
/* Time the steps of each demand fill that reads the store (a
 * clock_gettime() per step, in the handler threads) and add them up in
 * the fill_ns_* counters of struct upg_stats (docs/fault-latency.md,
 * "Breakdown").  In-process runtimes only: with upg_runtime_connect() the
 * daemon's handlers fill, and the counters stay 0. */
#define UPG_RT_FILL_TIMING (1u << 4)

/*
 * struct upg_runtime_opts.handler_wait: how an idle handler thread waits
 * for the next fault and for its store reads to complete
 * (docs/handler-modes.md has the measured trade-off).
 */
enum upg_handler_wait {
	/* The default: UPG_WAIT_EPOLL. */
	UPG_WAIT_DEFAULT = 0,
	/* Sleep in epoll_wait() on every userfaultfd served, the thread's
	 * io_uring and the runtime's eventfds.  No CPU while idle. */
	UPG_WAIT_EPOLL = 1,
	/* The same set with poll(2), rebuilt on every wait. */
	UPG_WAIT_POLL = 2,
	/* Busy-poll: poll every userfaultfd (non-blocking) and the io_uring
	 * completion queue without sleeping, for handler_spin_us after the
	 * last fault or completion; then sleep as UPG_WAIT_EPOLL.
	 * Saves the wake-ups of a sleeping handler; costs up to one CPU per
	 * handler thread while faults keep coming. */
	UPG_WAIT_SPIN = 3,
};

struct upg_runtime_opts {
	size_t sz;
	/* Bytes resident across all regions of this runtime (default 256 MiB).
	 * Must hold at least one fill unit of every region mapped. */
	uint64_t budget_bytes;
	/* Threads reading faults and completing fills (default 2, max 64). */
	unsigned handler_threads;
	/* Directory of the unlinked swap file behind anonymous regions
	 * (default $TMPDIR, else /tmp).  Copied. */
	const char *swap_dir;
	/* Background eviction starts above high and stops below low, in
	 * percent of the budget (defaults 95 and 85; low < high <= 100). */
	unsigned high_watermark_pct;
	unsigned low_watermark_pct;
	/* Pages evicted per batch (default 256, or budget/32 when that is
	 * smaller, at least 16; max 4096): one write-protect, one punch per
	 * contiguous run of a batch. */
	unsigned evict_batch_pages;
	/* io_uring queue depth of each I/O ring (default 64, max 4096). */
	unsigned io_queue_depth;
	/* UPG_RT_* flags. */
	unsigned flags;
	/* Log sink (default: stderr for warnings and errors). */
	upg_log_fn log_fn;
	void *log_ctx;
	/* Most verbose level passed to log_fn (default UPG_LOG_WARN). */
	enum upg_log_level log_level;
	/* Bytes that long-term pins may hold, like RLIMIT_MEMLOCK (default:
	 * a quarter of the budget; at most the budget). */
	uint64_t pin_limit_bytes;
	/* How long background eviction waits for an ephemeral pin to go
	 * before it skips the page, in ms (default 100). */
	unsigned ephemeral_pin_wait_ms;
	/* New fields go here, at the end. */
	/* How idle handler threads wait (enum upg_handler_wait; default
	 * UPG_WAIT_EPOLL).  In daemon mode the daemon's handlers wait as
	 * upagerd does, as with handler_threads. */
	enum upg_handler_wait handler_wait;
	/* UPG_WAIT_SPIN: microseconds a handler keeps busy-polling after its
	 * last fault or completion before it sleeps (default 1000, at most
	 * 1000000).  Must be 0 with the other modes. */
	unsigned handler_spin_us;
};

struct upg_stats {
	size_t sz;
	/* Faults read from userfaultfd, by kind. */
	uint64_t faults_missing;
	uint64_t faults_wp;
	uint64_t faults_minor;
	/* Pages made resident: read from the store, or zero-filled without
	 * I/O (never written, or past the end of a file). */
	uint64_t pages_filled;
	uint64_t pages_zero_filled;
	/* Pages dropped from memory, and dirty pages written to their store. */
	uint64_t pages_evicted;
	uint64_t pages_written_back;
	uint64_t bytes_read;
	uint64_t bytes_written;
	/* Bytes resident now and the most ever resident; the budget. */
	uint64_t resident_bytes;
	uint64_t resident_peak_bytes;
	uint64_t budget_bytes;
	/* Store errors: reads (the faulting thread got SIGBUS) and writes
	 * (the page stayed resident and dirty; reported by a flush). */
	uint64_t io_errors;
	uint64_t read_errors;
	uint64_t write_errors;
	/* Eviction: batches run by the background evictor and by faulting
	 * paths that found the budget full; recency samples taken (page
	 * mappings zapped) and pages found referenced again (minor faults). */
	uint64_t evict_batches_background;
	uint64_t evict_batches_sync;
	uint64_t pages_sampled;
	uint64_t pages_referenced;
	/* Pages filled beyond the budget because nothing was evictable
	 * (all resident pages busy); bounded, see README "Budget". */
	uint64_t budget_overshoot_pages;
	/* enum upg_uffd_mode obtained, and the UFFD_FEATURE_* bits enabled. */
	uint32_t uffd_mode;
	uint64_t uffd_features;
	/* New fields go here, at the end: callers built against an older
	 * header pass a smaller sz and never see them. */
	/* Pages whose fill failed (SIGBUS) and whose poison was cleared since,
	 * so that the next access retried the read. */
	uint64_t pages_unpoisoned;
	/* Pins taken and dropped (they balance once all are dropped), and
	 * bytes held by long-term pins now. */
	uint64_t pins_acquired;
	uint64_t pins_released;
	uint64_t pinned_bytes;
	/* Interval notifier invalidate callbacks made. */
	uint64_t notifier_callbacks;
	/* Bytes made resident by upg_fault_in_*() and upg_prefetch(). */
	uint64_t bytes_faulted_in;
	/* Resident pages the application discarded (MADV_REMOVE). */
	uint64_t pages_discarded;
	/* UPG_RT_FORK_EVENTS: fork children whose address space is serviced
	 * now, and page faults of children resolved. */
	uint64_t fork_children;
	uint64_t faults_forked;
	/* Pages background eviction chose and found under an ephemeral pin,
	 * and waited for (up to ephemeral_pin_wait_ms). */
	uint64_t evict_pin_waits;
	/* Read-ahead (docs/readahead.md): pages read ahead of the faults by
	 * the access-pattern detector; read-ahead pages whose use was seen
	 * (a fault on them, or the stream passing them); read-ahead pages
	 * evicted before any use, counted when a fill claims them again. */
	uint64_t pages_read_ahead;
	uint64_t ra_pages_used;
	uint64_t ra_pages_wasted;
	/* UPG_RT_FILL_TIMING: demand fills of a MISSING fault that read the
	 * store, timed; and the nanoseconds they spent, summed, in each
	 * step, all measured in the handler thread that served the fault:
	 *   wake     from its wait's return (epoll_wait()) to the fault's
	 *            message read from the userfaultfd;
	 *   handler  from the message to the read queued (resolution, budget,
	 *            claim, eviction if the budget was full);
	 *   store    from the read queued to its completion handled
	 *            (submission, the device, the handler's wake-up);
	 *   copy     the staged data written into the memfd (0 when the
	 *            read landed in place);
	 *   map      the ioctl that maps the page and wakes the faulting
	 *            thread.
	 * The kernel's own parts (delivering the fault to the handler, the
	 * faulting thread's wake-up) are what a fault's latency has beyond
	 * their sum.  fill_submits and fill_ns_submit: the handler's
	 * io_uring submissions that carried at least one such read, and
	 * their time (part of "store"). */
	uint64_t fills_timed;
	uint64_t fill_ns_wake;
	uint64_t fill_ns_handler;
	uint64_t fill_ns_store;
	uint64_t fill_ns_copy;
	uint64_t fill_ns_map;
	uint64_t fill_submits;
	uint64_t fill_ns_submit;
};

/**
 * upg_runtime_create() - start a paging runtime in this process.
 * @opts: options, or NULL for defaults.
 * @out:  receives the runtime.
 *
 * Opens a userfaultfd (see README "Kernel requirements"), starts the
 * handler threads and the background evictor.
 *
 * Return: 0, or -EINVAL (bad option, unknown non-zero tail), -EPERM or
 * -EACCES (no userfaultfd may be opened: the log says which setting to
 * change), -EOPNOTSUPP (the kernel lacks a required userfaultfd feature),
 * -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_runtime_create(const struct upg_runtime_opts *opts,
			       struct upg_runtime **out);

/**
 * upg_runtime_connect() - a runtime whose regions upagerd services.
 * @socket_path: the daemon's socket (upagerd --socket).
 * @opts:        options, or NULL; budget and threads are the daemon's.
 * @out:         receives the runtime.
 *
 * The same calls work on it as on a runtime of upg_runtime_create(),
 * pins, nofault copies and interval notifiers included (their callbacks
 * run on the client's agent thread), except those docs/daemon.md lists
 * as not carried to the daemon (they return -EOPNOTSUPP).  upg_runtime_create() connects instead of
 * starting its own threads when UPAGER_SOCKET names a socket.
 *
 * Return: 0; -ENOENT or -ECONNREFUSED (no daemon listens there: the log
 * says so), -EACCES (the socket's permissions), -EPROTONOSUPPORT (no
 * common protocol version), -ETIMEDOUT, -EOPNOTSUPP (userfaultfd lacks a
 * feature, or UPG_RT_FORK_EVENTS asked), -EINVAL, -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_runtime_connect(const char *socket_path,
				const struct upg_runtime_opts *opts,
				struct upg_runtime **out);

/**
 * upg_runtime_destroy() - write back every region, unmap them, stop.
 * @rt: the runtime.
 *
 * Return: 0 and @rt is gone; or a negative errno from writing back a
 * region (-EIO ...), in which case nothing was released: @rt and its
 * remaining regions stay usable, with their data, and the call may be
 * retried.  -EBADF if @rt is not live.
 * Context: application thread, not a log callback; waits for I/O.
 */
UPG_API int upg_runtime_destroy(struct upg_runtime *rt);

/**
 * upg_runtime_stats() - read the runtime's counters.
 * @rt: the runtime.
 * @st: filled up to min(st->sz, sizeof(struct upg_stats)); set st->sz
 *      first (UPG_OPTS(upg_stats, st)).
 *
 * Counters are read without stopping the runtime: each is exact, the set is
 * not a snapshot of one instant.  In daemon mode (upg_runtime_connect())
 * they are this process's own, counted by upagerd, except budget_bytes,
 * evict_batches_background, evict_batches_sync and budget_overshoot_pages,
 * which are the daemon's (docs/daemon.md, "What is carried").
 * Return: 0, -EINVAL (@st NULL or st->sz too small), -EBADF; in daemon
 * mode also the errors of a request to upagerd (-ECONNRESET, -ETIMEDOUT).
 * Context: any thread; does not block on I/O (daemon mode: one round trip
 * to upagerd).
 */
UPG_API int upg_runtime_stats(struct upg_runtime *rt, struct upg_stats *st);

/* ------------------------------------------------------------------------
 * Regions
 * ---------------------------------------------------------------------- */

/* struct upg_region_opts.numa_policy */
enum upg_numa_policy {
	UPG_NUMA_DEFAULT = 0,	/* the process's policy */
	UPG_NUMA_LOCAL,		/* the node of the allocating CPU */
	UPG_NUMA_BIND,		/* only numa_node (or numa_nodemask) */
	UPG_NUMA_INTERLEAVE,	/* round robin over numa_nodemask (0: all) */
	UPG_NUMA_PREFERRED,	/* numa_node first, others when full */
};

struct upg_region_opts {
	size_t sz;
	/* PROT_READ, or PROT_READ | PROT_WRITE (default). */
	int prot;
	/* Byte offset of the region's first byte in its store (page aligned). */
	uint64_t store_offset;
	/* Bytes filled per fault: a power of two from the page size to 2 MiB
	 * (default: one page).  The aligned unit around the fault is filled. */
	uint64_t fill_unit;
	/* NUMA placement of the region's pages (enum upg_numa_policy). */
	int numa_policy;
	/* Node for BIND and PREFERRED. */
	int numa_node;
	/* Nodes for INTERLEAVE and BIND (bit n = node n); 0: numa_node for
	 * BIND, all nodes for INTERLEAVE.  Through upagerd only what one
	 * node says: one node, or all for INTERLEAVE (else -EOPNOTSUPP). */
	uint64_t numa_nodemask;
	/* UPG_REGION_* flags (0: none). */
	unsigned flags;
};

/*
 * struct upg_region_opts.flags
 *
 * UPG_REGION_HUGETLB: back the region with 2 MiB huge pages (a memfd made
 * with MFD_HUGETLB | MFD_HUGE_2MB) from the pool the administrator
 * reserves in /proc/sys/vm/nr_hugepages.  The region's mapped length is
 * rounded up to 2 MiB; its fill unit is 2 MiB (fill_unit must be 0 or
 * 2 MiB) and so is every other unit of work: fills, evictions, budget
 * charges (512 pages of 4 KiB at a time), write-protection.  The budget
 * must hold at least one huge page.  Huge pages are taken from the pool
 * when a unit is filled (the mappings reserve nothing, MAP_NORESERVE), so
 * the pool needs room for the resident set, not for the region.
 * Errors: -ENOMEM at map time when the pool has no free 2 MiB page (and
 * cannot overcommit); when it runs dry later, the fill fails and the
 * faulting thread gets SIGBUS (as with an I/O error: stats read_errors),
 * pin and fault-in report the bytes not faulted in.  -EOPNOTSUPP in daemon
 * mode, with UPG_RT_FORK_EVENTS, or when the kernel's userfaultfd lacks
 * hugetlbfs MISSING/MINOR support.  Read-ahead and clock sampling are off
 * for such regions (the 2 MiB unit is the read-ahead); the application
 * must not madvise(MADV_REMOVE) parts of a huge page.  See README.md,
 * "Huge pages".
 */
#define UPG_REGION_HUGETLB (1u << 0)

/**
 * upg_region_map_file() - map a file as a managed region.
 * @rt:     the runtime.
 * @fd:     an open file; duplicated, so the caller may close it.
 * @length: bytes to map (need not be a multiple of the page size).
 * @opts:   options (store_offset is the file offset), or NULL.
 * @out:    receives the region.
 *
 * The region reads as the file from opts->store_offset on; past the end of
 * the file it reads as zeros.  Written pages reach the file on flush, on
 * eviction and on unmap, like MAP_SHARED; the file grows when a page past
 * its end is written back (never beyond store_offset + @length).
 * Return: 0; -EINVAL (zero length, unaligned store_offset, bad option),
 * -EOVERFLOW (store_offset + length overflows), -EBADF (bad fd), -EACCES
 * (fd not open for writing and prot has PROT_WRITE, or not for reading),
 * -ENODEV (fd is not a regular file or block device), -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_region_map_file(struct upg_runtime *rt, int fd,
				uint64_t length,
				const struct upg_region_opts *opts,
				struct upg_region **out);

/**
 * upg_region_map_anon() - map anonymous memory paged to the runtime's swap.
 * @rt:     the runtime.
 * @length: bytes to map.
 * @opts:   options (store_offset must be 0), or NULL.
 * @out:    receives the region.
 *
 * Like swapped anonymous memory: pages never written read as zeros without
 * any I/O; contents are lost on unmap.
 * Return: as upg_region_map_file(); -EIO if the swap file cannot be created
 * in swap_dir.
 * Context: any thread.
 */
UPG_API int upg_region_map_anon(struct upg_runtime *rt, uint64_t length,
				const struct upg_region_opts *opts,
				struct upg_region **out);

/**
 * upg_region_map_store() - map a region backed by a store object.
 * @rt:     the runtime.
 * @store:  the store; the region takes a reference, the caller keeps its own.
 * @length: bytes to map.
 * @opts:   options (store_offset: where in the store), or NULL.
 * @out:    receives the region.
 *
 * On a runtime served by upagerd (upg_runtime_connect()), @store must be
 * a store of upg_store_open_uri(): its URI travels to the daemon, which
 * opens the store itself under the name "u<uid>.<name>" (the caller's
 * uid; <name> as is if it already starts so), and if the daemon dies
 * this process opens that URI and serves the region itself.  Any other
 * store is -EOPNOTSUPP there (docs/far-memory.md, "Through upagerd").
 *
 * Return: as upg_region_map_file(); through upagerd also the errors of
 * upg_store_open_uri() (the daemon's open), -ENAMETOOLONG (the scoped
 * name is over 100 characters), -EOPNOTSUPP.
 * Context: any thread; through upagerd, blocks while the daemon connects.
 */
UPG_API int upg_region_map_store(struct upg_runtime *rt,
				 struct upg_store *store, uint64_t length,
				 const struct upg_region_opts *opts,
				 struct upg_region **out);

/**
 * upg_region_addr() - the address where the region is mapped.
 * @r: the region.
 * Return: the address, or NULL if @r is NULL.
 * Context: any thread; does not block.
 */
UPG_API void *upg_region_addr(const struct upg_region *r);

/**
 * upg_region_length() - the region's length in bytes, as mapped.
 * @r: the region.
 * Return: the length, or 0 if @r is NULL.
 * Context: any thread; does not block.
 */
UPG_API uint64_t upg_region_length(const struct upg_region *r);

/**
 * upg_region_discard() - discard a range: it reads as zeros from now on,
 * in memory and in the store (the store range is punched, or zeros are
 * written back if the store cannot punch).
 * @r:      the region (writable).
 * @offset: first byte of the range (page aligned).
 * @length: bytes (rounded up to pages); 0 means "to the end".
 *
 * What madvise(MADV_REMOVE) does to a mapped file, for every page of the
 * range, resident or not (the application's own MADV_REMOVE reaches only
 * the pages resident at the time: docs/app-events.md).  Interval notifiers
 * of the range get UPG_NOTIFY_REMOVE first.  A notifier inserted while
 * invalidations (evictions) run is indexed only when all of them have
 * ended (upg_interval_notifier_insert()), so it may not be called for this
 * REMOVE: it sees the REMOVE through upg_interval_read_begin(), which waits
 * for those invalidations, and the reads it then begins see zeros.  Accesses concurrent with the
 * call may see the old data or zeros; after it returns, zeros.
 *
 * Return: 0; -EINVAL (unaligned offset, range past the end), -EACCES
 * (read-only region), -EBUSY (a page of the range is pinned; nothing
 * discarded), -EDEADLK (called from a notifier callback), -EBADF (stale
 * handle), or a negative errno from punching the memory.
 * Context: application thread, not a log or notifier callback; may wait
 * for fills and evictions of the range.
 */
UPG_API int upg_region_discard(struct upg_region *r, uint64_t offset,
			       uint64_t length);

/**
 * upg_region_flush() - write back the dirty pages of a range.
 * @r:      the region.
 * @offset: first byte of the range (page aligned).
 * @length: bytes; 0 means "to the end of the region".
 *
 * Dirty pages are written to the store and stay resident, clean; except
 * pinned pages (upg_pin(), upg_pin_ephemeral(), a nofault copy in
 * progress) and pages the application may be writing at an address the
 * runtime has not learnt yet (an mremap() racing the flush): those are
 * written but stay dirty, since writes to them raise no fault and may land
 * during and after the copy unseen.  Then the
 * store is flushed (fsync for files).  Write errors are errseq-style: an
 * error met by any writeback of this region (an eviction, a flush) is
 * returned by the next flush of the region once, and the pages stay dirty,
 * so nothing is dropped; a flush that retries them and succeeds still
 * reports the earlier error once.  For several independent flushers, see
 * upg_region_err_sample().
 * Return: 0, a negative errno from the store (-EIO, -ENOSPC ...), -EINVAL
 * (unaligned offset, range past the end), -EBADF.
 * Context: application thread; waits for I/O.
 */
UPG_API int upg_region_flush(struct upg_region *r, uint64_t offset,
			     uint64_t length);

/**
 * upg_region_err_sample() - sample the region's writeback error sequence.
 * @r: the region.
 *
 * A flusher that wants its own error reporting (like a struct file's
 * f_wb_err) keeps the value and passes it to upg_region_err_check().
 * Return: the current sequence (0 for a bad handle).
 * Context: any thread; does not block.
 */
UPG_API uint64_t upg_region_err_sample(struct upg_region *r);

/**
 * upg_region_err_check() - report writeback errors since a sample.
 * @r:     the region.
 * @since: a value from upg_region_err_sample(); advanced to now.
 *
 * Return: 0 if no writeback of @r failed since *@since, else the negative
 * errno of the latest failure (reported once per cursor); -EBADF.
 * Context: any thread; does not block.
 */
UPG_API int upg_region_err_check(struct upg_region *r, uint64_t *since);

/**
 * upg_region_unmap() - write back, then release the region.
 * @r: the region.
 *
 * Writes back every dirty page and flushes the store first.  If that fails,
 * nothing is released and the error is returned: the region, its data and
 * its mapping stay as they were, and unmap may be retried.  After success
 * the address range is unmapped and @r is gone (a second call: -EBADF).
 * Return: 0, a negative errno from the store, -EBADF.
 * Context: application thread; waits for I/O.  The application must not
 * touch the range concurrently.
 */
UPG_API int upg_region_unmap(struct upg_region *r);

/* upg_region_unmap_flags() */
/* Wait for the pins of the region to be dropped instead of failing with
 * -EBUSY. */
#define UPG_UNMAP_WAIT_PINS (1u << 0)

/**
 * upg_region_unmap_flags() - upg_region_unmap() with a choice for pins.
 * @r:     the region.
 * @flags: 0 or UPG_UNMAP_WAIT_PINS.
 *
 * The interval notifiers overlapping the region are told first (event
 * UPG_NOTIFY_UNMAP), so that pin holders can drop their pins.  Then, if
 * pins remain, unmap fails with -EBUSY (nothing released), or with
 * UPG_UNMAP_WAIT_PINS waits until they are dropped.
 * Return: as upg_region_unmap(); -EBUSY; -EINVAL (unknown flag); -EDEADLK
 * (from an invalidate callback).
 * Context: application thread; waits for I/O and, if asked, for unpins.
 */
UPG_API int upg_region_unmap_flags(struct upg_region *r, unsigned flags);

#define UPG_MAX_NUMA_NODES 64

struct upg_region_stats {
	size_t sz;
	uint64_t length;
	uint64_t resident_bytes;
	/* Resident pages not known to be in the store.  Pinned pages count
	 * as dirty even after a flush (upg_region_flush()). */
	uint64_t dirty_bytes;
	/* Resident pages per NUMA node, as the kernel reports their placement
	 * (move_pages query); pages it could not place are not counted.  In
	 * daemon mode upagerd asks the kernel and carries the counts back. */
	uint64_t node_pages[UPG_MAX_NUMA_NODES];
	/* The region's enum upg_numa_policy. */
	int numa_policy;
};

/**
 * upg_region_stats() - the region's residency and placement.
 * @r:  the region.
 * @st: filled up to st->sz (UPG_OPTS(upg_region_stats, st)).
 * Return: 0, -EINVAL, -EBADF.
 * Context: any thread; does not block on I/O.
 */
UPG_API int upg_region_stats(struct upg_region *r,
			     struct upg_region_stats *st);

/* ------------------------------------------------------------------------
 * Pins (after pin_user_pages() and FOLL_LONGTERM)
 *
 * A pin keeps a range resident.  Two calls, no flag, so that no call site
 * can pick the wrong lifetime:
 *  - upg_pin(): long-term (a buffer registered for the life of a
 *    connection): the pages are never evicted while pinned, and the pinned
 *    bytes count against pin_limit_bytes;
 *  - upg_pin_ephemeral(): short-term (one I/O in flight): not counted;
 *    eviction that selects such a page waits for the unpin (up to
 *    ephemeral_pin_wait_ms, then it picks another page).
 * Prefer interval notifiers where the user can re-fetch: a pin is memory
 * taken from everyone else's budget.  A pin covers one region: a range
 * spanning two regions is -EINVAL (pin each part).  Pins survive flush
 * (written back, still resident).  Each page holds at most 511 pins of
 * each kind.
 * ---------------------------------------------------------------------- */

struct upg_pin;

/**
 * upg_pin() - make [addr, addr+len) resident and keep it so (long-term).
 * @rt:   the runtime.
 * @addr: start (any alignment: the pages containing the range are pinned).
 * @len:  bytes, > 0.
 * @out:  receives the pin handle.
 *
 * Faults the range in as needed (through the runtime's fill path, without
 * touching the pages) and maps it, so that access raises no fault.  So
 * writes to pinned pages go unseen: upg_region_flush() writes pinned pages
 * back but leaves them dirty (upg_region_stats() counts them in
 * dirty_bytes), and they are written again at the next flush, eviction
 * after the unpin, or unmap.
 * Return: 0; -EFAULT (not managed memory), -EINVAL (len 0, across
 * regions), -ENOMEM (over pin_limit_bytes: nothing pinned), -EOVERFLOW (a
 * page has the maximum number of pins), -EIO (store read error), -EBADF,
 * -EDEADLK (from an invalidate callback).
 * Context: application thread; may wait for I/O.
 */
UPG_API int upg_pin(struct upg_runtime *rt, void *addr, size_t len,
		    struct upg_pin **out);

/**
 * upg_pin_ephemeral() - like upg_pin(), short-term: not counted against
 * the pin limit; eviction waits (bounded) for its unpin.
 * @rt:   the runtime.
 * @addr: start (any alignment: the pages containing the range are pinned).
 * @len:  bytes, > 0.
 * @out:  receives the pin handle.
 *
 * For one I/O in flight; drop it with upg_unpin() as soon as the I/O ends.
 * Return: as upg_pin(), but never -ENOMEM for the pin limit.
 * Context: application thread; may wait for I/O.
 */
UPG_API int upg_pin_ephemeral(struct upg_runtime *rt, void *addr, size_t len,
			      struct upg_pin **out);

/**
 * upg_unpin() - drop a pin.
 * @pin: a handle from upg_pin() or upg_pin_ephemeral().
 * Return: 0; -EINVAL for a handle that is not a live pin (already
 * unpinned, never pinned): misuse is reported, never a corruption.
 * Context: any thread; does not block.
 */
UPG_API int upg_unpin(struct upg_pin *pin);

/* ------------------------------------------------------------------------
 * Fault-in and nofault access (after fault_in_readable/writeable and the
 * "fault in only on the failure path" rule)
 *
 * Work under your lock with the nofault copies; only when one comes back
 * short, drop the lock, fault the range in, and retry:
 *
 *	for (;;) {
 *		pthread_mutex_lock(&lock);
 *		left = upg_copy_from_nofault(rt, buf, src, len);
 *		if (!left)
 *			break;             // done, still under the lock
 *		pthread_mutex_unlock(&lock);
 *		if (upg_fault_in_readable(rt, src, len) == len)
 *			return -EFAULT;    // nothing could be faulted in
 *	}
 *
 * Touching non-resident managed memory directly while holding a lock that
 * an invalidate callback also takes can deadlock: see
 * examples/nofault_pattern.c and docs/fault-in.md.
 * ---------------------------------------------------------------------- */

/**
 * upg_fault_in_readable() - make [addr, addr+len) resident and mapped.
 * @rt:   the runtime.
 * @addr: start.
 * @len:  bytes.
 *
 * Through the runtime's fill path, batched, without touching the pages.
 * Like the kernel's fault_in_readable(), it stops at the first page it
 * cannot fault in (not managed memory, a store error).  Pages may be
 * evicted again afterwards; pin them to keep them.
 * Return: bytes NOT faulted in, from the first failure to the end (0:
 * all).
 * Context: application thread; waits for I/O; not from a callback (returns
 * @len there).
 */
UPG_API size_t upg_fault_in_readable(struct upg_runtime *rt, const void *addr,
				     size_t len);

/**
 * upg_fault_in_writeable() - upg_fault_in_readable(), and map the pages
 * writable and dirty, so that a write raises no fault either (a read(2)
 * into the range then works even with a user-mode-only userfaultfd).
 * @rt:   the runtime.
 * @addr: start.
 * @len:  bytes.
 *
 * A page of a region mapped without PROT_WRITE stops it, as a page that
 * cannot be faulted in does.
 * Return: bytes NOT faulted in, from the first failure to the end (0:
 * all).
 * Context: application thread; waits for I/O; not from a callback (returns
 * @len there).
 */
UPG_API size_t upg_fault_in_writeable(struct upg_runtime *rt, void *addr,
				      size_t len);

/**
 * upg_prefetch() - start faulting [addr, addr+len) in, and return at once.
 * @rt:   the runtime.
 * @addr: start.
 * @len:  bytes, > 0.
 *
 * A handler thread fills the range in the background, like a fault that
 * nobody waits for.
 * Return: 0; -EFAULT (the range is not managed memory, or runs out of it:
 * the managed part before that point is still prefetched), -EINVAL (len
 * 0), -ENOMEM, -EBADF.
 * Context: any thread; does not block.
 */
UPG_API int upg_prefetch(struct upg_runtime *rt, const void *addr,
			 size_t len);

/**
 * upg_copy_from_nofault() - copy from managed memory, only what is resident.
 * @rt:  the runtime.
 * @dst: destination (ordinary memory).
 * @src: source, in a region.
 * @len: bytes.
 *
 * Copies page by page while each source page is resident, holding it
 * against eviction for the copy; never waits for I/O and never raises a
 * fault.  Stops at the first page that is not resident.
 * Return: bytes NOT copied (0: all).
 * Context: any thread, under any lock.
 */
UPG_API size_t upg_copy_from_nofault(struct upg_runtime *rt, void *dst,
				     const void *src, size_t len);

/**
 * upg_copy_to_nofault() - copy into managed memory, only what is resident;
 * the pages written become dirty.
 * @rt:  the runtime.
 * @dst: destination, in a region.
 * @src: source (ordinary memory).
 * @len: bytes.
 *
 * Stops, as at a page not resident, at a region mapped without PROT_WRITE
 * (as the kernel's copy_to_user_nofault() fails on a read-only mapping).
 * Never waits for I/O and never raises a fault.
 * Return: bytes NOT copied (0: all).
 * Context: any thread, under any lock.
 */
UPG_API size_t upg_copy_to_nofault(struct upg_runtime *rt, void *dst,
				   const void *src, size_t len);

/* ------------------------------------------------------------------------
 * Interval notifiers (after the kernel's mmu_interval_notifier)
 *
 * A client that keeps something derived from a range of managed memory (a
 * cache, a device mapping, a pointer into a page) learns through its
 * notifier when pages of the range are about to become inaccessible, and
 * detects with a sequence count that it raced with such an invalidation:
 *
 *	again:
 *		seq = upg_interval_read_begin(&n);
 *		... look at the pages, build the derived state ...
 *		pthread_mutex_lock(&user_lock);
 *		if (upg_interval_read_retry(&n, seq)) {
 *			pthread_mutex_unlock(&user_lock);
 *			goto again;
 *		}
 *		... publish the derived state ...
 *		pthread_mutex_unlock(&user_lock);
 *
 *	bool invalidate(n, range, cur_seq) {
 *		if (!range->blockable && pthread_mutex_trylock(&user_lock))
 *			return false;
 *		else if (range->blockable)
 *			pthread_mutex_lock(&user_lock);
 *		upg_interval_set_seq(n, cur_seq);
 *		... drop the derived state for range ...
 *		pthread_mutex_unlock(&user_lock);
 *		return true;
 *	}
 * ---------------------------------------------------------------------- */

/* Why pages of a range become inaccessible. */
enum upg_notify_event {
	/* The runtime evicts them (they come back on the next access). */
	UPG_NOTIFY_EVICT = 1,
	/* The application moved the region with mremap: the range given is
	 * the old one. */
	UPG_NOTIFY_REMAP = 2,
	/* The region goes away: upg_region_unmap(), or the application's
	 * own munmap. */
	UPG_NOTIFY_UNMAP = 3,
	/* The application discarded the range (madvise MADV_REMOVE or
	 * MADV_DONTNEED): the mappings are dropped. */
	UPG_NOTIFY_REMOVE = 4,
};

struct upg_notifier_range {
	uintptr_t start; /* first byte */
	uintptr_t end;   /* one past the last byte */
	enum upg_notify_event event;
	/* false: the callback must not sleep, take a lock that another
	 * thread may hold while it touches managed memory, or touch managed
	 * memory itself; it returns false if it cannot proceed without that
	 * (the runtime backs off and retries later). */
	bool blockable;
};

struct upg_interval_notifier;

struct upg_interval_notifier_ops {
	/*
	 * Called before pages of [range->start, range->end) that overlap the
	 * notifier become inaccessible; the runtime does not proceed until it
	 * returns.  It must call upg_interval_set_seq(n, cur_seq) under the
	 * lock that its readers take around upg_interval_read_retry().
	 * Return true, or false only when !range->blockable (see above).
	 * Context: a runtime thread.  The callback must not call
	 * upg_interval_notifier_remove() on @n, upg_pin(), fault-in,
	 * flush or unmap (they fail with -EDEADLK when it does).
	 */
	bool (*invalidate)(struct upg_interval_notifier *n,
			   const struct upg_notifier_range *range,
			   uint64_t cur_seq);
};

/* Embedded in the caller's own struct; the fields are the runtime's. */
struct upg_interval_notifier {
	struct upg_runtime *rt;
	const struct upg_interval_notifier_ops *ops;
	uintptr_t start, end;
	uint64_t invalidate_seq;
	/* private to the runtime */
	uint32_t __state;
	uint32_t __slot;
	struct upg_interval_notifier *__deferred_next;
};

/**
 * upg_interval_notifier_insert() - watch [addr, addr+len).
 * @rt:   the runtime.
 * @n:    the notifier, owned by the caller; must stay valid until removed.
 * @addr: start of the range (any address: it need not be managed yet).
 * @len:  bytes, > 0.
 * @ops:  callbacks; ops->invalidate is required.
 *
 * While invalidations run, the insertion takes effect when all of the
 * invalidations running have ended (those running at the call and any
 * started before they end), not only the one running at the call; until
 * then the callback of @n is not called, and upg_interval_read_begin() on
 * @n waits for that moment.
 * Return: 0, -EINVAL, -EEXIST (@n is already inserted), -EBADF, -EDEADLK
 * (called from an invalidate callback), -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_interval_notifier_insert(
	struct upg_runtime *rt, struct upg_interval_notifier *n, uintptr_t addr,
	size_t len, const struct upg_interval_notifier_ops *ops);

/**
 * upg_interval_notifier_remove() - stop watching; waits for a running
 * invalidate callback of @n to return.
 * @n: an inserted notifier.
 *
 * After it returns the callback is never called again and @n may be freed.
 * Return: 0, -EINVAL (not inserted), -EDEADLK (called from an invalidate
 * callback: it would wait for itself).
 * Context: any thread but a callback.
 */
UPG_API int upg_interval_notifier_remove(struct upg_interval_notifier *n);

/**
 * upg_interval_read_begin() - start a read-side critical section.
 * @n: the notifier covering what the caller reads.
 *
 * Waits while an invalidation covering @n is running.
 * Return: the sequence to pass to upg_interval_read_retry().
 * Context: any thread but an invalidate callback.
 */
UPG_API uint64_t upg_interval_read_begin(struct upg_interval_notifier *n);

/**
 * upg_interval_read_retry() - did an invalidation hit @n since @seq?
 * @n:   the notifier.
 * @seq: what upg_interval_read_begin() returned.
 *
 * Return: true if the caller must start over.
 * Context: under the lock the invalidate callback takes.
 */
UPG_API bool upg_interval_read_retry(struct upg_interval_notifier *n,
				     uint64_t seq);

/**
 * upg_interval_check_retry() - lock-free hint of upg_interval_read_retry().
 * @n:   the notifier.
 * @seq: what upg_interval_read_begin() returned.
 *
 * Return: true means retry for sure; false still needs the locked check
 * with upg_interval_read_retry().
 * Context: any thread, with or without the user's lock; does not block.
 */
UPG_API bool upg_interval_check_retry(struct upg_interval_notifier *n,
				      uint64_t seq);

/**
 * upg_interval_set_seq() - record an invalidation in @n.
 * @n:       the notifier being invalidated.
 * @cur_seq: the cur_seq argument of ops->invalidate.
 *
 * Readers that began before it then see upg_interval_read_retry() true.
 * Context: inside ops->invalidate, under the user's lock.
 */
UPG_API void upg_interval_set_seq(struct upg_interval_notifier *n,
				  uint64_t cur_seq);

/* ------------------------------------------------------------------------
 * Stores
 *
 * A store holds the pages of regions at byte offsets.  The runtime decides
 * what to read and write and when, merges contiguous pages into one I/O,
 * and keeps many in flight; a store only moves bytes.  Requests are
 * asynchronous: submit() starts one and the store calls upg_io_complete()
 * when it is done, from any thread, possibly before submit() returns.
 * ---------------------------------------------------------------------- */

enum upg_io_op {
	UPG_IO_READ = 0,
	UPG_IO_WRITE = 1,
};

/* One request.  The store reads op, offset, buf and len; the rest is the
 * runtime's and must not be touched. */
struct upg_io {
	enum upg_io_op op;
	uint64_t offset;
	void *buf;
	size_t len;
	/* runtime private */
	void (*done)(struct upg_io *io, ssize_t res);
	void *priv;
	size_t progress;
};

struct upg_store_ops {
	size_t sz;
	/*
	 * Start @io.  Return 0 once it is started (completed later or already
	 * by upg_io_complete()), or a negative errno if it could not be
	 * started (upg_io_complete() must then not be called).  @q is the
	 * runtime's I/O queue of the calling thread, for upg_io_queue_fd().
	 * A read past the end of the data completes with fewer bytes (the
	 * rest reads as zeros), as pread() does.
	 */
	int (*submit)(void *ctx, struct upg_io_queue *q, struct upg_io *io);
	/* Make completed writes durable.  Optional.  Return 0 or -errno. */
	int (*flush)(void *ctx);
	/* Release ctx when the last reference goes.  Optional. */
	void (*close)(void *ctx);
	/* Make [offset, offset+len) read as zeros (the application discarded
	 * it with MADV_REMOVE), like punching a hole.  Optional: without it
	 * the runtime writes zeros there when the pages are next written
	 * back.  Return 0 or -errno. */
	int (*discard)(void *ctx, uint64_t offset, uint64_t len);
};

/**
 * upg_store_create() - wrap a store plugin.
 * @ops: callbacks (copied); submit is required.
 * @ctx: passed to every callback.
 * @out: receives the store, with one reference held by the caller.
 * Return: 0, -EINVAL (missing submit, unknown tail in ops), -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_store_create(const struct upg_store_ops *ops, void *ctx,
			     struct upg_store **out);

/**
 * upg_store_open_file() - a store on a file, with I/O through io_uring.
 * @fd:  a regular file or block device; duplicated.
 * @out: receives the store.
 * Return: 0, -EBADF, -ENODEV (not a regular file or block device), -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_store_open_file(int fd, struct upg_store **out);

struct upg_mem_store_opts {
	size_t sz;
	/* Bytes the store may hold (default: unlimited); a write past it
	 * fails with -ENOSPC. */
	uint64_t capacity;
};

/**
 * upg_store_create_mem() - a store in private memory, for tests and
 * demonstrations; supports fault injection.
 * @opts: options or NULL.
 * @out:  receives the store.
 * Return: 0, -EINVAL, -ENOMEM.
 * Context: any thread.
 */
UPG_API int upg_store_create_mem(const struct upg_mem_store_opts *opts,
				 struct upg_store **out);

struct upg_fault_inject {
	size_t sz;
	/* Which requests: UPG_IO_READ or UPG_IO_WRITE. */
	enum upg_io_op op;
	/* Fail the nth such request from now on (1 = the next one); 0: any
	 * request that matches the range below. */
	uint64_t nth;
	/* With length > 0, only requests overlapping [offset, offset+length). */
	uint64_t offset;
	uint64_t length;
	/* Negative errno to complete with (default -EIO). */
	int error;
	/* How many requests to fail (default 1; UINT32_MAX: until cleared). */
	uint32_t count;
};

/**
 * upg_store_mem_inject() - arm a fault in a memory store.
 * @st: a store from upg_store_create_mem().
 * @fi: what to fail.  Replaces the rule armed for the same op.
 * Return: 0, -EINVAL (not a memory store, bad rule).
 * Context: any thread.
 */
UPG_API int upg_store_mem_inject(struct upg_store *st,
				 const struct upg_fault_inject *fi);

/**
 * upg_store_mem_clear_faults() - disarm every injected fault.
 * @st: a store from upg_store_create_mem().
 * Return: 0, -EINVAL (not a memory store).
 * Context: any thread.
 */
UPG_API int upg_store_mem_clear_faults(struct upg_store *st);

/**
 * upg_store_open_uri() - a store on a Redis Cluster (far memory).
 * @uri: the cluster's seed nodes and the store's options, as below.
 * @out: receives the store, with one reference held by the caller.
 *
 * The URI has the form:
 *
 *	redis://[user:pass@]host:port[,host:port...][?opt=value&...]
 *
 * The hosts are seeds: any nodes of the cluster; the rest is found with
 * CLUSTER SLOTS.  user and pass may be %XX-escaped; ":pass@"
 * authenticates with the password only.  Options:
 *
 *  - name=N: the store's name, 1-100 of [A-Za-z0-9_.-] (default
 *    "upager").  Its pages are the keys "upg:N:{<extent>}": a store
 *    opened later under the same name, by any process on any machine,
 *    reads what was written under it before.
 *  - extent_pages=P: pages per Redis string (1-256, default 16).  Must
 *    be the same every time a name is opened.
 *  - replicas=R: a write completes only when WAIT counted R replicas
 *    that have it (0-16, default 1).
 *  - deadline_ms=D: a request that cannot complete (node down,
 *    failover, no replica to acknowledge) is retried for D ms, then
 *    fails -EIO (100-3600000, default 10000: longer than a failover
 *    with cluster-node-timeout 2000).
 *  - timeout_ms=T: a node that leaves a command unanswered T ms (plus
 *    wait_ms for writes) is taken for hung: its connection is dropped
 *    and the command retried (50-60000, default 1000).
 *  - wait_ms=W: WAIT's own timeout (10-60000, default 500).
 *  - batch=B: writes to one master per WAIT, at most (1-1024, default
 *    64).
 *
 * Reads of pages never written (a missing key, a short string) return
 * zeros.  A write completes once it is on its master and, per WAIT, on
 * as many replicas as the option replicas says: in their memory; on
 * disk within about a second under appendfsync everysec (see
 * docs/far-memory.md for what "durable" means here).  A write refused
 * for memory (maxmemory, noeviction) completes -ENOSPC at once; other
 * failures are retried until the deadline, then -EIO: the runtime keeps
 * such pages dirty and a read that fails sends SIGBUS to the faulting
 * thread.  flush() waits for
 * every write in flight; discard unlinks whole extents.  Releasing the
 * store (upg_store_put()) closes its connections and keeps its data:
 * only upg_store_destroy_data() deletes it.
 *
 * Return: 0; -EINVAL (the URI does not parse), -ECONNREFUSED (no seed
 * answers), -ETIMEDOUT (seeds connect but do not answer), -ENOTCONN (the
 * seeds are not nodes of a created cluster: cluster support disabled, or
 * no slot assigned), -EACCES (credentials refused or missing), -EPROTO
 * (the cluster hashes keys otherwise than CRC16), -ENOMEM.  Each failure
 * logs a line (default log sink: stderr) saying what to fix.
 * Context: any thread; blocks for the connections (up to about
 * 2 x timeout_ms per seed).  Starts two threads that live as long as the
 * store.
 */
UPG_API int upg_store_open_uri(const char *uri, struct upg_store **out);

/**
 * upg_store_destroy_data() - delete every page a Redis store holds under
 * its name (SCAN + UNLINK on every master).
 * @st: a store from upg_store_open_uri(), with no region mapped on it
 *      (pages written back after the call would be stored again).
 * Return: 0; -EINVAL (not a Redis store), -EIO (a master could not be
 * reached or refused), -EACCES, -ENOMEM.
 * Context: any thread; blocks.
 */
UPG_API int upg_store_destroy_data(struct upg_store *st);

/* struct upg_redis_master.flags */
#define UPG_REDIS_OWNS_SLOTS 0x1   /* a master in the store's slot map */
#define UPG_REDIS_READ_UP 0x2      /* its read connection is connected */
#define UPG_REDIS_WRITE_UP 0x4     /* its write connection is connected */

#define UPG_REDIS_MAX_MASTERS 16

/* One master (one shard) as the store sees it. */
struct upg_redis_master {
	char addr[72];             /* "host:port" */
	uint32_t flags;            /* UPG_REDIS_* */
	uint32_t slots;            /* slots it owns in the store's map */
	uint64_t queued;           /* commands waiting to be sent */
	uint64_t in_flight;        /* commands sent, reply awaited */
	uint64_t errors;           /* error replies, lost connections, timeouts */
	uint64_t connects;         /* connections opened (2 when all is well) */
};

struct upg_redis_stats {
	size_t sz;
	/* Entries of masters[] filled: every master the store has talked to
	 * or routes to, at most UPG_REDIS_MAX_MASTERS.  A master that owns
	 * slots but is not connected and has commands queued is down or
	 * failing over. */
	uint32_t nmasters;
	/* Request parts waiting out a back-off before their next try. */
	uint64_t retrying;
	/* Slot maps applied since the store was opened (open's included). */
	uint64_t map_refreshes;
	struct upg_redis_master masters[UPG_REDIS_MAX_MASTERS];
};

/**
 * upg_store_redis_stats() - the per-master state of a Redis store.
 * @st:  a store from upg_store_open_uri().
 * @out: filled up to min(out->sz, sizeof(struct upg_redis_stats)); set
 *       out->sz first (UPG_OPTS(upg_redis_stats, s)).
 *
 * The figures are those of the store's I/O thread after its latest turn
 * through its loop (it publishes them there; an idle store's do not
 * change).
 * Return: 0, -EINVAL (@st not a Redis store, @out NULL or out->sz too
 * small).
 * Context: any thread; does not block on I/O.
 */
UPG_API int upg_store_redis_stats(struct upg_store *st,
				  struct upg_redis_stats *out);

/**
 * upg_store_put() - drop the caller's reference to a store.
 * @st: the store.  Regions mapped on it keep theirs; the store is closed
 *      (its ops->close called) when the last one goes.
 *
 * Return: nothing; NULL is ignored.
 * Context: any thread.
 */
UPG_API void upg_store_put(struct upg_store *st);

/**
 * upg_io_queue_fd() - queue @io on the runtime's io_uring, against @fd.
 * @q:  the queue passed to submit().
 * @fd: an open file descriptor, valid until @io completes.
 * @io: the request; completed through upg_io_complete() by the runtime,
 *      after short transfers are retried.
 * Return: 0 (queued), -EINVAL.
 * Context: inside a store's submit() only.
 */
UPG_API int upg_io_queue_fd(struct upg_io_queue *q, int fd, struct upg_io *io);

/**
 * upg_io_complete() - a store finished a request.
 * @io:  the request given to submit().
 * @res: bytes transferred (fewer than len only for a read at the end of
 *       the data), or a negative errno.
 *
 * Return: nothing; the runtime takes @io back (the store must not touch it
 * again).
 * Context: any thread, once per started request.
 */
UPG_API void upg_io_complete(struct upg_io *io, ssize_t res);

/* ------------------------------------------------------------------------
 * Access hints (after madvise(2)); see docs/readahead.md
 * ---------------------------------------------------------------------- */

/* upg_advise() advice values. */
#define UPG_ADV_NORMAL 0     /* the read-ahead detector decides (default) */
#define UPG_ADV_RANDOM 1     /* no read-ahead: the fill unit only */
#define UPG_ADV_SEQUENTIAL 2 /* full read-ahead window from the first fault;
			      * pages behind the stream are cheap victims */
#define UPG_ADV_WILLNEED 3   /* start reading the range now */
#define UPG_ADV_DONTNEED 4   /* write back now; evict these pages first */

/**
 * upg_advise() - tell the runtime how a range of a region will be used.
 * @r:      the region.
 * @offset: first byte of the range (page aligned).
 * @length: bytes (rounded up to pages); 0 means "to the end".
 * @advice: one of the UPG_ADV_* values:
 *
 *  - UPG_ADV_NORMAL: forget SEQUENTIAL or RANDOM advice on the range; the
 *    per-region access-pattern detector sizes read-ahead from the faults.
 *  - UPG_ADV_RANDOM: faults in the range fill their fill unit and nothing
 *    more, and read-ahead windows stop at the range.
 *  - UPG_ADV_SEQUENTIAL: the first fault in the range starts a read-ahead
 *    stream with the largest window; the pages it fills and reads ahead
 *    are not marked referenced, so the clock takes pages behind the
 *    stream before anything else.
 *  - UPG_ADV_WILLNEED: start reading the range in the background now, like
 *    upg_prefetch(); returns without waiting.  One-shot, not remembered.
 *  - UPG_ADV_DONTNEED: write the dirty pages of the range back now (and
 *    wait), then mark its resident pages unreferenced: they are the next
 *    victims when the budget needs room, before any page in use.  Unlike
 *    upg_region_discard() the data is kept: a later access reads it back.
 *    One-shot, not remembered.
 *
 * NORMAL, RANDOM and SEQUENTIAL stay set on the range until changed (the
 * latest call wins where ranges overlap); WILLNEED and DONTNEED act once.
 *
 * Return: 0; -EINVAL (unknown @advice, unaligned @offset, range past the
 * end of the region), -EBADF (stale handle, or a region being unmapped),
 * -ENOMEM (no memory for the range table, or for the WILLNEED request),
 * -EDEADLK (DONTNEED from a notifier callback or a handler thread), or for
 * DONTNEED a negative errno from the writeback (-EIO ...; the pages stay
 * dirty, as with upg_region_flush()).
 * Context: application thread.  NORMAL, RANDOM, SEQUENTIAL and WILLNEED
 * do not block on I/O; DONTNEED waits for the writeback.
 */
UPG_API int upg_advise(struct upg_region *r, uint64_t offset, uint64_t length,
		       int advice);

#ifdef __cplusplus
}
#endif

#endif /* UPAGER_H */
