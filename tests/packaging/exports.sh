#!/usr/bin/env bash
# exports.sh HEADER LIBRARY - libupager.so exports every function upager.h
# declares with UPG_API (under a UPAGER_ version node), and nothing else
# but upg_* symbols.  Exits 77 when nm is missing.
set -euo pipefail
header=$1 lib=$2
. "$(dirname "${BASH_SOURCE[0]}")/api_symbols.sh"
command -v nm >/dev/null || { echo "exports: no nm (binutils)"; exit 77; }

mapfile -t api < <(api_symbols "$header")
[ ${#api[@]} -ge 40 ] || { echo "exports: only ${#api[@]} UPG_API functions parsed from $header"; exit 1; }
exported=$(nm -D --defined-only --with-symbol-versions "$lib" | awk '$2 ~ /^[TWDBR]$/ { print $3 }')
status=0
for f in "${api[@]}"; do
	if ! grep -Eq "^$f@@?UPAGER_" <<<"$exported"; then
		echo "exports: $f is declared UPG_API in upager.h but $lib does not export it (versioned)"
		status=1
	fi
done
others=$(sed 's/@.*//' <<<"$exported" | grep -v '^upg_' | grep -v '^UPAGER_' || true)
if [ -n "$others" ]; then
	echo "exports: $lib exports symbols outside the API: $others"
	status=1
fi
[ $status -eq 0 ] && echo "exports: ${#api[@]} API functions exported, nothing else"
exit $status
