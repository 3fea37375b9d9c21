set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s12c3.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
touch src/cuda/gemm/* src/cuda/arch/* tests/gpu/*.cu
s24_build || exit 1
echo "built at $((SECONDS-T0)) s"
grep -A2 "Li1[23]ELb0" $OUT/build.log | grep -E "spill" | sort | uniq -c
cuobjdump --dump-sass build-gpu/sparse24 2>/dev/null | grep -oE "(HGMMA|QGMMA|IGMMA)\.SP\.[0-9x]+" | sort | uniq -c > $OUT/sass.txt; cat $OUT/sass.txt | tr '\n' ' '; echo
timeout 150 build-gpu/test_gpu_linear_sm90 > $OUT/test_sm90.log 2>&1; echo "sm90 test rc=$? at $((SECONDS-T0)) s"; grep -E "^\[  (FAILED|PASSED|  OK) \]|Failure|Expected|Which is|wge" $OUT/test_sm90.log | head -40
mkdir -p $OUT/tune
for sh in 6144,3072,768,gelu 24576,3072,768,gelu 98304,3072,768,gelu 6144,768,768 6144,768,3072 6144,2304,768 24576,768,768 24576,768,3072 24576,2304,768 24576,3072,768; do
  timeout 60 build-gpu/sparse24 bench --shape $sh --tune --no-cusparselt --target-ms 20 --out $OUT/tune/$sh > $OUT/tune/$sh.log 2>&1 || echo "FAIL $sh"
  grep "  tune" $OUT/tune/$sh.log | grep -oE "M=[0-9]+: best [a-z0-9_/]+ [0-9.]+|wg_n128m(192|256|128) [0-9.]+|wgc_n128m(192|256) [0-9.]+|wge_n128m1[0-9]+ [0-9.]+" | tr '\n' ' '; echo " $sh"
done
echo "tune at $((SECONDS-T0)) s"
mkdir -p $OUT/bert
timeout 100 build-gpu/sparse24 bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 --json $OUT/bert/bert_base.json > $OUT/bert/bert_base.log 2>&1; echo "bert rc=$? at $((SECONDS-T0)) s"
grep -E '^ +(4|16|64|256) +384' $OUT/bert/bert_base.log
timeout 200 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
cp build-gpu/Testing/Temporary/LastTest.log $OUT/ 2>/dev/null
echo "all at $((SECONDS-T0)) s"
