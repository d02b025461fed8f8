// SPDX-License-Identifier: MIT
/*
 * test_daemon_stats - upg_runtime_stats() and upg_region_stats() tell the
 * truth in both modes.  One workload runs in-process and through a real
 * upagerd started by the test, with the same budget; every field of
 * struct upg_stats is checked against what the workload did (non-zero
 * where it must be, consistent with the other fields), and the two modes
 * against each other.  Through the daemon the counters are this client's
 * own: a second client's work does not change them, while the daemon's
 * totals move (docs/daemon.md, "What is carried to the daemon").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon_util.h"
#include "proto/proto.h"
#include "regionutil.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define BUDGET (2 * MiB)
#define FILE_LEN (4 * MiB)  /* data in the file */
#define FILE_REGION (6 * MiB) /* the last 2 MiB: past EOF, zero-filled */
#define ANON_LEN (1 * MiB)
#define WP_PAGES 16ull

static size_t PS;

/* What one run of the workload saw. */
struct run {
	struct upg_stats st;
	struct upg_region_stats file_rs;
	/* Faults of the read-then-write phase of WP_PAGES pages. */
	uint64_t wp_phase_wp, wp_phase_missing;
};

/*
 * The workload, on @rt (in-process or connected):
 * 1. a file region read through, checked (4 MiB of data, 2 MiB past EOF);
 * 2. its data pages written through (sequential writes: written back as
 *    they are evicted);
 * 3. WP_PAGES pages faulted in readable, then each written: a write to a
 *    clean, write-protected page;
 * 4. an anonymous region written (zero-filled, then swapped out by
 *    eviction) and read back;
 * 5. one page pinned and unpinned, one resident anonymous page discarded;
 * 6. a flush; the stats are read with the regions still mapped.
 */
static void workload(struct upg_runtime *rt, struct run *out)
{
	UPG_OPTS(upg_stats, before);
	UPG_OPTS(upg_stats, mid);
	struct upg_region *f, *an;
	struct upg_pin *pin;
	uint64_t off, i;
	int fd = tur_data_file(FILE_LEN, 7);
	char *a, *b;

	ck_assert_int_eq(upg_region_map_file(rt, fd, FILE_REGION, NULL, &f), 0);
	a = upg_region_addr(f);
	ck_assert_uint_eq(tu_check(a, 0, FILE_LEN, 7), UINT64_MAX);
	for (off = FILE_LEN; off < FILE_REGION; off += PS)
		ck_assert_int_eq(a[off], 0);

	tu_fill(a, 0, FILE_LEN, 8);

	ck_assert_int_eq(upg_runtime_stats(rt, &before), 0);
	ck_assert_uint_eq(upg_fault_in_readable(rt, a, WP_PAGES * PS), 0);
	for (i = 0; i < WP_PAGES; i++)
		((volatile char *)a)[i * PS] ^= 1;
	ck_assert_int_eq(upg_runtime_stats(rt, &mid), 0);
	out->wp_phase_wp = mid.faults_wp - before.faults_wp;
	out->wp_phase_missing = mid.faults_missing - before.faults_missing;
	for (i = 0; i < WP_PAGES; i++)
		((volatile char *)a)[i * PS] ^= 1;

	ck_assert_int_eq(upg_region_map_anon(rt, ANON_LEN, NULL, &an), 0);
	b = upg_region_addr(an);
	tu_fill(b, 0, ANON_LEN, 9);
	/* Push the anonymous pages out through the file region. */
	ck_assert_uint_eq(tu_check(a, 0, FILE_LEN, 8), UINT64_MAX);
	ck_assert_uint_eq(tu_check(b, 0, ANON_LEN, 9), UINT64_MAX);

	ck_assert_int_eq(upg_pin(rt, b, PS, &pin), 0);
	ck_assert_int_eq(upg_unpin(pin), 0);
	ck_assert_int_eq(madvise(b + ANON_LEN - PS, PS, MADV_REMOVE), 0);
	/* The REMOVE event is counted once a handler has read it. */
	TU_WAIT_FOR(tu_stats(rt).pages_discarded >= 1, 10000);
	ck_assert_int_eq(upg_region_flush(f, 0, 0), 0);

	/* Make pages of the file resident for the NUMA count, without
	 * read-ahead (whose fills would land after the count). */
	ck_assert_uint_eq(upg_fault_in_readable(rt, a + FILE_LEN - 64 * PS,
						64 * PS), 0);
	out->file_rs.sz = sizeof(out->file_rs);
	ck_assert_int_eq(upg_region_stats(f, &out->file_rs), 0);
	out->st.sz = sizeof(out->st);
	ck_assert_int_eq(upg_runtime_stats(rt, &out->st), 0);

	ck_assert_int_eq(upg_region_unmap(an), 0);
	ck_assert_int_eq(upg_region_unmap(f), 0);
	ck_assert_uint_eq(tur_file_check(fd, 0, FILE_LEN, 8), UINT64_MAX);
	close(fd);
}

