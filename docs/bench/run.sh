#!/usr/bin/env bash
# docs/bench/run.sh - the measurements recorded in BENCHMARKS.md, section
# "upager-bench against the kernel's paging".  Run from a built tree
# (tools/test.sh or cmake --build build):
#
#   bash docs/bench/run.sh [DIR [STEP...]]
#
# DIR holds the data and swap files (default /var/tmp); STEPs (default all):
# rand-read seq-read rand-write-anon rand-write-anon-nocg zipf zipf-long
# zipf-bind fault-latency rand-read-t4 plot.  Writes docs/bench/STEP.txt (the human table, with the
# command and the load average) and STEP.json, then the charts.  About 45
# minutes on the project's VM: the kernel page cache thrashes on random
# reads (~7 ms per access), hence --accesses 20000 for rand-read.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
B=${UPAGER_BENCH:-build/tools/upager-bench}
dir=${1:-/var/tmp}
[ $# -gt 0 ] && shift
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(rand-read seq-read rand-write-anon rand-write-anon-nocg
	zipf zipf-long zipf-bind fault-latency rand-read-t4 plot)
out=docs/bench
common=(--size 2G --budget 512M --runs 3 --dir "$dir" --keep)
status=0

run() {
	local name=$1
	shift
	echo "== $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/$name.txt"
	echo "\$ upager-bench $*" | tee -a "$out/$name.txt"
	if ! "$B" "$@" --json-file "$out/$name.json" | tee -a "$out/$name.txt"; then
		echo "run.sh: $name failed" >&2
		status=1
	fi
}

for s in "${steps[@]}"; do
	case "$s" in
	rand-read) run rand-read rand-read "${common[@]}" --accesses 20000 ;;
	seq-read) run seq-read seq-read "${common[@]}" ;;
	rand-write-anon)
		run rand-write-anon rand-write "${common[@]}" --store anon \
			--backend upager,kernel-swap --accesses 20000 ;;
	# the same without upager's cgroup (in one of budget + 64M the runtime's
	# buffered swap-file writes OOM-kill the run, see BENCHMARKS.md)
	rand-write-anon-nocg)
		run rand-write-anon-nocg rand-write "${common[@]}" --store anon \
			--backend upager,kernel-swap --upager-cgroup off --accesses 20000 ;;
	# zipf against every backend (kernel-mmap bounds the length), then a
	# trace long enough for the budget to bind (distinct pages > budget) to
	# compare upager's hit ratio with the exact LRU's
	zipf) run zipf zipf "${common[@]}" --accesses 50000 ;;
	zipf-long)
		run zipf-long zipf "${common[@]}" --backend upager,raw-uffd \
			--accesses 400000 ;;
	# the same trace touches ~100k distinct pages, fewer than the 128k of a
	# 512M budget: with 128M the budget binds and eviction decides the hits
	zipf-bind)
		run zipf-bind zipf --size 2G --budget 128M --runs 3 --dir "$dir" --keep \
			--backend upager --accesses 400000 ;;
	fault-latency) run fault-latency fault-latency "${common[@]}" --accesses 5000 ;;
	rand-read-t4) run rand-read-t4 rand-read "${common[@]}" --threads 4 --accesses 20000 ;;
	plot)
		rm -f "$dir"/upager-bench-2097152K-seed1.dat
		jsons=()
		for n in rand-read seq-read rand-write-anon rand-write-anon-nocg zipf zipf-long \
			zipf-bind fault-latency rand-read-t4; do
			[ -f "$out/$n.json" ] && jsons+=("$out/$n.json")
		done
		bash tools/plot -o "$out" "${jsons[@]}" || status=1
		;;
	*) echo "run.sh: unknown step $s" >&2; exit 2 ;;
	esac
done
exit $status
