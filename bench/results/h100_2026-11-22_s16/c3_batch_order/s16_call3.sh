set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s16c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build sparse24_cli || exit 1
echo "built at $((SECONDS-T0)) s"
B=build-gpu/sparse24
mkdir -p $OUT/bert
i=0
for bl in ${S16_ORDERS:-16 4,16 16,4 256,16 16 4,16 64,16 16,64 1,16 16}; do
  i=$((i+1)); [ $((SECONDS-T0)) -gt 500 ] && break
  timeout 60 $B bert --device cuda --arch bert-base --no-fidelity --batches $bl --seqs 384 > $OUT/bert/order_${i}_${bl}.log 2>&1
  echo "run $i batches $bl rc=$? at $((SECONDS-T0)) s"; grep -E '^ +[0-9]+ +384' $OUT/bert/order_${i}_${bl}.log | cut -c1-96
done
echo "all at $((SECONDS-T0)) s"
