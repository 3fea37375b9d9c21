#!/usr/bin/env bash
# On a GPU machine, with the CLI built in build-gpu: `sparse24 bench --tune` over the shapes that
# set the dispatcher's table (the compute-bound bars of issue 4, BERT-base at batch 1-256 with
# fc1 also with its GELU, which the table keys apart, Llama-8B rows; 16-bit and 8-bit), one process
# per shape; prints each shape's per-plan listing, then merges the runs and writes
# OUT_DIR/sm90_plan_table.inc (copy it to src/cuda/gemm/sm90_plan_table_h100.inc or _h200.inc, as
# its header names for the GPU it ran on, and rebuild to use it).
#   bash scripts/tune_shapes.sh OUT_DIR [TARGET_MS]
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"; ms="${2:-100}"
mkdir -p "$out"
cslt=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt
[ -d "$cslt/lib" ] && export LD_LIBRARY_PATH="$cslt/lib:${LD_LIBRARY_PATH:-}"
shapes=(
  8192,8192,8192 8192,8192,8192,bf16
  8192,14336,4096 8192,4096,14336 2048,14336,4096 128,14336,4096
  384,2304,768 384,768,768 384,3072,768 384,768,3072 384,3072,768,gelu
  1536,2304,768 1536,768,768 1536,3072,768 1536,768,3072
  6144,2304,768 6144,768,768 6144,3072,768 6144,768,3072 6144,3072,768,gelu
  24576,2304,768 24576,768,768 24576,3072,768 24576,768,3072 24576,3072,768,gelu
  98304,2304,768 98304,768,768 98304,3072,768 98304,768,3072 98304,3072,768,gelu
  8192,8192,8192,e4m3 8192,14336,4096,e4m3 6144,3072,768,e4m3 24576,3072,768,e4m3
  24576,768,3072,e4m3 128,14336,4096,e4m3 8192,8192,8192,i8 24576,3072,768,i8
  24576,768,768,i8 24576,768,3072,i8
)
i=0
for s in "${shapes[@]}"; do
  i=$((i + 1))
  "$repo/build-gpu/sparse24" bench --shape "$s" --tune --no-cusparselt --target-ms "$ms" \
    --out "$out/s$i" >"$out/s$i.log" 2>&1 || { echo "shape $s failed"; tail -5 "$out/s$i.log"; }
  grep -E "^  tune" "$out/s$i.log" | sed 's/^  tune //'
done
"$repo/build-gpu/sparse24" bench --merge --out "$out/merged" --plan-table "$out/sm90_plan_table.inc" \
  "$out"/s[0-9]*/ >"$out/merge.log" 2>&1 || { echo "merge failed"; tail -5 "$out/merge.log"; }
cat "$out/sm90_plan_table.inc"
