/* SPDX-License-Identifier: MIT */
/*
 * page_model - what every page of a region should hold, for tests that
 * write and read a region under eviction and check every byte.
 *
 * A page holds either the store's initial content (data set @base_seed
 * indexed by store offset, or zeros for anonymous memory) or, once the
 * test wrote it, data set @wseed.  The access patterns cover the orders a
 * fill path meets: forward and backward sequential, strided, random.
 */
#ifndef UPAGER_PAGE_MODEL_H
#define UPAGER_PAGE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "stress_util.h"

struct pm_model {
	uint64_t len;       /* region length (a multiple of 8) */
	uint64_t npages;
	uint64_t store_off; /* data sets are indexed by store offset */
	bool zero_base;     /* unwritten pages read as zeros (anonymous) */
	uint64_t base_seed;
	uint64_t wseed;
	uint8_t *written;
	uint64_t nwritten;
	uint64_t random_ops; /* visits of PM_RANDOM (pm_init: 2 x npages) */
};

enum pm_pattern {
	PM_SEQ,      /* every page, first to last */
	PM_REVERSE,  /* every page, last to first */
	PM_STRIDE,   /* every 7th page, wrapping until all were visited */
	PM_RANDOM,   /* random_ops random pages */
	PM_NR_PATTERNS
};

void pm_init(struct pm_model *m, uint64_t len, uint64_t store_off,
	     bool zero_base, uint64_t base_seed, uint64_t wseed);
void pm_fini(struct pm_model *m);

/* Check page @pg at @base; fails the test with the first bad byte. */
void pm_check_page(const struct pm_model *m, const char *base, uint64_t pg,
		   const char *what);
void pm_write_page(struct pm_model *m, char *base, uint64_t pg);
void pm_check_all(const struct pm_model *m, const char *base,
		  const char *what);

/* Visit pages in @pattern; at each, write it (1 in @write_one_in, 0:
 * never) or read and check it. */
void pm_run(struct pm_model *m, char *base, enum pm_pattern pattern,
	    unsigned write_one_in, struct su_rng *rng, const char *what);

/* The file @fd holds the model's pages at their store offsets (pread). */
void pm_check_file(const struct pm_model *m, int fd, const char *what);

#endif
