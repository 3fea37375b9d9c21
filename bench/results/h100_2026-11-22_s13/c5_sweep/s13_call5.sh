set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c5.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build sparse24 || exit 1
echo "built at $((SECONDS-T0)) s"
for s in 6144,2304,768 6144,768,768; do
  timeout 60 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --launch-count 150 \
    --log-file $OUT/ncu_bench_$s.csv build-gpu/sparse24 bench --shape $s --no-cusparselt --target-ms 10 --out $OUT/ncu_bench_out > $OUT/ncu_bench_$s.log 2>&1
  echo "== ncu bench $s rc=$? at $((SECONDS-T0)) s"; python3 .devbin/ncu_med.py $OUT/ncu_bench_$s.csv | head -6
done
mkdir -p $OUT/sweep
timeout 340 build-gpu/sparse24 bench --target-ms 30 --out $OUT/sweep > $OUT/sweep/sweep.log 2>&1; echo "sweep rc=$? at $((SECONDS-T0)) s"
sed -n "/^case /,\$p" $OUT/sweep/sweep.log | grep -E "^(case|square8k|q8_square8k|llama8b-(up|down) T(8192) |bert-[a-z0-9+]+ +bs(16|64)|seed)" | head -40
echo "all at $((SECONDS-T0)) s"
