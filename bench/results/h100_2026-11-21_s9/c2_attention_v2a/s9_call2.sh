set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 test_bert_gpu ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout 150 build-gpu/test_bert_gpu --gtest_filter='BertGpuKernels.*Attention*' > $OUT/t_attn.log 2>&1; echo "attn tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_attn.log | head
echo "tests at $((SECONDS-T0)) s"
cp build-gpu/sparse24 /tmp/s24_new
cp src/model/bert_cuda.cu /tmp/bert_cuda_v2.cu
cp .devbin/bert_cuda_v1.cu src/model/bert_cuda.cu
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild_v1.log 2>&1 || tail -20 $OUT/rebuild_v1.log
cp build-gpu/sparse24 /tmp/s24_old; cp /tmp/bert_cuda_v2.cu src/model/bert_cuda.cu
echo "v1 built at $((SECONDS-T0)) s"
for v in new old; do
  for b in 16 256; do
    timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base -k regex:fused_attention --launch-count 24 \
      --log-file $OUT/ncu_${v}_bs$b.csv /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 1 > /dev/null 2>&1
    echo "$v bs$b: $(python3 .devbin/ncu_sum.py $OUT/ncu_${v}_bs$b.csv | cut -c1-60)"
  done
done
echo "ncu at $((SECONDS-T0)) s"
for v in new old new old; do
  timeout 60 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
for v in new old; do
  timeout 40 /tmp/s24_$v bert --device cuda --arch minilm --no-fidelity --batches 1,16,64 --seqs 128 --repeats 20 > $OUT/m_$v.log 2>&1
  grep -E '^ +(1|16|64) +128' $OUT/m_$v.log | sed "s/^/minilm $v /"
done
echo "ab at $((SECONDS-T0)) s"
timeout $((590-(SECONDS-T0))) build-gpu/test_bert_gpu > $OUT/t_bert_all.log 2>&1; echo "test_bert_gpu rc=$? at $((SECONDS-T0)) s"
grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_bert_all.log | head
