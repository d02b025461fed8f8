#!/usr/bin/env bash
# docs/bench/issue14-s8.sh - issue 14's table, measured in one sitting on
# the final tree of the eighth session, then its charts.  From a built tree:
#
#   bash docs/bench/issue14-s8.sh [DIR]
#
# DIR holds the data and swap files (default /var/tmp/perf-b; the 2 GiB
# data file is created by the first invocation and reused).  Each step
# writes docs/bench/s8/STEP.txt (the table, the command, the load before and
# after) and STEP.json (docs/bench/json-format.md), then tools/plot draws
# docs/bench/s8/*.png.  SIZE, BUDGET and RUNS override the issue's 2G,
# 512M and 3 (a quick check of the script: SIZE=64M BUDGET=16M RUNS=1);
# STEPS names the steps to run (default all).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
B=${UPAGER_BENCH:-build/tools/upager-bench}
dir=${1:-/var/tmp/perf-b}
out=${OUT:-docs/bench/s8}
size=${SIZE:-2G}
budget=${BUDGET:-512M}
runs=${RUNS:-3}
mkdir -p "$dir" "$out"
common=(--size "$size" --budget "$budget" --runs "$runs" --dir "$dir" --keep)
status=0

# upager-daemon's runs go through an upagerd of the same budget, started
# here and stopped on exit (on failure too)
sock=$(mktemp -u /tmp/upager-s8-XXXXXX.sock)
UPAGERD=${UPAGERD:-build/bin/upagerd}
"$UPAGERD" --foreground --socket "$sock" --budget "$budget" >"$out/upagerd.log" 2>&1 &
dpid=$!
trap 'kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; rm -f "$sock"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "issue14-s8.sh: upagerd did not start (see $out/upagerd.log)" >&2; exit 1; }
export UPAGER_SOCKET=$sock

run() {
	local name=$1
	shift
	# STEPS="rand-read seq-read": only those
	[ -z "${STEPS:-}" ] || [[ " $STEPS " == *" $name "* ]] || return 0
	{
		echo "== $(date -u +%FT%TZ) load before: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "\$ upager-bench $*"
	} | tee "$out/$name.txt"
	if ! "$B" "$@" --json-file "$out/$name.json" | tee -a "$out/$name.txt"; then
		echo "issue14-s8.sh: $name failed" >&2
		status=1
	fi
	echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/$name.txt"
}

# rand-read, one thread: the kernel at its best (MADV_RANDOM), the
# daemon's overhead, and the two round-trip floors (raw-uffd's handler
# thread, raw-sigbus's faulting thread filling its own page)
run rand-read rand-read "${common[@]}" --accesses 20000 \
	--backend upager,upager-daemon,kernel-mmap,raw-uffd,raw-sigbus
run rand-read-t4 rand-read "${common[@]}" --threads 4 --accesses 20000 \
	--backend upager,kernel-mmap
# where a miss's time goes (UPG_RT_FILL_TIMING costs a few clock reads)
run rand-read-breakdown rand-read "${common[@]}" --accesses 10000 \
	--backend upager --breakdown
run seq-read seq-read "${common[@]}" \
	--backend upager,upager-daemon,kernel-mmap,kernel-mmap-default
run zipf zipf "${common[@]}" --accesses 50000 --backend upager,kernel-mmap
# the budget binds (distinct pages > budget pages): the hit ratio against
# the exact LRU's
run zipf-bind zipf --size "$size" --budget "${ZIPF_BUDGET:-128M}" --runs "$runs" \
	--dir "$dir" --keep --accesses 400000 --backend upager
run fault-latency fault-latency "${common[@]}" --accesses 5000 \
	--backend upager,kernel-mmap,raw-uffd
# anonymous region against the kernel's swap; no cgroup for upager (its
# swap file's writes count against one of budget + 64M)
run rand-write-anon rand-write "${common[@]}" --store anon --accesses 20000 \
	--backend upager,kernel-swap --upager-cgroup off --breakdown

jsons=()
for n in rand-read rand-read-t4 seq-read zipf zipf-bind fault-latency rand-write-anon; do
	[ -s "$out/$n.json" ] && jsons+=("$out/$n.json")
done
bash tools/plot -o "$out" "${jsons[@]}" || status=1
exit $status
