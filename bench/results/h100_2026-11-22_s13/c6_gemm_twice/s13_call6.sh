set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c6.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1
s24_build sparse24 || exit 1
echo "built at $((SECONDS-T0)) s"
B=build-gpu/sparse24
for b in 16 64; do for t in 1 2; do
  S24_EXP_TWICE=$t timeout 150 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --launch-count 1400 \
    --log-file $OUT/ncu_bs${b}_twice$t.csv $B bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 1 > $OUT/ncu_bs${b}_twice$t.log 2>&1
  echo "== bs$b twice=$t rc=$? at $((SECONDS-T0)) s"
  python3 .devbin/ncu_twice.py $OUT/ncu_bs${b}_twice$t.csv
done; done
for t in 0 1; do S24_EXP_TWICE=$t timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches 16,64 --seqs 384 > $OUT/bert_twice$t.log 2>&1; echo "bert twice=$t"; grep -E '^ +(16|64) +384' $OUT/bert_twice$t.log | cut -c1-96; done
echo "all at $((SECONDS-T0)) s"
