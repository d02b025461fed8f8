/* SPDX-License-Identifier: MIT */
/*
 * Runtime life: options, userfaultfd, threads; stats; destroy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/handles.h"
#include "common/log.h"
#include "common/opts.h"
#include "core/runtime.h"
#include "evict/evict.h"
#include "fault/fault.h"
#include "fault/prefetch.h"
#include "fault/stage_pool.h"
#include "fork/fork.h"
#include "forkserve/forkserve.h"
#include "notify/notifier.h"
#include "readahead/readahead.h"
#include "region/region.h"
#include "region/self_zap.h"
#include "store/store.h"
#include "writeback/writeback.h"

#define DEFAULT_BUDGET (256ull << 20)
#define DEFAULT_HANDLERS 2
#define MAX_HANDLERS 64
#define DEFAULT_HIGH_PCT 95
#define DEFAULT_LOW_PCT 85
#define DEFAULT_EVICT_BATCH 256
#define MIN_DEFAULT_EVICT_BATCH 16
#define MAX_EVICT_BATCH 4096
#define DEFAULT_IO_DEPTH 64
#define MAX_IO_DEPTH 4096
#define DEFAULT_HANDLER_WAIT UPG_WAIT_EPOLL
#define DEFAULT_SPIN_US 1000
#define MAX_SPIN_US 1000000
#define KNOWN_FLAGS \
	(UPG_RT_USER_MODE_ONLY | UPG_RT_FORK_EVENTS | UPG_RT_READAHEAD | \
	 UPG_RT_NO_READAHEAD | UPG_RT_FILL_TIMING)

static int apply_opts(struct upg_runtime *rt, const struct upg_runtime_opts *o)
{
	uint64_t budget = OPTS_GET(o, budget_bytes, 0);
	unsigned high = OPTS_GET(o, high_watermark_pct, 0);
	unsigned low = OPTS_GET(o, low_watermark_pct, 0);
	const char *dir = OPTS_GET(o, swap_dir, NULL);
	long ps = sysconf(_SC_PAGESIZE);
	unsigned spin_us;

	rt->page_size = (size_t)ps;
	rt->page_shift = (unsigned)__builtin_ctzl((unsigned long)ps);
	budget = budget ? budget : DEFAULT_BUDGET;
	if (budget < rt->page_size)
		return -EINVAL;
	rt->budget_pages = budget >> rt->page_shift;
	high = high ? high : DEFAULT_HIGH_PCT;
	low = low ? low : (high > DEFAULT_LOW_PCT ? DEFAULT_LOW_PCT : high / 2);
	if (high > 100 || low >= high)
		return -EINVAL;
	rt->high_pages = rt->budget_pages * high / 100;
	rt->low_pages = rt->budget_pages * low / 100;
	rt->nr_handlers = OPTS_GET(o, handler_threads, 0);
	rt->nr_handlers = rt->nr_handlers ? rt->nr_handlers : DEFAULT_HANDLERS;
	rt->evict_batch = OPTS_GET(o, evict_batch_pages, 0);
	/* The default scales down with small budgets: a batch that takes a
	 * thirty-second of the budget at most keeps the victims of one batch
	 * (which the clock's fair share counts only page by page) from
	 * taking an upagerd client far below its share; 16 at the least. */
	if (!rt->evict_batch) {
		rt->evict_batch = DEFAULT_EVICT_BATCH;
		if (rt->evict_batch > rt->budget_pages / 32)
			rt->evict_batch = (unsigned)(rt->budget_pages / 32);
		if (rt->evict_batch < MIN_DEFAULT_EVICT_BATCH)
			rt->evict_batch = MIN_DEFAULT_EVICT_BATCH;
	}
	rt->io_depth = OPTS_GET(o, io_queue_depth, 0);
	rt->io_depth = rt->io_depth ? rt->io_depth : DEFAULT_IO_DEPTH;
	rt->flags = OPTS_GET(o, flags, 0);
	if (rt->nr_handlers > MAX_HANDLERS ||
	    rt->evict_batch > MAX_EVICT_BATCH || rt->io_depth > MAX_IO_DEPTH ||
	    (rt->flags & ~KNOWN_FLAGS))
		return -EINVAL;
	rt->handler_wait = OPTS_GET(o, handler_wait, UPG_WAIT_DEFAULT);
	spin_us = OPTS_GET(o, handler_spin_us, 0);
	if (rt->handler_wait > UPG_WAIT_SPIN || spin_us > MAX_SPIN_US ||
	    (spin_us && rt->handler_wait != UPG_WAIT_SPIN))
		return -EINVAL;
	if (rt->handler_wait == UPG_WAIT_DEFAULT)
		rt->handler_wait = DEFAULT_HANDLER_WAIT;
	rt->handler_spin_ns = (uint64_t)(spin_us ? spin_us : DEFAULT_SPIN_US) *
			      1000;
	/* Read-ahead is on unless turned off; asking for both is a mistake. */
	if ((rt->flags & UPG_RT_READAHEAD) && (rt->flags & UPG_RT_NO_READAHEAD))
		return -EINVAL;
	if (!(rt->flags & UPG_RT_NO_READAHEAD))
		rt->flags |= UPG_RT_READAHEAD;
	rt->pin_limit_pages = OPTS_GET(o, pin_limit_bytes, 0) >> rt->page_shift;
	if (!OPTS_GET(o, pin_limit_bytes, 0))
		rt->pin_limit_pages = rt->budget_pages / 4;
	if (rt->pin_limit_pages > rt->budget_pages)
		return -EINVAL;
	rt->ephemeral_wait_ms = OPTS_GET(o, ephemeral_pin_wait_ms, 0);
	if (!rt->ephemeral_wait_ms)
		rt->ephemeral_wait_ms = 100;
	rt->log.fn = OPTS_GET(o, log_fn, NULL);
	rt->log.ctx = OPTS_GET(o, log_ctx, NULL);
	rt->log.level = OPTS_GET(o, log_level, 0);
	if (!rt->log.level)
		rt->log.level = UPG_LOG_WARN;
	if ((unsigned)rt->log.level > UPG_LOG_DEBUG)
		return -EINVAL;
	if (!dir || !*dir)
		dir = getenv("TMPDIR");
	rt->swap_dir = strdup(dir && *dir ? dir : "/tmp");
	return rt->swap_dir ? 0 : -ENOMEM;
}

