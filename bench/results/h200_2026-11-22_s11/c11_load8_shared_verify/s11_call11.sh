set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c11.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu
s24_build || exit 1
echo "built at $((SECONDS-T0)) s"
for sh in 6144,3072,768,f16,gelu 6144,768,768 24576,3072,768,f16,gelu; do
  timeout 60 build-gpu/sparse24 bench --shape $sh --no-cusparselt --target-ms 30 --out $OUT/b/$sh > $OUT/b_$sh.log 2>&1
  grep -E "^custom" $OUT/b_$sh.log | head -1
done
timeout 220 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
echo "all at $((SECONDS-T0)) s"
