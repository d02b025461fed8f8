// SPDX-License-Identifier: MIT
#include <check.h>
#include <inttypes.h>
#include <stdlib.h>

#include "page_model.h"
#include "testutil.h"

void pm_init(struct pm_model *m, uint64_t len, uint64_t store_off,
	     bool zero_base, uint64_t base_seed, uint64_t wseed)
{
	size_t ps = su_page();

	ck_assert_uint_eq(len % 8, 0);
	*m = (struct pm_model){ .len = len, .npages = (len + ps - 1) / ps,
				.store_off = store_off,
				.zero_base = zero_base,
				.base_seed = base_seed, .wseed = wseed };
	m->written = calloc(m->npages, 1);
	m->random_ops = 2 * m->npages;
	ck_assert_ptr_nonnull(m->written);
}

void pm_fini(struct pm_model *m)
{
	free(m->written);
	m->written = NULL;
}

static uint64_t page_len(const struct pm_model *m, uint64_t pg)
{
	uint64_t off = pg * su_page();

	return m->len - off < su_page() ? m->len - off : su_page();
}

static uint64_t page_diff(const struct pm_model *m, uint64_t pg,
			  const char *p)
{
	uint64_t off = m->store_off + pg * su_page(), len = page_len(m, pg);
	const uint64_t *w = (const uint64_t *)p;
	uint64_t i;

	if (m->written[pg])
		return tu_check(p, off, len, m->wseed);
	if (!m->zero_base)
		return tu_check(p, off, len, m->base_seed);
	for (i = 0; i < len / 8; i++)
		if (w[i])
			return i * 8;
	return UINT64_MAX;
}

void pm_check_page(const struct pm_model *m, const char *base, uint64_t pg,
		   const char *what)
{
	uint64_t bad = page_diff(m, pg, base + pg * su_page());

	/* ck_assert records a location per call: only on failure. */
	if (bad != UINT64_MAX)
		ck_abort_msg("%s: page %" PRIu64 " (%s) differs at byte %" PRIu64,
			     what, pg, m->written[pg] ? "written" : "initial",
			     bad);
}

void pm_write_page(struct pm_model *m, char *base, uint64_t pg)
{
	uint64_t off = pg * su_page();

	tu_fill(base + off, m->store_off + off, page_len(m, pg), m->wseed);
	if (!m->written[pg])
		m->nwritten++;
	m->written[pg] = 1;
}

void pm_check_all(const struct pm_model *m, const char *base,
		  const char *what)
{
	uint64_t pg;

	for (pg = 0; pg < m->npages; pg++)
		pm_check_page(m, base, pg, what);
}

static void visit(struct pm_model *m, char *base, uint64_t pg,
		  unsigned write_one_in, struct su_rng *rng, const char *what)
{
	if (write_one_in && !su_below(rng, write_one_in))
		pm_write_page(m, base, pg);
	else
		pm_check_page(m, base, pg, what);
}

void pm_run(struct pm_model *m, char *base, enum pm_pattern pattern,
	    unsigned write_one_in, struct su_rng *rng, const char *what)
{
	uint64_t i, n = m->npages;

	switch (pattern) {
	case PM_SEQ:
		for (i = 0; i < n; i++)
			visit(m, base, i, write_one_in, rng, what);
		break;
	case PM_REVERSE:
		for (i = n; i-- > 0;)
			visit(m, base, i, write_one_in, rng, what);
		break;
	case PM_STRIDE:
		/* i * 7 mod n visits every page once unless 7 divides
		 * n (a test's region sizes are chosen so). */
		for (i = 0; i < n; i++)
			visit(m, base, (i * 7) % n, write_one_in, rng, what);
		break;
	default:
		for (i = 0; i < m->random_ops; i++)
			visit(m, base, su_below(rng, n), write_one_in, rng,
			      what);
		break;
	}
}

void pm_check_file(const struct pm_model *m, int fd, const char *what)
{
	size_t ps = su_page();
	char *buf = malloc(ps);
	uint64_t pg;

	ck_assert_ptr_nonnull(buf);
	for (pg = 0; pg < m->npages; pg++) {
		uint64_t bad;

		su_pread_all(fd, buf, page_len(m, pg),
			     m->store_off + pg * ps);
		bad = page_diff(m, pg, buf);
		if (bad != UINT64_MAX)
			ck_abort_msg("%s: file page %" PRIu64
				     " (%s) differs at byte %" PRIu64,
				     what, pg,
				     m->written[pg] ? "written" : "initial",
				     bad);
	}
	free(buf);
}
