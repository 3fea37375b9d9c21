set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c13.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name --format=csv,noheader
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout $((560-(SECONDS-T0))) ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$?"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -30
timeout 60 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/bert.log 2>&1; grep -E '^ +(16|64|256) +384' $OUT/bert.log
echo "all done at $((SECONDS-T0)) s"
