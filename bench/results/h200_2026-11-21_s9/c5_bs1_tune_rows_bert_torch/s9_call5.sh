set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c5.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 test_bert_gpu ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout 60 build-gpu/test_bert_gpu > $OUT/t_bert.log 2>&1; echo "test_bert_gpu rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_bert.log | head -5
mkdir -p $OUT/tune_bs1
i=0
for s in 384,2304,768 384,768,768 384,3072,768 384,768,3072 384,3072,768,gelu; do
  i=$((i+1))
  timeout 40 build-gpu/sparse24 bench --shape $s --tune --no-cusparselt --target-ms 10 --out $OUT/tune_bs1/s$i > $OUT/tune_bs1/s$i.log 2>&1
  grep -E "^  tune" $OUT/tune_bs1/s$i.log | cut -c1-100
done
build-gpu/sparse24 bench --merge --out $OUT/merged --plan-table $OUT/sm90_plan_table_h200.inc bench/results/h200_2026-11-21_s8/c3_tune_ab/tune/merged $OUT/tune_bs1/s[1-5] > $OUT/merge.log 2>&1 || tail -5 $OUT/merge.log
diff $OUT/sm90_plan_table_h200.inc src/cuda/gemm/sm90_plan_table_h200.inc
cp $OUT/sm90_plan_table_h200.inc src/cuda/gemm/sm90_plan_table_h200.inc
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild.log 2>&1 || tail -20 $OUT/rebuild.log
echo "retabled at $((SECONDS-T0)) s"
mkdir -p $OUT/rows
timeout 150 build-gpu/sparse24 bench --filter bert- --target-ms 10 --out $OUT/rows > $OUT/rows/rows.log 2>&1; echo "rows rc=$? at $((SECONDS-T0)) s"
grep -E "^(q8_)?bert-" $OUT/rows/rows.log | cut -c1-150 | head -60
mkdir -p $OUT/bert
timeout 60 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log
PYTHONUNBUFFERED=1 timeout $((590-(SECONDS-T0))) python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -8 $OUT/bert/torch.log
