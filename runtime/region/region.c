/* SPDX-License-Identifier: MIT */
/*
 * Region life: map (memfd, alias, application mapping, registration),
 * unmap (write back, then release), and the public calls on regions.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/memfd.h> /* MFD_HUGE_2MB */

#include "common/handles.h"
#include "common/log.h"
#include "common/opts.h"
#include "notify/notifier.h"
#include "region/marks.h"
#include "region/region.h"
#include "store/store.h"

/* 64 TiB: the page table (4 bytes a page) stays below 64 GiB. */
#define REGION_MAX_BYTES (1ull << 46)
#define FILL_UNIT_MAX (2ull << 20)
/* The huge page size of UPG_REGION_HUGETLB (MFD_HUGE_2MB). */
#define HUGE_PAGE_BYTES (2ull << 20)
#define HUGE_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB/"

static uint64_t read_sysfs_u64(const char *name)
{
	char buf[32] = "";
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtoull(buf, NULL, 10) : 0;
}

/*
 * Can a 2 MiB huge page be had at all?  A hint only (the pool is shared
 * and may empty later: then a fill fails with SIGBUS), but it turns the
 * common mistake, no pool reserved, into -ENOMEM at map time.
 */
static bool huge_pool_has_room(void)
{
	uint64_t over = read_sysfs_u64(HUGE_SYSFS "nr_overcommit_hugepages");
	uint64_t surplus = read_sysfs_u64(HUGE_SYSFS "surplus_hugepages");

	return read_sysfs_u64(HUGE_SYSFS "free_hugepages") || over > surplus;
}

int region_check_huge(struct upg_runtime *rt)
{
	if (rt_fork_events(rt))
		return -EOPNOTSUPP;
	if ((rt->self.uffd.features & UFFD_HUGETLB_FEATURES) !=
	    UFFD_HUGETLB_FEATURES)
		return -EOPNOTSUPP;
	if (!huge_pool_has_room())
		return -ENOMEM;
	return 0;
}

int region_check_args(struct upg_runtime *rt, uint64_t length,
		      const struct upg_region_opts *o, struct region_map_args *a)
{
	if (!opts_valid(o, sizeof(*o)))
		return -EINVAL;
	a->length = length;
	a->prot = OPTS_GET(o, prot, 0);
	a->store_off = OPTS_GET(o, store_offset, 0);
	a->fill_unit = OPTS_GET(o, fill_unit, 0);
	a->flags = OPTS_GET(o, flags, 0);
	if (a->flags & ~UPG_REGION_HUGETLB)
		return -EINVAL;
	if (!a->prot)
		a->prot = PROT_READ | PROT_WRITE;
	if (a->prot != PROT_READ && a->prot != (PROT_READ | PROT_WRITE))
		return -EINVAL;
	if (!length)
		return -EINVAL;
	if (length > REGION_MAX_BYTES || a->store_off > UINT64_MAX - length)
		return -EOVERFLOW;
	if (a->store_off & (rt->page_size - 1))
		return -EINVAL;
	if (a->flags & UPG_REGION_HUGETLB) {
		/* The kernel moves a huge page whole: so does every fill. */
		if (a->fill_unit && a->fill_unit != HUGE_PAGE_BYTES)
			return -EINVAL;
		a->fill_unit = HUGE_PAGE_BYTES;
	}
	if (!a->fill_unit)
		a->fill_unit = rt->page_size;
	if (a->fill_unit < rt->page_size || a->fill_unit > FILL_UNIT_MAX ||
	    (a->fill_unit & (a->fill_unit - 1)))
		return -EINVAL;
	if (a->fill_unit > rt->budget_pages << rt->page_shift)
		return -EINVAL;
	return region_numa_check(o);
}

/* Check everything before anything is created: bad input has no side
 * effect. */
static int check_args(struct upg_runtime *rt, uint64_t length,
		      const struct upg_region_opts *o, struct region_map_args *a)
{
	int err = region_check_args(rt, length, o, a);

	if (!err && (a->flags & UPG_REGION_HUGETLB))
		err = region_check_huge(rt);
	return err;
}

