set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c7.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
cp .devbin/bert_cuda_v3.cu src/model/bert_cuda.cu
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 test_bert_gpu ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout 60 build-gpu/test_bert_gpu > $OUT/t_bert_v3.log 2>&1; echo "v3 test_bert_gpu rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_bert_v3.log | head -5
cp build-gpu/sparse24 /tmp/s24_v3
cp .devbin/bert_cuda_v2.cu src/model/bert_cuda.cu
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild.log 2>&1 || tail -20 $OUT/rebuild.log
cp build-gpu/sparse24 /tmp/s24_v2
echo "variants at $((SECONDS-T0)) s"
for v in v3 v2; do
  for b in 16 64 256; do
    timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base -k regex:fused_attention --launch-count 24 \
      --log-file $OUT/ncu_${v}_bs$b.csv /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 1 > /dev/null 2>&1
    echo "$v bs$b: $(python3 .devbin/ncu_sum.py $OUT/ncu_${v}_bs$b.csv | cut -c1-60)"
  done
  timeout 30 ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base -k regex:fused_attention --launch-count 12 \
      --log-file $OUT/ncu_${v}_minilm.csv /tmp/s24_$v bert --device cuda --arch minilm --no-fidelity --batches 64 --seqs 128 --repeats 1 > /dev/null 2>&1
  echo "$v minilm bs64: $(python3 .devbin/ncu_sum.py $OUT/ncu_${v}_minilm.csv | cut -c1-60)"
done
echo "ncu at $((SECONDS-T0)) s"
for v in v3 v2 v3 v2; do
  timeout 60 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "all at $((SECONDS-T0)) s"
