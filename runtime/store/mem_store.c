// SPDX-License-Identifier: MIT
/*
 * mem_store - a store in private memory, for tests and demonstrations.
 *
 * Data lives in 4 KiB pages allocated on first write and indexed by a
 * radix tree of 512-slot nodes that grows in height as offsets grow, so a
 * store written at a few far-apart offsets costs a few pages.  Requests
 * complete inline, before submit() returns, which makes the store a
 * deterministic stand-in for a device; with fault injection it is how the
 * runtime's error paths are tested.
 *
 * One mutex guards everything: this store is for correctness, not speed.
 * Completions run after it is dropped, since a done() callback may submit
 * the next request to this very store.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/opts.h"
#include "store/store.h"
#include "store/store_impl.h"

#define MEM_PAGE_SHIFT 12
#define MEM_PAGE_SIZE ((uint64_t)1 << MEM_PAGE_SHIFT)
#define MEM_NODE_SHIFT 9
#define MEM_NODE_SLOTS (1u << MEM_NODE_SHIFT)
/* 64 - MEM_PAGE_SHIFT bits of page index fit in this many levels. */
#define MEM_MAX_HEIGHT 6

/* Linux errnos are below this; error values beyond it are not errnos. */
#define MEM_MAX_ERRNO 4095

struct mem_node {
	void *slots[MEM_NODE_SLOTS];
};

/* An armed upg_fault_inject rule. */
struct mem_fault {
	bool armed;
	uint64_t skip;		/* matching requests to let through first */
	uint64_t offset, length;
	int error;
	uint32_t count;		/* failures left; UINT32_MAX: until cleared */
};

struct mem_store {
	pthread_mutex_t lock;
	uint64_t capacity;	/* 0: unlimited */
	uint64_t size;		/* end of the highest byte ever written */
	/* A page when height is 0, else a node with height levels of
	 * nodes (this one included) above the pages. */
	void *root;
	unsigned height;
	struct mem_fault faults[2];	/* by enum upg_io_op */
};

static bool mem_index_fits(const struct mem_store *ms, uint64_t index)
{
	return ms->height >= MEM_MAX_HEIGHT ||
	       !(index >> (MEM_NODE_SHIFT * ms->height));
}

/* The page holding @index, or NULL if it was never written. */
static void *mem_page_lookup(const struct mem_store *ms, uint64_t index)
{
	void *entry = ms->root;
	unsigned level, slot;

	if (!mem_index_fits(ms, index))
		return NULL;
	for (level = ms->height; level && entry; level--) {
		slot = (index >> (MEM_NODE_SHIFT * (level - 1))) &
		       (MEM_NODE_SLOTS - 1);
		entry = ((struct mem_node *)entry)->slots[slot];
	}
	return entry;
}

/* The page holding @index, allocated (zeroed) if need be; NULL: ENOMEM. */
static void *mem_page_get(struct mem_store *ms, uint64_t index)
{
	struct mem_node *node;
	unsigned level, slot;
	void **entry;

	while (!mem_index_fits(ms, index)) {
		if (ms->root) {
			node = calloc(1, sizeof(*node));
			if (!node)
				return NULL;
			node->slots[0] = ms->root;
			ms->root = node;
		}
		ms->height++;
	}

	entry = &ms->root;
	for (level = ms->height; level; level--) {
		if (!*entry) {
			*entry = calloc(1, sizeof(struct mem_node));
			if (!*entry)
				return NULL;
		}
		slot = (index >> (MEM_NODE_SHIFT * (level - 1))) &
		       (MEM_NODE_SLOTS - 1);
		entry = &((struct mem_node *)*entry)->slots[slot];
	}
	if (!*entry)
		*entry = calloc(1, MEM_PAGE_SIZE);
	return *entry;
}

static void mem_tree_free(void *entry, unsigned level)
{
	struct mem_node *node = entry;
	unsigned i;

	if (!entry)
		return;
	if (level) {
		for (i = 0; i < MEM_NODE_SLOTS; i++)
			mem_tree_free(node->slots[i], level - 1);
	}
	free(entry);
}

/*
 * mem_fault_hit() - does an armed rule fail @io?
 * Return: the errno to complete with, or 0.  Consumes the rule's budget.
 */
static int mem_fault_hit(struct mem_store *ms, const struct upg_io *io)
{
	struct mem_fault *f = &ms->faults[io->op];

	if (!f->armed)
		return 0;
	if (f->length && (io->offset >= f->offset + f->length ||
			  io->offset + io->len <= f->offset))
		return 0;
	if (f->skip) {
		f->skip--;
		return 0;
	}
	if (f->count != UINT32_MAX && !--f->count)
		f->armed = false;
	return f->error;
}

static ssize_t mem_read(struct mem_store *ms, const struct upg_io *io)
{
	uint64_t pos, end, chunk;
	char *dst = io->buf;
	void *page;

	if (io->offset >= ms->size)
		return 0;
	end = io->offset + io->len;
	/* Like pread() at end of file: the bytes that exist. */
	if (end > ms->size)
		end = ms->size;

	for (pos = io->offset; pos < end; pos += chunk) {
		chunk = MEM_PAGE_SIZE - (pos & (MEM_PAGE_SIZE - 1));
		if (chunk > end - pos)
			chunk = end - pos;
		page = mem_page_lookup(ms, pos >> MEM_PAGE_SHIFT);
		if (page)
			memcpy(dst, (char *)page + (pos & (MEM_PAGE_SIZE - 1)),
			       chunk);
		else
			memset(dst, 0, chunk);
		dst += chunk;
	}
	return (ssize_t)(end - io->offset);
}

