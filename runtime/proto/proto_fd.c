/* SPDX-License-Identifier: MIT */
/*
 * proto_fd - what kind of fd did a client pass, and who is the client?
 *
 * The daemon maps, reads and writes what clients hand it, so the kind of
 * each fd decides whether a client can crash or stall it: a memfd that
 * can shrink turns the daemon's next alias access into SIGBUS, and a FIFO
 * or socket "store" blocks an I/O for ever.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/proto.h"

/* Access mode of @fd, or -1 for a bad fd or an O_PATH one (no I/O). */
static int fd_accmode(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_PATH))
		return -1;
	return fl & O_ACCMODE;
}

bool proto_fd_is_memfd_sealed(int fd)
{
	struct stat st;
	int seals;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return false;
	/* The daemon maps it shared and writable, and punches holes. */
	if (fd_accmode(fd) != O_RDWR)
		return false;
	seals = fcntl(fd, F_GET_SEALS); /* EINVAL on files without seals */
	return seals >= 0 && (seals & F_SEAL_SHRINK);
}

bool proto_fd_is_store(int fd)
{
	struct stat st;
	int mode;

	if (fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return false;
	/* Write access is the daemon's check: read-only regions need none. */
	mode = fd_accmode(fd);
	return mode == O_RDONLY || mode == O_RDWR;
}

bool proto_fd_is_uffd(int fd)
{
	static const char want[] = "anon_inode:[userfaultfd]";
	char path[64], target[sizeof(want) + 1];
	ssize_t n;

	if (fd < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target));
	return n == (ssize_t)(sizeof(want) - 1) && !memcmp(target, want, (size_t)n);
}

int proto_peer_cred(int sock, struct ucred *out)
{
	socklen_t len = sizeof(*out);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, out, &len))
		return -errno;
	return len == sizeof(*out) ? 0 : -EINVAL;
}
