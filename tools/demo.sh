#!/usr/bin/env bash
# tools/demo.sh - install what is missing, build, run the out-of-core demo.
#
#   bash tools/demo.sh [ooc_sort arguments...]
#
# Builds in build/ (RelWithDebInfo with asserts kept, as tools/test.sh does)
# and runs build/examples/ooc_sort, which sorts a file four times larger than
# its memory budget and prints the runtime's statistics. Arguments are passed
# through to it unchanged.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/setup.sh

cmake -S . -B build \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo \
	"-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g -UNDEBUG" \
	-DUPAGER_ASAN=OFF -DUPAGER_UBSAN=OFF -DUPAGER_TSAN=OFF
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"

demo=build/examples/ooc_sort
if [ ! -x "$demo" ]; then
	echo "demo: $demo was not built (is examples/ooc_sort.c there, and UPAGER_BUILD_EXAMPLES on?)" >&2
	exit 1
fi
echo "demo: $demo $*"
exec "$demo" "$@"
