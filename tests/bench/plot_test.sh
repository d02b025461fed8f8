#!/usr/bin/env bash
# plot_test.sh SRC_DIR - tools/plot on two fixture results (tests/bench/
# fixtures: rand-read with upager-daemon skipped, fault-latency with fewer
# backends; both 48 MiB of data, budget 24 MiB).
#
# With --script-only (jq only) it checks the gnuplot input: the titles name
# the workload, size and budget; each bar has a value label; the skipped
# backend is marked "skipped" where its bar would be; every backend has the
# same colour in every chart, whichever backends a chart shows.  When
# gnuplot is installed the PNGs are rendered too.  Exits 77 without jq.
# Works in a scratch directory under $TMPDIR, removed at the end.
set -euo pipefail
src=$1
plot=$src/tools/plot
fx=$src/tests/bench/fixtures
command -v jq >/dev/null || { echo "plot_test: no jq (tools/setup.sh --plot)"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/upager-plot-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "plot_test: $*" >&2; exit 1; }
has() { grep -qF -- "$2" "$1" || fail "$1: no '$2' in: $(cat "$1")"; }
colour_of() { # GP_FILE BACKEND: the rgb colour of its bars or line
	sed -n "s/.*lc rgb \"\(#[0-9a-f]*\)\" title \"$2\".*/\1/p" "$1" | head -n 1
}

# one result: the title says what was measured
bash "$plot" --script-only -o "$work/a" "$fx/plot-rand-read.json" >/dev/null
gp=$work/a/throughput.gp
has "$gp" 'upager-bench: rand-read, 48 MiB of data, budget 24 MiB'
# value labels: the bars' data carry the formatted median, plotted as labels
has "$work/a/plot-data/throughput-upager.dat" '7349.72 7.34k'
has "$work/a/plot-data/throughput-raw-uffd.dat" '25872.9 25.87k'
has "$gp" 'with labels'
# the skipped backend (index 1: upager-daemon) is marked where its bar goes
has "$gp" 'set label "skipped" at first 1, graph'
has "$gp" 'title "upager-daemon (no run)"'

# another result with other backends: same colour per backend
bash "$plot" --script-only -o "$work/b" "$fx/plot-fault-latency.json" >/dev/null
has "$work/b/latency-cdf-plot-fault-latency.gp" 'fault-latency, 48 MiB of data, budget 24 MiB'
has "$work/b/latency-cdf-plot-fault-latency.gp" 'not run: upager-daemon skipped'
for b in upager raw-uffd; do
	ca=$(colour_of "$gp" "$b")
	cb=$(colour_of "$work/b/throughput.gp" "$b")
	cc=$(colour_of "$work/b/latency-cdf-plot-fault-latency.gp" "$b")
	[ -n "$ca" ] && [ "$ca" = "$cb" ] && [ "$ca" = "$cc" ] ||
		fail "$b: colours differ between charts: '$ca' '$cb' '$cc'"
done
[ "$(colour_of "$gp" upager)" != "$(colour_of "$gp" kernel-mmap)" ] ||
	fail "upager and kernel-mmap share a colour"

# both: one group per result, each labelled with what it measured
bash "$plot" --script-only -o "$work/ab" "$fx/plot-rand-read.json" "$fx/plot-fault-latency.json" >/dev/null
has "$work/ab/throughput.gp" 'several workloads (group: result, workload, size / budget)'
has "$work/ab/throughput.gp" '"plot-rand-read\nrand-read 48 MiB / 24 MiB"'
has "$work/ab/throughput.gp" '"plot-fault-latency\nfault-latency 48 MiB / 24 MiB"'
echo "plot_test: scripts ok"

if command -v gnuplot >/dev/null; then
	bash "$plot" -o "$work/png" "$fx/plot-rand-read.json" "$fx/plot-fault-latency.json" >/dev/null
	for f in throughput.png latency-cdf-plot-fault-latency.png; do
		[ "$(head -c 4 "$work/png/$f" | tail -c 3)" = PNG ] || fail "$f is not a PNG"
	done
	[ -z "$(ls "$work/png" | grep -v '\.png$')" ] || fail "leftovers next to the PNGs: $(ls "$work/png")"
	echo "plot_test: PNGs rendered"
else
	echo "plot_test: no gnuplot: PNGs not rendered (tools/setup.sh --plot)"
fi
