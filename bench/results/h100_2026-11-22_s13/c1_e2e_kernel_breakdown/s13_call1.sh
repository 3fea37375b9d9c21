set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1
s24_build sparse24 || exit 1
echo "built at $((SECONDS-T0)) s"
B=build-gpu/sparse24
for b in 16 64; do
  timeout 150 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --launch-count 900 \
    --log-file $OUT/ncu_bs$b.csv $B bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 1 > $OUT/ncu_bert_bs$b.log 2>&1
  echo "ncu bs$b rc=$? at $((SECONDS-T0)) s"
  python3 .devbin/ncu_seq.py $OUT/ncu_bs$b.csv > $OUT/ncu_bs${b}_seq.txt 2>&1; cat $OUT/ncu_bs${b}_seq.txt | cut -c1-150
done
timeout 120 $B bench --filter "bs16" --out $OUT/bench_bs16 > $OUT/bench_bs16.log 2>&1; echo "bench rc=$? at $((SECONDS-T0)) s"
python3 -c "
import csv
for r in csv.DictReader(open('$OUT/bench_bs16/bench.csv')):
  if r['dtype']=='f16': print('%-22s %-14s dense %.4f native %.4f cslt %s'%(r['tag'],r['native_plan'],float(r['dense_ms']),float(r['native_ms']),r['cslt_ms']))
"
for pdl in 1 0; do
  S24_PDL=$pdl timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 16,64 --seqs 384 > $OUT/bert_pdl$pdl.log 2>&1; echo "bert pdl=$pdl rc=$?"
  grep -E '^ +(16|64) +384' $OUT/bert_pdl$pdl.log
done
nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv
echo "all at $((SECONDS-T0)) s"
