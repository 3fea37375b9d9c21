set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
K=src/cuda/gemm/sparse_gemm_sm90_kernel.cuh
finish() { cd $FINAL_OUT && tar czf s15c5.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
git status --short > $OUT/commit.txt
sed -i 's/^    for (int kb = 0; kb < p.kblocks; ++kb, ++it) {/#pragma unroll 1\n    for (int kb = 0; kb < p.kblocks; ++kb, ++it) {/' $K
grep -n -B1 "for (int kb = 0; kb < p.kblocks; ++kb, ++it)" $K | head -3
s24_build test_gpu_linear_sm90 || exit 1
echo "built at $((SECONDS-T0)) s; warnings $(grep -c warning $OUT/build.log) C751x $(grep -c C751 $OUT/build.log)"
O=build-gpu/CMakeFiles/sparse24.dir/src/cuda/gemm/sparse_gemm_sm90.cu.o
for c in 0 1; do f="_ZN3s246detail4gemm23sparse_gemm_sm90_kernelINS_4arch8WgmmaF16E6__halfLi${c}ELb0EEEv14CUtensorMap_stS6_NS1_10Sm90ParamsE"; echo "cfg $c HGMMA.SP sites: $(cuobjdump --dump-sass -fun $f $O | grep -c 'HGMMA.SP')"; cuobjdump --dump-sass -fun $f $O | grep -E 'HGMMA.SP' | grep -oE 'R[0-9]+, 0x0' | sort | uniq -c | head; done > $OUT/sass.txt; cat $OUT/sass.txt
F='GpuLinearSm90.BitExactEveryTileConfigWithTails:GpuLinearSm90.BitExactEpilogueCombinations:GpuLinearSm90.RandomNormalWithinTolerance'
timeout 200 build-gpu/test_gpu_linear_sm90 --gtest_filter="$F" > $OUT/test.log 2>&1; echo "test rc=$? at $((SECONDS-T0)) s"
grep -E "^\[  (PASSED|FAILED) " $OUT/test.log | head -5; echo "failures: $(grep -c 'Failure' $OUT/test.log)"; grep -A4 "Failure" $OUT/test.log | grep -E "^wg|M=" | awk '{print $1}' | sort | uniq -c | head -20
