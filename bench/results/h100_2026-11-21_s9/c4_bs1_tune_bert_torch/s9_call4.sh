set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
mkdir -p $OUT/tune_bs1
i=0
for s in 384,2304,768 384,768,768 384,3072,768 384,768,3072 384,3072,768,gelu; do
  i=$((i+1))
  timeout 40 build-gpu/sparse24 bench --shape $s --tune --target-ms 10 --out $OUT/tune_bs1/s$i > $OUT/tune_bs1/s$i.log 2>&1
  grep -E "^  tune" $OUT/tune_bs1/s$i.log | cut -c1-110
  python3 - $OUT/tune_bs1/s$i/bench.csv <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(f"    {r['tag']} {r['m']}x{r['n']}x{r['k']} dense {float(r['dense_ms']):.4f} native {float(r['native_ms']):.4f} ({r['native_plan']}) cslt {float(r['cslt_ms']):.4f} tuned {r.get('native_tuned_ms','?')} {r.get('native_tuned_plan','')}")
PY
done
echo "tune at $((SECONDS-T0)) s"
mkdir -p $OUT/bert
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log
PYTHONUNBUFFERED=1 timeout $((585-(SECONDS-T0))) python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -12 $OUT/bert/torch.log
