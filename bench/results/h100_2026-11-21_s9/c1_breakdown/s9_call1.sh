set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
nvcc -gencode=arch=compute_90a,code=sm_90a -O2 -o /tmp/hostcost .devbin/hostcost.cu && /tmp/hostcost | tee $OUT/hostcost.txt
(python3 .devbin/torch_parts.py > $OUT/torch_parts.txt 2>&1; echo "torch rc=$?" >> $OUT/torch_parts.txt) &
TP=$!
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
wait $TP; cat $OUT/torch_parts.txt
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
tail -n 3 $OUT/build.log; echo "built at $((SECONDS-T0)) s"
for b in 16 256; do
  timeout 150 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base --launch-count 420 \
    --log-file $OUT/ncu_bs$b.csv build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 2 > $OUT/ncu_bert_bs$b.log 2>&1
  echo "ncu bs$b rc=$? at $((SECONDS-T0)) s"
  python3 .devbin/ncu_sum.py $OUT/ncu_bs$b.csv | head -16 | cut -c1-170
done
timeout 60 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/bert.log 2>&1
grep -E '^ +(16|64|256) +384' $OUT/bert.log
echo "all done at $((SECONDS-T0)) s"
