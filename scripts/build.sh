#!/usr/bin/env bash
# build.sh BUILD_DIR [TARGET...] [-- CMAKE_ARGS...]: configure (once) and build with ninja.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$1"; shift
targets=(); cmake_args=()
while (($#)); do
  if [ "$1" = "--" ]; then shift; cmake_args=("$@"); break; fi
  targets+=("$1"); shift
done
cslt="$repo/.deps/cusparselt/nvidia/cusparselt"
[ -d "$cslt" ] && cmake_args=(-DS24_CUSPARSELT_ROOT="$cslt" "${cmake_args[@]}")
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" >/dev/null
fi
ninja -C "$dir" -j"$(nproc)" "${targets[@]}"
