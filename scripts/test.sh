#!/usr/bin/env bash
# The README's second command: the whole test suite.
#   1. the main build (CUDA sources compiled when nvcc is present) and its CPU tests;
#      the GPU tests too when a GPU is present (else they are listed as not run: no GPU);
#   2. the ASan+UBSan build of the CPU tests;
#   3. the safetensors loader fuzzer for S24_FUZZ_SECONDS (default 60).
# S24_TEST_QUICK=1 runs step 1 only.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S24_NEED_FUZZ=$([ "${S24_TEST_QUICK:-0}" = "1" ] && echo 0 || echo 1) \
  bash "$repo/scripts/install_deps.sh"

step() { printf '\n==== %s ====\n' "$*"; }

step "main build"
bash "$repo/scripts/build.sh" "$repo/build"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Runs ctest, keeping its output for the summary line at the end.
run_ctest() { ctest "$@" 2>&1 | tee -a "$log"; }

step "CPU tests"
run_ctest --test-dir "$repo/build" -L cpu --output-on-failure -j"$(nproc)"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \
   && ctest --test-dir "$repo/build" -L gpu -N | grep -q "Total Tests: [1-9]"; then
  step "GPU tests"
  run_ctest --test-dir "$repo/build" -L gpu --output-on-failure
else
  echo "GPU tests: not run here (no GPU or a CPU-only build); on a GPU machine: ctest --test-dir build -L gpu"
fi

summary() {
  # One closing line over every ctest run above: "N passed, N failed".
  awk '/tests passed, [0-9]+ tests failed out of/ {
         for (i = 1; i <= NF; i++) { if ($i == "failed") f += $(i-1); if ($i == "of") t += $(i+1) }
       } END { printf "sparse24 tests: %d passed, %d failed\n", t - f, f }' "$log"
}
if [ "${S24_TEST_QUICK:-0}" = "1" ]; then summary; exit 0; fi

step "sanitizer build (ASan + UBSan)"
bash "$repo/scripts/build.sh" "$repo/build-asan" -- -DS24_SANITIZE=ON -DS24_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest --test-dir "$repo/build-asan" -L cpu --output-on-failure -j"$(nproc)"

step "fuzzing the safetensors loader"
bash "$repo/scripts/fuzz.sh" "${S24_FUZZ_SECONDS:-60}"

step "summary"
summary
