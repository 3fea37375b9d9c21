set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c10.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu
s24_build || exit 1
echo "built at $((SECONDS-T0)) s"
mkdir -p $OUT/sweep
timeout 330 build-gpu/sparse24 bench --target-ms 30 --out $OUT/sweep > $OUT/sweep/sweep.log 2>&1; echo "sweep rc=$? at $((SECONDS-T0)) s"
sed -n "/^case /,\$p" $OUT/sweep/sweep.log | grep -E "^(case|square8k|q8_square8k|llama8b-(up|down) T(128|2048|8192) |q8_bert|bert-[a-z0-9+]+ +bs(16|64)|i8|seed)" | head -60
timeout 200 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed" $OUT/ctest_gpu.log | head -12
echo "all at $((SECONDS-T0)) s"
