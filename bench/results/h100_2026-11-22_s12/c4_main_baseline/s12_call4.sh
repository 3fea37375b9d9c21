set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s12c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu src/model/squad.cc
s24_build || exit 1
echo "built at $((SECONDS-T0)) s"
echo "warnings in build.log: $(grep -c 'warning' $OUT/build.log)"; grep -E "squad.cc.*warning" $OUT/build.log | head -3
mkdir -p $OUT/bert
for r in 1 2; do
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/bert_base_$r.log 2>&1; echo "bert $r rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base_$r.log
done
timeout 200 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
echo "all at $((SECONDS-T0)) s"