/* region/ -> fault/, fork/: what they hold of a region being unmapped. */
static void region_forget(struct upg_region *r)
{
	prefetch_drop_region(r->rt, r);
	fork_forget_region(r);
}

/* How region/ calls the layers above it (region/region.h). */
static const struct region_upcalls region_up = {
	.attach = readahead_attach,
	.detach = readahead_detach,
	.forget = region_forget,
	.writeback = region_writeback,
};

/*
 * The runtime and its subsystems' state, in one allocation: struct
 * upg_runtime points at each part (base/rt.h), and only this file sees
 * them all.
 */
struct runtime_parts {
	struct upg_runtime rt; /* first: runtime_free() frees the whole */
	struct evict_state evict;
	struct self_zap_ring zap;
	struct prefetch_queue prefetch;
	struct notify_state notify;
	struct fork_state fork;
	struct stage_pool stage;
};

/* What every runtime has, in-process or served by upagerd: the locks and
 * lists, no fd and no thread yet. */
static struct upg_runtime *runtime_alloc(void)
{
	struct runtime_parts *parts = calloc(1, sizeof(*parts));
	struct upg_runtime *rt;

	if (!parts)
		return NULL;
	rt = &parts->rt;
	rt->evict = &parts->evict;
	rt->zap = &parts->zap;
	rt->prefetch = &parts->prefetch;
	rt->notify = &parts->notify;
	rt->fork = &parts->fork;
	rt->stage = &parts->stage;
	rt->region_up = &region_up;
	rt->stop_efd = rt->evict->kick_efd = rt->prefetch->efd = -1;
	rt->self.uffd.fd = -1;
	rt->self.rt = rt;
	rt->self.local = true;
	rt->mms = &rt->self;
	rt->prefetch->tail = &rt->prefetch->head;
	pthread_mutex_init(&rt->prefetch->lock, NULL);
	notify_init(rt->notify);
	pthread_rwlock_init(&rt->regions_lock, NULL);
	pthread_mutex_init(&rt->clock_lock, NULL);
	pthread_mutex_init(&rt->caller_lock, NULL);
	pthread_mutex_init(&rt->swap_lock, NULL);
	pthread_mutex_init(&rt->self.read_lock, NULL);
	pthread_rwlock_init(&rt->mms_lock, NULL);
	pthread_rwlock_init(&rt->takeover_lock, NULL);
	pthread_mutex_init(&rt->evict->watch_lock, NULL);
	return rt;
}

