set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s9c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DS24_GTEST_SOURCE_DIR=$S24_GTEST_SOURCE_DIR -DS24_CUSPARSELT_ROOT=$C > $OUT/cmake.log 2>&1
( time ninja -C build-gpu -j16 sparse24 test_bert_gpu ) > $OUT/build.log 2>&1 || { tail -30 $OUT/build.log; exit 1; }
echo "built at $((SECONDS-T0)) s"
timeout 150 build-gpu/test_bert_gpu > $OUT/t_bert_all.log 2>&1; echo "test_bert_gpu rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" $OUT/t_bert_all.log | head
echo "tests at $((SECONDS-T0)) s"
cuobjdump --dump-sass build-gpu/CMakeFiles/*/src/model/bert_cuda.cu.o 2>/dev/null | awk '/Function : .*fused_attention.*6__half.*Li64ELi4/{f=1} /Function : /{if(!/fused_attention.*6__half.*Li64ELi4/)f=0} f' > $OUT/sass_attn_f16_64_4.txt
echo "SASS f16 d64 w4: $(grep -c HMMA $OUT/sass_attn_f16_64_4.txt) HMMA, $(grep -c MUFU.EX2 $OUT/sass_attn_f16_64_4.txt) MUFU.EX2, $(grep -c FFMA $OUT/sass_attn_f16_64_4.txt) FFMA, $(grep -c FMNMX $OUT/sass_attn_f16_64_4.txt) FMNMX"
cp build-gpu/sparse24 /tmp/s24_new
cp src/model/bert_cuda.cu /tmp/bert_cuda_v2.cu
sed 's/const bool small = ctas4 < sm_count;/const bool small = ctas4 < 5 * sm_count;/' /tmp/bert_cuda_v2.cu > src/model/bert_cuda.cu
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild_t5.log 2>&1 || tail -20 $OUT/rebuild_t5.log
cp build-gpu/sparse24 /tmp/s24_t5
cp .devbin/bert_cuda_v1.cu src/model/bert_cuda.cu
ninja -C build-gpu -j16 sparse24 > $OUT/rebuild_v1.log 2>&1 || tail -20 $OUT/rebuild_v1.log
cp build-gpu/sparse24 /tmp/s24_old; cp /tmp/bert_cuda_v2.cu src/model/bert_cuda.cu
echo "variants built at $((SECONDS-T0)) s"
for v in new t5 old; do
  for b in 16 64 256; do
    timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base -k regex:fused_attention --launch-count 24 \
      --log-file $OUT/ncu_${v}_bs$b.csv /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches $b --seqs 384 --repeats 1 > /dev/null 2>&1
    echo "$v bs$b: $(python3 .devbin/ncu_sum.py $OUT/ncu_${v}_bs$b.csv | cut -c1-60)"
  done
done
echo "ncu at $((SECONDS-T0)) s"
for v in new old t5 new old; do
  timeout 60 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
for v in new old; do
  timeout 40 /tmp/s24_$v bert --device cuda --arch minilm --no-fidelity --batches 1,16,64 --seqs 128 --repeats 20 > $OUT/m_$v.log 2>&1
  grep -E '^ +(1|16|64) +128' $OUT/m_$v.log | sed "s/^/minilm $v /"
done
echo "ab at $((SECONDS-T0)) s"
python3 .devbin/torch_parts.py > $OUT/torch_parts.txt 2>&1; grep -o "B=[0-9]*: sdpa_flash [0-9.]* ms  sdpa_cudnn [0-9.]* ms" $OUT/torch_parts.txt
echo "all at $((SECONDS-T0)) s"
