set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s13c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git log --oneline -1 > $OUT/commit.txt 2>&1; git status --short >> $OUT/commit.txt
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log)"
B=build-gpu/sparse24
mkdir -p $OUT/bert
for r in 1 2; do
  for pdl in 1 0; do
    S24_PDL=$pdl timeout 100 $B bert --device cuda --arch bert-base --no-fidelity --batches 4,16,64,256 --seqs 384 > $OUT/bert/pdl${pdl}_$r.log 2>&1; echo "bert pdl=$pdl run $r rc=$? at $((SECONDS-T0)) s"
    grep -E '^ +(4|16|64|256) +384' $OUT/bert/pdl${pdl}_$r.log
  done
done
for pdl in 1 0; do
  for f in bs16 bs64; do
    S24_PDL=$pdl timeout 100 $B bench --filter "$f" --no-cusparselt --out $OUT/bench_${f}_pdl$pdl > $OUT/bench_${f}_pdl$pdl.log 2>&1
  done
done
python3 - <<PY
import csv
rows={}
for pdl in (1,0):
  for f in ('bs16','bs64'):
    for r in csv.DictReader(open('$OUT/bench_%s_pdl%d/bench.csv'%(f,pdl))):
      if r['dtype']!='f16': continue
      rows.setdefault(r['tag'],{})[pdl]=r
print('%-22s %9s %9s %9s %9s %7s %7s'%('row','dense','nat pdl1','nat pdl0','ev pdl0','x pdl1','x pdl0'))
for t,d in rows.items():
  a,b=d.get(1),d.get(0)
  if not a or not b: continue
  f=lambda r,k: float(r[k])
  print('%-22s %9.4f %9.4f %9.4f %9.4f %7.3f %7.3f'%(t,f(b,'dense_ms'),f(a,'native_ms'),f(b,'native_ms'),f(b,'native_event_ms'),f(a,'dense_ms')/f(a,'native_ms'),f(b,'dense_ms')/f(b,'native_ms')))
PY
echo "bench at $((SECONDS-T0)) s"
timeout 240 ctest --test-dir build-gpu -L gpu > $OUT/ctest_gpu.log 2>&1; echo "ctest rc=$? at $((SECONDS-T0)) s"; grep -E "tests passed|FAILED|Failed|Test +#" $OUT/ctest_gpu.log | head -12
build-gpu/test_bert_gpu --gtest_filter='*Chained*' > $OUT/chain.log 2>&1; tail -3 $OUT/chain.log
echo "all at $((SECONDS-T0)) s"
