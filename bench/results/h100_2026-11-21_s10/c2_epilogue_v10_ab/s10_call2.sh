set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
K=src/cuda/gemm/sparse_gemm_sm90_kernel.cuh
cp $K /tmp/kernel_v10.cuh
cp .devbin/sm90_kernel_v9.cuh $K; touch $K
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build_v9.log 2>&1 || { tail -30 $OUT/build_v9.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_v9
cp /tmp/kernel_v10.cuh $K; touch $K tests/gpu/test_gpu_linear_sm90.cu
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_v10
echo "built at $((SECONDS-T0)) s"
for t in test_gpu_linear_sm90 test_gpu_linear_sm90_q8; do
  timeout 200 build-gpu/$t > $OUT/t_$t.log 2>&1; echo "$t rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_$t.log | head -8
done
echo "tests at $((SECONDS-T0)) s"
cuobjdump --dump-sass build-gpu/sparse24 2>/dev/null | grep -oE "(HGMMA|QGMMA|IGMMA)\.SP\.[0-9x]+" | sort | uniq -c > $OUT/sass_gmma.txt; head -20 $OUT/sass_gmma.txt
SHAPES='6144,768,768 6144,2304,768 6144,3072,768 6144,768,3072 6144,3072,768,f16,gelu 24576,2304,768 98304,3072,768 24576,2304,768,i8 24576,3072,768,e4m3'
for round in 1 2; do
  for v in v10 v9; do
    for sh in $SHAPES; do
      tag=$(echo $sh | tr ',' '_')
      timeout 100 /tmp/s24_$v bench --shape $sh --tune --no-cusparselt --target-ms 60 --out $OUT/tune_${v}_r${round}/$tag > $OUT/tune_${v}_r${round}_$tag.log 2>&1 || echo "FAIL $v $sh"
    done
  done
  echo "round $round at $((SECONDS-T0)) s"
done
for sh in $SHAPES; do
  tag=$(echo $sh | tr ',' '_')
  python3 .devbin/tunecmp.py $OUT/tune_v9_r1/$tag $OUT/tune_v10_r1/$tag $OUT/tune_v9_r2/$tag $OUT/tune_v10_r2/$tag 2>&1 | tail -16
done > $OUT/tunecmp.txt
grep -E "^==|BEST|wg_n128m96 |wgp_n128m128 |wg_n256m128 |wgc_n128m256 " $OUT/tunecmp.txt
for v in v10 v9 v10 v9; do
  timeout 90 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "all at $((SECONDS-T0)) s"
