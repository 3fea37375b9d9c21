set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s14c6.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
O=build-gpu/CMakeFiles/sparse24.dir/src/model/bert_cuda.cu.o
echo "SASS: HGMMA.64x64x16 $(cuobjdump --dump-sass $O | grep -c 'HGMMA.64x64x16') tnspB $(cuobjdump --dump-sass $O | grep -c 'tnspB') UTMALDG.3D $(cuobjdump --dump-sass $O | grep -c 'UTMALDG.3D')"
cuobjdump --dump-resource-usage $O 2>/dev/null | grep -A1 "attention" | grep -o "REG:[0-9]* STACK:[0-9]*" | sort | uniq -c
B=build-gpu/sparse24
mkdir -p $OUT/bert
for r in 1; do for a in auto; do
  S24_ATTENTION=$a timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/${a}_$r.log 2>&1; echo "bert attention=$a run $r rc=$? at $((SECONDS-T0)) s"
  grep -E '^ +(4|16|64|256) +384' $OUT/bert/${a}_$r.log | cut -c1-96
done; done
timeout 280 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
timeout 100 compute-sanitizer --tool racecheck build-gpu/test_bert_gpu --gtest_filter='BertGpuKernels.FusedAttentionSeparate*' > $OUT/racecheck.log 2>&1; echo "racecheck rc=$?"; tail -2 $OUT/racecheck.log
echo "all at $((SECONDS-T0)) s"
