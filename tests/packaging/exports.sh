#!/usr/bin/env bash
# exports.sh HEADER LIBRARY MAP - the ABI is what upager.h declares:
#   - the set of dynamic symbols libupager.so defines (functions and data)
#     equals the set of functions the header declares with UPG_API, both
#     directions, each under a UPAGER_ version node;
#   - the version script MAP lists exactly that set, by name (no glob), so
#     that an ABI change shows in the map's diff.
# Exits 77 when nm is missing.
set -euo pipefail
header=$1 lib=$2 map=$3
. "$(dirname "${BASH_SOURCE[0]}")/api_symbols.sh"
command -v nm >/dev/null || { echo "exports: no nm (binutils)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/upager-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

api_symbols "$header" >"$tmp/api"
n=$(wc -l <"$tmp/api")
[ "$n" -ge 40 ] || { echo "exports: only $n UPG_API functions parsed from $header"; exit 1; }

# Defined dynamic symbols with their versions; the version node symbols
# themselves (UPAGER_0.1, type A) are not functions and are skipped.
nm -D --defined-only --with-symbol-versions "$lib" |
	awk '$2 ~ /^[TtWwDdBbRrVviu]$/ { print $3 }' >"$tmp/versioned"
sed 's/@.*//' "$tmp/versioned" | sort -u >"$tmp/exported"

# The map's global: names (comments stripped), in every node.
sed 's|/\*.*\*/||g' "$map" | awk '
	/\/\*/ { incomment = 1 }
	incomment { if (/\*\//) incomment = 0; next }
	/global:/ { g = 1; next }
	/local:/ { g = 0; next }
	g { gsub(/[ \t;]/, ""); if ($0 != "" && $0 !~ /[{}]/) print }' | sort -u >"$tmp/map"

status=0
report() { # report FILE MESSAGE
	if [ -s "$1" ]; then
		echo "exports: $2: $(tr '\n' ' ' <"$1")"
		status=1
	fi
}
comm -23 "$tmp/api" "$tmp/exported" >"$tmp/d"
report "$tmp/d" "declared UPG_API in $header but not exported by $lib"
comm -13 "$tmp/api" "$tmp/exported" >"$tmp/d"
report "$tmp/d" "exported by $lib but not declared UPG_API in $header"
comm -23 "$tmp/api" "$tmp/map" >"$tmp/d"
report "$tmp/d" "declared UPG_API but missing from the version script $map"
comm -13 "$tmp/api" "$tmp/map" >"$tmp/d"
report "$tmp/d" "listed in $map but not declared UPG_API"
grep '[*?]' "$tmp/map" >"$tmp/d" || true
report "$tmp/d" "$map has a glob under global: (list every symbol by name)"
grep -v '@@\?UPAGER_' "$tmp/versioned" >"$tmp/d" || true
report "$tmp/d" "exported without a UPAGER_ version node"
[ $status -eq 0 ] && echo "exports: $n API functions: header, version script and $lib agree"
exit $status
