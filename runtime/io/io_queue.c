// SPDX-License-Identifier: MIT
/*
 * io_queue - one io_uring ring per owning thread (see io_queue.h).
 *
 * A request queued against a file descriptor is carried by a small record,
 * struct io_req, whose address is the SQE's user_data: the ring needs the
 * fd again when a short transfer is resubmitted, and struct upg_io has no
 * room for it (only io->progress belongs to this layer).
 *
 * Completion callbacks run on the owner's thread from io_queue_reap() and
 * may queue new requests on the same ring, which may in turn reap when the
 * SQ is full.  So nothing here holds ring state across a callback: a CQE is
 * copied and marked seen before its callback runs, and the counters are
 * settled before it too.
 */
#include <errno.h>
#include <limits.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_queue.h"

/* The kernel moves at most this much per read or write (MAX_RW_COUNT). */
#define IO_MAX_CHUNK ((size_t)INT_MAX & ~(size_t)4095)

struct io_req {
	struct upg_io *io;
	int fd;
};

/*
 * NUMA placement of a ring.  The kernel allocates a ring's memory (SQ and
 * CQ rings, SQE array) when it is set up, under the calling thread's
 * memory policy, and the ring is touched from then on by its owner's CPU
 * (submissions, completions) and by the kernel on that CPU: local is
 * right.  "Local" is made explicit, MPOL_PREFERRED on the node of the CPU
 * setting the ring up, so that a process running under an interleave or
 * bind policy (numactl) still gets its rings next to their threads.
 *
 * Why not rings on the node of a region's policy: rings are per thread
 * (io_queue.h), and one handler thread serves every region, whatever its
 * node.  What a region's policy must govern is where its data lands, and
 * it does: fills of a region with a policy read the store straight into
 * the region's memfd through the alias and writeback writes from there
 * (no staging copy on those paths; only regions without a policy stage
 * their small fills, fault/fill.c), and the memfd's pages follow the
 * region's mbind() policy (region/numa.c) however they are allocated.  The ring's 64-byte SQEs are not worth a remote node.
 */
static int current_node(void)
{
	int cpu = sched_getcpu();
	int node = cpu < 0 || numa_available() < 0 ? -1 :
						     numa_node_of_cpu(cpu);

	return node < 0 ? 0 : node;
}

/* Prefer @node for the calling thread's allocations; *@saved_mode and
 * @saved_mask receive the policy to put back (saved_mode -1: none). */
static int prefer_node(int node, int *saved_mode, unsigned long *saved_mask)
{
	unsigned long mask;

	*saved_mode = -1;
	if (node < 0 || node >= (int)(sizeof(mask) * 8))
		return node < 0 ? 0 : -EINVAL;
	if (get_mempolicy(saved_mode, saved_mask, sizeof(mask) * 8, NULL, 0)) {
		/* ENOSYS: a kernel without NUMA, nothing to place.  EINVAL:
		 * a policy over more nodes than a word holds, which we could
		 * not put back: leave it alone. */
		*saved_mode = -1;
		return errno == ENOSYS || errno == EINVAL ? 0 : -errno;
	}
	mask = 1ul << node;
	if (set_mempolicy(MPOL_PREFERRED, &mask, sizeof(mask) * 8 + 1)) {
		*saved_mode = -1;
		return -errno;
	}
	return 0;
}

static void restore_policy(int saved_mode, unsigned long *saved_mask)
{
	if (saved_mode < 0)
		return;
	/* MPOL_DEFAULT takes no mask; the others take the one saved. */
	set_mempolicy(saved_mode, saved_mode == MPOL_DEFAULT ? NULL : saved_mask,
		      saved_mode == MPOL_DEFAULT ? 0 : sizeof(*saved_mask) * 8 + 1);
}

__thread void (*io_queue_wait_hook)(void *arg);
__thread void *io_queue_wait_arg;

int io_queue_init(struct upg_io_queue *q, unsigned depth)
{
	return io_queue_init_node(q, depth, IO_QUEUE_NODE_LOCAL);
}

