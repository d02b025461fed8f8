/* SPDX-License-Identifier: MIT */
/*
 * daemon_util - run a real upagerd for a test, and ask it for figures.
 *
 * The daemon is a child process (fork + exec of the built upagerd) on a
 * socket in a fresh temporary directory ($TMPDIR, or /tmp when the socket
 * path would not fit); it gets SIGTERM if the test process dies
 * (PR_SET_PDEATHSIG), and when the test process exits (a test's end, or a
 * failed assertion) any daemon still running is killed and every
 * directory made here is removed with what it holds: no test leaves a
 * daemon, a socket or a directory behind.
 */
#ifndef UPAGER_DAEMON_UTIL_H
#define UPAGER_DAEMON_UTIL_H

#include <check.h>
#include <stdint.h>
#include <sys/types.h>

struct dt_daemon {
	pid_t pid;
	char dir[64];
	char sock[96];
	char extra[64]; /* one more upagerd option ("--ack-timeout=200") */
};

/* Start @upagerd with @budget ("8M") on a new socket; wait (bounded)
 * until it accepts connections.  Fails the test on error. */
void dt_start(struct dt_daemon *d, const char *upagerd, const char *budget);
/* The same with upagerd --client-cap @cap. */
void dt_start_cap(struct dt_daemon *d, const char *upagerd,
		  const char *budget, const char *cap);

/* dt_start() with one more upagerd option @opt ("--ack-timeout=200"). */
void dt_start_opt(struct dt_daemon *d, const char *upagerd,
		  const char *budget, const char *opt);

/* Resident bytes of the client with process id @pid (UINT64_MAX: none). */
uint64_t dt_client_resident(const struct dt_daemon *d, pid_t pid);

/* SIGTERM, wait (bounded) for the exit; removes the socket directory with
 * what the test put there; returns the wait status. */
int dt_stop(struct dt_daemon *d);

/* SIGKILL, reaped; the socket file and directory stay (for a restart). */
void dt_kill9(struct dt_daemon *d);

/* Start upagerd again on @d's socket (after dt_kill9). */
void dt_restart(struct dt_daemon *d, const char *upagerd, const char *budget);

/* A monitor connection's view: the daemon's counter @id (enum
 * proto_counter_id), or UINT64_MAX if the daemon does not answer. */
uint64_t dt_counter(const struct dt_daemon *d, uint32_t id);

/* Wait (bounded, failing the test) until counter @id equals @want. */
void dt_wait_counter(const struct dt_daemon *d, uint32_t id, uint64_t want);

struct upg_runtime;

/* upg_runtime_connect() to @d in the test process; fails the test on an
 * error. */
struct upg_runtime *dt_connect(const struct dt_daemon *d);

/* Pages of [p, p + len) resident in their memfd: mincore() on a shared
 * mapping reports the page cache, not the page tables. */
uint64_t dt_resident_pages(const void *p, uint64_t len);

/* main() of a daemon test: skip (77) if @upagerd is not built, else run
 * @s and return Check's verdict. */
int dt_main(Suite *s, const char *upagerd);

/* waitpid() with a bound, failing the test when it passes. */
int dt_waitpid(pid_t pid, unsigned timeout_ms);

/*
 * A client in a child process that loses its daemon: @fn(@arg, report,
 * killed) runs in the child and writes each page number it has written to
 * @report (a uint64_t), then reads one byte from @killed before it goes
 * on; its return value is the child's exit status.  Once the child has
 * reported @kill_after pages (>= 1: it has connected and mapped), @d's
 * upagerd gets SIGKILL and the child is told; its later reports are
 * drained so that it never blocks.  Returns the child's wait status
 * (dt_waitpid() with @timeout_ms).
 */
typedef int (*dt_client_fn)(void *arg, int report, int killed);
int dt_kill9_under_client(struct dt_daemon *d, uint64_t kill_after,
			  unsigned timeout_ms, dt_client_fn fn, void *arg);

/* A connected socket to @path, or -1 (nobody listens, or no access). */
int dt_try_connect(const char *path);

#endif