void runtime_free(struct upg_runtime *rt)
{
	region_free_zombies(rt);
	free(rt->regions);
	pthread_rwlock_destroy(&rt->regions_lock);
	pthread_mutex_destroy(&rt->clock_lock);
	pthread_mutex_destroy(&rt->caller_lock);
	pthread_mutex_destroy(&rt->swap_lock);
	pthread_mutex_destroy(&rt->self.read_lock);
	pthread_rwlock_destroy(&rt->mms_lock);
	pthread_rwlock_destroy(&rt->takeover_lock);
	pthread_mutex_destroy(&rt->evict->watch_lock);
	pthread_mutex_destroy(&rt->prefetch->lock);
	/* Last: a store may complete a staged read until its queue stops. */
	stage_pool_fini(rt->stage);
	notify_fini(rt->notify);
	free(rt->swap_dir);
	free((struct runtime_parts *)rt);
}

int runtime_start_local(struct upg_runtime *rt)
{
	int err;

	rt->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rt->evict->kick_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rt->prefetch->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->stop_efd < 0 || rt->evict->kick_efd < 0 ||
	    rt->prefetch->efd < 0) {
		err = -errno;
		goto out_close;
	}
	err = io_queue_init(&rt->caller_q, rt->io_depth);
	if (err)
		goto out_close;
	if (!rt->stage->base)
		stage_pool_init(rt->stage, rt->page_size);
	err = handlers_start(rt);
	if (err)
		goto out_fini_q;
	err = evictor_start(rt);
	if (err)
		goto out_stop_handlers;
	return 0;

out_stop_handlers:
	handlers_stop(rt);
out_fini_q:
	io_queue_fini(&rt->caller_q);
out_close:
	if (rt->stop_efd >= 0)
		close(rt->stop_efd);
	if (rt->evict->kick_efd >= 0)
		close(rt->evict->kick_efd);
	if (rt->prefetch->efd >= 0)
		close(rt->prefetch->efd);
	rt->stop_efd = rt->evict->kick_efd = rt->prefetch->efd = -1;
	return err;
}

static void runtime_stop_local(struct upg_runtime *rt)
{
	evictor_stop(rt);
	handlers_stop(rt);
	io_queue_fini(&rt->caller_q);
	close(rt->stop_efd);
	close(rt->evict->kick_efd);
	close(rt->prefetch->efd);
	prefetch_drop_all(rt);
}

int runtime_new(const struct upg_runtime_opts *opts,
		struct upg_runtime **out)
{
	struct upg_runtime *rt = runtime_alloc();
	int err;

	if (!rt)
		return -ENOMEM;
	err = apply_opts(rt, opts);
	if (err) {
		runtime_free(rt);
		return err;
	}
	*out = rt;
	return 0;
}

int runtime_create_local(const struct upg_runtime_opts *opts,
			 struct upg_runtime **out)
{
	struct upg_runtime *rt;
	int err;

	if (!out || !opts_valid(opts, sizeof(*opts)))
		return -EINVAL;
	rt = runtime_alloc();
	if (!rt)
		return -ENOMEM;
	err = apply_opts(rt, opts);
	if (err)
		goto out_free;
	err = fork_init(rt);
	if (err)
		goto out_free;
	err = uffd_open(rt, rt->flags & UPG_RT_USER_MODE_ONLY,
			rt->flags & UPG_RT_FORK_EVENTS, &rt->self.uffd);
	if (err)
		goto out_fork;
	err = runtime_start_local(rt);
	if (err)
		goto out_close_uffd;
	err = fork_start(rt);
	if (err)
		goto out_stop;
	err = handle_add(rt);
	if (err)
		goto out_stop;
	*out = rt;
	return 0;

out_stop:
	runtime_stop_local(rt);
out_close_uffd:
	close(rt->self.uffd.fd);
out_fork:
	fork_stop(rt);
out_free:
	runtime_free(rt);
	return err;
}

