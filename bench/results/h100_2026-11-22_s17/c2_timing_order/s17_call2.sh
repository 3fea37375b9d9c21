set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s17c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log); C751x: $(grep -c 'C751' $OUT/build.log)"
B=build-gpu/sparse24
mkdir -p $OUT/bert
run_bert() {  # name order batches
  timeout 90 $B bert --device cuda --arch bert-base --no-fidelity --batches $3 --seqs 384 --timing-order $2 --json $OUT/bert/$1.json > $OUT/bert/$1.log 2>&1
  echo "== $1 ($2, $3) rc=$? at $((SECONDS-T0)) s"; grep -E '^ +[0-9]+ +384' $OUT/bert/$1.log | cut -c1-100
}
for r in 1 2; do
  for bs in 16 64 256; do
    if [ $r = 1 ]; then run_bert b${bs}_alt_$r alternating $bs; run_bert b${bs}_seq_$r sequential $bs
    else run_bert b${bs}_seq_$r sequential $bs; run_bert b${bs}_alt_$r alternating $bs; fi
  done
done
run_bert all_alt_1 alternating 4,16,64,256
run_bert all_seq_1 sequential 4,16,64,256
run_bert all_seq_2 sequential 4,16,64,256
run_bert all_alt_2 alternating 4,16,64,256
echo "bert done at $((SECONDS-T0)) s"
ctest --test-dir build-gpu -R '^sass_' --output-on-failure > $OUT/ctest_sass.log 2>&1; echo "ctest sass rc=$?"; grep -E "Test +#|tests passed" $OUT/ctest_sass.log
[ $((SECONDS-T0)) -lt 330 ] && { timeout $((590-(SECONDS-T0))) ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest gpu rc=$? at $((SECONDS-T0)) s"; grep -E "Test +#|tests passed|Failed" $OUT/ctest_gpu.log | head -12; }
echo "all at $((SECONDS-T0)) s"
