#!/usr/bin/env bash
# install.sh CMAKE BUILD_DIR SRC_DIR CC - an install works for a user.
#
# Installs BUILD_DIR into a fresh prefix under $TMPDIR (removed at the end,
# on failure too), checks what is there (header, libraries, upager.pc, the
# CMake package, programs, man pages of sections 1, 3, 7 and 8), then builds
# tests/packaging/consumer against it:
#  - find_package(upager) with pkg-config unable to find liburing or numa
#    (PKG_CONFIG_LIBDIR=/nonexistent: their -dev packages absent): must
#    configure, build, run (upager::upager needs neither);
#  - COMPONENTS static in the same state: must fail, naming liburing;
#  - COMPONENTS static with pkg-config as usual: builds and runs;
#  - pkg-config --cflags --libs upager without liburing.pc / numa.pc, and a
#    program compiled with it, run through an rpath as the README says.
set -euo pipefail
cmake=$1 build=$2 src=$3 cc=$4
consumer_src=$src/tests/packaging/consumer
prefix=$(mktemp -d "${TMPDIR:-/tmp}/upager-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install: $*" >&2; exit 1; }

"$cmake" --install "$build" --prefix "$prefix/usr" >"$prefix/install.log" ||
	{ cat "$prefix/install.log"; fail "cmake --install failed"; }
p=$prefix/usr
libdir=$(cd "$p" && ls -d lib* | head -n 1)
for f in include/upager.h "$libdir/libupager.so" "$libdir/libupager.a" \
	"$libdir/pkgconfig/upager.pc" "$libdir/cmake/upager/upagerConfig.cmake" \
	"$libdir/cmake/upager/upagerTargets.cmake" \
	"$libdir/cmake/upager/upagerStaticTargets.cmake" \
	bin/upagerd bin/upagerctl bin/upager-bench \
	share/man/man7/upager.7 share/man/man8/upagerd.8 \
	share/man/man8/upagerctl.8 share/man/man1/upager-bench.1 \
	share/man/man3/upg_runtime_create.3 share/man/man3/upg_check_version.3; do
	[ -e "$p/$f" ] || fail "$f not installed"
done
n3=$(ls "$p/share/man/man3" | wc -l)
nb=$(ls "$build/man/man3" | wc -l)
[ "$n3" -eq "$nb" ] || fail "$n3 section 3 pages installed, $nb built"
"$p/bin/upager-bench" --version | grep -q "^upager-bench " ||
	fail "the installed upager-bench does not run (rpath?)"

configure() { # DIR [cmake args...]
	local dir=$1
	shift
	"$cmake" -S "$consumer_src" -B "$prefix/$dir" -DCMAKE_C_COMPILER="$cc" \
		-DCMAKE_PREFIX_PATH="$p" "$@" >"$prefix/$dir.log" 2>&1
}
build_run() { # DIR
	"$cmake" --build "$prefix/$1" >>"$prefix/$1.log" 2>&1 ||
		{ cat "$prefix/$1.log"; fail "$1: build failed"; }
	"$prefix/$1/consumer" | grep -q "^consumer: ok " || fail "$1: consumer failed"
	echo "install: $1 ok"
}

PKG_CONFIG_LIBDIR=/nonexistent configure shared ||
	{ cat "$prefix/shared.log"; fail "find_package(upager) needs more than upager"; }
build_run shared

if PKG_CONFIG_LIBDIR=/nonexistent configure static-nodeps -DUPAGER_CONSUMER_STATIC=ON; then
	fail "COMPONENTS static configured without liburing's .pc file"
fi
grep -q "liburing" "$prefix/static-nodeps.log" ||
	{ cat "$prefix/static-nodeps.log"; fail "COMPONENTS static failed without naming liburing"; }
echo "install: static without liburing-dev refused, naming it"

configure static -DUPAGER_CONSUMER_STATIC=ON ||
	{ cat "$prefix/static.log"; fail "COMPONENTS static failed"; }
build_run static

flags=$(PKG_CONFIG_PATH="$p/$libdir/pkgconfig" PKG_CONFIG_LIBDIR=/nonexistent \
	pkg-config --cflags --libs upager) || fail "pkg-config upager needs more than upager.pc"
# shellcheck disable=SC2086
"$cc" -Wall -Wextra -Werror "$consumer_src/consumer.c" -o "$prefix/pc-consumer" \
	$flags -Wl,-rpath,"$p/$libdir" || fail "compiling with pkg-config's flags failed"
"$prefix/pc-consumer" | grep -q "^consumer: ok " || fail "pkg-config consumer failed"
echo "install: pkg-config ok"
