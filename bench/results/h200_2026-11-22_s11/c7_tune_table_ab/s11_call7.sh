set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c7.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/*
s24_build sparse24 || exit 1
cp build-gpu/sparse24 /tmp/s24_old
echo "built at $((SECONDS-T0)) s"
timeout 330 bash scripts/tune_shapes.sh $OUT/tune 20 > $OUT/tune.log 2>&1; echo "tune rc=$? at $((SECONDS-T0)) s"
cp $OUT/tune/sm90_plan_table.inc $OUT/sm90_plan_table_h200.inc
diff <(grep -v "^//" src/cuda/gemm/sm90_plan_table_h200.inc) <(grep -v "^//" $OUT/sm90_plan_table_h200.inc) | head -60
cp $OUT/sm90_plan_table_h200.inc src/cuda/gemm/sm90_plan_table_h200.inc
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/rebuild.log 2>&1 || { tail -20 $OUT/rebuild.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_new
echo "rebuilt at $((SECONDS-T0)) s"
for v in new old new old; do
  timeout 90 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(4|16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "all at $((SECONDS-T0)) s"
