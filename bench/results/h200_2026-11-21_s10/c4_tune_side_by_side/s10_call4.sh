set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/*.cuh src/cuda/gemm/*.cu src/cuda/gemm/*.inc tests/gpu/*.cu
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout 260 bash scripts/tune_shapes.sh $OUT/tune 20 > $OUT/tune.log 2>&1; echo "tune rc=$? at $((SECONDS-T0)) s"
grep -A40 "^// The sm_90a" $OUT/tune.log
[ -s $OUT/tune/sm90_plan_table.inc ] || exit 1
case "$(nvidia-smi --query-gpu=name --format=csv,noheader)" in *H200*) T=h200;; *) T=h100;; esac
cp $OUT/tune/sm90_plan_table.inc src/cuda/gemm/sm90_plan_table_$T.inc; touch src/cuda/gemm/sm90_plan_table_$T.inc
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild.log 2>&1 || { tail -20 $OUT/rebuild.log; exit 1; }
echo "rebuilt at $((SECONDS-T0)) s"
rm -rf $OUT/tune/s[0-9]*/bench_speedup.svg
mkdir -p $OUT/bert
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log
PYTHONUNBUFFERED=1 timeout 170 python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -8 $OUT/bert/torch.log
echo "all at $((SECONDS-T0)) s"
