set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s17c4.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi -L > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build sparse24_cli || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
for o in alternating sequential; do
  timeout 90 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 16,64 --seqs 384 --timing-order $o > $OUT/bert_$o.log 2>&1
  echo "== $o rc=$?"; grep -E "median of|^ +[0-9]+ +384" $OUT/bert_$o.log | cut -c1-110
done
echo "all at $((SECONDS-T0)) s"
