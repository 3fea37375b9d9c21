set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s15c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
B=build-gpu/sparse24
mkdir -p $OUT/tune $OUT/bert
for s in 98304,3072,768,gelu 98304,3072,768,gelu 24576,3072,768,gelu; do
  timeout 60 $B bench --shape $s --tune --no-cusparselt --target-ms 20 --out $OUT/tune/$s > $OUT/tune/$s.$SECONDS.log 2>&1
  echo "== $s rc=$?"; grep -hE "^  tune" $OUT/tune/$s.*.log | tail -1 | sed 's/^  tune //' | tr ' ' '\n' | grep -E "^(wg|best|[0-9.]+$)" | paste -sd' ' | cut -c1-400
done
for r in 1 2; do
  timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/main_all_$r.log 2>&1; echo "main all $r rc=$?"; grep -E '^ +(4|16|64|256) +384' $OUT/bert/main_all_$r.log | cut -c1-96
done
declare -A V=([main]="" [g256x128]="activated:wg_n256m128")
for r in 1 2 3; do for v in main g256x128; do
  S24_SM90_TILES="${V[$v]}" timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches 256 --seqs 384 > $OUT/bert/${v}_$r.log 2>&1; echo "bert $v run $r rc=$? at $((SECONDS-T0)) s"
  grep -E '^ +(256) +384' $OUT/bert/${v}_$r.log | cut -c1-96
done; done
S24_SM90_TILES="plain:nonsense" timeout 30 $B bert --device cuda --arch bert-base --no-fidelity --batches 16 --seqs 384 > $OUT/bert/bad_knob.log 2>&1; echo "bad knob rc=$?"; tail -2 $OUT/bert/bad_knob.log
timeout 300 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|Failed|Test +#" $OUT/ctest_gpu.log | head -12
cp build-gpu/Testing/Temporary/LastTest.log $OUT/ 2>/dev/null; grep -A6 "Failure" $OUT/LastTest.log | head -40
echo "all at $((SECONDS-T0)) s"