int runtime_destroy_local(struct upg_runtime *rt)
{
	int err;

	/* Write back and release every region first; if one fails, stop
	 * with everything still in place (its data is not lost). */
	err = region_unmap_all(rt);
	if (err)
		return err;
	handle_del(rt);
	runtime_stop_local(rt);
	/* Last: the handler threads read their uffd under the fork lock. */
	fork_stop(rt);
	close(rt->self.uffd.fd);
	if (rt->swap)
		upg_store_put(rt->swap);
	return 0;
}

#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)

/* The counters of @c (the runtime's, or an upagerd client's) in @s. */
static void load_counters(const struct rt_stats *c, struct upg_stats *s)
{
	s->faults_missing = LOAD(faults_missing);
	s->faults_wp = LOAD(faults_wp);
	s->faults_minor = LOAD(faults_minor);
	s->pages_filled = LOAD(pages_filled);
	s->pages_zero_filled = LOAD(pages_zero_filled);
	s->pages_evicted = LOAD(pages_evicted);
	s->pages_written_back = LOAD(pages_written_back);
	s->bytes_read = LOAD(bytes_read);
	s->bytes_written = LOAD(bytes_written);
	s->read_errors = LOAD(read_errors);
	s->write_errors = LOAD(write_errors);
	s->io_errors = s->read_errors + s->write_errors;
	s->evict_batches_background = LOAD(evict_batches_background);
	s->evict_batches_sync = LOAD(evict_batches_sync);
	s->pages_sampled = LOAD(pages_sampled);
	s->pages_referenced = LOAD(pages_referenced);
	s->budget_overshoot_pages = LOAD(budget_overshoot_pages);
	s->pages_unpoisoned = LOAD(pages_unpoisoned);
	s->pins_acquired = LOAD(pins_acquired);
	s->pins_released = LOAD(pins_released);
	s->bytes_faulted_in = LOAD(bytes_faulted_in);
	s->pages_discarded = LOAD(pages_discarded);
	s->evict_pin_waits = LOAD(evict_pin_waits);
	s->pages_read_ahead = LOAD(pages_read_ahead);
	s->ra_pages_used = LOAD(ra_pages_used);
	s->ra_pages_wasted = LOAD(ra_pages_wasted);
	s->fills_timed = LOAD(fills_timed);
	s->fill_ns_wake = LOAD(fill_ns_wake);
	s->fill_ns_handler = LOAD(fill_ns_handler);
	s->fill_ns_store = LOAD(fill_ns_store);
	s->fill_ns_copy = LOAD(fill_ns_copy);
	s->fill_ns_map = LOAD(fill_ns_map);
	s->fill_submits = LOAD(fill_submits);
	s->fill_ns_submit = LOAD(fill_ns_submit);
}

void runtime_mm_stats(struct upg_mm *mm, struct upg_stats *s)
{
	struct upg_runtime *rt = mm->rt;

	load_counters(&mm->stats, s);
	s->resident_bytes = atomic_load(&mm->resident) << rt->page_shift;
	s->resident_peak_bytes = atomic_load(&mm->resident_peak)
				 << rt->page_shift;
	s->budget_bytes = rt->budget_pages << rt->page_shift;
}

void runtime_stats_local(struct upg_runtime *rt, struct upg_stats *s)
{
	load_counters(&rt->stats, s);
	s->resident_bytes = atomic_load(&rt->resident_pages) << rt->page_shift;
	s->resident_peak_bytes = atomic_load(&rt->resident_peak)
				 << rt->page_shift;
	s->budget_bytes = rt->budget_pages << rt->page_shift;
	s->pinned_bytes = atomic_load(&rt->pinned_pages) << rt->page_shift;
	s->notifier_callbacks = atomic_load(&rt->notify->callbacks);
	s->fork_children = atomic_load(&rt->fork->live);
	s->faults_forked = atomic_load(&rt->fork->faults);
	s->uffd_mode = (uint32_t)rt->self.uffd.mode;
	s->uffd_features = rt->self.uffd.features;
}
