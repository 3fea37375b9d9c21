#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (sm_80 / sm_90): build, run the GPU test suite, check it with
# compute-sanitizer (memcheck + racecheck), and run the benchmark sweep.
#   bash scripts/gpu_check.sh [OUT_DIR]        (default out/gpu)
# Environment: S24_CUSPARSELT_ROOT (else PyTorch's copy or .deps/cusparselt is used when found),
# S24_GTEST_SOURCE_DIR (GoogleTest sources when none is installed), S24_GPU_STEPS (default
# "tests sanitize bench"), S24_SANITIZE_TOOLS (default "memcheck racecheck"),
# S24_SANITIZE_TIMEOUT (seconds per binary and tool, default 600), S24_BENCH_ARGS (extra
# arguments for `sparse24 bench`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/out/gpu}"
mkdir -p "$out"
steps="${S24_GPU_STEPS:-tests sanitize bench}"
build="$repo/build-gpu"

cslt="${S24_CUSPARSELT_ROOT:-}"
if [ -z "$cslt" ]; then
  for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt \
           "$repo/.deps/cusparselt/nvidia/cusparselt"; do
    if [ -f "$d/include/cusparseLt.h" ]; then cslt="$d"; break; fi
  done
fi
args=(-DCMAKE_BUILD_TYPE=Release)
[ -n "$cslt" ] && args+=(-DS24_CUSPARSELT_ROOT="$cslt")
[ -n "${S24_GTEST_SOURCE_DIR:-}" ] && args+=(-DS24_GTEST_SOURCE_DIR="$S24_GTEST_SOURCE_DIR")
export LD_LIBRARY_PATH="${cslt:+$cslt/lib:}${LD_LIBRARY_PATH:-}"

nvidia-smi -L | tee "$out/gpu.txt"
t0=$(date +%s)
cmake -S "$repo" -B "$build" -G Ninja "${args[@]}" >"$out/cmake.log"
ninja -C "$build" -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"

# The shipped kernels must contain the sparse tensor-core instructions.
cuobjdump --dump-sass "$build/libsparse24.a" 2>/dev/null | grep -c "HMMA.SP" |
  sed 's/^/SASS: HMMA.SP instructions in libsparse24.a: /' | tee "$out/sass.txt"

status=0
# The static SASS check of the sparse wgmma (metadata registers, serialization; label cpu).
ctest --test-dir "$build" -R '^sass_' --output-on-failure 2>&1 | tee "$out/sass_check.log" || status=1
if [[ " $steps " == *" tests "* ]]; then
  ctest --test-dir "$build" -L gpu --output-on-failure 2>&1 | tee "$out/gpu_tests.log" || status=1
fi
if [[ " $steps " == *" sanitize "* ]]; then
  # Skipped under the sanitizer: timing-only tests (100x slower there), the MiniLM test (large),
  # graph replays, and cuSPARSELt (a closed library: racecheck flags its warp-specialised
  # kernels, which we can neither inspect nor fix).
  for t in "$build"/test_*gpu*; do
    [ -x "$t" ] || continue
    for tool in ${S24_SANITIZE_TOOLS:-memcheck racecheck}; do
      echo "compute-sanitizer --tool $tool $(basename "$t")"
      timeout "${S24_SANITIZE_TIMEOUT:-600}" compute-sanitizer --tool "$tool" --error-exitcode 9 "$t" --gtest_brief=1 \
        --gtest_filter='-*Bandwidth*:*MiniLM*:*Graph*:*CuSparseLt*' >"$out/sanitize_${tool}_$(basename "$t").log" 2>&1 ||
        { status=1; tail -20 "$out/sanitize_${tool}_$(basename "$t").log"; }
      tail -2 "$out/sanitize_${tool}_$(basename "$t").log"
    done
  done
fi
if [[ " $steps " == *" bench "* ]]; then
  # shellcheck disable=SC2086
  "$build/sparse24" bench --out "$out" ${S24_BENCH_ARGS:-} 2>&1 | tee "$out/bench.log" || status=1
fi
exit $status