/* What must hold of one run in either mode. */
static void check_run(const struct run *r, const char *mode, bool remote)
{
	const struct upg_stats *s = &r->st;
	const uint64_t data_pages = FILE_LEN / PS, anon_pages = ANON_LEN / PS;
	uint64_t n, nodes = 0;

	/* Faults: reads and writes of absent pages; WP faults on the writes
	 * to clean pages; minor faults on pages read ahead (in the memfd,
	 * not yet mapped). */
	ck_assert_msg(s->faults_missing > 0, "%s: faults_missing", mode);
	ck_assert_msg(s->faults_wp > 0, "%s: faults_wp", mode);
	ck_assert_msg(s->faults_minor > 0, "%s: faults_minor", mode);
	/* Each page of the read-then-write phase was written once: a WP
	 * fault, or (evicted in between) a missing one. */
	ck_assert_msg(r->wp_phase_wp > 0 &&
			      r->wp_phase_wp + r->wp_phase_missing >= WP_PAGES,
		      "%s: WP phase: %llu wp, %llu missing", mode,
		      (unsigned long long)r->wp_phase_wp,
		      (unsigned long long)r->wp_phase_missing);

	/* Fills: every data page read at least once, whole pages only (the
	 * file is a page multiple), so the bytes are the pages. */
	ck_assert_msg(s->pages_filled >= data_pages, "%s: pages_filled %llu",
		      mode, (unsigned long long)s->pages_filled);
	ck_assert_msg(s->bytes_read == s->pages_filled * PS,
		      "%s: bytes_read %llu, pages_filled %llu", mode,
		      (unsigned long long)s->bytes_read,
		      (unsigned long long)s->pages_filled);
	/* Past EOF and the never-written anonymous pages: no I/O. */
	ck_assert_msg(s->pages_zero_filled >=
			      (FILE_REGION - FILE_LEN) / PS + anon_pages,
		      "%s: pages_zero_filled %llu", mode,
		      (unsigned long long)s->pages_zero_filled);

	/* 7 MiB through 2 MiB: evicted, and the dirty pages written. */
	ck_assert_msg(s->pages_evicted >= (FILE_REGION + ANON_LEN - BUDGET) / PS,
		      "%s: pages_evicted %llu", mode,
		      (unsigned long long)s->pages_evicted);
	ck_assert_msg(s->pages_written_back >= data_pages,
		      "%s: pages_written_back %llu", mode,
		      (unsigned long long)s->pages_written_back);
	ck_assert_msg(s->bytes_written == s->pages_written_back * PS,
		      "%s: bytes_written %llu, pages_written_back %llu", mode,
		      (unsigned long long)s->bytes_written,
		      (unsigned long long)s->pages_written_back);
	ck_assert_msg(s->evict_batches_background + s->evict_batches_sync > 0,
		      "%s: no eviction batch", mode);

	/* Residency within the budget (a few pages of overshoot at most). */
	ck_assert_uint_eq(s->budget_bytes, BUDGET);
	ck_assert_msg(s->resident_bytes > 0 &&
			      s->resident_bytes <= s->resident_peak_bytes,
		      "%s: resident %llu, peak %llu", mode,
		      (unsigned long long)s->resident_bytes,
		      (unsigned long long)s->resident_peak_bytes);
	/* In-process the peak is the budget's count; a client's counts a
	 * page from the moment a fill claims it, which may come a moment
	 * before the budget has room (docs/daemon.md): a few pages more. */
	ck_assert_msg(s->resident_peak_bytes >= BUDGET / 2 &&
			      s->resident_peak_bytes <=
				      BUDGET + s->budget_overshoot_pages * PS +
					      (remote ? 64 * PS : 0),
		      "%s: peak %llu, overshoot %llu pages", mode,
		      (unsigned long long)s->resident_peak_bytes,
		      (unsigned long long)s->budget_overshoot_pages);

	/* Read-ahead on the sequential passes; used pages are some of the
	 * pages read ahead. */
	ck_assert_msg(s->pages_read_ahead > 0 && s->ra_pages_used > 0 &&
			      s->ra_pages_used <= s->pages_read_ahead,
		      "%s: read ahead %llu, used %llu", mode,
		      (unsigned long long)s->pages_read_ahead,
		      (unsigned long long)s->ra_pages_used);
	ck_assert_uint_le(s->ra_pages_wasted, s->pages_read_ahead);
	ck_assert_msg(s->pages_referenced > 0, "%s: pages_referenced", mode);

	ck_assert_msg(s->bytes_faulted_in > 0 &&
			      s->bytes_faulted_in <= (WP_PAGES + 64) * PS,
		      "%s: bytes_faulted_in %llu", mode,
		      (unsigned long long)s->bytes_faulted_in);
	ck_assert_uint_eq(s->pins_acquired, 1);
	ck_assert_uint_eq(s->pins_released, 1);
	ck_assert_uint_eq(s->pinned_bytes, 0);
	ck_assert_msg(s->pages_discarded >= 1, "%s: pages_discarded", mode);

	/* Nothing failed, no fork, no notifier. */
	ck_assert_uint_eq(s->io_errors, 0);
	ck_assert_uint_eq(s->read_errors, 0);
	ck_assert_uint_eq(s->write_errors, 0);
	ck_assert_uint_eq(s->pages_unpoisoned, 0);
	ck_assert_uint_eq(s->notifier_callbacks, 0);
	ck_assert_uint_eq(s->fork_children, 0);
	ck_assert_uint_eq(s->faults_forked, 0);
	ck_assert_uint_eq(s->evict_pin_waits, 0);
	ck_assert_uint_ne(s->uffd_mode, 0);

	/* The region: its resident pages, all placed on some node. */
	ck_assert_msg(r->file_rs.resident_bytes >= 64 * PS,
		      "%s: region resident %llu", mode,
		      (unsigned long long)r->file_rs.resident_bytes);
	ck_assert_uint_le(r->file_rs.resident_bytes, s->resident_peak_bytes);
	for (n = 0; n < UPG_MAX_NUMA_NODES; n++)
		nodes += r->file_rs.node_pages[n];
	ck_assert_msg(nodes >= 64 && nodes <= r->file_rs.resident_bytes / PS,
		      "%s: node_pages sum %llu, resident pages %llu", mode,
		      (unsigned long long)nodes,
		      (unsigned long long)(r->file_rs.resident_bytes / PS));
}

