/* SPDX-License-Identifier: MIT */
/*
 * upagerd - the upager daemon (man upagerd).  Options come from the
 * command line, over the config file (/etc/upager/upagerd.conf when it
 * exists, or --config PATH), over the defaults.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/daemon.h"

#define DEFAULT_CONFIG "/etc/upager/upagerd.conf"
#define DEFAULT_SOCKET "/run/upager/upagerd.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: upagerd [--socket PATH] [--budget BYTES] [--threads N]\n"
		"               [--client-cap BYTES] [--socket-mode MODE]\n"
		"               [--swap-dir DIR] [--foreground] [--syslog]\n"
		"               [--readahead | --no-readahead] [--ack-timeout MS]\n"
		"               [--log-level error|warn|info|debug]\n"
		"               [--config PATH] [--version]\n"
		"Sizes take K, M, G suffixes. Defaults: socket %s (or\n"
		"$XDG_RUNTIME_DIR/upager/upagerd.sock when not root), budget\n"
		"256M, threads 2, socket mode 0660, log level warn, ack timeout\n"
		"5000 ms (how long an eviction waits for a client's notifiers).\n",
		DEFAULT_SOCKET);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_level(const char *s)
{
	static const char *names[] = { "", "error", "warn", "info", "debug" };
	int i;

	for (i = 1; i < 5; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static bool is_yes(const char *val)
{
	return !strcmp(val, "yes") || !strcmp(val, "1") || !strcmp(val, "true");
}

/* One "key = value" setting, from the file or the command line.
 * Returns 0, or -EINVAL with a message that says what to fix. */
static int set_opt(struct daemon_opts *o, const char *key, const char *val,
		   const char *where)
{
	/* The strings live as long as the process: static copies. */
	static char socket_path[PATH_MAX], swap_dir[PATH_MAX];
	char *end;

	if (!strcmp(key, "socket")) {
		if (strlen(val) >= sizeof(socket_path))
			goto bad;
		strcpy(socket_path, val);
		o->socket_path = socket_path;
	} else if (!strcmp(key, "budget")) {
		if (parse_size(val, &o->budget_bytes) ||
		    o->budget_bytes < (1u << 20))
			goto bad;
	} else if (!strcmp(key, "threads")) {
		o->threads = (unsigned)strtoul(val, &end, 10);
		if (*end || !o->threads || o->threads > 64)
			goto bad;
	} else if (!strcmp(key, "client-cap")) {
		if (parse_size(val, &o->client_cap_bytes))
			goto bad;
	} else if (!strcmp(key, "socket-mode")) {
		o->socket_mode = (unsigned)strtoul(val, &end, 8);
		if (*end || o->socket_mode > 0777)
			goto bad;
	} else if (!strcmp(key, "swap-dir")) {
		if (strlen(val) >= sizeof(swap_dir))
			goto bad;
		strcpy(swap_dir, val);
		o->swap_dir = swap_dir;
	} else if (!strcmp(key, "log-level")) {
		o->log_level = parse_level(val);
		if (o->log_level < 0)
			goto bad;
	} else if (!strcmp(key, "ack-timeout")) {
		o->ack_timeout_ms = (unsigned)strtoul(val, &end, 10);
		if (*end || !o->ack_timeout_ms || o->ack_timeout_ms > 600000)
			goto bad;
	} else if (!strcmp(key, "readahead")) {
		o->no_readahead = !is_yes(val);
	} else if (!strcmp(key, "syslog")) {
		o->syslog = is_yes(val);
	} else {
		fprintf(stderr, "upagerd: %s: unknown setting '%s'\n", where,
			key);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr,
		"upagerd: %s: bad value '%s' for %s (budget: a size >= 1M; "
		"threads: 1-64; socket-mode: octal; log-level: error, warn, "
		"info or debug; ack-timeout: 1-600000 ms)\n",
		where, val, key);
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

static int read_config(struct daemon_opts *o, const char *path, bool must)
{
	char line[1024], where[PATH_MAX + 32];
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		if (!must && errno == ENOENT)
			return 0;
		fprintf(stderr, "upagerd: cannot read config %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;

		lineno++;
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!eq) {
			fprintf(stderr, "upagerd: %s: expected 'key = value'\n",
				where);
			fclose(f);
			return -EINVAL;
		}
		*eq = '\0';
		if (set_opt(o, trim(s), trim(eq + 1), where)) {
			fclose(f);
			return -EINVAL;
		}
	}
	fclose(f);
	return 0;
}

