/* SPDX-License-Identifier: MIT */
/*
 * test_numa_staging - where the runtime's I/O memory is placed.
 *
 * Fills of a region with a NUMA policy, and all writeback, move data
 * between the store and the region's memfd through the alias mapping,
 * with no staging copy; so "staging on the region's node" means the alias
 * pages follow the region's policy, and the io_uring rings (per thread,
 * io_queue.c) are on their thread's node.  (Small fills of regions
 * without a policy go through a staging buffer, fault/fill.c; the
 * move_pages() query of the alias below would see no page if a region
 * with a policy did.)
 * This machine has one node: what is checked is that placement is asked
 * for (get_mempolicy() reads back the policy of the alias) and that memory
 * ends up on the node asked (move_pages() in query mode).  That a second
 * node is chosen when asked cannot be seen here.
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime.h"
#include "fault/fault.h"
#include "io/io_queue.h"
#include "region/region.h"
#include "testutil.h"

#define PS 4096ull

static int nodes(void)
{
	return numa_available() < 0 ? 1 : numa_max_node() + 1;
}

START_TEST(test_ring_on_local_node)
{
	struct upg_io_queue q;

	ck_assert_int_eq(io_queue_init(&q, 8), 0);
	/* The CPU's node (a thread may move: with several nodes, any). */
	if (nodes() == 1)
		ck_assert_int_eq(q.node, 0);
	ck_assert_int_ge(q.node, 0);
	ck_assert_int_lt(q.node, nodes());
	ck_assert_int_eq(io_queue_ring_node(&q), q.node);
	io_queue_fini(&q);
	ck_assert_int_eq(io_queue_ring_node(&q), -EINVAL);
}
END_TEST

START_TEST(test_ring_on_each_node)
{
	struct upg_io_queue q;
	int n;

	for (n = 0; n < nodes(); n++) {
		if (numa_available() >= 0 && !numa_bitmask_isbitset(
						     numa_all_nodes_ptr, n))
			continue;
		ck_assert_int_eq(io_queue_init_node(&q, 8, n), 0);
		ck_assert_int_eq(q.node, n);
		ck_assert_int_eq(io_queue_ring_node(&q), n);
		io_queue_fini(&q);
	}
	ck_assert_int_eq(io_queue_init_node(&q, 8, nodes()), -EINVAL);
	ck_assert_int_eq(io_queue_init_node(&q, 8, -2), -EINVAL);
	ck_assert_int_eq(io_queue_init_node(&q, 0, 0), -EINVAL);
}
END_TEST