/* @huge: on hugetlbfs, 2 MiB pages (@len a multiple of that). */
static int region_memfd(const char *name, uint64_t len, bool huge)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
					    (huge ? MFD_HUGETLB | MFD_HUGE_2MB :
						    0));

	if (fd < 0)
		return -errno;
	/* Sealed: nobody (a daemon's client, a bug) may resize the memfd
	 * under an alias mapping, which would turn accesses into SIGBUS. */
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int region_sealed_memfd(const char *name, uint64_t len)
{
	return region_memfd(name, len, false);
}

/*
 * A hugetlb mapping reserves huge pages for its whole length at mmap time
 * unless MAP_NORESERVE: a region several times its budget would then
 * need a pool several times the budget.  Without the reservation pages
 * are taken when a fill populates them (fault/fill.c), which reports an
 * empty pool as an error instead of a SIGBUS in the runtime.
 */
static int region_map_flags(const struct upg_region *r)
{
	return MAP_SHARED | (r->huge ? MAP_NORESERVE : 0);
}

/* The runtime's own mapping of r->memfd. */
static int map_alias(struct upg_region *r)
{
	r->alias = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE,
			region_map_flags(r), r->memfd, 0);
	if (r->alias == MAP_FAILED)
		return -errno;
	/* A fork child gets no copy of the alias. */
	madvise(r->alias, r->map_len, MADV_DONTFORK);
	return 0;
}

static int map_memfd(struct upg_runtime *rt, struct upg_region *r,
		     const struct upg_region_opts *o)
{
	int err;

	r->memfd = region_memfd("upager-region", r->map_len, r->huge);
	if (r->memfd < 0)
		return r->memfd;
	err = map_alias(r);
	if (err)
		goto out_close;
	err = region_numa_apply(rt, r, o);
	if (err)
		goto out_unmap_alias;
	r->addr = mmap(NULL, r->map_len, r->prot, region_map_flags(r),
		       r->memfd, 0);
	if (r->addr == MAP_FAILED) {
		err = -errno;
		goto out_unmap_alias;
	}
	/* DESIGN.md section 2: a child that inherited the mapping but not
	 * the registration would allocate zero pages in our memfd.  With
	 * UPG_RT_FORK_EVENTS the registration is inherited too (fork/). */
	if (!rt_fork_events(rt) &&
	    madvise(r->addr, r->map_len, MADV_DONTFORK)) {
		err = -errno;
		goto out_unmap_app;
	}
	err = uffd_register(&rt->self.uffd, r->addr, r->map_len,
			    r->prot & PROT_WRITE);
	if (err) {
		rt_err(rt, "userfaultfd register: %s", strerror(-err));
		goto out_unmap_app;
	}
	return 0;

out_unmap_app:
	munmap(r->addr, r->map_len);
out_unmap_alias:
	munmap(r->alias, r->map_len);
out_close:
	close(r->memfd);
	return err;
}

static void unmap_memfd(struct upg_region *r)
{
	munmap(r->alias, r->map_len);
	close(r->memfd);
}

/*
 * Another process's region (upagerd): its memfd is theirs, passed to us,
 * and so is the application mapping at @rr->addr, registered with their
 * uffd.  We only map the alias.  The memfd must be sealed against
 * shrinking and hold the whole region: a client that truncated it would
 * turn our alias accesses into SIGBUS.
 */
/* A passed fd we may map: sealed against shrinking (-EPERM), a regular
 * file of at least @len bytes (-EINVAL). */
static int check_sealed(int fd, uint64_t len)
{
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPERM;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < len)
		return -EINVAL;
	return 0;
}

