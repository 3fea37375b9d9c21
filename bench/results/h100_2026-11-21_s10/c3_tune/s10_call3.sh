set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/*.cuh src/cuda/gemm/*.cu src/cuda/gemm/*.inc tests/gpu/*.cu
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_oldtable
echo "built at $((SECONDS-T0)) s"
timeout 330 bash scripts/tune_shapes.sh $OUT/tune 20 > $OUT/tune.log 2>&1; echo "tune rc=$? at $((SECONDS-T0)) s"
tail -40 $OUT/tune.log
[ -s $OUT/tune/sm90_plan_table.inc ] || exit 1
case "$(nvidia-smi --query-gpu=name --format=csv,noheader)" in *H200*) T=h200;; *) T=h100;; esac
cp $OUT/tune/sm90_plan_table.inc src/cuda/gemm/sm90_plan_table_$T.inc; touch src/cuda/gemm/sm90_plan_table_$T.inc
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild.log 2>&1 || { tail -20 $OUT/rebuild.log; exit 1; }
echo "rebuilt at $((SECONDS-T0)) s"
for v in new old new; do
  b=build-gpu/sparse24; [ $v = old ] && b=/tmp/s24_oldtable
  timeout 60 $b bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 8 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
rm -rf $OUT/tune/s[0-9]*/bench_speedup.svg
echo "all at $((SECONDS-T0)) s"
