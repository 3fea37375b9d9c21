set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c9.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name --format=csv,noheader
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
for t in test_gpu_activation test_bert_gpu test_gpu_linear test_gpu_linear_sm90; do
  timeout 120 build-gpu/$t > $OUT/t_$t.log 2>&1; echo "$t rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' $OUT/t_$t.log | tr '\n' ' ')"; grep -E "FAILED|Failure" $OUT/t_$t.log | head -5
done
grep -o 'error_over_bound" value="[0-9.e-]*"' -r $OUT 2>/dev/null | head -2
build-gpu/test_gpu_activation --gtest_filter='*GeluErf*' --gtest_output=xml:$OUT/act.xml > /dev/null 2>&1; grep -o 'error_over_bound" value="[^"]*"' $OUT/act.xml
echo "tests at $((SECONDS-T0)) s"
cp build-gpu/sparse24 /tmp/s24_new
cp src/ops/activation.h /tmp/activation_new.h; cp .devbin/activation_v0.h src/ops/activation.h
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild_old.log 2>&1 || tail -20 $OUT/rebuild_old.log
cp build-gpu/sparse24 /tmp/s24_old; cp /tmp/activation_new.h src/ops/activation.h
echo "old built at $((SECONDS-T0)) s"
for v in new old new old; do
  timeout 60 /tmp/s24_$v bench --filter gelu --no-cusparselt --target-ms 10 --out $OUT/rows_$v > $OUT/rows_$v.log 2>&1
  grep -E "^bert-fc1\+gelu" $OUT/rows_$v.log | cut -c1-120 | sed "s/^/$v /"
done
for v in new old new old; do
  timeout 60 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "all at $((SECONDS-T0)) s"