static int adopt_memfd(struct upg_runtime *rt, struct upg_region *r,
		       const struct region_remote *rr,
		       const struct upg_region_opts *o)
{
	int err = check_sealed(rr->memfd, r->map_len);

	if (err)
		return err;
	r->memfd = rr->memfd;
	err = map_alias(r);
	if (err)
		return err;
	/* The client's policy (daemon/requests.c), on the memfd's shared
	 * policy through our alias: the client's mappings see it too. */
	err = region_numa_apply(rt, r, o);
	if (err) {
		munmap(r->alias, r->map_len);
		return err;
	}
	if (rr->marks_fd >= 0) {
		size_t len = r->npages * sizeof(uint32_t);
		void *m = MAP_FAILED;

		if (!check_sealed(rr->marks_fd, len))
			m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				 rr->marks_fd, 0);
		if (m == MAP_FAILED) {
			munmap(r->alias, r->map_len);
			return -EPERM;
		}
		r->fill_marks = m;
	}
	r->addr = (char *)rr->addr;
	return 0;
}

static void unmap_marks(struct upg_region *r)
{
	if (r->fill_marks)
		munmap((void *)r->fill_marks, r->npages * sizeof(uint32_t));
	r->fill_marks = NULL;
}

/* Common to the map calls.  @anon: swap-backed, store_off given.
 * @rr: another process's region (upagerd), or NULL. */
static int region_create(struct upg_runtime *rt, struct upg_store *store,
			 const struct region_map_args *a, bool anon,
			 const struct upg_region_opts *o,
			 const struct region_remote *rr,
			 struct upg_region **out)
{
	struct upg_region *r;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->rt = rt;
	r->mm = rr ? rr->mm : &rt->self;
	r->pinfd = r->client_store_fd = -1;
	r->length = a->length;
	r->npages = rt_pages(rt, a->length);
	r->huge = a->flags & UPG_REGION_HUGETLB;
	r->fill_pages = (unsigned)(a->fill_unit >> rt->page_shift);
	/* A hugetlb memfd holds whole huge pages (a unit each). */
	if (r->huge)
		r->npages = (r->npages + r->fill_pages - 1) &
			    ~(uint64_t)(r->fill_pages - 1);
	r->map_len = r->npages << rt->page_shift;
	r->prot = a->prot;
	r->store = store;
	r->store_off = a->store_off;
	r->store_limit = a->store_off + (anon ? r->map_len : a->length);
	r->anon = anon;
	r->numa_policy = OPTS_GET(o, numa_policy, UPG_NUMA_DEFAULT);
	pthread_mutex_init(&r->remove_lock, NULL);
	err = rt->region_up->attach(r);
	if (err)
		goto out_free;
	r->pages = calloc(r->npages, sizeof(*r->pages));
	if (!r->pages) {
		err = -ENOMEM;
		goto out_free;
	}
	err = rr ? adopt_memfd(rt, r, rr, o) : map_memfd(rt, r, o);
	if (err)
		goto out_free_pages;
	err = region_table_insert(rt, r);
	if (err)
		goto out_unmap;
	err = handle_add(r);
	if (err)
		goto out_remove;
	if (r->huge)
		atomic_fetch_add(&rt->huge_regions, 1);
	store_get(store);
	*out = r;
	return 0;

out_remove:
	region_table_remove(rt, r);
out_unmap:
	if (!rr) {
		uffd_unregister(region_uffd(r), r->addr, r->map_len);
		munmap(r->addr, r->map_len);
		unmap_memfd(r);
	} else {
		munmap(r->alias, r->map_len); /* the memfd stays the caller's */
		unmap_marks(r);
	}
out_free_pages:
	free(r->pages);
out_free:
	rt->region_up->detach(r);
	free(r);
	return err;
}

int region_map_store(struct upg_runtime *rt, struct upg_store *store,
		     const struct region_map_args *a,
		     const struct upg_region_opts *opts, struct upg_region **out)
{
	return region_create(rt, store, a, false, opts, NULL, out);
}

int region_check_file(int fd, int prot)
{
	struct stat st;
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstat(fd, &st))
		return -EBADF;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -ENODEV;
	if ((fl & O_ACCMODE) == O_WRONLY ||
	    ((prot & PROT_WRITE) && (fl & O_ACCMODE) == O_RDONLY))
		return -EACCES;
	return 0;
}

