set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s14c2.tgz w && rm -rf w; ls $FINAL_OUT; }
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
for r in 1 2; do for a in mma auto; do
  S24_ATTENTION=$a timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/${a}_$r.log 2>&1; echo "bert attention=$a run $r rc=$? at $((SECONDS-T0)) s"
  grep -E '^ +(4|16|64|256) +384' $OUT/bert/${a}_$r.log | cut -c1-96
done; done
for bs in 64 256; do for a in mma auto; do
  S24_ATTENTION=$a timeout 100 ncu --clock-control none --kernel-name regex:fused_attention --launch-count 24 --metrics gpu__time_duration.sum --csv --print-units base \
    --log-file $OUT/ncu_attn_${a}_bs$bs.csv $B bert --device cuda --arch bert-base --no-fidelity --batches $bs --seqs 384 --repeats 1 > $OUT/ncu_attn_${a}_bs$bs.log 2>&1
  python3 - $OUT/ncu_attn_${a}_bs$bs.csv $a $bs <<'PY'
import csv,sys,statistics
rows=[r for r in csv.reader(open(sys.argv[1])) if len(r)>10]
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
v=[float(r[vi].replace(',',''))/1000 for r in rows[1:] if 'attention' in r[ki]]
print('ncu %s bs%s: n %d median %.1f us (min %.1f max %.1f) %s'%(sys.argv[2],sys.argv[3],len(v),statistics.median(v),min(v),max(v),sorted(set(r[ki][:48] for r in rows[1:]))))
PY
done; done
timeout 280 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
timeout 100 compute-sanitizer --tool racecheck build-gpu/test_bert_gpu --gtest_filter='BertGpuKernels.FusedAttentionSeparate*' > $OUT/racecheck.log 2>&1; echo "racecheck rc=$?"; tail -2 $OUT/racecheck.log
echo "all at $((SECONDS-T0)) s"
