#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs fuzz_safetensors for a while.
#   scripts/fuzz.sh [SECONDS=60] [extra libFuzzer flags...]
# The seed corpus in fuzz/corpus/safetensors/ is copied to a scratch folder first, so the
# checked-in seeds stay small; a crash leaves its input in build-fuzz/findings/ and fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift || true
build="${S24_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${S24_JOBS:-2}"

cc="${CC:-clang}"
cxx="${CXX:-clang++}"
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz.sh: $cxx not found (install clang: apt-get install clang)" >&2
  exit 1
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
CC="$cc" CXX="$cxx" cmake -S "$root" -B "$build" "${generator[@]}" -DS24_FUZZ=ON \
  -DS24_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_safetensors -j "$jobs"

work="$build/corpus-work"
findings="$build/findings"
mkdir -p "$work" "$findings"
cp -n "$root"/fuzz/corpus/safetensors/* "$work"/ 2>/dev/null || true

echo "fuzz.sh: running fuzz_safetensors for ${seconds}s"
# rss_limit / max_len keep a run inside a CI machine's memory; the reader caps every allocation
# at the input's size, so larger inputs would only slow the search.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
ASAN_OPTIONS=detect_leaks=1 \
  "$build/fuzz_safetensors" "$work" \
  -dict="$root/fuzz/safetensors.dict" \
  -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$findings/" -print_final_stats=1 "$@"
