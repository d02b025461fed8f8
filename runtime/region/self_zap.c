/* SPDX-License-Identifier: MIT */
/* The evictor's own zaps, recognised in the REMOVE events (self_zap.h). */
#include <errno.h>
#include <sys/mman.h>

#include "base/rt.h"
#include "common/assert.h"
#include "region/self_zap.h"

int self_zap(struct upg_runtime *rt, uintptr_t addr, size_t len)
{
	struct self_zap_ring *z = rt->zap;
	unsigned i;
	int err;

	assert_role(UPG_ROLE_EVICTOR); /* z->next has this one writer */
	i = z->next++ % SELF_ZAP_RING;

	/* The REMOVE event this raises is recognised by its range. */
	atomic_store(&z->slot[i].start, 0);
	atomic_store(&z->slot[i].end, addr + len);
	atomic_store(&z->slot[i].start, addr);
	err = madvise((void *)addr, len, MADV_DONTNEED) ? -errno : 0;
	return err;
}

bool is_self_zap(struct upg_runtime *rt, uintptr_t start, uintptr_t end)
{
	struct self_zap_ring *z = rt->zap;
	unsigned i;

	for (i = 0; i < SELF_ZAP_RING; i++)
		if (atomic_load(&z->slot[i].start) == start &&
		    atomic_load(&z->slot[i].end) == end)
			return true;
	return false;
}
