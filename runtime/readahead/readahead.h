/* SPDX-License-Identifier: MIT */
/*
 * readahead - a per-region access-pattern detector and the read-ahead it
 * drives (docs/readahead.md).
 *
 * The detector watches the MISSING faults of a region, and the faults on
 * pages it read ahead, and keeps a small table of streams: sequential up,
 * sequential down, or strided (a constant distance in pages).  A stream
 * that is confirmed gets a read-ahead window, which doubles each time the
 * stream reaches it and halves when its pages were evicted before use.
 * Faults that belong to no stream get no read-ahead at all.
 *
 * A window is read as large contiguous runs, queued together on the
 * handler's io_uring, and mapped into the application as it completes,
 * except its trigger page: the page the stream touches first.  It stays
 * unmapped (in the memfd, PS_READAHEAD), so that its touch raises a minor
 * fault, which maps it and reads the next window: the application keeps a
 * whole window ahead of it without faulting on every page.
 *
 * detector.c  the stream table: matching faults, window sizes
 * window.c    counting the pages a stream used
 * The plans are carried out by fault/ (fill_readahead(),
 * fault/readahead_fill.c): read-ahead decides, the fault path fills.
 * advice.c    the per-region advice ranges of upg_advise()
 *
 * Locking: one mutex per region (struct ra_state.lock), held while a fault
 * is classified (a few hundred instructions, never across I/O or a fill).
 * Page markers are changed with atomics on the page words, outside it.
 */
#ifndef UPAGER_READAHEAD_H
#define UPAGER_READAHEAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct upg_region;

/* Streams tracked per region; more interleaved streams than this keep
 * displacing each other and lose their read-ahead. */
#define RA_STREAMS 8
/* Largest window, in pages (also at most an eighth of the budget, shared
 * by the region's streams that have a window). */
#define RA_MAX_PAGES 2048
/* First window of a stream the detector confirmed, in pages. */
#define RA_INIT_PAGES 8
/* Largest distance between two faults taken as a stride, in pages. */
#define RA_MAX_STRIDE 1024

#define RA_NONE UINT64_MAX

/*
 * A window: the elements base + k * step for k = 1..n, each one the fill
 * unit holding that page.  Sequential streams have step = +-fill unit (the
 * elements are contiguous), strided ones their stride.
 */
struct ra_window {
	uint64_t base;
	int64_t step;
	uint32_t n;
};

struct ra_stream {
	uint64_t pos;	/* page of the stream's last fault */
	int64_t step;	/* pages between its accesses; 0 while unknown */
	uint32_t seen;	/* accesses in a row that matched step */
	uint32_t win;	/* elements of its next window */
	struct ra_window cur, prev; /* last window read, the one before */
	uint64_t trigger;	/* page whose fault reads the next window */
	uint64_t next;		/* first page of the element after the window */
	uint64_t exp_lo, exp_hi; /* pages where its next miss is expected */
	uint64_t stamp;	/* ra_state.clock at its last fault */
	bool live;
};

struct ra_advice_range {
	uint64_t lo, hi; /* pages */
	int advice;	 /* UPG_ADV_RANDOM or UPG_ADV_SEQUENTIAL */
};

struct ra_state {
	pthread_mutex_t lock;
	uint64_t clock; /* faults classified */
	struct ra_stream streams[RA_STREAMS];
	/* Sorted, disjoint ranges with advice other than NORMAL. */
	struct ra_advice_range *advice;
	uint32_t nr_advice;
};

/* What a fault's fill does besides its own unit (readahead_on_miss()). */
struct ra_plan {
	bool cold;  /* fill the fault's unit without REF (SEQUENTIAL) */
	bool issue; /* read @w ahead, with @trigger left unmapped */
	struct ra_window w;
	uint64_t trigger;
	/* Windows the stream has passed: their marked pages were used. */
	struct ra_window used[2];
};

void ra_init(struct ra_state *ra);
void ra_fini(struct ra_state *ra);

/**
 * readahead_attach() - give region @r its detector state (r->ra).
 * Return: 0 or -ENOMEM.
 * readahead_detach() - free it (nothing if @r has none).
 * Context: region creation and unmap (struct region_upcalls, installed by
 * core/), the region not in use by any other thread.
 */
int readahead_attach(struct upg_region *r);
void readahead_detach(struct upg_region *r);

/**
 * readahead_on_miss() - classify a MISSING fault at page @pg of @r (an
 * ABSENT page, about to be filled) and plan the read-ahead it calls for.
 * Context: handler thread, before the fault's fill claims the page (the
 * page's PS_READAHEAD marker tells an evicted read-ahead page).
 */
void readahead_on_miss(struct upg_region *r, uint64_t pg,
		       struct ra_plan *plan);

/**
 * readahead_note_used() - count the pages of the windows @plan says the
 * stream passed as used (and clear their markers).  fill_readahead()
 * (fault/) calls it first when it carries out @plan.
 * @r: the region; @plan: a plan readahead_on_miss() or _on_use() made.
 * Context: any runtime thread; atomics on the page words only.
 */
void readahead_note_used(struct upg_region *r, const struct ra_plan *plan);

/**
 * readahead_cut() - the window of @plan was read only up to its element
 * @n (of plan->w.n), because the budget had no more room that fair shares
 * let a read-ahead take (fault/fill.c): the stream's window ends there,
 * its next miss is expected on element @n + 1, and the window grows again
 * from @n elements (from the first size if 0, when no trigger page was
 * claimed and the window is dropped).  Nothing if the stream has planned
 * another window since.
 * Context: fill_readahead()'s thread; takes the region's read-ahead lock.
 */
void readahead_cut(struct upg_region *r, const struct ra_plan *plan,
		   uint32_t n);

/**
 * readahead_on_use() - a fault showed that page @pg, marked PS_READAHEAD,
 * is used: count it; if it is a stream's trigger, plan the next window in
 * @plan, which the caller carries out with fill_readahead() (fault/).
 * Of a hugetlb region the whole unit holding @pg is used (it was mapped
 * whole), and it is the trigger if the stream's trigger page is in it.
 * Context: handler thread, after the page was mapped.
 */
void readahead_on_use(struct upg_region *r, uint64_t pg,
		      struct ra_plan *plan);

/**
 * ra_advice_set() - record @advice (UPG_ADV_NORMAL, _RANDOM or
 * _SEQUENTIAL) for pages [lo, hi) of @r; the latest call wins.
 * Return: 0 or -ENOMEM (the table is unchanged).
 * Context: any thread; takes the region's read-ahead lock.
 */
int ra_advice_set(struct upg_region *r, uint64_t lo, uint64_t hi,
		  int advice);

/**
 * ra_advice_span() - the advice at page @pg and the largest range
 * [*lo, *hi) around it with the same advice (clipped to @npages).
 * Context: the caller holds ra->lock.
 */
int ra_advice_span(const struct ra_state *ra, uint64_t pg, uint64_t npages,
		   uint64_t *lo, uint64_t *hi);

/* Element @k of window @w, as the first page of its fill unit, or RA_NONE
 * when it falls outside [0, @npages). */
uint64_t ra_element(const struct ra_window *w, uint32_t k, unsigned unit,
		    uint64_t npages);

#endif
