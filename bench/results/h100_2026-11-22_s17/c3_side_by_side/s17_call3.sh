set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s17c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build sparse24_cli test_bert_gpu || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log); C751x: $(grep -c 'C751' $OUT/build.log)"
mkdir -p $OUT/side
timeout 500 bash scripts/bert_gpu_side_by_side.sh build-gpu $OUT/side > $OUT/side.log 2>&1; echo "side-by-side rc=$? at $((SECONDS-T0)) s"
tail -30 $OUT/side.log
grep -E '^ +[0-9]+ +(128|384)' $OUT/side/bert_base.log $OUT/side/minilm.log | cut -c1-130
echo "all at $((SECONDS-T0)) s"
