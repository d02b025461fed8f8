#!/usr/bin/env bash
# tools/test.sh - install what is missing, build, run the whole test suite.
#
#   pass 1: build/       RelWithDebInfo with asserts kept (-UNDEBUG), every label
#   pass 2: build-asan/  same with -DUPAGER_ASAN=ON -DUPAGER_UBSAN=ON, all but
#                        the `stress`, `bench` and `packaging` labels (leak
#                        checks on, abort on first report): those test the
#                        benchmark tool and the install rather than the
#                        library, and took a minute of this pass
#   pass 3: build-tsan/  RelWithDebInfo -O1 with -DUPAGER_TSAN=ON, the unit,
#                        daemon and stress labels, TSAN_OPTIONS halt_on_error=1
#                        and the suppressions of tests/tsan.supp (each with
#                        its reason): a data race fails the test
#   pass 4: build-fuzz/  clang with -DUPAGER_FUZZ=ON: builds only the libFuzzer
#                        target fuzz_proto_decode and runs it for a bounded time
#                        from the seed corpus; one test (passed, or failed on a
#                        finding), skipped when clang is missing
#
# Options:
#   --no-asan      skip pass 2
#   --no-tsan      skip pass 3
#   --no-fuzz      skip pass 4
#   --fuzz-time S  seconds of fuzzing in pass 4 (default 30: about 2 million inputs here)
#   --label L      run only tests labelled L (ctest -L L; unit, integration,
#                  stress, daemon, bench, packaging, redis, layers, fuzz); pass 4
#                  runs only for --label fuzz
#
# Ends with one line "N passed, N failed, N skipped" summed over all passes
# (counted from ctest's JUnit output) and exits non-zero if anything failed,
# including a configure or build step (counted as one failure each).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

usage() {
	# The comment block at the top of this file, up to its first code line.
	sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

run_asan=1
run_tsan=1
run_fuzz=1
fuzz_time=30
label_args=()
labels=()
while [ $# -gt 0 ]; do
	case "$1" in
	--no-asan) run_asan=0 ;;
	--no-tsan) run_tsan=0 ;;
	--no-fuzz) run_fuzz=0 ;;
	--fuzz-time)
		[ $# -ge 2 ] || { echo "test: --fuzz-time needs a value" >&2; exit 2; }
		fuzz_time=$2
		shift
		;;
	--fuzz-time=*) fuzz_time=${1#--fuzz-time=} ;;
	--label)
		[ $# -ge 2 ] || { echo "test: --label needs a value" >&2; exit 2; }
		label_args+=(-L "$2")
		labels+=("$2")
		shift
		;;
	--label=*) label_args+=(-L "${1#--label=}"); labels+=("${1#--label=}") ;;
	-h | --help) usage; exit 0 ;;
	*) echo "test: unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

bash tools/setup.sh

# The redis label's cluster is stopped by its cleanup test; if this script
# is interrupted before that, stop it here (by its own pid files), so that
# nothing is left running.
stop_leftover_clusters() {
	local d
	for d in "$ROOT"/build*/tests/redis/cluster; do
		[ -d "$d" ] && bash "$ROOT/tools/redis-cluster.sh" kill "$d" >/dev/null 2>&1
	done
	return 0
}
trap stop_leftover_clusters EXIT
trap "exit 143" TERM INT

jobs=$(nproc 2>/dev/null || echo 2)
total_passed=0
total_failed=0
total_skipped=0
status=0

# count_junit FILE: prints "passed failed skipped" for a ctest JUnit file.
# A test that exited with its SKIP_RETURN_CODE (77) or is DISABLED is skipped;
# any other test that did not run (e.g. executable missing) is a failure, as
# ctest itself counts it.
count_junit() {
	[ -f "$1" ] || { echo "0 0 0"; return; }
	awk '
	function flush() {
		if (st == "") return
		if (st == "run") p++
		else if (st == "fail") f++
		else if (st == "disabled") s++
		else if (st == "notrun") { if (skipcode) s++; else f++ }
		else f++
		st = ""; skipcode = 0
	}
	/<testcase / {
		flush()
		st = $0; sub(/.* status="/, "", st); sub(/".*/, "", st)
		if (st == "") st = "unknown"
	}
	/<skipped message="SKIP_RETURN_CODE/ { skipcode = 1 }
	END { flush(); printf "%d %d %d\n", p, f, s }
	' "$1"
}

