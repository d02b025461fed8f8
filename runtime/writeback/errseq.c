/* SPDX-License-Identifier: MIT */
/*
 * Writeback errors, after the kernel's errseq_t: a failure bumps the
 * region's sequence and remembers its errno; every cursor (the region's
 * own, used by upg_region_flush(), or one a caller sampled) sees each
 * failure once.  The pages themselves stay dirty: the error is news, not
 * loss.
 */
#include <errno.h>

#include "common/handles.h"
#include "region/region.h"
#include "writeback/writeback.h"

void region_record_error(struct upg_region *r, int err)
{
	atomic_store(&r->err_last, err);
	atomic_fetch_add(&r->err_seq, 1);
}

/* Report an error if the sequence moved past *cursor, and advance it. */
int errseq_check(struct upg_region *r, uint64_t *cursor)
{
	uint64_t now = atomic_load(&r->err_seq);

	if (now == *cursor)
		return 0;
	*cursor = now;
	return atomic_load(&r->err_last);
}

int region_errseq_check_own(struct upg_region *r)
{
	uint64_t now = atomic_load(&r->err_seq);
	uint64_t seen = __atomic_exchange_n(&r->flush_cursor, now,
					    __ATOMIC_ACQ_REL);

	return now == seen ? 0 : atomic_load(&r->err_last);
}

UPG_API uint64_t upg_region_err_sample(struct upg_region *r)
{
	if (!handle_live(r))
		return 0;
	return atomic_load(&r->err_seq);
}

