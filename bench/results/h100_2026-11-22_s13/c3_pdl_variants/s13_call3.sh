set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1
s24_build sparse24 test_bert_gpu || exit 1
echo "built at $((SECONDS-T0)) s"
build-gpu/test_bert_gpu --gtest_filter='*Chained*:*Graph*' 2>&1 | tail -2
B=build-gpu/sparse24
mkdir -p $OUT/bert
declare -A V=( [v0]="S24_PDL=0" [v1]="S24_PDL_MODEL=1 S24_PDL_TRIGGER=2" [v2]="S24_PDL_MODEL=1 S24_PDL_TRIGGER=1" [v3]="S24_PDL_MODEL=1 S24_PDL_TRIGGER=0" [v4]="S24_PDL_MODEL=0 S24_PDL_TRIGGER=1" [v5]="S24_PDL_MODEL=0 S24_PDL_TRIGGER=2" )
for r in 1 2; do
  for v in v0 v1 v2 v3 v4 v5; do
    env ${V[$v]} timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/${v}_$r.log 2>&1
    echo "== $v (${V[$v]}) run $r rc=$? at $((SECONDS-T0)) s"
    grep -E '^ +(4|16|64|256) +384' $OUT/bert/${v}_$r.log | cut -c1-96
  done
done
echo "all at $((SECONDS-T0)) s"