/* The thread's own policy is put back after the ring is set up. */
START_TEST(test_ring_keeps_thread_policy)
{
	unsigned long mask = 1, got = 0;
	struct upg_io_queue q;
	int mode = -1;

	if (set_mempolicy(MPOL_BIND, &mask, sizeof(mask) * 8 + 1)) {
		ck_assert_int_eq(errno, ENOSYS); /* no NUMA in this kernel */
		return;
	}
	ck_assert_int_eq(io_queue_init_node(&q, 8, 0), 0);
	ck_assert_int_eq(get_mempolicy(&mode, &got, sizeof(got) * 8, NULL, 0),
			 0);
	ck_assert_int_eq(mode, MPOL_BIND);
	ck_assert_uint_eq(got, 1);
	io_queue_fini(&q);
	ck_assert_int_eq(set_mempolicy(MPOL_DEFAULT, NULL, 0), 0);
	ck_assert_int_eq(io_queue_init(&q, 8), 0);
	ck_assert_int_eq(get_mempolicy(&mode, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(mode, MPOL_DEFAULT);
	io_queue_fini(&q);
}
END_TEST

/* The handler threads' rings, set up on their own threads. */
START_TEST(test_handler_rings_placed)
{
	struct upg_runtime *rt = tu_runtime(4 << 20, 2);
	unsigned i;

	for (i = 0; i < rt->nr_handlers; i++) {
		int node;

		TU_WAIT_FOR(rt->handlers[i].q.ready, 5000);
		node = io_queue_ring_node(&rt->handlers[i].q);
		ck_assert_int_ge(node, 0);
		ck_assert_int_eq(node, rt->handlers[i].q.node);
	}
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}
END_TEST

/*
 * A region's policy governs the pages its fills are read into: the alias
 * (the I/O buffer) carries it, and a filled page sits on the node.
 */
static void check_alias_policy(int policy, int want_mode)
{
	UPG_OPTS(upg_region_opts, o, .numa_policy = policy, .numa_node = 0);
	struct upg_runtime *rt = tu_runtime(4 << 20, 1);
	int fd = tu_tmpfile(64 * PS);
	struct upg_region *r;
	unsigned long mask = 0;
	int mode = -1, status = -1;
	void *page;

	ck_assert_int_eq(upg_region_map_file(rt, fd, 64 * PS, &o, &r), 0);
	ck_assert_int_eq(((volatile char *)upg_region_addr(r))[0], 0);
	if (get_mempolicy(&mode, &mask, sizeof(mask) * 8, r->alias,
			  MPOL_F_ADDR)) {
		ck_assert_int_eq(errno, ENOSYS);
		goto out;
	}
	ck_assert_int_eq(mode, want_mode);
	ck_assert_uint_eq(mask & 1, 1);
	TU_WAIT_FOR(ps_state(atomic_load(region_page(r, 0))) == PS_RESIDENT,
		    5000);
	page = r->alias;
	ck_assert_int_eq(move_pages(0, 1, &page, NULL, &status, 0), 0);
	ck_assert_int_eq(status, 0);
out:
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
}

START_TEST(test_fill_memory_bind)
{
	check_alias_policy(UPG_NUMA_BIND, MPOL_BIND);
}
END_TEST

START_TEST(test_fill_memory_preferred)
{
	check_alias_policy(UPG_NUMA_PREFERRED, MPOL_PREFERRED);
}
END_TEST

START_TEST(test_fill_memory_interleave)
{
	check_alias_policy(UPG_NUMA_INTERLEAVE, MPOL_INTERLEAVE);
}
END_TEST

/* What upagerd's REGION_ADD can carry of a policy: one node (-1: none);
 * a mask of several nodes is -EOPNOTSUPP (region_numa_wire()). */
static int wire(int policy, int node, uint64_t mask, int *p, int *n)
{
	UPG_OPTS(upg_region_opts, o, .numa_policy = policy, .numa_node = node,
		 .numa_nodemask = mask);

	return region_numa_wire(&o, p, n);
}

START_TEST(test_numa_wire)
{
	int p = -1, n = -2;

	ck_assert_int_eq(wire(UPG_NUMA_DEFAULT, 0, 0, &p, &n), 0);
	ck_assert_int_eq(p, UPG_NUMA_DEFAULT);
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(wire(UPG_NUMA_BIND, 0, 0, &p, &n), 0);
	ck_assert_int_eq(p, UPG_NUMA_BIND);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(wire(UPG_NUMA_PREFERRED, 0, 1ull << 5, &p, &n), 0);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(wire(UPG_NUMA_BIND, 0, 3, &p, &n), -EOPNOTSUPP);
	ck_assert_int_eq(wire(UPG_NUMA_INTERLEAVE, 0, 0, &p, &n), 0);
	ck_assert_int_eq(n, -1);
	/* Every node of this machine is what 0 says. */
	ck_assert_int_eq(wire(UPG_NUMA_INTERLEAVE, 0,
			      nodes() >= 64 ? ~0ull : (1ull << nodes()) - 1,
			      &p, &n),
			 0);
	if (nodes() < 64)
		ck_assert_int_eq(wire(UPG_NUMA_INTERLEAVE, 0,
				      1ull << nodes(), &p, &n),
				 -EOPNOTSUPP);
}
END_TEST

static Suite *numa_suite(void)
{
	Suite *s = suite_create("numa_staging");
	TCase *tc = tcase_create("numa_staging");

	tcase_add_test(tc, test_ring_on_local_node);
	tcase_add_test(tc, test_ring_on_each_node);
	tcase_add_test(tc, test_ring_keeps_thread_policy);
	tcase_add_test(tc, test_handler_rings_placed);
	tcase_add_test(tc, test_fill_memory_bind);
	tcase_add_test(tc, test_fill_memory_preferred);
	tcase_add_test(tc, test_fill_memory_interleave);
	tcase_add_test(tc, test_numa_wire);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(numa_suite());
}
