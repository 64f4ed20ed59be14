#!/usr/bin/env bash
# Configures and builds walstream (all targets, warnings as errors) into
# build/. Prints nothing unless the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Line tables only (-g1): backtraces and profiles still name functions and
# lines, and the build takes a fifth less time than with full -g.
if ! {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWALSTREAM_WERROR=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" &&
    cmake --build build -j"$(nproc)"
} >"$log" 2>&1; then
  cat "$log" >&2
  echo "build.sh: build failed" >&2
  exit 1
fi