int region_map_file(struct upg_runtime *rt, int fd,
		    const struct region_map_args *a,
		    const struct upg_region_opts *opts, struct upg_region **out)
{
	struct upg_store *store;
	int err;

	err = upg_store_open_file(fd, &store);
	if (err)
		return err;
	err = region_create(rt, store, a, false, opts, NULL, out);
	upg_store_put(store); /* the region holds its own reference */
	return err;
}

static int swap_get(struct upg_runtime *rt, struct upg_store **out)
{
	int err = 0;

	pthread_mutex_lock(&rt->swap_lock);
	if (!rt->swap) {
		err = swap_store_create(rt->swap_dir, &rt->swap);
		if (err)
			rt_err(rt, "cannot create the swap file in %s: %s",
			       rt->swap_dir, strerror(-err));
	}
	*out = rt->swap;
	pthread_mutex_unlock(&rt->swap_lock);
	return err;
}

int region_map_anon(struct upg_runtime *rt, const struct region_map_args *args,
		    const struct upg_region_opts *opts, struct upg_region **out)
{
	struct region_map_args a = *args;
	uint64_t length = a.length;
	struct upg_store *swap;
	uint64_t off, swap_len;
	int err;

	err = swap_get(rt, &swap);
	if (err)
		return err == -ENOMEM ? err : -EIO;
	/* As much swap as the region maps (whole huge pages for hugetlb),
	 * which is what its writeback may fill and its unmap frees. */
	swap_len = rt_pages(rt, length) << rt->page_shift;
	if (a.flags & UPG_REGION_HUGETLB)
		swap_len = (swap_len + HUGE_PAGE_BYTES - 1) &
			   ~(HUGE_PAGE_BYTES - 1);
	err = swap_alloc(swap, swap_len, &off);
	if (err)
		return err;
	a.store_off = off;
	err = region_create(rt, swap, &a, true, opts, NULL, out);
	if (err)
		swap_free(swap, off, swap_len);
	return err;
}

int region_map_remote(struct upg_runtime *rt, const struct region_remote *rr,
		      struct upg_store *store, uint64_t length,
		      const struct upg_region_opts *opts, struct upg_region **out)
{
	struct upg_store *swap = NULL;
	struct region_map_args a;
	int err;

	err = check_args(rt, length, opts, &a);
	if (err)
		return err;
	if (!store) {
		/* Anonymous: our own swap file, never a path of the client's. */
		uint64_t off;

		if (a.store_off)
			return -EINVAL;
		err = swap_get(rt, &swap);
		if (err)
			return err == -ENOMEM ? err : -EIO;
		err = swap_alloc(swap, rt_pages(rt, length) << rt->page_shift,
				 &off);
		if (err)
			return err;
		a.store_off = off;
		store = swap;
	}
	err = region_create(rt, store, &a, swap != NULL, opts, rr, out);
	if (err && swap)
		swap_free(swap, a.store_off,
			  rt_pages(rt, length) << rt->page_shift);
	return err;
}

int region_adopt_local(struct upg_region *r, int store_fd, uint64_t store_off,
		       const _Atomic uint32_t *marks)
{
	struct upg_store *store;
	int err = upg_store_open_file(store_fd, &store);

	if (err)
		return err;
	err = region_adopt_store(r, store, store_off, marks);
	upg_store_put(store); /* the region holds its own reference */
	return err;
}

