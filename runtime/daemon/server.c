/* SPDX-License-Identifier: MIT */
/*
 * The daemon's main loop: the listening socket, the clients' sockets and a
 * signalfd in one epoll set.  Requests are served here one at a time;
 * page faults never come here (the runtime's handler threads read them
 * from the clients' userfaultfds).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/daemon.h"
#include "evict/evict.h"
#include "fault/fault.h"

/* How long a reply may wait for a client that does not read. */
#define SEND_TIMEOUT_MS 2000
#define TAG_LISTEN 1
#define TAG_SIGNAL 2

int daemon_send(struct daemon_client *c, const struct proto_msg *m)
{
	struct daemon_out *o = c->out;
	int err;

	/* Evicting threads send INVALIDATEs on the same socket. */
	pthread_mutex_lock(&o->lock);
	err = o->sock < 0 ? -EPIPE :
			    proto_send(o->sock, m, NULL, 0, SEND_TIMEOUT_MS);
	pthread_mutex_unlock(&o->lock);

	if (err)
		rt_warn(c->d->rt, "client %llu (pid %d): send %s: %s",
			(unsigned long long)c->id, (int)c->cred.pid,
			proto_type_name(m->hdr.type), strerror(-err));
	return err;
}

int daemon_reply(struct daemon_client *c, uint64_t seq, int status,
		 uint64_t value)
{
	struct proto_msg m;

	proto_msg_init(&m, PROTO_REPLY, seq);
	m.u.reply.status = status;
	m.u.reply.value = value;
	return daemon_send(c, &m);
}

static void free_client(struct daemon *d, struct daemon_client *c)
{
	if (c->mm) {
		handlers_del_mm(d->rt, c->mm);
		close(c->mm->uffd.fd);
		c->mm->next = d->dead_mms;
		d->dead_mms = c->mm;
		/* c->out goes with the mm: an evicting thread may still
		 * hold it. */
		c->mm->notify_arg = c->out;
	} else {
		daemon_out_free(c->out);
	}
	proto_conn_fini(&c->conn);
	free(c);
}

void daemon_drop_client(struct daemon *d, struct daemon_client *c,
			const char *why)
{
	struct daemon_client **pp;
	int err;

	for (pp = &d->clients; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = c->next;
		d->nr_clients--;
		/* Its user's other clients share --uid-cap without it. */
		if (c->mm)
			daemon_uid_recap(d, c->cred.uid);
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	daemon_out_close(c->out);
	close(c->sock);
	c->sock = -1;
	rt_info(d->rt, "client %llu (pid %d, %s) gone: %s",
		(unsigned long long)c->id, (int)c->cred.pid, c->name, why);
	/* Its pages reach its store before anything is released. */
	err = daemon_release_regions(d, c);
	if (err) {
		rt_err(d->rt, "client %llu: writeback failed (%s): its regions "
			      "stay, retried every second",
		       (unsigned long long)c->id, strerror(-err));
		c->next = d->dying;
		d->dying = c;
		return;
	}
	free_client(d, c);
}

static void retry_dying(struct daemon *d)
{
	struct daemon_client **pp = &d->dying, *c;

	while ((c = *pp)) {
		if (daemon_release_regions(d, c)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		rt_info(d->rt, "client %llu: pages written back at last",
			(unsigned long long)c->id);
		free_client(d, c);
	}
}

static const char *file_kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symbolic link";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	default: return "not a socket";
	}
}

/*
 * What is at the socket's path may go only if it is a socket that no
 * daemon answers on (one left by a daemon that died).  Anything else stays:
 * as root, a typo in --socket must not delete a system file, and a
 * symbolic link is never followed (lstat; connect() and unlink() are
 * reached only for a socket).  0, or -EEXIST / -EADDRINUSE with a message.
 */
