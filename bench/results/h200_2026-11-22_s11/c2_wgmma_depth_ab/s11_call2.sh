set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/*
s24_build sparse24 || exit 1
cp build-gpu/sparse24 /tmp/s24_base
cmake -S . -B build-d2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_CUSPARSELT_ROOT=$C "-DCMAKE_CUDA_FLAGS=-DS24_SM90_DEPTH_PP=2 -DS24_SM90_DEPTH_COOP=2" > $OUT/cmake_d2.log 2>&1
( time ninja -C build-d2 -j16 sparse24 ) > $OUT/build_d2.log 2>&1 || { tail -30 $OUT/build_d2.log; exit 1; }
cp build-d2/sparse24 /tmp/s24_d2
echo "built at $((SECONDS-T0)) s"
SHAPES='24576,3072,768 24576,3072,768,f16,gelu 6144,768,768 6144,2304,768 24576,768,3072'
for round in 1 2; do
  for v in d2 base; do
    for sh in $SHAPES; do
      tag=$(echo $sh | tr ',' '_')
      timeout 60 /tmp/s24_$v bench --shape $sh --tune --no-cusparselt --target-ms 40 --out $OUT/tune_${v}_r${round}/$tag > $OUT/tune_${v}_r${round}_$tag.log 2>&1 || echo "FAIL $v $sh"
    done
  done
  echo "round $round at $((SECONDS-T0)) s"
done
for v in d2 base; do
  timeout 90 /tmp/s24_$v bench --shape 8192,8192,8192 --tune --no-cusparselt --target-ms 40 --out $OUT/tune_${v}_r1/8192 > $OUT/tune_${v}_r1_8192.log 2>&1 || echo "FAIL $v 8192"
done
echo "big at $((SECONDS-T0)) s"
for sh in $SHAPES 8192; do
  tag=$(echo $sh | tr ',' '_')
  python3 .devbin/tunecmp.py $OUT/tune_base_r1/$tag $OUT/tune_d2_r1/$tag $OUT/tune_base_r2/$tag $OUT/tune_d2_r2/$tag 2>&1 | tail -16
done > $OUT/tunecmp.txt
cat $OUT/tunecmp.txt
echo "all at $((SECONDS-T0)) s"
