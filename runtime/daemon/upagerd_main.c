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

#ifdef UPAGER_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon/daemon.h"
#include "daemon/options.h"

/* Make the socket's directory; outside /run fall back to
 * $XDG_RUNTIME_DIR for an unprivileged user. */
static int socket_dir(struct daemon_opts *o)
{
	static char path[PATH_MAX];
	char dir[PATH_MAX], *slash;

	if (!o->socket_path) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		if (geteuid() == 0 || !xdg || !*xdg) {
			o->socket_path = DAEMON_DEFAULT_SOCKET;
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
	/* mkdir -p: each missing directory on the way, mode 0755 (the
	 * socket's own mode and group decide who may connect). */
	for (slash = dir + 1;; slash++) {
		bool last = *slash == '\0';

		if (*slash != '/' && !last)
			continue;
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST) {
			int err = -errno;

			fprintf(stderr, "upagerd: cannot create %s: %s (create "
					"it, or choose another place with "
					"--socket)\n",
				dir, strerror(-err));
			return err;
		}
		if (last)
			break;
		*slash = '/';
	}
	return 0;
}

#ifdef UPAGER_HAVE_SYSTEMD
/* Type=notify: systemd starts the clients' units once the socket listens.
 * Without $NOTIFY_SOCKET sd_notify() does nothing. */
static void notify_systemd(const char *state)
{
	sd_notify(0, state);
}
#endif

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
	struct daemon_opts o;
	const char *config = NULL, *what;
	uint64_t limit;
	int c, idx, err;

	daemon_opts_init(&o);
	/* The config file first: the command line overrides it. */
	for (c = 1; c < argc; c++) {
		if (!strcmp(argv[c], "--config") && c + 1 < argc)
			config = argv[c + 1];
		else if (!strncmp(argv[c], "--config=", 9))
			config = argv[c] + 9;
	}
	if (daemon_read_config(&o, config ? config : DAEMON_DEFAULT_CONFIG,
			       config != NULL))
		return 2;
	while ((c = getopt_long(argc, argv, "h", daemon_longopts, &idx)) !=
	       -1) {
		const char *name;

		if (c == 'h') {
			daemon_usage(stdout);
			return 0;
		}
		if (c != 0) {
			daemon_usage(stderr);
			return 2;
		}
		name = daemon_longopts[idx].name;
		if (!strcmp(name, "help")) {
			daemon_usage(stdout);
			return 0;
		}
		if (!strcmp(name, "version")) {
			printf("upagerd %s (libupager %s)\n",
			       UPAGER_VERSION_STRING, upg_version());
			return 0;
		}
		if (!strcmp(name, "config"))
			continue;
		if (daemon_set_opt(&o, name, optarg ? optarg : "yes",
				   "command line"))
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "upagerd: unexpected argument '%s'\n",
			argv[optind]);
		daemon_usage(stderr);
		return 2;
	}
	limit = daemon_memory_limit(&what);
	if (daemon_check_budget(&o, limit, what))
		return 2;
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
#ifdef UPAGER_HAVE_SYSTEMD
	o.notify = notify_systemd;
#endif
	err = daemon_run(&o, o.syslog ? syslog_fn : NULL);
	return err ? 1 : 0;
}