static void run_in_process(struct run *r)
{
	struct upg_runtime *rt = tu_runtime(BUDGET, 0);

	workload(rt, r);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
}

/* Daemon-wide counter @id as a monitor sees it. */
static uint64_t daemon_ctr(const struct dt_daemon *d, uint32_t id)
{
	uint64_t v = dt_counter(d, id);

	ck_assert_uint_ne(v, UINT64_MAX);
	return v;
}

START_TEST(test_same_workload_both_modes)
{
	struct run local = { 0 }, remote = { 0 };
	struct dt_daemon d;
	struct upg_runtime *rt;

	run_in_process(&local);
	check_run(&local, "in-process", false);
	/* Sampling zaps this process's mappings; the daemon cannot zap a
	 * client's (docs/daemon.md, "Limits"). */
	ck_assert_uint_gt(local.st.pages_sampled, 0);

	dt_start(&d, UPAGERD_PATH, "2M");
	rt = dt_connect(&d);
	workload(rt, &remote);
	check_run(&remote, "daemon", true);
	ck_assert_uint_eq(remote.st.pages_sampled, 0);
	/* The client's counts are its own: what the daemon counted for
	 * everyone is not less, and the fault kinds are not summed. */
	ck_assert_uint_le(remote.st.faults_missing,
			  daemon_ctr(&d, PROTO_CTR_FAULTS_MISSING));
	ck_assert_uint_le(remote.st.bytes_read,
			  daemon_ctr(&d, PROTO_CTR_BYTES_READ));
	ck_assert_uint_eq(remote.st.faults_missing + remote.st.faults_wp +
				  remote.st.faults_minor,
			  daemon_ctr(&d, PROTO_CTR_FAULTS_MISSING) +
				  daemon_ctr(&d, PROTO_CTR_FAULTS_WP) +
				  daemon_ctr(&d, PROTO_CTR_FAULTS_MINOR));
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	ck_assert_int_eq(dt_stop(&d), 0);

	/* The same workload: the same work, whichever mode served it.
	 * Fills and evictions depend on timing (read-ahead, the evictor),
	 * but at least the same data was read and written. */
	ck_assert_uint_ge(remote.st.pages_filled, FILE_LEN / PS);
	ck_assert_uint_eq(remote.st.pins_acquired, local.st.pins_acquired);
	ck_assert_uint_eq(remote.st.budget_bytes, local.st.budget_bytes);
	ck_assert_uint_eq(remote.st.uffd_mode, local.st.uffd_mode);
}
END_TEST