int io_queue_init_node(struct upg_io_queue *q, unsigned depth, int node)
{
	struct io_uring_params p;
	unsigned long saved_mask = 0;
	int saved_mode, ret;

	if (!q || !depth || node < IO_QUEUE_NODE_LOCAL)
		return -EINVAL;
	if (node == IO_QUEUE_NODE_LOCAL)
		node = current_node();
	if (numa_available() >= 0 && node > numa_max_node())
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	ret = prefer_node(node, &saved_mode, &saved_mask);
	if (ret)
		return ret;

	/*
	 * SUBMIT_ALL keeps one bad SQE from stranding the ones behind it, so
	 * io_uring_submit() always consumes every prepared entry and the
	 * queued/inflight counters stay exact.  Kernels before 5.18 lack it;
	 * there a partial submit leaves the rest in the SQ for the next one.
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
	ret = io_uring_queue_init_params(depth, &q->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CLAMP;
		ret = io_uring_queue_init_params(depth, &q->ring, &p);
	}
	restore_policy(saved_mode, &saved_mask);
	if (ret < 0)
		return ret;

	q->depth = p.sq_entries;
	q->node = node;
	q->ready = true;
	return 0;
}

void io_queue_fini(struct upg_io_queue *q)
{
	int ret;

	if (!q || !q->ready)
		return;
	while (io_queue_pending(q)) {
		ret = io_queue_reap(q, true);
		/*
		 * A ring that cannot wait any more (it should not happen) is
		 * torn down anyway: the kernel cancels what is left when the
		 * ring goes, and a leaked record is better than a hang.
		 */
		if (ret < 0 && ret != -EINTR)
			break;
	}
	io_uring_queue_exit(&q->ring);
	q->ready = false;
}

int io_queue_submit(struct upg_io_queue *q)
{
	int ret;

	if (!q->queued)
		return 0;
	ret = io_uring_submit(&q->ring);
	if (ret < 0)
		return ret;
	q->queued -= (unsigned)ret;
	q->inflight += (unsigned)ret;
	return 0;
}

/*
 * io_queue_get_sqe() - a free SQE, making room if the SQ is full.
 *
 * Submitting what is queued frees the SQ; only when the kernel refuses
 * more (-EBUSY or -EAGAIN: its CQ overflow backlog is full) must
 * completions be reaped first, and those run their callbacks from here.
 */
static int io_queue_get_sqe(struct upg_io_queue *q, struct io_uring_sqe **out)
{
	struct io_uring_sqe *sqe;
	int ret, reaped;

	/*
	 * Never more requests in flight than the CQ holds.  A completion the
	 * kernel finds no room for waits on an overflow list, in an entry it
	 * allocates with GFP_ATOMIC and charges to the memory cgroup; when
	 * that allocation fails (a cgroup at its limit) the completion is
	 * dropped, and whoever waits for that request sleeps in
	 * io_uring_wait_cqe() for ever.  (BENCHMARKS.md, runtime finding 1:
	 * a 1024-page writeback of an anonymous region on a 128-entry CQ
	 * under memcg pressure lost 34 writes so.)  Reaping runs callbacks
	 * here, as a full SQ below does.
	 */
	while (q->queued + q->inflight >= q->ring.cq.ring_entries) {
		reaped = io_queue_reap(q, true);
		if (reaped < 0 && reaped != -EINTR)
			return reaped;
	}
	while (!(sqe = io_uring_get_sqe(&q->ring))) {
		ret = io_queue_submit(q);
		if (!ret && io_uring_sq_space_left(&q->ring))
			continue;
		if (ret && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR)
			return ret;
		reaped = io_queue_reap(q, true);
		if (reaped < 0 && reaped != -EINTR)
			return reaped;
		/* Nothing to reap and still no room: give up. */
		if (reaped <= 0 && !q->inflight)
			return ret ? ret : -EBUSY;
	}
	*out = sqe;
	return 0;
}

/* Queue the part of @req->io that has not moved yet. */
static int io_req_queue(struct upg_io_queue *q, struct io_req *req)
{
	struct upg_io *io = req->io;
	struct io_uring_sqe *sqe;
	size_t chunk = io->len - io->progress;
	int ret;

	ret = io_queue_get_sqe(q, &sqe);
	if (ret)
		return ret;

	if (chunk > IO_MAX_CHUNK)
		chunk = IO_MAX_CHUNK;
	if (io->op == UPG_IO_READ)
		io_uring_prep_read(sqe, req->fd, (char *)io->buf + io->progress,
				   (unsigned)chunk, io->offset + io->progress);
	else
		io_uring_prep_write(sqe, req->fd,
				    (const char *)io->buf + io->progress,
				    (unsigned)chunk, io->offset + io->progress);
	io_uring_sqe_set_data(sqe, req);
	q->queued++;
	return 0;
}