static int clear_stale_socket(struct daemon *d, int fd,
			      const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	struct stat st;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		rt_err(d->rt, "cannot look at %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		rt_err(d->rt, "%s is %s, not a socket: upagerd replaces only "
			      "a socket left by a daemon that died. Move it "
			      "away, or choose another path with --socket",
		       path, file_kind(st.st_mode));
		return -EEXIST;
	}
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	    errno == EAGAIN) {
		rt_err(d->rt, "a daemon already listens on %s: stop it first, "
			      "or choose another path with --socket",
		       path);
		return -EADDRINUSE;
	}
	/* Only a refusal says nobody listens: a socket this daemon may not
	 * connect to (EACCES) may well be another's, alive. */
	if (errno != ECONNREFUSED) {
		int err = -errno;

		rt_err(d->rt, "cannot tell whether a daemon listens on %s (%s): "
			      "remove it by hand if it is stale, or choose "
			      "another path with --socket",
		       path, strerror(-err));
		return err;
	}
	if (unlink(path) && errno != ENOENT) {
		rt_err(d->rt, "cannot remove the stale socket %s: %s", path,
		       strerror(errno));
		return -errno;
	}
	rt_info(d->rt, "removed the stale socket %s", path);
	return 0;
}

static int listen_socket(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->o.socket_path;
	mode_t old_umask;
	struct stat st;
	int fd, probe, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		rt_err(d->rt, "socket path too long (max %zu bytes): %s",
		       sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || probe < 0) {
		err = -errno;
		goto out_close;
	}
	err = clear_stale_socket(d, probe, &sa);
	if (err)
		goto out_close;
	/* The mode is the socket's from its creation (no chmod() by path,
	 * which would follow a link put there meanwhile); the group is set
	 * without following a link either.  The umask is the process's: the
	 * runtime's threads create no file meanwhile. */
	old_umask = umask(~d->o.socket_mode & 0777);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old_umask);
	/* Nothing to change when it is the daemon's own group already (the
	 * systemd unit's case: no chown system call, which its filter
	 * denies). */
	if (!err && d->o.socket_group_set && !lstat(path, &st) &&
	    st.st_gid != d->o.socket_gid &&
	    fchownat(AT_FDCWD, path, (uid_t)-1, d->o.socket_gid,
		     AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		unlink(path);
		rt_err(d->rt, "cannot give %s to group %u: %s (the daemon must "
			      "be root or a member of the group)",
		       path, (unsigned)d->o.socket_gid, strerror(-err));
		goto out_close;
	}
	if (!err && listen(fd, 64)) {
		err = -errno;
		unlink(path);
	}
	if (err) {
		rt_err(d->rt, "cannot listen on %s: %s", path, strerror(-err));
		goto out_close;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK)) {
		err = -errno;
		unlink(path);
		goto out_close;
	}
	close(probe);
	/* Removed at exit only if it is still this socket. */
	if (!lstat(path, &st)) {
		d->sock_dev = st.st_dev;
		d->sock_ino = st.st_ino;
	}
	d->listen_fd = fd;
	return 0;
out_close:
	if (probe >= 0)
		close(probe);
	if (fd >= 0)
		close(fd);
	return err;
}

static void accept_clients(struct daemon *d)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct daemon_client *c;
		int fd;

		fd = accept4(d->listen_fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c || proto_conn_init(&c->conn, fd) ||
		    proto_peer_cred(fd, &c->cred)) {
			rt_err(d->rt, "cannot accept a client: out of memory "
				      "or no peer credentials");
			if (c)
				proto_conn_fini(&c->conn);
			free(c);
			close(fd);
			continue;
		}
		c->d = d;
		c->sock = fd;
		c->id = ++d->next_client_id;
		c->out = daemon_out_new(d, c);
		if (!c->out) {
			rt_err(d->rt, "cannot accept a client: out of memory");
			proto_conn_fini(&c->conn);
			free(c);
			close(fd);
			continue;
		}
		c->privileged = c->cred.uid == 0 || c->cred.uid == d->owner_uid;
		strcpy(c->name, "?");
		ev.data.ptr = c;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			proto_conn_fini(&c->conn);
			daemon_out_free(c->out);
			free(c);
			close(fd);
			continue;
		}
		c->next = d->clients;
		d->clients = c;
		d->nr_clients++;
		rt_dbg(d->rt, "client %llu connected (pid %d uid %d)",
		       (unsigned long long)c->id, (int)c->cred.pid,
		       (int)c->cred.uid);
	}
}

