/* SPDX-License-Identifier: MIT */
/*
 * sysres.c - system resources the tool creates and must never leave
 * behind: memory cgroups (one per run), the swap file of kernel-swap, the
 * data file (unless --keep), and the child running a measurement.
 *
 * Every resource is recorded here when it is created; sysres_cleanup()
 * releases what is recorded, using only system calls, so that it can run
 * from atexit() and from the handler of SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT (which then exits with 128 + the signal).
 *
 * Cgroups: with cgroup v2 (a cgroup2 mount whose controllers include
 * memory) the run's cgroup is created under that root (memory.max,
 * memory.swap.max); otherwise with cgroup v1's memory hierarchy it is
 * created under this process's own memory cgroup (memory.limit_in_bytes,
 * and memory.memsw.limit_in_bytes = the same value for "no swap").
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CG 8

static pid_t owner;
static volatile pid_t child_pid;
static char cg_paths[MAX_CG][600];
static volatile int cg_used[MAX_CG];
static char swap_path[600];
static volatile int swap_created, swap_active;
static char data_path[600];
static volatile int data_registered;
static unsigned cg_seq;

static void say(const char *s)
{
	ssize_t r = write(2, s, strlen(s));

	(void)r;
}

void sysres_cleanup(void)
{
	int i;

	if (getpid() != owner)
		return;
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
		child_pid = 0;
	}
	for (i = 0; i < MAX_CG; i++) {
		if (cg_used[i]) {
			int tries;

			for (tries = 0; tries < 50 && rmdir(cg_paths[i]) && errno == EBUSY; tries++) {
				struct timespec ts = { 0, 20 * 1000 * 1000 };

				nanosleep(&ts, NULL);
			}
			cg_used[i] = 0;
		}
	}
	if (swap_active) {
		if (swapoff(swap_path)) {
			say("upager-bench: swapoff failed; remove the swap file by hand: ");
			say(swap_path);
			say("\n");
		}
		swap_active = 0;
	}
	if (swap_created) {
		unlink(swap_path);
		swap_created = 0;
	}
	if (data_registered) {
		unlink(data_path);
		data_registered = 0;
	}
}

static void on_signal(int sig)
{
	say("upager-bench: interrupted, cleaning up\n");
	sysres_cleanup();
	_exit(128 + sig);
}

static void at_exit(void)
{
	sysres_cleanup();
}

void sysres_init(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	unsigned i;

	owner = getpid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(at_exit);
}

void sysres_set_child(pid_t pid)
{
	child_pid = pid;
}

void sysres_set_datafile(const char *path)
{
	data_registered = 0;
	if (!path)
		return;
	snprintf(data_path, sizeof(data_path), "%s", path);
	data_registered = 1;
}

/* ---- cgroups ------------------------------------------------------------ */

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;
	size_t len = strlen(val);

	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

static int read_file(const char *path, char *buf, size_t sz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		bool start = p == list || p[-1] == ' ' || p[-1] == ',' || p[-1] == '\n';
		char end = p[wl];

		if (start && (end == 0 || end == ' ' || end == ',' || end == '\n'))
			return true;
		p += wl;
	}
	return false;
}

int cgroup_probe(struct cgroup_info *ci)
{
	char line[1024], v2mnt[512] = "", v1mnt[512] = "", v1root[512] = "";
	char buf[1024];
	FILE *f;

	memset(ci, 0, sizeof(*ci));
	if (geteuid() != 0) {
		snprintf(ci->reason, sizeof(ci->reason), "needs root (memory cgroups)");
		return -EPERM;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		snprintf(ci->reason, sizeof(ci->reason), "no /proc/self/mountinfo");
		return -ENOENT;
	}
	while (fgets(line, sizeof(line), f)) {
		char root[512], mnt[512], fstype[64], opts[512];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%63s %*s %511s", fstype, opts) != 2)
			continue;
		if (!strcmp(fstype, "cgroup2") && !v2mnt[0]) {
			snprintf(buf, sizeof(buf), "%s/cgroup.controllers", mnt);
			if (!read_file(buf, line, sizeof(line)) && has_word(line, "memory"))
				snprintf(v2mnt, sizeof(v2mnt), "%s", mnt);
		} else if (!strcmp(fstype, "cgroup") && has_word(opts, "memory")) {
			snprintf(v1mnt, sizeof(v1mnt), "%s", mnt);
			snprintf(v1root, sizeof(v1root), "%s", root);
		}
	}
	fclose(f);
	if (v2mnt[0]) {
		snprintf(buf, sizeof(buf), "%s/cgroup.subtree_control", v2mnt);
		if (read_file(buf, line, sizeof(line)) || !has_word(line, "memory")) {
			snprintf(ci->reason, sizeof(ci->reason),
				 "cgroup v2: memory not enabled in %.100s", buf);
			return -ENOTSUP;
		}
		ci->version = 2;
		snprintf(ci->base, sizeof(ci->base), "%s", v2mnt);
		return 0;
	}
	if (v1mnt[0]) {
		char path[512] = "";
		size_t rl = strlen(v1root);

		f = fopen("/proc/self/cgroup", "re");
		if (f) {
			while (fgets(line, sizeof(line), f)) {
				char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

				if (!c2)
					continue;
				*c2 = 0;
				if (has_word(c1 + 1, "memory")) {
					c2[1 + strcspn(c2 + 1, "\n")] = 0;
					snprintf(path, sizeof(path), "%s", c2 + 1);
				}
			}
			fclose(f);
		}
		/* the mount shows the hierarchy from v1root on */
		if (strcmp(v1root, "/") && !strncmp(path, v1root, rl))
			memmove(path, path + rl, strlen(path + rl) + 1);
		if (!strcmp(path, "/"))
			path[0] = 0;
		ci->version = 1;
		snprintf(ci->base, sizeof(ci->base), "%.255s%.255s", v1mnt, path);
		if (access(ci->base, W_OK)) {
			snprintf(ci->reason, sizeof(ci->reason), "cgroup v1: %.120s not writable",
				 ci->base);
			ci->version = 0;
			return -EACCES;
		}
		return 0;
	}
	snprintf(ci->reason, sizeof(ci->reason), "no memory cgroup controller mounted");
	return -ENOENT;
}

