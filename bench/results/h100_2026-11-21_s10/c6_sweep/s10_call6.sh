set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c6.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/*.cuh src/cuda/gemm/*.cu src/cuda/gemm/*.inc
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
git log --oneline -1 > $OUT/commit.txt
mkdir -p $OUT/sweep
timeout 480 build-gpu/sparse24 bench --target-ms 30 --out $OUT/sweep > $OUT/sweep/sweep.log 2>&1; echo "sweep rc=$? at $((SECONDS-T0)) s"
grep -E "^(square8k|llama8b-(up|down) T8192|q8_|bert-(qkv|attnout|fc1|fc2) bs(16|64|256) )" $OUT/sweep/sweep.log | cut -c1-140
echo "all at $((SECONDS-T0)) s"