/* Everything the client's socket has; false if the client was dropped. */
static bool serve_client(struct daemon *d, struct daemon_client *c)
{
	for (;;) {
		struct proto_msg m;
		int err = proto_conn_recv(&c->conn, &m);
		bool keep;

		if (err == -EAGAIN)
			return true;
		if (err == -ECONNRESET) {
			daemon_drop_client(d, c, "connection closed");
			return false;
		}
		if (err) {
			/* A malformed message: say why, then hang up if the
			 * stream cannot go on. */
			struct proto_msg e;

			proto_msg_init(&e, PROTO_ERROR, m.hdr.seq);
			e.u.error.status = err;
			snprintf(e.u.error.text, sizeof(e.u.error.text),
				 "bad message: %s", strerror(-err));
			rt_warn(d->rt, "client %llu: bad message: %s",
				(unsigned long long)c->id, strerror(-err));
			if (proto_conn_broken(&c->conn)) {
				daemon_send(c, &e);
				daemon_drop_client(d, c, "protocol error");
				return false;
			}
			if (daemon_reply(c, m.hdr.seq, err, 0)) {
				daemon_drop_client(d, c, "not reading");
				return false;
			}
			continue;
		}
		if (m.hdr.type == PROTO_INVALIDATE_ACK) {
			keep = daemon_request(d, c, &m);
		} else if (!daemon_out_begin_request(d, c)) {
			keep = false; /* dropped while we waited */
		} else {
			keep = daemon_request(d, c, &m);
			/* Not when it dropped the client (c is freed). */
			if (keep)
				daemon_out_end_request(c->out);
		}
		proto_msg_release(&m);
		if (!keep)
			return false;
	}
}