/* A second client's faults and fills are not the first client's; the
 * daemon's totals hold both. */
START_TEST(test_counters_are_per_client)
{
	UPG_OPTS(upg_stats, a0);
	UPG_OPTS(upg_stats, a1);
	UPG_OPTS(upg_stats, b1);
	struct upg_runtime *ra, *rb;
	struct upg_region *r;
	struct dt_daemon d;
	uint64_t faults0, read0;
	int fd = tur_data_file(8 * MiB, 3);

	dt_start(&d, UPAGERD_PATH, "4M");
	ra = dt_connect(&d);
	rb = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(ra, fd, MiB, NULL, &r), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, MiB, 3), UINT64_MAX);
	ck_assert_int_eq(upg_runtime_stats(ra, &a0), 0);
	ck_assert_uint_gt(a0.faults_missing, 0);
	ck_assert_uint_eq(a0.bytes_read, MiB);
	faults0 = daemon_ctr(&d, PROTO_CTR_FAULTS_MISSING);
	read0 = daemon_ctr(&d, PROTO_CTR_BYTES_READ);

	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_region_map_file(rb, fd, 8 * MiB, NULL, &r), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, 8 * MiB, 3),
			  UINT64_MAX);
	ck_assert_int_eq(upg_runtime_stats(rb, &b1), 0);
	ck_assert_int_eq(upg_runtime_stats(ra, &a1), 0);
	ck_assert_uint_ge(b1.bytes_read, 8 * MiB);
	ck_assert_uint_gt(b1.faults_missing, 0);
	/* A's counters did not move; a released region's counts stay. */
	ck_assert_uint_eq(a1.faults_missing, a0.faults_missing);
	ck_assert_uint_eq(a1.bytes_read, a0.bytes_read);
	ck_assert_uint_eq(a1.pages_filled, a0.pages_filled);
	ck_assert_uint_eq(a1.resident_bytes, 0);
	ck_assert_uint_le(a1.resident_peak_bytes, MiB);
	ck_assert_uint_gt(b1.resident_peak_bytes, MiB);
	ck_assert_uint_eq(daemon_ctr(&d, PROTO_CTR_FAULTS_MISSING),
			  faults0 + b1.faults_missing);
	ck_assert_uint_eq(daemon_ctr(&d, PROTO_CTR_BYTES_READ),
			  read0 + b1.bytes_read);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rb), 0);
	ck_assert_int_eq(upg_runtime_destroy(ra), 0);
	close(fd);
	ck_assert_int_eq(dt_stop(&d), 0);
}
END_TEST

