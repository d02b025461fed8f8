#!/usr/bin/env bash
# header_compile.sh CC CXX INCLUDE_DIR WORK_DIR - upager.h is clean C and C++.
#
# Compiles header_use.c (UPG_OPTS() with and without initialisers, the
# version macros) as C11 with CC and as C++11 and C++17 with CXX, each with
# -pedantic -Wall -Wextra -Werror, and runs each program (it checks the
# structs UPG_OPTS() declares).  CXX may be empty (no C++ compiler found at
# configure time): then the C part runs and the test exits 77 (skipped).
set -euo pipefail
cc=$1 cxx=$2 inc=$3 work=$4
src=$(dirname "${BASH_SOURCE[0]}")/header_use.c
mkdir -p "$work"
trap 'rm -f "$work"/header_use_*' EXIT

flags=(-pedantic -Wall -Wextra -Werror -I"$inc")
"$cc" -std=c11 "${flags[@]}" "$src" -o "$work/header_use_c11"
"$work/header_use_c11"
echo "header_compile: C11 ok ($cc)"
if [ -z "$cxx" ]; then
	echo "header_compile: no C++ compiler (install g++): C++ part skipped"
	exit 77
fi
for std in c++11 c++17; do
	"$cxx" -std=$std "${flags[@]}" -x c++ "$src" -o "$work/header_use_$std"
	"$work/header_use_$std"
	echo "header_compile: $std ok ($cxx)"
done