/* Make the socket's directory; outside /run fall back to
 * $XDG_RUNTIME_DIR for an unprivileged user. */
static int socket_dir(struct daemon_opts *o)
{
	static char path[PATH_MAX];
	char dir[PATH_MAX], *slash;

	if (!o->socket_path) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		if (geteuid() == 0 || !xdg || !*xdg) {
			o->socket_path = DEFAULT_SOCKET;
		} else {
			snprintf(path, sizeof(path), "%s/upager/upagerd.sock",
				 xdg);
			o->socket_path = path;
		}
	}
	snprintf(dir, sizeof(dir), "%s", o->socket_path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "upagerd: cannot create %s: %s (choose another "
				"place with --socket)\n",
			dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static void syslog_fn(enum upg_log_level level, const char *msg, void *ctx)
{
	static const int prio[] = { LOG_WARNING, LOG_ERR, LOG_WARNING,
				    LOG_INFO, LOG_DEBUG };

	(void)ctx;
	syslog(prio[(unsigned)level < 5 ? level : 0], "%s", msg);
}

static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	if (chdir("/"))
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "budget", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "client-cap", required_argument, NULL, 'c' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "swap-dir", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "syslog", no_argument, NULL, 'S' },
		/* On by default; --readahead is kept for old command lines. */
		{ "readahead", no_argument, NULL, 'R' },
		{ "ack-timeout", required_argument, NULL, 'a' },
		{ "no-readahead", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	static const char *keys[] = { ['s'] = "socket", ['b'] = "budget",
				      ['t'] = "threads", ['c'] = "client-cap",
				      ['m'] = "socket-mode", ['w'] = "swap-dir",
				      ['l'] = "log-level", ['a'] = "ack-timeout" };
	struct daemon_opts o = { .budget_bytes = 256ull << 20, .threads = 2,
				 .socket_mode = 0660, .ack_timeout_ms = 5000,
				 .log_level = UPG_LOG_WARN };
	const char *config = NULL;
	int c, err;

	/* The config file first: the command line overrides it. */
	for (c = 1; c < argc; c++) {
		if (!strcmp(argv[c], "--config") && c + 1 < argc)
			config = argv[c + 1];
		else if (!strncmp(argv[c], "--config=", 9))
			config = argv[c] + 9;
	}
	if (read_config(&o, config ? config : DEFAULT_CONFIG, config != NULL))
		return 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.foreground = true;
			break;
		case 'S':
			o.syslog = true;
			break;
		case 'R':
			o.no_readahead = false;
			break;
		case 'N':
			o.no_readahead = true;
			break;
		case 'C':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("upagerd %s (libupager %s)\n",
			       UPAGER_VERSION_STRING, upg_version());
			return 0;
		case 's': case 'b': case 't': case 'c': case 'm': case 'w':
		case 'l': case 'a':
			if (set_opt(&o, keys[c], optarg, "command line"))
				return 2;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "upagerd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (socket_dir(&o))
		return 1;
	if (o.syslog)
		openlog("upagerd", LOG_PID, LOG_DAEMON);
	/* Before any thread exists. */
	if (!o.foreground && daemonize()) {
		fprintf(stderr, "upagerd: cannot daemonize: %s\n",
			strerror(errno));
		return 1;
	}
	err = daemon_run(&o, o.syslog ? syslog_fn : NULL);
	return err ? 1 : 0;
}
