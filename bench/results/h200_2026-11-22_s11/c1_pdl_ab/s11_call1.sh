set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu
s24_build || exit 1
echo "built at $((SECONDS-T0)) s"
cuobjdump --dump-sass build-gpu/sparse24 2>/dev/null | grep -oE "(HGMMA|QGMMA|IGMMA)\.SP\.[0-9x]+|ACQBULK|PREEXIT" | sort | uniq -c > $OUT/sass.txt; cat $OUT/sass.txt | head -30
for round in 1 2; do
  for pdl in 1 0; do
    for f in bs16 bs64; do
      S24_PDL=$pdl timeout 100 build-gpu/sparse24 bench --filter $f --no-cusparselt --target-ms 30 --out $OUT/b_pdl${pdl}_r${round}_$f > $OUT/b_pdl${pdl}_r${round}_$f.log 2>&1 || echo "FAIL $pdl $f"
    done
  done
  echo "round $round at $((SECONDS-T0)) s"
done
for f in bs16 bs64; do for round in 1 2; do for pdl in 1 0; do
  grep -E "^bert" $OUT/b_pdl${pdl}_r${round}_$f.log | awk -v t="pdl$pdl r$round" '{print t, $0}'
done; done; done > $OUT/bench_ab.txt
for pdl in 1 0 1 0; do
  S24_PDL=$pdl timeout 90 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64 --seqs 384 --repeats 10 > $OUT/bert_pdl$pdl.log 2>&1
  grep -E '^ +(4|16|64|256) +384' $OUT/bert_pdl$pdl.log | sed "s/^/pdl$pdl /"
done | tee $OUT/bert_ab.txt
echo "ab at $((SECONDS-T0)) s"
timeout 280 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
cp build-gpu/Testing/Temporary/LastTest.log $OUT/ 2>/dev/null
grep -E "Chained|FAILED" $OUT/LastTest.log 2>/dev/null | head -6
echo "all at $((SECONDS-T0)) s"
