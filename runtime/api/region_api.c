/* SPDX-License-Identifier: MIT */
/*
 * The public calls on regions that daemon mode serves differently: each
 * checks its handle and its thread, then calls the in-process half
 * (region/, writeback/) or the daemon-mode client (client/).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "client/client.h"
#include "common/handles.h"
#include "notify/notifier.h"
#include "region/region.h"
#include "uffd/uffd.h"
#include "writeback/writeback.h"

/* What every map call checks first, before anything is created. */
static int map_prologue(struct upg_runtime *rt, uint64_t length,
			const struct upg_region_opts *opts,
			struct upg_region **out, struct region_map_args *a)
{
	int err;

	if (!handle_live(rt))
		return -EBADF;
	if (!out)
		return -EINVAL;
	err = region_check_args(rt, length, opts, a);
	if (err || !(a->flags & UPG_REGION_HUGETLB))
		return err;
	/* Huge pages are not carried to upagerd. */
	return rt_remote(rt) ? -EOPNOTSUPP : region_check_huge(rt);
}

UPG_API int upg_region_map_store(struct upg_runtime *rt,
				 struct upg_store *store, uint64_t length,
				 const struct upg_region_opts *opts,
				 struct upg_region **out)
{
	struct region_map_args a;
	int err;

	if (!handle_live(rt))
		return -EBADF;
	if (!store)
		return -EINVAL;
	err = map_prologue(rt, length, opts, out, &a);
	if (err)
		return err;
	if (rt_remote(rt)) {
		/* A Redis store travels as its URI; a plugin cannot. */
		struct client_map m = { .fd = -1, .store = store,
					.length = length,
					.store_off = a.store_off,
					.fill_unit = a.fill_unit,
					.prot = a.prot };

		err = region_numa_wire(opts, &m.numa_policy, &m.numa_node);
		return err ? err : client_region_map(rt, &m, out);
	}
	return region_map_store(rt, store, &a, opts, out);
}

/* Daemon mode: the client creates the region, upagerd services it. */
static int map_remote(struct upg_runtime *rt, int fd,
		      const struct region_map_args *a,
		      const struct upg_region_opts *opts,
		      struct upg_region **out)
{
	struct client_map m = { .fd = fd, .length = a->length,
				.store_off = a->store_off,
				.fill_unit = a->fill_unit,
				.prot = a->prot };
	int err = region_numa_wire(opts, &m.numa_policy, &m.numa_node);

	return err ? err : client_region_map(rt, &m, out);
}

UPG_API int upg_region_map_file(struct upg_runtime *rt, int fd,
				uint64_t length,
				const struct upg_region_opts *opts,
				struct upg_region **out)
{
	struct region_map_args a;
	int err;

	err = map_prologue(rt, length, opts, out, &a);
	if (err)
		return err;
	err = region_check_file(fd, a.prot);
	if (err)
		return err;
	if (rt_remote(rt))
		return map_remote(rt, fd, &a, opts, out);
	return region_map_file(rt, fd, &a, opts, out);
}

UPG_API int upg_region_map_anon(struct upg_runtime *rt, uint64_t length,
				const struct upg_region_opts *opts,
				struct upg_region **out)
{
	struct region_map_args a;
	int err;

	err = map_prologue(rt, length, opts, out, &a);
	if (err)
		return err;
	if (a.store_off)
		return -EINVAL;
	if (rt_remote(rt))
		return map_remote(rt, -1, &a, opts, out);
	return region_map_anon(rt, &a, opts, out);
}

UPG_API int upg_region_flush(struct upg_region *r, uint64_t offset,
			     uint64_t length)
{
	if (!handle_live(r))
		return -EBADF;
	if (notify_callback_depth)
		return -EDEADLK;
	if (rt_remote(r->rt))
		return client_region_flush(r, offset, length);
	return region_flush(r, offset, length);
}

UPG_API int upg_region_unmap(struct upg_region *r)
{
	return upg_region_unmap_flags(r, 0);
}

UPG_API int upg_region_unmap_flags(struct upg_region *r, unsigned flags)
{
	if (!handle_live(r))
		return -EBADF;
	if (flags & ~UPG_UNMAP_WAIT_PINS)
		return -EINVAL;
	if (notify_callback_depth)
		return -EDEADLK;
	if (rt_remote(r->rt))
		return client_region_unmap(r, flags);
	return region_unmap(r, flags);
}

UPG_API int upg_region_stats(struct upg_region *r,
			     struct upg_region_stats *st)
{
	struct upg_region_stats s = { .sz = sizeof(s) };

	if (!handle_live(r))
		return -EBADF;
	if (!st || st->sz < offsetof(struct upg_region_stats, length))
		return -EINVAL;
	s.length = r->length;
	s.numa_policy = r->numa_policy;
	if (rt_remote(r->rt)) {
		int err = client_region_stats(r, &s);

		if (err)
			return err;
	} else {
		region_count_pages(r, &s);
	}
	memcpy((char *)st + sizeof(size_t), (char *)&s + sizeof(size_t),
	       (st->sz < sizeof(s) ? st->sz : sizeof(s)) - sizeof(size_t));
	return 0;
}

UPG_API int upg_region_discard(struct upg_region *r, uint64_t offset,
			       uint64_t length)
{
	if (!handle_live(r))
		return -EBADF;
	/* A callback discarding would invalidate its own range; a handler
	 * thread would wait on the faults it serves. */
	if (notify_callback_depth || uffd_eagain_hook)
		return -EDEADLK;
	if (rt_remote(r->rt))
		return -EOPNOTSUPP; /* not carried to upagerd yet */
	return region_discard(r, offset, length);
}

UPG_API int upg_region_err_check(struct upg_region *r, uint64_t *since)
{
	if (!handle_live(r))
		return -EBADF;
	if (!since)
		return -EINVAL;
	/* upagerd sees the errors: flush reports them in daemon mode. */
	if (rt_remote(r->rt))
		return -EOPNOTSUPP;
	return errseq_check(r, since);
}
