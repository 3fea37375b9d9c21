set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c7.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/*.cuh src/cuda/gemm/*.cu src/cuda/gemm/*.inc tests/gpu/*.cu
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
cmake -S . -B build-g -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS=-DS24_SM90_UNROLL_GELU -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake_g.log 2>&1
( time ninja -C build-gpu -j8 sparse24 ) > $OUT/build.log 2>&1 &
( time ninja -C build-g -j8 sparse24 test_gpu_linear_sm90 ) > $OUT/build_g.log 2>&1
wait
tail -3 $OUT/build.log $OUT/build_g.log | grep -E "real|error|FAILED"
[ -x build-g/sparse24 ] && [ -x build-gpu/sparse24 ] || exit 1
cp build-gpu/sparse24 /tmp/s24_v10; cp build-g/sparse24 /tmp/s24_v10g
echo "built at $((SECONDS-T0)) s"
timeout 150 build-g/test_gpu_linear_sm90 > $OUT/t_sm90_g.log 2>&1; echo "sm90 tests (gelu unrolled) rc=$? at $((SECONDS-T0)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_sm90_g.log | head -8
SHAPES='6144,3072,768,f16,gelu 24576,3072,768,f16,gelu 98304,3072,768,f16,gelu 1536,3072,768,f16,gelu 384,3072,768,f16,gelu 6144,768,768'
for round in 1 2; do
  for v in v10g v10; do
    for sh in $SHAPES; do
      tag=$(echo $sh | tr ',' '_')
      timeout 100 /tmp/s24_$v bench --shape $sh --tune --no-cusparselt --target-ms 40 --out $OUT/tune_${v}_r${round}/$tag > $OUT/tune_${v}_r${round}_$tag.log 2>&1 || echo "FAIL $v $sh"
    done
  done
  echo "round $round at $((SECONDS-T0)) s"
done
for sh in $SHAPES; do
  tag=$(echo $sh | tr ',' '_')
  python3 .devbin/tunecmp.py $OUT/tune_v10_r1/$tag $OUT/tune_v10g_r1/$tag $OUT/tune_v10_r2/$tag $OUT/tune_v10g_r2/$tag 2>&1 | tail -16
done > $OUT/tunecmp.txt
grep -E "^==|BEST|wg_n128m96 |wg_n128m192 |wg_n128m256 |wgc_n128m256 |wgc_n128m192 " $OUT/tunecmp.txt
for v in v10g v10 v10g v10; do
  timeout 90 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "all at $((SECONDS-T0)) s"