int region_adopt_store(struct upg_region *r, struct upg_store *store,
		       uint64_t store_off, const _Atomic uint32_t *marks)
{
	struct upg_runtime *rt = r->rt;
	uint64_t pg, resident = 0, peak;
	int err;

	/* Kept on failure: the region stays the client's, and its advice
	 * (upg_advise() made it) with it. */
	err = rt->region_up->attach(r);
	if (err)
		return err;
	r->pages = calloc(r->npages, sizeof(*r->pages));
	if (!r->pages)
		return -ENOMEM;
	err = map_alias(r);
	if (err)
		goto out_free;
	store_get(store);
	r->store = store;
	r->store_off = store_off;
	r->store_limit = store_off + (r->anon ? r->map_len : r->length);
	if (!r->fill_pages)
		r->fill_pages = 1;
	pthread_mutex_init(&r->remove_lock, NULL);
	for (pg = 0; pg < r->npages; pg++) {
		_Atomic uint32_t *p = region_page(r, pg);
		uint32_t m = marks ? atomic_load(&marks[pg]) : 0;
		/* The client's pins (same bits, region/marks.h). */
		uint32_t pins = m & MARK_PIN_MASK;

		if (m & MARK_FILLING) {
			/* Half read when the daemon died: read it again. */
			fallocate(r->memfd,
				  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)(pg << rt->page_shift),
				  (off_t)rt->page_size);
			atomic_store(p, PS_ABSENT | PS_HAS_DATA | pins);
		} else if (page_in_memfd(r, pg)) {
			atomic_store(p, PS_RESIDENT | PS_DIRTY | PS_REF | pins);
			resident++;
		} else {
			atomic_store(p, PS_ABSENT | PS_HAS_DATA | pins);
		}
	}
	region_resident_add(r, (int64_t)resident);
	peak = atomic_fetch_add(&rt->resident_pages, resident) + resident;
	if (peak > atomic_load(&rt->resident_peak))
		atomic_store(&rt->resident_peak, peak);
	err = region_table_insert(rt, r);
	if (err)
		goto out_put;
	return 0;

out_put:
	atomic_fetch_sub(&rt->resident_pages, resident);
	upg_store_put(r->store);
	r->store = NULL;
	munmap(r->alias, r->map_len);
out_free:
	free(r->pages);
	r->pages = NULL;
	return err;
}

UPG_API void *upg_region_addr(const struct upg_region *r)
{
	return r ? r->addr : NULL;
}

UPG_API uint64_t upg_region_length(const struct upg_region *r)
{
	return r ? r->length : 0;
}

int region_flush(struct upg_region *r, uint64_t offset, uint64_t length)
{
	struct upg_runtime *rt = r->rt;
	struct upg_io_queue *q;
	uint64_t first, end;
	int err, err2;

	if (offset & (rt->page_size - 1) || offset > r->length ||
	    (length && length > r->length - offset))
		return -EINVAL;
	if (!length)
		length = r->length - offset;
	first = offset >> rt->page_shift;
	end = rt_pages(rt, offset + length);
	q = runtime_caller_queue(rt);
	err = rt->region_up->writeback(r, first, end, q);
	runtime_caller_done(rt);
	err2 = store_flush(r->store);
	/* Our own failures are among those the cursor reports: report once. */
	err2 = region_errseq_check_own(r) ?: err2;
	return err ? err : err2;
}

/* Wait until no fill, eviction or fault handling holds the region. */
static void drain_refs(struct upg_region *r)
{
	uint32_t n;

	for (;;) {
		uint32_t seq0 = futex_net_begin(&r->refs);

		n = atomic_load(&r->refs);
		if (!(n & ~REGION_REFS_WAITER))
			break;
		/* Ask the last region_put() to wake us (region.h). */
		if (!(n & REGION_REFS_WAITER) &&
		    !atomic_compare_exchange_weak(&r->refs, &n,
						  n | REGION_REFS_WAITER))
			continue;
		/* The net: the last region_put() wakes us (region.h). */
		if (futex_wait_net(&r->refs, n | REGION_REFS_WAITER,
				   10 * 1000 * 1000) &&
		    !(atomic_load(&r->refs) & ~REGION_REFS_WAITER))
			futex_net_lost_wakeup(&r->refs, seq0);
	}
	atomic_fetch_and(&r->refs, ~REGION_REFS_WAITER);
}

static int writeback_all(struct upg_region *r)
{
	/* Anonymous memory in our own swap file: gone with the region, like
	 * munmap() of anonymous memory; nothing to write. */
	if (r->anon && r->store == r->rt->swap)
		return 0;
	struct upg_io_queue *q = runtime_caller_queue(r->rt);
	int err = r->rt->region_up->writeback(r, 0, r->npages, q);

	runtime_caller_done(r->rt);
	return err ? err : store_flush(r->store);
}

