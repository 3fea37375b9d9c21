set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c6.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout 90 build-gpu/test_gpu_linear > $OUT/t_linear.log 2>&1; echo "test_gpu_linear rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_linear.log | head -5
echo "tests at $((SECONDS-T0)) s"
mkdir -p $OUT/sweep
timeout 290 build-gpu/sparse24 bench --target-ms 30 --out $OUT/sweep > $OUT/sweep/sweep.log 2>&1; echo "sweep rc=$? at $((SECONDS-T0)) s"
grep -E "^(square8k|llama8b-(up|down) T8192|q8_square8k|bert-(qkv|attnout|fc1|fc2) bs1 )" $OUT/sweep/sweep.log | cut -c1-130
timeout $((580-(SECONDS-T0))) build-gpu/test_gpu_linear_sm90 > $OUT/t_sm90.log 2>&1; echo "sm90 rc=$? at $((SECONDS-T0)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_sm90.log | head -5
