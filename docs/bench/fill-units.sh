#!/usr/bin/env bash
# docs/bench/fill-units.sh - upager's fill unit 4K vs 64K vs 2M vs hugetlb
# (2 MiB huge pages) on seq-read and rand-read, back to back in one go,
# recorded in BENCHMARKS.md ("Fill units and huge pages").  Run from a built
# tree, as root (it grows the huge page pool for the hugetlb runs):
#
#   bash docs/bench/fill-units.sh [DIR]
#
# DIR holds the data file (default /var/tmp).  Writes
# docs/bench/fill-units-WORKLOAD-CONFIG.{txt,json}.  The pool
# (/proc/sys/vm/nr_hugepages) is put back as it was on exit, on failure
# and on interruption too.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
B=${UPAGER_BENCH:-build/tools/upager-bench}
dir=${1:-/var/tmp}
out=docs/bench
size=1G budget=256M
# The budget's huge pages and a quarter more (fills in flight).
pool_pages=160
common=(--size "$size" --budget "$budget" --runs 3 --dir "$dir" --keep
	--backend upager)
status=0

pool_prev=$(cat /proc/sys/vm/nr_hugepages)
restore() { echo "$pool_prev" > /proc/sys/vm/nr_hugepages; }
trap restore EXIT
trap 'exit 130' INT TERM HUP

run() {
	local name=$1
	shift
	echo "== $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/$name.txt"
	echo "\$ upager-bench $*" | tee -a "$out/$name.txt"
	if ! "$B" "$@" --json-file "$out/$name.json" | tee -a "$out/$name.txt"; then
		echo "fill-units.sh: $name failed" >&2
		status=1
	fi
}

for wl in seq-read rand-read; do
	extra=()
	# A random miss costs a whole unit: 2000 accesses read 4 GB at 2M.
	[ "$wl" = rand-read ] && extra=(--accesses 2000)
	run "fill-units-$wl-4k" "$wl" "${common[@]}" "${extra[@]}" --fill-unit 4K
	run "fill-units-$wl-64k" "$wl" "${common[@]}" "${extra[@]}" --fill-unit 64K
	run "fill-units-$wl-2m" "$wl" "${common[@]}" "${extra[@]}" --fill-unit 2M
	echo $((pool_prev + pool_pages)) > /proc/sys/vm/nr_hugepages
	run "fill-units-$wl-hugetlb" "$wl" "${common[@]}" "${extra[@]}" --hugetlb
	restore
done
exit $status
