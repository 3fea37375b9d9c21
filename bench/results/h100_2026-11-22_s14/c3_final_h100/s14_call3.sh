set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s14c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build sparse24 || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
B=build-gpu/sparse24
mkdir -p $OUT/bert
for r in 1 2; do
  timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/run_$r.log 2>&1; echo "bert run $r rc=$? at $((SECONDS-T0)) s"
  grep -E '^ +(4|16|64|256) +384' $OUT/bert/run_$r.log | cut -c1-96
done
timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert json rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log | cut -c1-96
PYTHONUNBUFFERED=1 timeout 200 python3 scripts/torch_bert_compare.py --batches 4,16,64,256 --seq 384 --json $OUT/bert/torch.json --ours $OUT/bert/bert_base.json > $OUT/bert/torch.log 2>&1; echo "torch rc=$? at $((SECONDS-T0)) s"; tail -8 $OUT/bert/torch.log
timeout 100 $B bert --device cuda --arch bert-large --no-fidelity --batches 16,64 --seqs 384 > $OUT/bert/bert_large.log 2>&1; echo "bert-large rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(16|64) +384' $OUT/bert/bert_large.log | cut -c1-96
echo "all at $((SECONDS-T0)) s"
