set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
K=src/cuda/gemm/sparse_gemm_sm90_kernel.cuh
finish() { cd $FINAL_OUT && tar czf s15c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name --format=csv > $OUT/gpu.txt
git status --short > $OUT/commit.txt
F='GpuLinearSm90.BitExactEveryTileConfigWithTails:GpuLinearSm90.BitExactEpilogueCombinations:GpuLinearSm90.RandomNormalWithinTolerance'
for v in grid_constant struct_only; do
  cp $K /tmp/kernel_orig.cuh; cp src/cuda/gemm/tile_configs.h /tmp/tc_orig.h; cp src/cuda/gemm/sparse_gemm_sm90_launch.cuh /tmp/l_orig.cuh
  if [ $v = grid_constant ]; then sed -i 's/const __grid_constant__ CUtensorMap w_map, const Sm90Params p) {/const __grid_constant__ CUtensorMap w_map, const __grid_constant__ Sm90Params p) {/' $K; grep -c "__grid_constant__ Sm90Params p" $K;
  else git apply .devbin/s15_variant_struct.diff && echo applied; grep -c "__grid_constant__ Sm90Params p" $K; fi
  mkdir -p $OUT/$v; OUTSAVE=$OUT; OUT=$OUT/$v
  s24_build test_gpu_linear_sm90 || { OUT=$OUTSAVE; cp /tmp/kernel_orig.cuh $K; continue; }
  OUT=$OUTSAVE
  echo "$v built at $((SECONDS-T0)) s; warnings $(grep -c warning $OUT/$v/build.log)"
  timeout 200 build-gpu/test_gpu_linear_sm90 --gtest_filter="$F" > $OUT/$v/test.log 2>&1; echo "$v test rc=$? at $((SECONDS-T0)) s"
  grep -E "^\[  (PASSED|FAILED) |tests ran" $OUT/$v/test.log | head -5; echo "failures: $(grep -c 'Failure' $OUT/$v/test.log)"; grep -A4 "Failure" $OUT/$v/test.log | grep -E "^wg|M=" | awk '{print $1}' | sort | uniq -c | head -20
  cp /tmp/kernel_orig.cuh $K; cp /tmp/tc_orig.h src/cuda/gemm/tile_configs.h; cp /tmp/l_orig.cuh src/cuda/gemm/sparse_gemm_sm90_launch.cuh
done
echo "all at $((SECONDS-T0)) s"
