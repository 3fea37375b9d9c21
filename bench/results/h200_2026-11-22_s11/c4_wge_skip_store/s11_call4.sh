set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
touch src/cuda/gemm/* src/cuda/arch/*
s24_build sparse24 || exit 1
cmake -S . -B build-skip -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_CUSPARSELT_ROOT=$C "-DCMAKE_CUDA_FLAGS=-DS24_WGE_SKIP_STORE" > $OUT/cmake_skip.log 2>&1
( time ninja -C build-skip -j16 sparse24 ) > $OUT/build_skip.log 2>&1 || { tail -30 $OUT/build_skip.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
for v in build-gpu build-skip; do
  for sh in 24576,3072,768 24576,3072,768,f16,gelu; do
    timeout 60 $v/sparse24 bench --shape $sh --tune --no-cusparselt --target-ms 40 --out $OUT/tune_$v/$sh > $OUT/tune_${v}_$sh.log 2>&1 || echo "FAIL $sh"
    grep "  tune" $OUT/tune_${v}_$sh.log | grep -oE "M=[0-9]+: best [a-z0-9_/]+ [0-9.]+|wg_n128m128 [0-9.]+|wge_n128m1[0-9]+ [0-9.]+" | tr '\n' ' '; echo " $v $sh"
  done
done
echo "tune at $((SECONDS-T0)) s"
export S24_PROFILE_SOURCE=1
timeout 300 bash scripts/profile_gpu.sh $OUT/prof "24576,3072,768|sm90_kernel<s24::arch::WgmmaF16, __half, 12," "24576,3072,768|sm90_kernel<s24::arch::WgmmaF16, __half, 0," > $OUT/profile.log 2>&1
grep -E "==|Duration|SM Frequency|Issue Slots|No Eligible" $OUT/profile.log | head -20
echo "all at $((SECONDS-T0)) s"
