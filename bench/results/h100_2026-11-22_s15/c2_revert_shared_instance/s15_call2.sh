set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s15c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
B=build-gpu/sparse24
mkdir -p $OUT/bert
declare -A V=([main]="" [p256]="plain:wg_n128m256" [p256u]="plain:wg_n128m256:unrolled")
timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/main_all.log 2>&1; echo "main all rc=$?"; grep -E '^ +(4|16|64|256) +384' $OUT/bert/main_all.log | cut -c1-96
for r in 1 2 3; do for v in main p256 p256u; do
  S24_SM90_TILES="${V[$v]}" timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches 64,256 --seqs 384 > $OUT/bert/${v}_$r.log 2>&1; echo "bert $v run $r rc=$? at $((SECONDS-T0)) s"
  grep -E '^ +(64|256) +384' $OUT/bert/${v}_$r.log | cut -c1-96
done; done
for v in main p256u; do
  S24_SM90_TILES="${V[$v]}" timeout 120 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --launch-count 700 \
    --log-file $OUT/ncu_${v}_bs64.csv $B bert --device cuda --arch bert-base --no-fidelity --batches 64 --seqs 384 --repeats 1 > $OUT/ncu_${v}_bs64.log 2>&1
  echo "ncu $v rc=$? at $((SECONDS-T0)) s"; python3 .devbin/ncu_layers.py $OUT/ncu_${v}_bs64.csv | head -12; gzip $OUT/ncu_${v}_bs64.csv
done
if [ $((SECONDS-T0)) -lt 400 ]; then
  timeout $((580-(SECONDS-T0))) ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|Failed|Test +#" $OUT/ctest_gpu.log | head -12
  cp build-gpu/Testing/Temporary/LastTest.log $OUT/ 2>/dev/null; grep -A6 "Failure" $OUT/LastTest.log | head -40
fi
echo "all at $((SECONDS-T0)) s"