static int setup(struct daemon *d)
{
	UPG_OPTS(upg_runtime_opts, ro, .budget_bytes = d->o.budget_bytes,
		 .handler_threads = d->o.threads, .swap_dir = d->o.swap_dir,
		 .log_level = (enum upg_log_level)d->o.log_level,
		 .log_fn = d->o.log_fn,
		 .flags = (d->o.no_readahead ? UPG_RT_NO_READAHEAD : 0) |
			  (d->o.fill_timing ? UPG_RT_FILL_TIMING : 0));
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t sigs;
	int err;

	/* A client in the daemon's own process would be a loop: never
	 * connect from here. */
	unsetenv("UPAGER_SOCKET");
	err = upg_runtime_create(&ro, &d->rt);
	if (err) {
		fprintf(stderr, "upagerd: cannot create the runtime: %s\n",
			strerror(-err));
		return err;
	}
	/* Before any client: eviction and fills divide the budget between
	 * the clients by the daemon's rules (share.c). */
	evict_set_policy(d->rt, &daemon_share_policy);
	/* Signals are blocked before the socket listens: a SIGTERM sent as
	 * soon as a client could connect (or systemd was told READY) writes
	 * back and exits 0 instead of killing the daemon. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = listen_socket(d);
	if (err)
		return err;
	d->signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->signal_fd < 0 || d->epfd < 0)
		return -errno;
	ev.data.u64 = TAG_LISTEN;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listen_fd, &ev))
		return -errno;
	ev.data.u64 = TAG_SIGNAL;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->signal_fd, &ev))
		return -errno;
	return 0;
}

/* --fill-timing: the mean of each step of the daemon's timed demand fills
 * (struct upg_stats, docs/fault-latency.md), logged once at exit. */
static void log_fill_timing(struct daemon *d)
{
	UPG_OPTS(upg_stats, st);
	double n;

	if (!d->o.fill_timing || upg_runtime_stats(d->rt, &st))
		return;
	if (!st.fills_timed) {
		rt_warn(d->rt, "fill timing: no demand fill was timed");
		return;
	}
	n = (double)st.fills_timed * 1000.0;
	rt_warn(d->rt,
		"fill timing: %llu fills, mean us: wake %.1f handler %.1f "
		"store %.1f (submit %.1f) copy %.1f map %.1f sum %.1f",
		(unsigned long long)st.fills_timed, st.fill_ns_wake / n,
		st.fill_ns_handler / n, st.fill_ns_store / n,
		st.fill_submits ? st.fill_ns_submit / 1e3 /
					  (double)st.fill_submits : 0.0,
		st.fill_ns_copy / n, st.fill_ns_map / n,
		(st.fill_ns_wake + st.fill_ns_handler + st.fill_ns_store +
		 st.fill_ns_copy + st.fill_ns_map) / n);
}

/* SIGTERM/SIGINT: every client's pages to its store, then exit. */
static int shutdown_all(struct daemon *d)
{
	int ret = 0;

	log_fill_timing(d);

	while (d->clients)
		daemon_drop_client(d, d->clients, "daemon stopping");
	retry_dying(d);
	if (d->dying) {
		rt_err(d->rt, "stopping with regions not written back: their "
			      "data stays in memory until the clients exit");
		ret = -EIO;
	}
	return ret;
}

static void cleanup(struct daemon *d)
{
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->listen_fd >= 0) {
		struct stat st;

		close(d->listen_fd);
		if (!lstat(d->o.socket_path, &st) && S_ISSOCK(st.st_mode) &&
		    st.st_dev == d->sock_dev && st.st_ino == d->sock_ino)
			unlink(d->o.socket_path);
	}
	/* With regions not written back, keep everything (the process
	 * exits; the clients still hold their memory). */
	if (!d->rt || d->dying || upg_runtime_destroy(d->rt))
		return;
	while (d->dead_mms) {
		struct upg_mm *mm = d->dead_mms;

		d->dead_mms = mm->next;
		pthread_mutex_destroy(&mm->read_lock);
		daemon_out_free(mm->notify_arg);
		free(mm);
	}
}

int daemon_run(const struct daemon_opts *o, upg_log_fn log_fn)
{
	struct daemon d = { .o = *o, .listen_fd = -1, .epfd = -1,
			    .signal_fd = -1, .owner_uid = geteuid() };
	int err;

	d.o.log_fn = log_fn;
	err = setup(&d);
	if (!err) {
		rt_info(d.rt, "upagerd: listening on %s, budget %llu bytes",
			o->socket_path, (unsigned long long)o->budget_bytes);
		if (d.o.notify)
			d.o.notify("READY=1");
	}
	while (!err && !d.stopping) {
		struct epoll_event ev[16];
		int n, i;

		n = epoll_wait(d.epfd, ev, 16, d.dying ? 1000 : -1);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == TAG_LISTEN) {
				accept_clients(&d);
			} else if (ev[i].data.u64 == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				if (read(d.signal_fd, &si, sizeof(si)) > 0 &&
				    si.ssi_signo != SIGHUP)
					d.stopping = true;
			} else {
				/* A client dropped earlier in this batch is
				 * not in the list any more: skip it. */
				struct daemon_client *c, *want = ev[i].data.ptr;

				for (c = d.clients; c && c != want; c = c->next)
					;
				if (c)
					serve_client(&d, c);
			}
		}
		if (d.dying)
			retry_dying(&d);
	}
	if (!err && d.o.notify)
		d.o.notify("STOPPING=1");
	if (!err)
		err = shutdown_all(&d);
	cleanup(&d);
	return err;
}
