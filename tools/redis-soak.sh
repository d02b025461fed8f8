#!/usr/bin/env bash
# tools/redis-soak.sh - the Redis Cluster store's long failure run: a
# verified write-heavy workload (tests/redis/test_redis_failover) through
# CYCLES random faults, each one of: kill -9 of a master (restarted after
# its replica took over), SIGSTOP of a master for 4 s then SIGCONT, kill -9
# of a replica (restarted at once).  At the end every page must read back
# with the last data written: 0 lost.  Per fault it prints the longest
# access seen on the victim's slots and elsewhere.
#
#   bash tools/redis-soak.sh [CYCLES] [BUILD_DIR]     (default 20, build)
#
# Starts its own cluster (tools/redis-cluster.sh, free ports from 31000) in
# a new /tmp directory and stops it on exit, on failure too.  Exit status:
# the test's (0 passed, 1 failed), 77 without redis-server.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cycles=${1:-20}
build=${2:-build}
[[ "$cycles" =~ ^[0-9]+$ && $cycles -ge 1 ]] || { echo "redis-soak: CYCLES must be >= 1" >&2; exit 2; }
test_bin="$build/tests/redis/test_redis_failover"
[ -x "$test_bin" ] || { echo "redis-soak: $test_bin missing: build first (cmake --build $build)" >&2; exit 1; }

dir=$(mktemp -u /tmp/upager-soak-XXXXXX)
trap 'bash tools/redis-cluster.sh stop "$dir"' EXIT
bash tools/redis-cluster.sh start "$dir"
start=$SECONDS
UPAGER_REDIS_DIR="$dir" UPAGER_REDIS_CYCLES="$cycles" \
	CK_DEFAULT_TIMEOUT=$((60 + 45 * cycles)) "$test_bin"
echo "redis-soak: $cycles cycles passed in $((SECONDS - start)) s"