void region_notify_unmap(struct upg_region *r)
{
	uintptr_t a = (uintptr_t)r->addr;

	if (!notify_any(r->rt->notify) || !a || atomic_load(&r->detached))
		return;
	notify_invalidate_start(r->rt->notify, a, a + r->map_len,
				UPG_NOTIFY_UNMAP, true);
	notify_invalidate_end(r->rt->notify);
}

int region_wait_pins(struct upg_region *r, unsigned flags)
{
	uint32_t n;

	while ((n = atomic_load(&r->pins))) {
		if (!(flags & UPG_UNMAP_WAIT_PINS))
			return -EBUSY;
		futex_wait(&r->pins, n, 0);
	}
	return 0;
}

int region_unmap(struct upg_region *r, unsigned flags)
{
	struct upg_runtime *rt = r->rt;
	int err;

	if (!r->torn_down) {
		region_notify_unmap(r);
		err = region_wait_pins(r, flags);
		if (err)
			return err;
		/* Everything written reaches the store before anything is
		 * released: on failure the region is left as it was. */
		err = writeback_all(r);
		if (err)
			return err;
		if (!atomic_load(&r->detached) && r->mm->local) {
			/* Unregistering first means our munmap raises no
			 * UNMAP event.  (Another process's mapping is its
			 * own to unmap.) */
			uffd_unregister(region_uffd(r), r->addr, r->map_len);
			munmap(r->addr, r->map_len);
		}
		r->torn_down = true;
		region_table_remove(rt, r);
		if (r->huge)
			atomic_fetch_sub(&rt->huge_regions, 1);
		rt->region_up->forget(r);
		drain_refs(r);
	}
	/* Writes that raced with the teardown are in the memfd, dirty. */
	err = writeback_all(r);
	if (err)
		return err;

	atomic_fetch_sub(&r->mm->resident, atomic_load(&r->resident));
	budget_release(rt, atomic_load(&r->resident));
	unmap_memfd(r);
	unmap_marks(r);
	/* A region a client took over from a dead daemon (daemon mode). */
	if (r->pinfd >= 0)
		close(r->pinfd);
	if (r->client_store_fd >= 0)
		close(r->client_store_fd);
	r->pinfd = r->client_store_fd = -1;
	if (r->anon && r->store == rt->swap)
		swap_free(r->store, r->store_off, r->map_len);
	upg_store_put(r->store);
	free(r->pages);
	r->pages = NULL;
	rt->region_up->detach(r);
	region_bury(r);
	return 0;
}

void region_bury(struct upg_region *r)
{
	struct upg_runtime *rt = r->rt;

	handle_del(r);
	pthread_rwlock_wrlock(&rt->regions_lock);
	r->zombie_next = rt->zombies;
	rt->zombies = r;
	pthread_rwlock_unlock(&rt->regions_lock);
}

int region_unmap_all(struct upg_runtime *rt)
{
	for (;;) {
		struct upg_region *r = NULL;
		int err;

		pthread_rwlock_rdlock(&rt->regions_lock);
		if (rt->nr_regions)
			r = rt->regions[0];
		pthread_rwlock_unlock(&rt->regions_lock);
		if (!r)
			return 0;
		err = region_unmap(r, 0);
		if (err)
			return err;
	}
}

void region_free_zombies(struct upg_runtime *rt)
{
	while (rt->zombies) {
		struct upg_region *r = rt->zombies;

		rt->zombies = r->zombie_next;
		/* A daemon-mode client's region that never took over. */
		rt->region_up->detach(r);
		free(r);
	}
}

void region_count_pages(struct upg_region *r, struct upg_region_stats *s)
{
	uint64_t pg;

	for (pg = 0; pg < r->npages; pg++) {
		uint32_t v = atomic_load(region_page(r, pg));

		/* As the budget counts: a page being filled is resident. */
		if (ps_state(v) != PS_ABSENT) {
			s->resident_bytes += r->rt->page_size;
			if (v & PS_DIRTY)
				s->dirty_bytes += r->rt->page_size;
		}
	}
	region_numa_count(r, s->node_pages, UPG_MAX_NUMA_NODES);
}
