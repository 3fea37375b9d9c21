set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c11.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
timeout 240 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
mkdir -p $OUT/bert
timeout 60 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/bert.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert.log | cut -c1-96
echo "all at $((SECONDS-T0)) s"
