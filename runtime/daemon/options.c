/* SPDX-License-Identifier: MIT */
/*
 * upagerd's settings (daemon/options.h): one table of long options, which
 * are also the config file's keys, so the two cannot drift apart.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/options.h"

const struct option daemon_longopts[] = {
	{ "socket", required_argument, NULL, 0 },
	{ "socket-mode", required_argument, NULL, 0 },
	{ "socket-group", required_argument, NULL, 0 },
	{ "budget", required_argument, NULL, 0 },
	{ "force", no_argument, NULL, 0 },
	{ "threads", required_argument, NULL, 0 },
	{ "client-cap", required_argument, NULL, 0 },
	{ "uid-cap", required_argument, NULL, 0 },
	{ "max-clients-per-uid", required_argument, NULL, 0 },
	{ "max-regions-per-uid", required_argument, NULL, 0 },
	{ "ack-timeout", required_argument, NULL, 0 },
	{ "readahead", no_argument, NULL, 0 },
	{ "no-readahead", no_argument, NULL, 0 },
	{ "fill-timing", no_argument, NULL, 0 },
	{ "swap-dir", required_argument, NULL, 0 },
	{ "foreground", no_argument, NULL, 0 },
	{ "syslog", no_argument, NULL, 0 },
	{ "log-level", required_argument, NULL, 0 },
	{ "config", required_argument, NULL, 0 },
	{ "help", no_argument, NULL, 0 },
	{ "version", no_argument, NULL, 0 },
	{ 0 }
};

void daemon_opts_init(struct daemon_opts *o)
{
	*o = (struct daemon_opts){ .budget_bytes = 256ull << 20,
				   .threads = 2,
				   .socket_mode = 0660,
				   .max_clients_per_uid = 64,
				   .max_regions_per_uid = 4096,
				   .ack_timeout_ms = 5000,
				   .log_level = UPG_LOG_WARN };
}

void daemon_usage(FILE *f)
{
	fprintf(f,
		"usage: upagerd [options]\n"
		"  --socket PATH           listening socket (default %s,\n"
		"                          or $XDG_RUNTIME_DIR/upager/upagerd.sock "
		"when not root)\n"
		"  --socket-mode MODE      its permission bits, octal (default "
		"0660)\n"
		"  --socket-group GROUP    its group, a name or a number: members "
		"may connect\n"
		"  --budget BYTES          bytes resident across all clients "
		"(default 256M)\n"
		"  --force                 accept a budget above the machine's "
		"memory or the\n"
		"                          daemon's cgroup limit\n"
		"  --threads N             fault handler threads, 1-64 (default "
		"2)\n"
		"  --client-cap BYTES      resident bytes one client may hold "
		"(default 0: none)\n"
		"  --uid-cap BYTES         resident bytes all clients of one user "
		"may hold, split\n"
		"                          evenly among them (default 0: none)\n"
		"  --max-clients-per-uid N connections of one user (default 64; "
		"0: no limit)\n"
		"  --max-regions-per-uid N regions of one user (default 4096; 0: "
		"no limit)\n"
		"  --ack-timeout MS        wait for a client's notifiers, "
		"1-600000 (default 5000)\n"
		"  --readahead             read ahead for every client (the "
		"default)\n"
		"  --no-readahead          read nothing ahead\n"
		"  --fill-timing           time every demand fill; log the mean "
		"per step at exit\n"
		"  --swap-dir DIR          the daemon's swap file (default "
		"$TMPDIR or /tmp)\n"
		"  --foreground            stay in the foreground (systemd)\n"
		"  --syslog                log to syslog instead of stderr\n"
		"  --log-level LEVEL       error, warn (default), info or debug\n"
		"  --config PATH           settings file (default %s): lines\n"
		"                          'key = value', the long options as "
		"keys, yes/no for\n"
		"                          those without an argument; the command "
		"line wins\n"
		"  --help                  this text\n"
		"  --version               the program's and the library's "
		"version\n"
		"Sizes: digits with an optional K, M, G or T suffix (1024-based).\n",
		DAEMON_DEFAULT_SOCKET, DAEMON_DEFAULT_CONFIG);
}

int daemon_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	/* strtoull() takes a sign and leading space: "-5M" would wrap. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (*end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift) {
		end++;
		if (!strcmp(end, "i") || !strcmp(end, "iB") ||
		    !strcmp(end, "B"))
			end += strlen(end);
	}
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A decimal count in [min, max]; 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned min, unsigned max,
		      unsigned *out, int base)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };
	unsigned i;

	for (i = 0; i < 4; i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*out = !strcmp(s, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_level(const char *s)
{
	static const char *const names[] = { "", "error", "warn", "info",
					     "debug" };
	int i;

	for (i = 1; i < 5; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int parse_group(const char *s, gid_t *gid)
{
	char buf[4096];
	struct group g, *res = NULL;
	unsigned v;

	if (!parse_uint(s, 0, INT_MAX, &v, 10)) {
		*gid = (gid_t)v;
		return 0;
	}
	if (getgrnam_r(s, &g, buf, sizeof(buf), &res) || !res)
		return -ENOENT;
	*gid = res->gr_gid;
	return 0;
}

static int bad(const char *where, const char *key, const char *val,
	       const char *want)
{
	fprintf(stderr, "upagerd: %s: bad value '%s' for %s: %s\n", where, val,
		key, want);
	return -EINVAL;
}

static int set_path(const char **dst, char *buf, size_t size,
		    const char *where, const char *key, const char *val)
{
	if (!*val || strlen(val) >= size)
		return bad(where, key, val, "a path, not empty, shorter than "
					    "PATH_MAX");
	strcpy(buf, val);
	*dst = buf;
	return 0;
}

static int set_size(uint64_t *dst, uint64_t min, const char *where,
		    const char *key, const char *val)
{
	uint64_t v;
	int err = daemon_parse_size(val, &v);

	if (err == -ERANGE)
		return bad(where, key, val, "too large for 64 bits");
	if (err || v < min)
		return bad(where, key, val,
			   min ? "a size of at least 1M: digits with an "
				 "optional K, M, G or T suffix, no sign" :
				 "a size: digits with an optional K, M, G or "
				 "T suffix, no sign");
	*dst = v;
	return 0;
}

int daemon_set_opt(struct daemon_opts *o, const char *key, const char *val,
		   const char *where)
{
	/* The strings live as long as the process: static copies. */
	static char socket_path[PATH_MAX], swap_dir[PATH_MAX];
	bool flag;

	if (!strcmp(key, "socket"))
		return set_path(&o->socket_path, socket_path,
				sizeof(socket_path), where, key, val);
	if (!strcmp(key, "swap-dir"))
		return set_path(&o->swap_dir, swap_dir, sizeof(swap_dir), where,
				key, val);
	if (!strcmp(key, "budget"))
		return set_size(&o->budget_bytes, 1u << 20, where, key, val);
	if (!strcmp(key, "client-cap"))
		return set_size(&o->client_cap_bytes, 0, where, key, val);
	if (!strcmp(key, "uid-cap")) {
		uint64_t v;

		if (!strcmp(val, "0")) {
			o->uid_cap_bytes = 0;
			return 0;
		}
		if (set_size(&v, 1u << 20, where, key, val))
			return -EINVAL;
		o->uid_cap_bytes = v;
		return 0;
	}
	if (!strcmp(key, "threads"))
		return parse_uint(val, 1, 64, &o->threads, 10) ?
			       bad(where, key, val, "1 to 64") : 0;
	if (!strcmp(key, "socket-mode"))
		return parse_uint(val, 0, 0777, &o->socket_mode, 8) ?
			       bad(where, key, val, "octal bits, e.g. 0660") :
			       0;
	if (!strcmp(key, "socket-group")) {
		if (parse_group(val, &o->socket_gid))
			return bad(where, key, val,
				   "a group name that exists, or a number");
		o->socket_group_set = true;
		return 0;
	}
	if (!strcmp(key, "max-clients-per-uid"))
		return parse_uint(val, 0, 1u << 20, &o->max_clients_per_uid,
				  10) ?
			       bad(where, key, val, "0 (no limit) to 1048576") :
			       0;
	if (!strcmp(key, "max-regions-per-uid"))
		return parse_uint(val, 0, 1u << 24, &o->max_regions_per_uid,
				  10) ?
			       bad(where, key, val,
				   "0 (no limit) to 16777216") :
			       0;
	if (!strcmp(key, "ack-timeout"))
		return parse_uint(val, 1, 600000, &o->ack_timeout_ms, 10) ?
			       bad(where, key, val, "1 to 600000 (ms)") :
			       0;
	if (!strcmp(key, "log-level")) {
		o->log_level = parse_level(val);
		return o->log_level < 0 ? bad(where, key, val,
					      "error, warn, info or debug") :
					  0;
	}
	/* The options without an argument: yes or no. */
	if (parse_bool(val, &flag)) {
		if (!strcmp(key, "readahead") || !strcmp(key, "no-readahead") ||
		    !strcmp(key, "foreground") || !strcmp(key, "syslog") ||
		    !strcmp(key, "force") || !strcmp(key, "fill-timing"))
			return bad(where, key, val, "yes or no");
	} else if (!strcmp(key, "readahead")) {
		o->no_readahead = !flag;
		return 0;
	} else if (!strcmp(key, "no-readahead")) {
		o->no_readahead = flag;
		return 0;
	} else if (!strcmp(key, "fill-timing")) {
		o->fill_timing = flag;
		return 0;
	} else if (!strcmp(key, "foreground")) {
		o->foreground = flag;
		return 0;
	} else if (!strcmp(key, "syslog")) {
		o->syslog = flag;
		return 0;
	} else if (!strcmp(key, "force")) {
		o->force = flag;
		return 0;
	}
	fprintf(stderr, "upagerd: %s: unknown setting '%s' (the keys are the "
			"long options of upagerd --help, without the dashes)\n",
		where, key);
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int daemon_read_config(struct daemon_opts *o, const char *path, bool must)
{
	char line[1024], where[PATH_MAX + 32];
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f) {
		err = -errno;
		if (!must && err == -ENOENT)
			return 0;
		fprintf(stderr, "upagerd: cannot read config %s: %s\n", path,
			strerror(-err));
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *key;

		lineno++;
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!eq) {
			fprintf(stderr, "upagerd: %s: expected 'key = value'\n",
				where);
			err = -EINVAL;
			break;
		}
		*eq = '\0';
		key = trim(s);
		if (!strcmp(key, "config") || !strcmp(key, "help") ||
		    !strcmp(key, "version")) {
			fprintf(stderr, "upagerd: %s: '%s' is a command line "
					"option only\n", where, key);
			err = -EINVAL;
			break;
		}
		err = daemon_set_opt(o, key, trim(eq + 1), where);
	}
	fclose(f);
	return err;
}