static ssize_t mem_write(struct mem_store *ms, const struct upg_io *io)
{
	uint64_t pos, end = io->offset + io->len, chunk, index;
	const char *src = io->buf;

	if (ms->capacity && end > ms->capacity)
		return -ENOSPC;

	/*
	 * Allocate every page before copying, so that a write that fails
	 * for memory changes no data (the empty pages it may leave read as
	 * zeros, as before).
	 */
	for (index = io->offset >> MEM_PAGE_SHIFT;
	     index <= (end - 1) >> MEM_PAGE_SHIFT; index++) {
		if (!mem_page_get(ms, index))
			return -ENOMEM;
	}
	for (pos = io->offset; pos < end; pos += chunk) {
		chunk = MEM_PAGE_SIZE - (pos & (MEM_PAGE_SIZE - 1));
		if (chunk > end - pos)
			chunk = end - pos;
		memcpy((char *)mem_page_lookup(ms, pos >> MEM_PAGE_SHIFT) +
			       (pos & (MEM_PAGE_SIZE - 1)),
		       src, chunk);
		src += chunk;
	}
	if (end > ms->size)
		ms->size = end;
	return (ssize_t)io->len;
}

static int mem_store_submit(void *ctx, struct upg_io_queue *q,
			    struct upg_io *io)
{
	struct mem_store *ms = ctx;
	ssize_t res;

	(void)q;
	if (!io || (io->op != UPG_IO_READ && io->op != UPG_IO_WRITE) ||
	    (io->len && !io->buf) || io->len > (size_t)SSIZE_MAX ||
	    io->len > UINT64_MAX - io->offset)
		return -EINVAL;

	pthread_mutex_lock(&ms->lock);
	res = mem_fault_hit(ms, io);
	if (!res && io->len)
		res = io->op == UPG_IO_READ ? mem_read(ms, io) :
					      mem_write(ms, io);
	pthread_mutex_unlock(&ms->lock);

	upg_io_complete(io, res);
	return 0;
}

static void mem_store_close(void *ctx)
{
	struct mem_store *ms = ctx;

	mem_tree_free(ms->root, ms->height);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

/* The range reads as zeros: clear the bytes of the pages that exist. */
static int mem_store_discard(void *ctx, uint64_t off, uint64_t len)
{
	struct mem_store *ms = ctx;
	uint64_t end = off + len;

	pthread_mutex_lock(&ms->lock);
	while (off < end) {
		uint64_t in = off % MEM_PAGE_SIZE;
		uint64_t n = MEM_PAGE_SIZE - in < end - off ?
				     MEM_PAGE_SIZE - in :
				     end - off;
		char *page = mem_page_lookup(ms, off / MEM_PAGE_SIZE);

		if (page)
			memset(page + in, 0, n);
		off += n;
	}
	pthread_mutex_unlock(&ms->lock);
	return 0;
}

static const struct upg_store_ops mem_store_ops = {
	.sz = sizeof(struct upg_store_ops),
	.submit = mem_store_submit,
	.close = mem_store_close,
	.discard = mem_store_discard,
};

UPG_API int upg_store_create_mem(const struct upg_mem_store_opts *opts,
				 struct upg_store **out)
{
	struct mem_store *ms;
	struct upg_store *st;
	int ret;

	if (!out || !opts_valid(opts, sizeof(*opts)))
		return -EINVAL;

	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ret = -pthread_mutex_init(&ms->lock, NULL);
	if (ret)
		goto out_free_ms;
	ms->capacity = OPTS_GET(opts, capacity, 0);

	st = store_alloc(STORE_MEM, &mem_store_ops, ms, -1);
	if (!st) {
		ret = -ENOMEM;
		goto out_destroy_lock;
	}
	*out = st;
	return 0;

out_destroy_lock:
	pthread_mutex_destroy(&ms->lock);
out_free_ms:
	free(ms);
	return ret;
}

static struct mem_store *mem_store_of(struct upg_store *st)
{
	return st && st->kind == STORE_MEM ? st->ctx : NULL;
}

UPG_API int upg_store_mem_inject(struct upg_store *st,
				 const struct upg_fault_inject *fi)
{
	struct mem_store *ms = mem_store_of(st);
	struct mem_fault rule = { .armed = true };
	enum upg_io_op op;
	uint64_t nth;

	if (!ms || !fi || !opts_valid(fi, sizeof(*fi)))
		return -EINVAL;

	op = OPTS_GET(fi, op, UPG_IO_READ);
	nth = OPTS_GET(fi, nth, 0);
	rule.offset = OPTS_GET(fi, offset, 0);
	rule.length = OPTS_GET(fi, length, 0);
	rule.error = OPTS_GET(fi, error, 0);
	rule.count = OPTS_GET(fi, count, 0);
	if (op != UPG_IO_READ && op != UPG_IO_WRITE)
		return -EINVAL;
	if (rule.error > 0 || rule.error < -MEM_MAX_ERRNO)
		return -EINVAL;
	if (rule.length && rule.length > UINT64_MAX - rule.offset)
		return -EINVAL;

	if (!rule.error)
		rule.error = -EIO;
	if (!rule.count)
		rule.count = 1;
	/* nth 1 and nth 0 both fail the next matching request. */
	rule.skip = nth ? nth - 1 : 0;

	pthread_mutex_lock(&ms->lock);
	ms->faults[op] = rule;
	pthread_mutex_unlock(&ms->lock);
	return 0;
}

UPG_API int upg_store_mem_clear_faults(struct upg_store *st)
{
	struct mem_store *ms = mem_store_of(st);

	if (!ms)
		return -EINVAL;
	pthread_mutex_lock(&ms->lock);
	memset(ms->faults, 0, sizeof(ms->faults));
	pthread_mutex_unlock(&ms->lock);
	return 0;
}
