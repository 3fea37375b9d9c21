set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c9.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/*
s24_build sparse24 || exit 1
cp build-gpu/sparse24 /tmp/s24_old
echo "built at $((SECONDS-T0)) s"
for sh in 6144,3072,768,f16,gelu 1536,3072,768,f16,gelu 24576,3072,768,f16,gelu; do
  tag=$(echo $sh | tr ',' '_')
  timeout 60 build-gpu/sparse24 bench --shape $sh --tune --no-cusparselt --target-ms 40 --out $OUT/tune/$tag > $OUT/tune_$tag.log 2>&1 || echo "FAIL $sh"
  grep "  tune" $OUT/tune_$tag.log | grep -oE "M=[0-9]+: best [a-z0-9_/]+ [0-9.]+|wg_n128m192 [0-9.]+|wg_n128m256 [0-9.]+|wge_n128m1[0-9]+ [0-9.]+" | tr '\n' ' '; echo " $sh"
done
sed -i 's/{16, true, 6144, -1, -1, "wg_n128m192"},/{16, true, 6144, -1, -1, "wge_n128m192"},/' src/cuda/gemm/sm90_plan_table_h100.inc
grep -n "true, 6144" src/cuda/gemm/sm90_plan_table_h100.inc
( time ninja -C build-gpu -j16 sparse24 ) > $OUT/rebuild.log 2>&1 || { tail -20 $OUT/rebuild.log; exit 1; }
cp build-gpu/sparse24 /tmp/s24_new
echo "rebuilt at $((SECONDS-T0)) s"
for v in new old new old; do
  timeout 90 /tmp/s24_$v bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --repeats 10 > $OUT/b_$v.log 2>&1
  grep -E '^ +(4|16|64|256) +384' $OUT/b_$v.log | sed "s/^/$v /"
done | tee $OUT/bert_ab.txt
echo "all at $((SECONDS-T0)) s"
