#!/usr/bin/env bash
# check_front_layer.sh SOURCE_DIR - the front layer's rule
# (docs/architecture.md, "The front layer"): the in-process subsystems
# never know about daemon mode.  No file of theirs includes client/,
# calls a function or names an object that runtime/client/client.h
# declares, calls rt_remote(), or calls a public entry point that
# runtime/api/ defines; runtime/api/ picks the mode.
# Prints each offending line and exits 1; 0 when there is none.
set -euo pipefail

src=${1:?usage: check_front_layer.sh SOURCE_DIR}
rt="$src/runtime"
lower=(common uffd io proto store farmem base notify region fork writeback
       evict readahead fault pin forkserve core)
dirs=()
for d in "${lower[@]}"; do
	[ -d "$rt/$d" ] && dirs+=("$rt/$d")
done
[ -f "$rt/client/client.h" ] || {
	echo "check_front_layer: $rt/client/client.h not found" >&2; exit 2; }

# The names client.h declares: functions (name followed by '(') and the
# exported objects (extern const ... name;).
names=$( { grep -oE '\bclient_[a-z0-9_]+[[:space:]]*\(' "$rt/client/client.h" |
	   sed 's/[[:space:]]*($//'
	   sed -n 's/^extern .*\b\(client_[a-z0-9_]*\);/\1/p' "$rt/client/client.h"
	 } | sort -u)

status=0
report() {
	echo "front layer: $1:"
	echo "$2" | sed 's/^/  /'
	status=1
}

hits=$(grep -rn '#include "client/' "${dirs[@]}" || true)
[ -z "$hits" ] || report "an in-process subsystem includes client/" "$hits"

# rt_remote() is defined in core/runtime.h; no .c file below api/ uses it.
hits=$(grep -rnE '\brt_remote[[:space:]]*\(' --include='*.c' "${dirs[@]}" || true)
[ -z "$hits" ] || report "rt_remote() below runtime/api/ (pick the mode in api/)" "$hits"

for n in $names; do
	hits=$(grep -rnw "$n" "${dirs[@]}" || true)
	[ -z "$hits" ] || report "$n (runtime/client/client.h) used below the client" "$hits"
done

# Nor do they call the public entry points of runtime/api/ (an upward
# call: api/ is above them).  Comment lines and strings do not count.
api_names=$(cat "$rt"/api/*.c 2>/dev/null |
	    sed -n 's/^UPG_API .*\b\(upg_[a-z0-9_]*\)(.*/\1/p' | sort -u)
for n in $api_names; do
	hits=$(grep -rnE "(^|[^\"[:alnum:]_])$n[[:space:]]*\(" --include='*.c' \
		"${dirs[@]}" | grep -vE '^[^:]*:[0-9]+:[[:space:]]*(\*|/\*)' || true)
	[ -z "$hits" ] || report "$n() (runtime/api/) called below the front layer" "$hits"
done

[ "$status" -eq 0 ] && echo "front layer: ok (${#dirs[@]} folders, $(echo "$names" | wc -w) client names, $(echo "$api_names" | wc -w) api/ entry points)"
exit "$status"