/* The number in @path ("max" or a v1 figure near 2^63: none). */
static int read_limit(const char *path, uint64_t *v)
{
	char buf[64];
	FILE *f = fopen(path, "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	if (fgets(buf, sizeof(buf), f)) {
		if (!strncmp(buf, "max", 3))
			*v = UINT64_MAX;
		else if (daemon_parse_size(trim(buf), v))
			ret = -EINVAL;
		else if (*v >= (1ull << 62))
			*v = UINT64_MAX; /* v1's "unlimited" */
		if (ret != -EINVAL)
			ret = 0;
	}
	fclose(f);
	return ret;
}

/* The lowest limit from @dir up to @root, by file @name. */
static uint64_t lowest_up(const char *root, char *dir, const char *name)
{
	char path[PATH_MAX * 2];
	uint64_t low = UINT64_MAX, v;

	for (;;) {
		char *slash;

		snprintf(path, sizeof(path), "%s%s/%s", root, dir, name);
		if (!read_limit(path, &v) && v < low)
			low = v;
		slash = strrchr(dir, '/');
		if (!slash || !*dir)
			break;
		*slash = '\0';
	}
	return low;
}

int daemon_cgroup_memory_limit(const char *cgroup_root,
			       const char *proc_cgroup, uint64_t *limit)
{
	char line[PATH_MAX + 64], root[PATH_MAX];
	FILE *f = fopen(proc_cgroup, "re");
	uint64_t low = UINT64_MAX, v;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2, *dir;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		*c2 = '\0';
		dir = trim(c2 + 1);
		if (!strcmp(dir, "/"))
			dir[0] = '\0';
		if (!strcmp(c1 + 1, "")) {
			/* v2: 0::/path */
			v = lowest_up(cgroup_root, dir, "memory.max");
		} else if (!strcmp(c1 + 1, "memory")) {
			snprintf(root, sizeof(root), "%s/memory", cgroup_root);
			v = lowest_up(root, dir, "memory.limit_in_bytes");
		} else {
			continue;
		}
		if (v < low)
			low = v;
	}
	fclose(f);
	*limit = low;
	return 0;
}

uint64_t daemon_memory_limit(const char **what)
{
	uint64_t mem = (uint64_t)sysconf(_SC_PHYS_PAGES) *
		       (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t cg;

	*what = "the machine's memory";
	if (!daemon_cgroup_memory_limit("/sys/fs/cgroup", "/proc/self/cgroup",
					&cg) &&
	    cg < mem) {
		*what = "the memory limit of upagerd's cgroup";
		return cg;
	}
	return mem;
}

int daemon_check_budget(const struct daemon_opts *o, uint64_t limit,
			const char *what)
{
	if (o->budget_bytes <= limit)
		return 0;
	fprintf(stderr,
		"upagerd: %s: the budget, %llu MiB, is more than %s, %llu MiB: "
		"pages would go to the kernel's swap or the OOM killer instead "
		"of the clients' stores.  Lower --budget, or pass --force\n",
		o->force ? "warning" : "error",
		(unsigned long long)(o->budget_bytes >> 20), what,
		(unsigned long long)(limit >> 20));
	return o->force ? 0 : -EINVAL;
}