int cgroup_create(const struct cgroup_info *ci, uint64_t limit, bool swap,
		  char *path, size_t pathsz, char *err, size_t errsz)
{
	char file[700], val[32];
	int slot, ret;

	for (slot = 0; slot < MAX_CG && cg_used[slot]; slot++)
		;
	if (slot == MAX_CG) {
		snprintf(err, errsz, "too many cgroups");
		return -EMFILE;
	}
	snprintf(cg_paths[slot], sizeof(cg_paths[slot]), "%s/upager-bench-%d-%u",
		 ci->base, (int)getpid(), cg_seq++);
	if (mkdir(cg_paths[slot], 0755)) {
		snprintf(err, errsz, "mkdir %s: %s", cg_paths[slot], strerror(errno));
		return -errno;
	}
	cg_used[slot] = 1;
	snprintf(path, pathsz, "%s", cg_paths[slot]);
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	if (ci->version == 2) {
		snprintf(file, sizeof(file), "%s/memory.max", path);
		ret = write_file(file, val);
		if (!ret) {
			snprintf(file, sizeof(file), "%s/memory.swap.max", path);
			ret = write_file(file, swap ? "max" : "0");
			if (ret == -ENOENT && !swap)
				ret = 0;	/* no swap accounting: no swap either */
		}
	} else {
		snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", path);
		ret = write_file(file, val);
		if (!ret && !swap) {
			snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", path);
			ret = write_file(file, val);
			if (ret == -ENOENT)
				ret = 0;
		}
	}
	if (ret) {
		snprintf(err, errsz, "%s: %s", file, strerror(-ret));
		cgroup_remove(path);
	}
	return ret;
}

int cgroup_attach(const char *path, int version, pid_t pid)
{
	char file[700], val[32];

	(void)version;
	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	snprintf(val, sizeof(val), "%d", (int)pid);
	return write_file(file, val);
}

uint64_t cgroup_peak(const char *path, int version)
{
	char file[700], buf[64];

	snprintf(file, sizeof(file), "%s/%s", path,
		 version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
	if (read_file(file, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 10);
}

void cgroup_remove(const char *path)
{
	int i, tries;

	for (i = 0; i < MAX_CG; i++) {
		if (!cg_used[i] || strcmp(cg_paths[i], path))
			continue;
		for (tries = 0; tries < 100 && rmdir(path) && errno == EBUSY; tries++) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
		cg_used[i] = 0;
	}
}

/* ---- the swap file -------------------------------------------------------- */

static int run_mkswap(const char *path, char *err, size_t errsz)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid < 0) {
		snprintf(err, errsz, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);

		if (nul >= 0) {
			dup2(nul, 1);
			close(nul);
		}
		setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
		execlp("mkswap", "mkswap", path, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			snprintf(err, errsz, "mkswap not found (util-linux; run tools/setup.sh)");
		else
			snprintf(err, errsz, "mkswap %s failed", path);
		return -EIO;
	}
	return 0;
}

int swap_create(const char *dir, uint64_t bytes, char *err, size_t errsz)
{
	int fd, ret;

	snprintf(swap_path, sizeof(swap_path), "%s/upager-bench-%d.swap", dir,
		 (int)getpid());
	fd = open(swap_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "create %s: %s", swap_path, strerror(errno));
		return -errno;
	}
	swap_created = 1;
	if (fallocate(fd, 0, 0, (off_t)bytes)) {
		ret = -errno;
		snprintf(err, errsz, "fallocate %s: %s", swap_path, strerror(errno));
		close(fd);
		swap_remove();
		return ret;
	}
	close(fd);
	ret = run_mkswap(swap_path, err, errsz);
	if (ret) {
		swap_remove();
		return ret;
	}
	if (swapon(swap_path, 0)) {
		ret = -errno;
		snprintf(err, errsz, "swapon %s: %s", swap_path, strerror(errno));
		swap_remove();
		return ret;
	}
	swap_active = 1;
	return 0;
}

void swap_remove(void)
{
	if (swap_active) {
		if (swapoff(swap_path))
			fprintf(stderr, "upager-bench: swapoff %s: %s\n", swap_path,
				strerror(errno));
		else
			swap_active = 0;
	}
	if (swap_created && !swap_active) {
		unlink(swap_path);
		swap_created = 0;
	}
}
