set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s15c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
O=build-gpu/CMakeFiles/sparse24.dir/src/cuda/gemm/sparse_gemm_sm90.cu.o
for c in 14 15 16; do
  f=$(cuobjdump --dump-resource-usage $O 2>/dev/null | grep -o "_ZN3s246detail4gemm23sparse_gemm_sm90_kernelINS_4arch8WgmmaF16E6__halfLi${c}ELb0EEEv14CUtensorMap_stS6_NS1_10Sm90ParamsE" | head -1)
  echo "cfg $c: $(cuobjdump --dump-resource-usage $O 2>/dev/null | grep -A1 "$f" | tail -1 | grep -o 'REG:[0-9]* STACK:[0-9]*') HGMMA.SP $(cuobjdump --dump-sass -fun $f $O | grep -c 'HGMMA.SP.64x')"
done
B=build-gpu/sparse24
mkdir -p $OUT/tune
for s in 1536,3072,768,gelu 6144,3072,768,gelu 24576,3072,768,gelu 98304,3072,768,gelu 6144,2304,768 6144,768,768 6144,768,3072 24576,2304,768 24576,768,768 24576,768,3072; do
  timeout 60 $B bench --shape $s --tune --no-cusparselt --target-ms 20 --out $OUT/tune/$s > $OUT/tune/$s.log 2>&1
  echo "== $s rc=$?"; grep -E "^  tune" $OUT/tune/$s.log | sed 's/^  tune //' | tr ' ' '\n' | grep -E "^(wg|best|\(heu|[0-9.]+$|F16)" | paste -sd' ' | cut -c1-400
done
echo "tune done at $((SECONDS-T0)) s"
mkdir -p $OUT/bert
declare -A V=([main]="" [gelu_d128]="activated:wgd_n128m128" [gelu_dc128]="activated:wgdc_n128m128" [all_d128]="activated:wgd_n128m128,plain:wgd_n128m128")
for r in 1 2; do for v in main gelu_d128 gelu_dc128 all_d128; do
  S24_SM90_TILES="${V[$v]}" timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/${v}_$r.log 2>&1; echo "bert $v run $r rc=$? at $((SECONDS-T0)) s"
  grep -E '^ +(4|16|64|256) +384' $OUT/bert/${v}_$r.log | cut -c1-96
done; done
timeout 300 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
grep -B2 -A8 "Failure" build-gpu/Testing/Temporary/LastTest.log 2>/dev/null | head -60
echo "all at $((SECONDS-T0)) s"
