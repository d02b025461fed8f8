/* SPDX-License-Identifier: MIT */
/*
 * options - upagerd's settings: the long options, the config file (the
 * same names as keys), the size parser and the check of the budget
 * against the memory the daemon can have.  Kept apart from main() so that
 * tests/unit/test_daemon_options links and checks every piece.
 */
#ifndef UPAGER_DAEMON_OPTIONS_H
#define UPAGER_DAEMON_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/daemon.h"

#define DAEMON_DEFAULT_CONFIG "/etc/upager/upagerd.conf"
#define DAEMON_DEFAULT_SOCKET "/run/upager/upagerd.sock"

/*
 * Every long option of upagerd, ending with a zero entry.  Each one except
 * "config" and "help" is also a key of the config file (options without an
 * argument take yes/no there).
 */
extern const struct option daemon_longopts[];

/**
 * daemon_opts_init() - the defaults.
 * @o: filled.
 *
 * Context: any.
 */
void daemon_opts_init(struct daemon_opts *o);

/**
 * daemon_usage() - upagerd's --help text.
 * @f: where to print it.
 *
 * Context: any.
 */
void daemon_usage(FILE *f);

/**
 * daemon_parse_size() - a byte count: decimal digits with an optional K, M,
 * G or T suffix (powers of 1024; "Ki", "KiB" and "KB" are the same).
 * @s:   the text; no sign, no space, nothing after the suffix.
 * @out: the value, only on success.
 *
 * Return: 0; -EINVAL for anything that is not such a number (a sign, a
 * junk suffix, nothing); -ERANGE when it does not fit 64 bits.
 * Context: any.
 */
int daemon_parse_size(const char *s, uint64_t *out);

/**
 * daemon_set_opt() - one setting, "key = value", from the config file or
 * from the command line (the long option's name as key).
 * @o:     the settings changed.
 * @key:   a long option name (not "config" or "help").
 * @val:   its value; "yes"/"no" (or true/false, 1/0, on/off) for the
 *         options that take no argument on the command line.
 * @where: for the message ("command line", "FILE:LINE").
 *
 * Return: 0; -EINVAL with a message on stderr that says what to fix.
 * The strings given (socket, swap-dir) are copied to static storage.
 * Context: the main thread, before the daemon starts.
 */
int daemon_set_opt(struct daemon_opts *o, const char *key, const char *val,
		   const char *where);

/**
 * daemon_read_config() - apply every "key = value" line of a config file.
 * @o:    the settings changed.
 * @path: the file.
 * @must: false: a missing file is no error (the default config).
 *
 * Blank lines and lines starting with '#' are skipped.
 * Return: 0; a negative errno with a message on stderr.
 * Context: the main thread, before the daemon starts.
 */
int daemon_read_config(struct daemon_opts *o, const char *path, bool must);

/**
 * daemon_cgroup_memory_limit() - the memory limit of the cgroup a process
 * is in, the lowest on the way up to the root (cgroup v2 memory.max, or
 * v1 memory.limit_in_bytes).
 * @cgroup_root: where cgroups are mounted ("/sys/fs/cgroup").
 * @proc_cgroup: a /proc/PID/cgroup file ("/proc/self/cgroup").
 * @limit:       the limit in bytes, UINT64_MAX when there is none.
 *
 * A cgroup directory this mount namespace does not show is skipped.
 * Return: 0; a negative errno if @proc_cgroup cannot be read.
 * Context: any.
 */
int daemon_cgroup_memory_limit(const char *cgroup_root,
			       const char *proc_cgroup, uint64_t *limit);

/**
 * daemon_check_budget() - refuse a budget above the memory the daemon can
 * have: the machine's (MemTotal) or its cgroup's limit, whichever is lower.
 * @o:     the settings: budget_bytes, force.
 * @limit: that memory in bytes (see daemon_memory_limit()).
 * @what:  what @limit is, for the message ("the machine's memory").
 *
 * With o->force a budget above @limit is only warned about.
 * Return: 0; -EINVAL with a message that says what to do.
 * Context: any.
 */
int daemon_check_budget(const struct daemon_opts *o, uint64_t limit,
			const char *what);

/**
 * daemon_memory_limit() - the machine's memory, or the daemon's cgroup
 * limit where that is lower.
 * @what: set to a description of the figure, for messages.
 *
 * Return: the limit in bytes.
 * Context: any.
 */
uint64_t daemon_memory_limit(const char **what);

#endif
