/* SPDX-License-Identifier: MIT */
/*
 * NUMA placement of a region's pages.  The policy is set with mbind() on
 * the alias mapping: for shmem the kernel keeps it in the memfd's shared
 * policy, so it governs every page of the memfd however it is allocated
 * (a read into the alias, fallocate, a pwrite() of a staged fill, any
 * mapping).  Placement is read back with move_pages() in query mode, which
 * never faults a page in.
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "common/opts.h"
#include "region/region.h"

/* Nodes this machine has (1 where the kernel has no NUMA support). */
static int nr_nodes(void)
{
	return numa_available() < 0 ? 1 : numa_max_node() + 1;
}

/* The node mask of every node of this machine. */
static uint64_t all_nodes_mask(void)
{
	int nodes = nr_nodes();

	return nodes >= 64 ? ~0ull : (1ull << nodes) - 1;
}

int region_numa_check(const struct upg_region_opts *o)
{
	int policy = OPTS_GET(o, numa_policy, UPG_NUMA_DEFAULT);
	int node = OPTS_GET(o, numa_node, 0);
	uint64_t mask = OPTS_GET(o, numa_nodemask, 0);
	int nodes = nr_nodes();

	if (policy < UPG_NUMA_DEFAULT || policy > UPG_NUMA_PREFERRED)
		return -EINVAL;
	if ((policy == UPG_NUMA_BIND || policy == UPG_NUMA_PREFERRED) &&
	    !mask && (node < 0 || node >= nodes))
		return -EINVAL;
	if (mask && nodes < 64 && (mask >> nodes))
		return -EINVAL;
	return 0;
}

int region_numa_wire(const struct upg_region_opts *o, int *policy,
		     int *node)
{
	uint64_t mask = OPTS_GET(o, numa_nodemask, 0);

	*policy = OPTS_GET(o, numa_policy, UPG_NUMA_DEFAULT);
	*node = -1;
	switch (*policy) {
	case UPG_NUMA_BIND:
	case UPG_NUMA_PREFERRED:
		if (!mask)
			*node = OPTS_GET(o, numa_node, 0);
		else if (!(mask & (mask - 1)))
			*node = __builtin_ctzll(mask);
		else
			return -EOPNOTSUPP; /* several nodes */
		return 0;
	case UPG_NUMA_INTERLEAVE:
		/* All nodes is what 0 says. */
		if (mask && mask != all_nodes_mask())
			return -EOPNOTSUPP;
		return 0;
	default:
		return 0;
	}
}

int region_numa_apply(struct upg_runtime *rt, struct upg_region *r,
		      const struct upg_region_opts *o)
{
	int policy = OPTS_GET(o, numa_policy, UPG_NUMA_DEFAULT);
	uint64_t mask = OPTS_GET(o, numa_nodemask, 0);
	int node = OPTS_GET(o, numa_node, 0);
	unsigned long m;
	int mode;

	switch (policy) {
	case UPG_NUMA_DEFAULT:
		return 0;
	case UPG_NUMA_LOCAL:
		mode = MPOL_LOCAL;
		break;
	case UPG_NUMA_BIND:
		mode = MPOL_BIND;
		break;
	case UPG_NUMA_INTERLEAVE:
		mode = MPOL_INTERLEAVE;
		if (!mask)
			mask = all_nodes_mask();
		break;
	default:
		mode = MPOL_PREFERRED;
		break;
	}
	if (!mask && mode != MPOL_LOCAL)
		mask = 1ull << node;
	m = (unsigned long)mask;
	if (mbind(r->alias, r->map_len, mode, mode == MPOL_LOCAL ? NULL : &m,
		  mode == MPOL_LOCAL ? 0 : 65, 0)) {
		int err = -errno;

		if (err == -ENOSYS && nr_nodes() == 1) {
			/* A kernel without NUMA: one node, nothing to do. */
			rt_info(rt, "no NUMA support: placement ignored");
			return 0;
		}
		rt_err(rt, "mbind: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* Pages a query of region_numa_count() asks about at most. */
enum { NUMA_QUERY_CHUNK = 256 };

/* The page of @r whose alias is at @a. */
static uint64_t alias_page(const struct upg_region *r, const void *a)
{
	return (uint64_t)((const char *)a - r->alias) >> r->rt->page_shift;
}

/*
 * Ask again for the nodes of the pages at @addrs that move_pages() did
 * not find (-ENOENT in @status): resident pages whose alias has no page
 * table entry, as a fill staged through pwrite() (fault/fill.c) leaves
 * them.  Each is held with an ephemeral pin, so that it cannot be
 * punched meanwhile (a read of a hole through the alias would allocate a
 * page), and mapped for reading; then one query for them all.  A page no
 * longer resident keeps -ENOENT.
 */
static void requery_unmapped(struct upg_region *r, void **addrs,
			     int *status, unsigned n)
{
	void *again[NUMA_QUERY_CHUNK];
	int st[NUMA_QUERY_CHUNK];
	unsigned idx[NUMA_QUERY_CHUNK], i, k = 0;

	for (i = 0; i < n; i++) {
		_Atomic uint32_t *p = region_page(r, alias_page(r, addrs[i]));

		if (status[i] != -ENOENT || ps_pin(p, PS_EPIN_ONE, 0) != 1)
			continue;
		if (madvise(addrs[i], r->rt->page_size, MADV_POPULATE_READ)) {
			ps_unpin(p, PS_EPIN_ONE);
			continue;
		}
		idx[k] = i;
		again[k++] = addrs[i];
	}
	if (k && !move_pages(0, k, again, NULL, st, 0))
		for (i = 0; i < k; i++)
			status[idx[i]] = st[i];
	for (i = 0; i < k; i++)
		ps_unpin(region_page(r, alias_page(r, again[i])), PS_EPIN_ONE);
}

void region_numa_count(struct upg_region *r, uint64_t *node_pages,
		       unsigned nr)
{
	void *addrs[NUMA_QUERY_CHUNK];
	int status[NUMA_QUERY_CHUNK];
	uint64_t pg = 0;

	while (pg < r->npages) {
		unsigned n = 0, i;

		for (; pg < r->npages && n < NUMA_QUERY_CHUNK; pg++) {
			uint32_t s = atomic_load(region_page(r, pg));

			/* Only pages known present: the alias of a hole is
			 * never touched, not even by a query. */
			if (ps_state(s) == PS_RESIDENT)
				addrs[n++] = region_alias(r, pg);
		}
		if (!n || move_pages(0, n, addrs, NULL, status, 0))
			continue;
		requery_unmapped(r, addrs, status, n);
		for (i = 0; i < n; i++)
			if (status[i] >= 0 && (unsigned)status[i] < nr)
				node_pages[status[i]]++;
	}
}
