set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s17c1.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > $OUT/gpu.txt; cat $OUT/gpu.txt
git status --short > $OUT/commit.txt 2>&1
s24_build || exit 1
echo "built at $((SECONDS-T0)) s; warnings: $(grep -c 'warning' $OUT/build.log); C751x: $(grep -c 'C751' $OUT/build.log)"
for t in test_gpu_linear_sm90 test_gpu_linear_sm90_q8; do
  timeout 150 build-gpu/$t > $OUT/$t.log 2>&1; echo "$t rc=$? at $((SECONDS-T0)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED  \]|tests ran" $OUT/$t.log | head -8
  grep -E "Failure|Expected|Which is|parts from" $OUT/$t.log | head -10
done
B=build-gpu/sparse24
mkdir -p $OUT/rows $OUT/bert
for r in 1 2; do
  for v in split whole; do
    if [ $v = whole ]; then export S24_SM90_TAIL_SPLIT=1; else unset S24_SM90_TAIL_SPLIT; fi
    for f in bs16 bs64; do
      timeout 60 $B bench --filter $f --no-cusparselt --target-ms 60 --out $OUT/rows/${v}_${f}_$r > $OUT/rows/${v}_${f}_$r.log 2>&1
      echo "rows $v $f $r rc=$? at $((SECONDS-T0)) s"
    done
  done
done
unset S24_SM90_TAIL_SPLIT
python3 - $OUT/rows <<'PY'
import json,sys,os
d=sys.argv[1]
res={}
for f in sorted(os.listdir(d)):
    p=os.path.join(d,f,'bench.json')
    if not os.path.exists(p): continue
    j=json.load(open(p))
    for r in j['rows']:
        key=(r.get('tag'),r.get('m'),r.get('n'),r.get('k'),r.get('dtype'))
        res.setdefault(key,{}).setdefault(f.replace('_bs16','').replace('_bs64',''),(r.get('dense_ms'),r.get('native_ms'),r.get('native_plan')))
for k,v in res.items():
    if k[1] is None or k[1] < 1536: continue
    print(k[0][:22].ljust(22), k[1], k[2], k[3], ' '.join(f"{n}:{x[1]:.4f}" for n,x in sorted(v.items()) if x[1]), 'dense', ' '.join(f"{x[0]:.4f}" for n,x in sorted(v.items()) if x[0]))
PY
for bs in 16 64 16 64 256 4; do
  for v in split whole whole split; do
    [ $((SECONDS-T0)) -gt 540 ] && break 2
    if [ $v = whole ]; then export S24_SM90_TAIL_SPLIT=1; else unset S24_SM90_TAIL_SPLIT; fi
    timeout 40 $B bert --device cuda --arch bert-base --no-fidelity --batches $bs --seqs 384 > $OUT/bert/b${bs}_${v}_$SECONDS.log 2>&1
    echo "bert $bs $v rc=$? at $((SECONDS-T0)) s: $(grep -E '^ +[0-9]+ +384' $OUT/bert/b${bs}_${v}_*.log | tail -1 | cut -c1-100)"
  done
done
unset S24_SM90_TAIL_SPLIT
echo "all at $((SECONDS-T0)) s"
