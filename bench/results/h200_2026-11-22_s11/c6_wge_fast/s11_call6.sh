set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c6.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu
s24_build sparse24 test_gpu_linear_sm90 test_gpu_linear_sm90_q8 || exit 1
echo "built at $((SECONDS-T0)) s"
SHAPES='24576,3072,768,f16,gelu 24576,3072,768 6144,3072,768,f16,gelu 6144,768,768 98304,3072,768,f16,gelu 24576,768,3072 1536,3072,768,f16,gelu'
for sh in $SHAPES; do
  tag=$(echo $sh | tr ',' '_')
  timeout 60 build-gpu/sparse24 bench --shape $sh --tune --no-cusparselt --target-ms 40 --out $OUT/tune_r1/$tag > $OUT/tune_r1_$tag.log 2>&1 || echo "FAIL $sh"
  grep "  tune" $OUT/tune_r1_$tag.log | grep -oE "M=[0-9]+: best [a-z0-9_/]+ [0-9.]+|wg_n128m192 [0-9.]+|wg_n128m256 [0-9.]+|wge_n128m1[0-9]+ [0-9.]+" | tr '\n' ' '; echo " $sh"
done
echo "tune at $((SECONDS-T0)) s"
for t in test_gpu_linear_sm90 test_gpu_linear_sm90_q8; do
  timeout 240 build-gpu/$t > $OUT/t_$t.log 2>&1; echo "$t rc=$? at $((SECONDS-T0)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_$t.log | head -12
done
echo "all at $((SECONDS-T0)) s"
