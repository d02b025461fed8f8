#!/usr/bin/env bash
# tools/setup.sh - install what upager needs to build and test, if missing.
#
# Idempotent: checks each Debian package with dpkg-query first and runs
# apt-get (update + install, non-interactive) only when something is missing.
# As root it installs directly; otherwise through sudo if that is available
# without a password prompt; otherwise it prints the command to run.
#
#   bash tools/setup.sh          what builds and tests need (util-linux gives
#                                upager-bench its mkswap for kernel-swap)
#   bash tools/setup.sh --plot   also gnuplot-nox, for tools/plot's PNGs
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# clang and its compiler-rt (libFuzzer, sanitizer runtimes) build the fuzz
# target of tools/test.sh's third pass; with --no-install-recommends clang
# alone would come without them.  util-linux: mkswap for upager-bench.
# libsystemd-dev: upagerd's sd_notify() (optional at build; without it the
# unit is Type=simple); systemd: systemd-analyze for the daemon/systemd_unit
# test (skipped without it).  groff-base and man-db: packaging/man_pages
# renders every man page; jq: bench/plot checks tools/plot's output (both
# tests skip without them).  libhiredis-dev: the Redis Cluster store's
# client library; redis-server and redis-tools (redis-cli): the loopback
# cluster of tools/redis-cluster.sh that its tests run against.
PACKAGES=(build-essential cmake pkg-config liburing-dev libnuma-dev check
	clang libclang-rt-dev util-linux libsystemd-dev systemd groff-base
	man-db jq libhiredis-dev redis-server redis-tools)

case "${1:-}" in
--plot) PACKAGES+=(gnuplot-nox) ;;
"") ;;
*) echo "setup: unknown option: $1 (only --plot)" >&2; exit 2 ;;
esac

have_pkg() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "setup: this is not a Debian-like system (no dpkg/apt-get)."
	echo "setup: install by hand: a C11 compiler, make, cmake >= 3.20, pkg-config,"
	echo "setup:   liburing (dev), libnuma (dev), check (dev); clang with libFuzzer"
	echo "setup:   (compiler-rt) for the fuzz pass; hiredis (dev) for the Redis store,"
	echo "setup:   redis-server and redis-cli for its tests"
	exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
	have_pkg "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all present (${PACKAGES[*]}); nothing to install"
	exit 0
fi

echo "setup: missing: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo -n)
else
	echo "setup: not root and no password-less sudo; install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup: apt-get update"
"${as_root[@]}" apt-get update -qq </dev/null
echo "setup: apt-get install ${missing[*]}"
"${as_root[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" </dev/null

still=()
for p in "${missing[@]}"; do
	have_pkg "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
	echo "setup: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "setup: installed ${missing[*]}"