static void io_req_complete(struct io_req *req, ssize_t res)
{
	struct upg_io *io = req->io;

	/* done() may free or reuse @io; the record goes first. */
	free(req);
	upg_io_complete(io, res);
}

/*
 * io_req_advance() - account one CQE of @req.
 * Return: 1 if the request completed, 0 if it was queued again.
 */
static int io_req_advance(struct upg_io_queue *q, struct io_req *req, int res)
{
	struct upg_io *io = req->io;
	size_t remaining = io->len - io->progress;
	int ret;

	if (res == -EAGAIN || res == -EINTR)
		goto requeue;
	if (res < 0) {
		io_req_complete(req, res);
		return 1;
	}
	if (res == 0) {
		/* A read at end of file is done; a write that moves
		 * nothing would never finish. */
		io_req_complete(req, io->op == UPG_IO_READ ?
					     (ssize_t)io->progress : -EIO);
		return 1;
	}
	io->progress += (size_t)res < remaining ? (size_t)res : remaining;
	if (io->progress == io->len) {
		io_req_complete(req, (ssize_t)io->len);
		return 1;
	}
requeue:
	ret = io_req_queue(q, req);
	if (ret) {
		io_req_complete(req, ret);
		return 1;
	}
	return 0;
}

int io_queue_reap(struct upg_io_queue *q, bool wait)
{
	struct io_uring_cqe *cqe;
	struct io_req *req;
	int completed = 0;
	int ret, res;

	for (;;) {
		/*
		 * Requeued short transfers and requests queued by callbacks
		 * go to the kernel before we look again or sleep; -EBUSY
		 * clears once the CQEs below are consumed.
		 */
		ret = io_queue_submit(q);
		if (ret && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR)
			return completed ? completed : ret;

		ret = io_uring_peek_cqe(&q->ring, &cqe);
		if (ret == -EAGAIN) {
			if (!wait || completed || !q->inflight)
				break;
			ret = io_uring_wait_cqe(&q->ring, &cqe);
			if (ret == -EINTR)
				continue;
		}
		if (ret < 0)
			return completed ? completed : ret;

		req = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		q->inflight--;
		completed += io_req_advance(q, req, res);
	}
	return completed;
}

int io_queue_ring_node(const struct upg_io_queue *q)
{
	void *addr[3];
	int status[3] = { -1, -1, -1 }, node = -1, i;

	if (!q || !q->ready)
		return -EINVAL;
	addr[0] = q->ring.sq.ring_ptr;
	addr[1] = q->ring.cq.ring_ptr;
	addr[2] = q->ring.sq.sqes;
	/* Query mode (no target nodes): moves nothing. */
	if (move_pages(0, 3, addr, NULL, status, 0))
		return -errno;
	for (i = 0; i < 3; i++) {
		if (status[i] < 0)
			return status[i];
		if (node >= 0 && status[i] != node)
			return -EXDEV; /* split over nodes */
		node = status[i];
	}
	return node;
}

UPG_API int upg_io_queue_fd(struct upg_io_queue *q, int fd, struct upg_io *io)
{
	struct io_req *req;
	int ret;

	if (!q || !q->ready || fd < 0 || !io || !io->len || !io->buf)
		return -EINVAL;
	if (io->op != UPG_IO_READ && io->op != UPG_IO_WRITE)
		return -EINVAL;
	/* Past INT64_MAX, and (u64)-1 means "the file position" to io_uring. */
	if (io->offset > (uint64_t)INT64_MAX ||
	    io->len > (uint64_t)INT64_MAX - io->offset)
		return -EINVAL;

	req = malloc(sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->io = io;
	req->fd = fd;
	io->progress = 0;

	ret = io_req_queue(q, req);
	if (ret)
		goto out_free_req;
	return 0;

out_free_req:
	free(req);
	return ret;
}

UPG_API void upg_io_complete(struct upg_io *io, ssize_t res)
{
	io->done(io, res);
}
