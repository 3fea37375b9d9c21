set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s10c9.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
G=src/cuda/gemm
FILES="sparse_gemm.h sparse_gemm.cu sparse_gemm_sm90.cu sparse_gemm_sm90_kernel.cuh sparse_gemm_sm90_launch.cuh tile_configs.h"
mkdir -p /tmp/new; for f in $FILES; do cp $G/$f /tmp/new/; cp .devbin/v10_head/$f $G/$f; done
touch $G/* tests/gpu/*.cu
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build_head.log 2>&1 || { tail -30 $OUT/build_head.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_head
for f in $FILES; do cp /tmp/new/$f $G/$f; done
touch $G/* tests/gpu/*.cu
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_new
echo "built at $((SECONDS-T0)) s"; grep real $OUT/build_head.log $OUT/build.log
for v in new head new head; do
  timeout 90 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(4|16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "ab at $((SECONDS-T0)) s"
timeout 240 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
grep -E "OK \] .*Gelu|FAILED" build-gpu/Testing/Temporary/LastTest.log 2>/dev/null | head -4
echo "all at $((SECONDS-T0)) s"
