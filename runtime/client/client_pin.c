/* SPDX-License-Identifier: MIT */
/*
 * Pins and nofault copies in daemon mode, through the marks shared with
 * upagerd (region/marks.h): a pin of resident pages is a fetch_add per
 * page and costs no round trip; only pages that are not resident are
 * faulted in through the daemon first.
 *
 * Pinned pages are then mapped here, as pin_user_pages() leaves them:
 * present, and writable in a writable region (marked DIRTY first, since
 * the daemon cannot see writes that raise no fault), so that pinned memory
 * raises no fault.  Nofault copies go through the client's alias of the
 * memfd under an ephemeral pin of each page.
 *
 * Context of all: application threads, with rt->takeover_lock held for
 * reading (pin/pin.c, pin/nofault.c), so that a takeover never sees a pin
 * half taken.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "client/client.h"
#include "pin/pin.h"
#include "region/marks.h"
#include "region/region.h"

#define CLIENT_PIN_TRIES 32

struct upg_region *client_region_lookup_get(struct upg_runtime *rt,
					    uintptr_t a)
{
	struct client_conn *cc = rt->remote;
	struct upg_region *r;

	pthread_mutex_lock(&cc->regions_lock);
	for (r = cc->regions; r; r = r->client_next)
		if (a >= (uintptr_t)r->addr &&
		    a - (uintptr_t)r->addr < r->map_len)
			break;
	if (r)
		region_get(r);
	pthread_mutex_unlock(&cc->regions_lock);
	return r;
}

/* Add one pin of kind @one to page @pg if the daemon has it resident:
 * 1, 0 (not resident: nothing added), -EOVERFLOW. */
static int mark_pin(struct upg_region *r, uint64_t pg, uint32_t one)
{
	uint32_t mask = one == MARK_LPIN_ONE ? PS_LPIN_MASK : PS_EPIN_MASK;
	_Atomic uint32_t *m = &r->client_marks[pg];
	uint32_t old = atomic_fetch_add(m, one);

	if ((old & mask) == mask || !(old & MARK_RESIDENT)) {
		atomic_fetch_sub(m, one);
		return (old & mask) == mask ? -EOVERFLOW : 0;
	}
	return 1;
}

void client_unpin_pages(struct upg_region *r, uint64_t first, uint64_t end,
			uint32_t one)
{
	for (; first < end; first++)
		atomic_fetch_sub(&r->client_marks[first], one);
}

/* Map pinned page @pg into the application: present, and writable in a
 * writable region.  Errors leave a page that faults, which the daemon
 * serves: nothing is lost, a fault is merely not avoided. */
static void map_pinned(struct upg_region *r, uint64_t pg)
{
	struct upg_runtime *rt = r->rt;
	uintptr_t a = (uintptr_t)r->addr + (pg << rt->page_shift);
	bool write = r->prot & PROT_WRITE;

	if (write)
		mark_set(&r->client_marks[pg], MARK_DIRTY);
	if (!uffd_continue(&rt->self.uffd, a, rt->page_size, false) && write)
		uffd_writeprotect(&rt->self.uffd, a, rt->page_size, false);
}

int client_pin_pages(struct upg_region *r, uint64_t first, uint64_t end,
		     uint32_t one)
{
	struct upg_runtime *rt = r->rt;
	uint64_t chunk = rt->budget_pages / 4, c0, c1, pg;
	unsigned tries;
	int err = 0;

	if (!(rt->remote->features & PROTO_FEAT_PIN_SHM))
		return -EOPNOTSUPP; /* a daemon without shared pin counts */
	if (!chunk)
		chunk = 1;
	for (c0 = first; c0 < end; c0 = c1) {
		c1 = end - c0 > chunk ? c0 + chunk : end;
		for (tries = 0; tries < CLIENT_PIN_TRIES; tries++) {
			for (pg = c0; pg < c1; pg++) {
				err = mark_pin(r, pg, one);
				if (err != 1)
					break;
			}
			if (pg == c1) {
				err = 0;
				break;
			}
			client_unpin_pages(r, c0, pg, one);
			if (err < 0)
				break;
			/* Not resident: have the daemon bring the rest of
			 * the chunk in, then pin again. */
			err = client_fault_in_pages(r, pg, c1,
						    r->prot & PROT_WRITE);
			if (err)
				break;
			err = -EAGAIN;
		}
		if (err) {
			client_unpin_pages(r, first, c0, one);
			return err;
		}
	}
	for (pg = first; pg < end; pg++)
		map_pinned(r, pg);
	return 0;
}

/* Nofault copies in a client (pin/nofault.c): the marks shared with the
 * daemon hold the page, the client's alias of the memfd reaches it. */
static bool client_nofault_hold(struct upg_region *r, uint64_t pg, bool write)
{
	if (mark_pin(r, pg, MARK_EPIN_ONE) != 1)
		return false;
	/* Dirty before the write, so a writeback racing it keeps the page
	 * dirty (marks.h). */
	if (write)
		mark_set(&r->client_marks[pg], MARK_DIRTY);
	return true;
}

static char *client_nofault_alias(struct upg_region *r, uint64_t pg)
{
	return r->client_alias + (pg << r->rt->page_shift);
}

static void client_nofault_release(struct upg_region *r, uint64_t pg)
{
	client_unpin_pages(r, pg, pg + 1, MARK_EPIN_ONE);
}

const struct nofault_side client_nofault_side = {
	.lookup = client_region_lookup_get,
	.hold = client_nofault_hold,
	.alias = client_nofault_alias,
	.release = client_nofault_release,
};

const struct pin_side client_pin_side = {
	.lookup = client_region_lookup_get,
	.pin = client_pin_pages,
	.unpin = client_unpin_pages,
};