# run_pass NAME BUILD_DIR [cmake args...] -- [ctest args...]
run_pass() {
	local name=$1 dir=$2
	shift 2
	local cmake_args=() ctest_args=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	ctest_args=("$@")

	echo
	echo "=== $name: $dir ==="
	if ! cmake -S "$ROOT" -B "$ROOT/$dir" "${cmake_args[@]}"; then
		echo "test: $name: configure failed" >&2
		total_failed=$((total_failed + 1)); status=1; return
	fi
	if ! cmake --build "$ROOT/$dir" -j "$jobs"; then
		echo "test: $name: build failed" >&2
		total_failed=$((total_failed + 1)); status=1; return
	fi

	local junit="$ROOT/$dir/ctest-junit.xml" ctest_ok=1
	rm -f "$junit"
	if ! (cd "$ROOT/$dir" && ctest --output-on-failure -j 2 \
		--output-junit "$junit" "${ctest_args[@]}"); then
		ctest_ok=0
		status=1
	fi

	local p f s
	read -r p f s < <(count_junit "$junit")
	# ctest failed but no test is counted as failed (e.g. it could not run at all)
	if [ "$ctest_ok" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	echo "$name: $p passed, $f failed, $s skipped"
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	total_skipped=$((total_skipped + s))
}

run_pass "normal" build \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo \
	"-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g -UNDEBUG" \
	-DUPAGER_ASAN=OFF -DUPAGER_UBSAN=OFF -DUPAGER_TSAN=OFF \
	-- "${label_args[@]}"

if [ "$run_asan" -eq 1 ]; then
	# Sanitized code runs slower: give each Check test case twice its timeout.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	CK_TIMEOUT_MULTIPLIER=2 \
	run_pass "asan+ubsan" build-asan \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo \
		"-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g -UNDEBUG" \
		-DUPAGER_ASAN=ON -DUPAGER_UBSAN=ON -DUPAGER_TSAN=OFF \
		-- -LE '^(stress|bench|packaging)$' "${label_args[@]}"
fi

if [ "$run_tsan" -eq 1 ]; then
	# ThreadSanitizer slows threads down 5-15x: three times the timeouts.
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$ROOT/tests/tsan.supp" \
	CK_TIMEOUT_MULTIPLIER=3 \
	run_pass "tsan" build-tsan \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo \
		"-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g -UNDEBUG" \
		-DUPAGER_ASAN=OFF -DUPAGER_UBSAN=OFF -DUPAGER_TSAN=ON \
		-- -L '^(unit|daemon|stress)$' "${label_args[@]}"
fi

# run_fuzz_pass DIR: pass 4 (see the top of this file).
run_fuzz_pass() {
	local dir=$1
	local out="$ROOT/$dir/fuzz" log corpus
	echo
	echo "=== fuzz: $dir (${fuzz_time}s) ==="
	if ! command -v clang >/dev/null 2>&1; then
		echo "fuzz: clang not found (tools/setup.sh installs it); skipped"
		total_skipped=$((total_skipped + 1)); return
	fi
	# CMAKE_C_COMPILER as well as CC: a directory configured earlier with
	# another compiler is then reconfigured instead of silently kept.
	if ! CC=clang cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DUPAGER_FUZZ=ON \
		-DUPAGER_BUILD_TESTS=OFF -DUPAGER_BUILD_EXAMPLES=OFF \
		-DUPAGER_BUILD_TOOLS=OFF; then
		echo "test: fuzz: configure failed" >&2
		total_failed=$((total_failed + 1)); status=1; return
	fi
	if ! cmake --build "$ROOT/$dir" -j "$jobs" --target fuzz_proto_decode; then
		echo "test: fuzz: build failed" >&2
		total_failed=$((total_failed + 1)); status=1; return
	fi
	# The fuzzer adds what it finds to its first corpus directory: a copy,
	# never the checked-in seeds.
	corpus="$out/corpus-run"
	log="$out/fuzz_proto_decode.log"
	mkdir -p "$corpus"
	cp "$ROOT"/tests/fuzz/corpus/* "$corpus"/
	if "$out/fuzz_proto_decode" -max_total_time="$fuzz_time" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" \
		"$corpus" >"$log" 2>&1; then
		local execs rate
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		echo "fuzz: fuzz_proto_decode: ${execs:-?} execs in ${fuzz_time}s" \
			"(${rate:-?}/s), corpus $(find "$corpus" -type f | wc -l) inputs"
		echo "fuzz: 1 passed, 0 failed, 0 skipped"
		total_passed=$((total_passed + 1))
	else
		tail -n 60 "$log"
		echo "test: fuzz: fuzz_proto_decode found a failure; full log: $log," \
			"input saved under $out/ (crash-*, leak-*, timeout-*)" >&2
		echo "fuzz: 0 passed, 1 failed, 0 skipped"
		total_failed=$((total_failed + 1)); status=1
	fi
}

if [ "$run_fuzz" -eq 1 ]; then
	if [ ${#labels[@]} -eq 0 ] || printf '%s\n' "${labels[@]}" | grep -qx fuzz; then
		run_fuzz_pass build-fuzz
	fi
fi

echo
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$status"
