set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s16c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log); C751x: $(grep -c 'C751' $OUT/build.log)"
ctest --test-dir build-gpu -R sass --output-on-failure > $OUT/ctest_sass.log 2>&1; echo "ctest sass rc=$?"; grep -E "Test +#|tests passed|sparse GMMA" $OUT/ctest_sass.log | head
B=build-gpu/sparse24
mkdir -p $OUT/tune $OUT/bert
for s in 24576,2304,768,i8 24576,2304,768,e4m3 24576,3072,768,i8 24576,3072,768,e4m3 8192,8192,8192,f16 8192,14336,4096,f16; do
  timeout 60 $B bench --shape $s --tune --target-ms 60 --out $OUT/tune/$s > $OUT/tune/$s.log 2>&1
  echo "== $s rc=$? at $((SECONDS-T0)) s"; grep -E "^custom" $OUT/tune/$s.log | cut -c1-150
  grep -hE "^  tune" $OUT/tune/$s.log | tail -1 | cut -c1-400
done
for r in 1 2; do
  timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/main_all_$r.log 2>&1; echo "bert $r rc=$?"; grep -E '^ +(4|16|64|256) +384' $OUT/bert/main_all_$r.log | cut -c1-96
done
timeout 200 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest gpu rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|Failed|\*\*\*" $OUT/ctest_gpu.log | head -12
echo "all at $((SECONDS-T0)) s"
