set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c8.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name --format=csv,noheader
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 ) > $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
o=$(find build-gpu -name "bert_cuda.cu.o" | head -1)
cuobjdump --dump-resource-usage $o 2>&1 | grep -A1 "fused_attention" | grep -oE "REG:[0-9]+|STACK:[0-9]+|SHARED:[0-9]+|LOCAL:[0-9]+" | paste - - - - | sort | uniq -c > $OUT/attn_resources.txt; cat $OUT/attn_resources.txt
timeout 120 compute-sanitizer --tool racecheck build-gpu/test_bert_gpu --gtest_filter='BertGpuKernels.FusedAttention*' > $OUT/race_attn.log 2>&1; echo "racecheck attention rc=$?"; tail -n 2 $OUT/race_attn.log
timeout 120 compute-sanitizer --tool memcheck build-gpu/test_bert_gpu --gtest_filter='BertGpuKernels.FusedAttention*' > $OUT/memcheck_attn.log 2>&1; echo "memcheck attention rc=$?"; tail -n 2 $OUT/memcheck_attn.log
timeout 90 compute-sanitizer --tool initcheck build-gpu/test_bert_gpu --gtest_filter='BertGpuKernels.FusedAttention*' > $OUT/initcheck_attn.log 2>&1; echo "initcheck attention rc=$?"; tail -n 2 $OUT/initcheck_attn.log
echo "sanitizers at $((SECONDS-T0)) s"
timeout $((570-(SECONDS-T0))) ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$?"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -30
echo "all done at $((SECONDS-T0)) s"