/* upagerd --fill-timing: the daemon times its clients' demand fills and
 * logs their count and each step's mean once, when it stops (stderr,
 * captured in a memfd that the daemon inherits: no file left behind). */
START_TEST(test_fill_timing_logged)
{
	struct upg_runtime *rt;
	struct upg_region *r;
	struct dt_daemon d;
	unsigned long long fills = 0;
	char buf[8192], *line;
	int fd = tur_data_file(MiB, 5);
	int saved = dup(2), logfd = memfd_create("upagerd-log", 0);
	ssize_t n;

	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(logfd, 0);
	ck_assert_int_eq(dup2(logfd, 2), 2);
	dt_start_opt(&d, UPAGERD_PATH, "4M", "--fill-timing");
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	rt = dt_connect(&d);
	ck_assert_int_eq(upg_region_map_file(rt, fd, MiB, NULL, &r), 0);
	ck_assert_uint_eq(tu_check(upg_region_addr(r), 0, MiB, 5), UINT64_MAX);
	ck_assert_int_eq(upg_region_unmap(r), 0);
	ck_assert_int_eq(upg_runtime_destroy(rt), 0);
	close(fd);
	ck_assert_int_eq(dt_stop(&d), 0);

	n = pread(logfd, buf, sizeof(buf) - 1, 0);
	close(logfd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	line = strstr(buf, "fill timing: ");
	ck_assert_msg(line, "no fill timing line in upagerd's log: %s", buf);
	ck_assert_int_eq(sscanf(line, "fill timing: %llu fills", &fills), 1);
	ck_assert_uint_gt(fills, 0);
	ck_assert_uint_le(fills, MiB / PS);
	ck_assert_ptr_nonnull(strstr(line, " map "));
	ck_assert_ptr_nonnull(strstr(line, " sum "));
}
END_TEST

#ifdef OOC_SORT_PATH
/* examples/ooc_sort through the daemon prints the bytes it read: the
 * pages it filled from the store, in MiB (the example's own output). */
START_TEST(test_ooc_sort_through_daemon)
{
	unsigned long long filled = 0, zero = 0, missing = 0, wp = 0, minor = 0;
	double read_mib = -1, written_mib = -1;
	char cmd[512], line[256];
	struct dt_daemon d;
	FILE *f;

	dt_start(&d, UPAGERD_PATH, "4M");
	snprintf(cmd, sizeof(cmd),
		 "UPAGER_SOCKET=%s %s --size-mb 16 --budget-mb 4 --dir %s",
		 d.sock, OOC_SORT_PATH, d.dir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, " pages filled %llu from store, %llu zero-filled",
		       &filled, &zero);
		sscanf(line, " faults %llu missing, %llu write-protect, "
			     "%llu minor", &missing, &wp, &minor);
		sscanf(line, " bytes read %lf MiB", &read_mib);
		sscanf(line, " bytes written %lf MiB", &written_mib);
	}
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_int_eq(dt_stop(&d), 0);
	ck_assert_uint_gt(filled, 0);
	ck_assert_msg(read_mib > 0 &&
			      read_mib * MiB > (double)filled * PS - 0.05 * MiB &&
			      read_mib * MiB < (double)filled * PS + 0.05 * MiB,
		      "bytes read %.1f MiB, %llu pages filled", read_mib,
		      filled);
	ck_assert_msg(written_mib >= 16, "bytes written %.1f MiB",
		      written_mib);
	ck_assert_uint_gt(missing, 0);
	ck_assert_uint_gt(wp, 0);
}
END_TEST
#endif

static Suite *suite(void)
{
	Suite *s = suite_create("daemon_stats");
	TCase *tc = tcase_create("stats");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_same_workload_both_modes);
	tcase_add_test(tc, test_counters_are_per_client);
	tcase_add_test(tc, test_fill_timing_logged);
#ifdef OOC_SORT_PATH
	tcase_add_test(tc, test_ooc_sort_through_daemon);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	PS = (size_t)sysconf(_SC_PAGESIZE);
	unsetenv("UPAGER_SOCKET");
	return dt_main(suite(), UPAGERD_PATH);
}
