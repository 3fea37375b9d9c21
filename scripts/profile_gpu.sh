#!/usr/bin/env bash
# On a GPU machine with Nsight Compute: build the CLI, then profile one kernel launch per
# (shape, kernel-name regex) pair and print the lines that place its time.
#   bash scripts/profile_gpu.sh OUT_DIR "M,N,K|REGEX" ["M,N,K|REGEX" ...]
# REGEX matches the demangled kernel name, e.g. 'sm90_kernel<__half.{1,8}1>' (tile config 1 of the
# wgmma kernel) or 'nvjet|xmma|cutlass' (cuBLAS). Clocks are left alone (--clock-control none).
# Writes OUT_DIR/prof<i>.txt (details page), raw<i>.csv (every metric) and, with
# S24_PROFILE_SOURCE=1, source<i>.csv (stall samples per SASS instruction).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"; shift
mkdir -p "$out"
build="$repo/build-gpu"
cslt=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt
args=(-DCMAKE_BUILD_TYPE=Release)
[ -f "$cslt/include/cusparseLt.h" ] && args+=(-DS24_CUSPARSELT_ROOT="$cslt") &&
  export LD_LIBRARY_PATH="$cslt/lib:${LD_LIBRARY_PATH:-}"
[ -n "${S24_GTEST_SOURCE_DIR:-}" ] && args+=(-DS24_GTEST_SOURCE_DIR="$S24_GTEST_SOURCE_DIR")
cmake -S "$repo" -B "$build" -G Ninja "${args[@]}" >"$out/cmake.log"
ninja -C "$build" -j"$(nproc)" sparse24 >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
i=0
for job in "$@"; do
  shape="${job%%|*}"; regex="${job#*|}"; i=$((i + 1))
  ncu --clock-control none --set full --kernel-name-base demangled --kernel-name "regex:$regex" \
    --launch-skip 2 --launch-count 1 -f -o "$out/prof$i" \
    "$build/sparse24" bench --shape "$shape" --tune --no-cusparselt --target-ms 10 \
    --out "$out/bench$i" >"$out/ncu$i.log" 2>&1
  grep -E "==PROF==|==ERROR==|==WARNING== No" "$out/ncu$i.log" | grep -v Connected | tail -5
  ncu --import "$out/prof$i.ncu-rep" --page details >"$out/prof$i.txt" 2>&1 || true
  ncu --import "$out/prof$i.ncu-rep" --page raw --csv >"$out/raw$i.csv" 2>&1 || true
  # Per-instruction stall samples (SASS), when asked for: S24_PROFILE_SOURCE=1.
  [ "${S24_PROFILE_SOURCE:-0}" = 1 ] &&
    ncu --import "$out/prof$i.ncu-rep" --page source --csv --print-source sass \
      >"$out/source$i.csv" 2>&1 || true
  echo "== $shape | $regex"
  grep -E "^  [a-z_].*\(|Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|DRAM Throughput|Registers Per|Shared Memory Configuration Size|Executed Ipc A|Issue Slots Busy|No Eligible|Stall|Achieved Occupancy|Block Limit" \
    "$out/prof$i.txt" | head -40
done
