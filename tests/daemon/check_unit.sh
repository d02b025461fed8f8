#!/usr/bin/env bash
# check_unit.sh CMAKE BUILD_DIR MAX_EXPOSURE - the installed systemd unit of
# upagerd: cmake --install (component daemon) into a temporary DESTDIR,
# then the unit names the installed upagerd, systemd-analyze verify accepts
# it, and its exposure (systemd-analyze security --offline) is at most
# MAX_EXPOSURE.  The sysusers.d file (applied to an empty root with
# systemd-sysusers, where it exists) and the man page are installed with
# it.  Exit 77 (skipped) without systemd-analyze >= 250 (--offline).
set -euo pipefail

cmake=$1 build=$2 max=$3

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check_unit: no systemd-analyze: skipped"
	exit 77
fi
if ! systemd-analyze security --help 2>&1 | grep -q -- --offline; then
	echo "check_unit: systemd-analyze has no --offline (systemd < 250): skipped"
	exit 77
fi

root=$(mktemp -d /tmp/upager-unit-XXXXXX)
trap 'rm -rf "$root"' EXIT
fail() { echo "check_unit: FAIL: $*" >&2; exit 1; }

DESTDIR=$root "$cmake" --install "$build" --component daemon >/dev/null
unit=$(find "$root" -path '*/systemd/system/upagerd.service' -print -quit)
[ -n "$unit" ] || fail "cmake --install put no upagerd.service under lib/systemd/system"
[ -n "$(find "$root" -path '*/sysusers.d/upagerd.conf' -print -quit)" ] ||
	fail "no sysusers.d/upagerd.conf installed"
[ -n "$(find "$root" -path '*/man8/upagerd.8' -print -quit)" ] ||
	fail "no man8/upagerd.8 installed"

# ExecStart is the upagerd that cmake --install put there, not a path
# written in the source.
exec=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ -n "$exec" ] || fail "no ExecStart in $unit"
[ -x "$root$exec" ] || fail "ExecStart=$exec: not installed by cmake --install"
grep -qE '@[A-Z_]+@' "$unit" && fail "unsubstituted @VARIABLE@ in $unit: $(grep -E '@[A-Z_]+@' "$unit")"
user=$(sed -n 's/^User=//p' "$unit")
group=$(sed -n 's/^Group=//p' "$unit")
sysusers=$(find "$root" -path '*/sysusers.d/upagerd.conf' -print -quit)
grep -q "^u $user " "$sysusers" ||
	fail "User=$user is not created by the sysusers.d file"
# The sysusers.d file applied to an empty root creates that user and group.
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$root/sysroot/etc"
	systemd-sysusers --root="$root/sysroot" "$sysusers" >/dev/null 2>&1 ||
		fail "systemd-sysusers refused $sysusers"
	grep -q "^$user:" "$root/sysroot/etc/passwd" ||
		fail "systemd-sysusers made no user $user"
	grep -q "^$group:" "$root/sysroot/etc/group" ||
		fail "systemd-sysusers made no group $group"
fi

# systemd-analyze verify on a copy whose ExecStart points into the
# DESTDIR tree (--root would want the whole system's units there); the man
# pages of Documentation= are not looked up.
mkdir "$root/verify"
sed "s#^ExecStart=$exec#ExecStart=$root$exec#" "$unit" >"$root/verify/upagerd.service"
if ! out=$(systemd-analyze verify --man=no "$root/verify/upagerd.service" 2>&1); then
	fail "systemd-analyze verify: $out"
fi
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

threshold=$(awk -v m="$max" 'BEGIN { printf "%d", m * 10 }')
out=$(systemd-analyze security --offline=yes --threshold="$threshold" "$unit" 2>&1) ||
	fail "exposure above $max: $(echo "$out" | grep -E '✗|Overall')"
level=$(echo "$out" | sed -n 's/.*Overall exposure level for upagerd.service: \([0-9.]*\).*/\1/p')
[ -n "$level" ] || fail "no exposure figure in: $out"
echo "check_unit: $unit verified; exposure $level (at most $max)"
