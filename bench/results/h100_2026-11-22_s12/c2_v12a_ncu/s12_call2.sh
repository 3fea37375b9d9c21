set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s12c2.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
export S24_PROFILE_SOURCE=1
timeout 400 bash scripts/profile_gpu.sh $OUT/prof "24576,3072,768|WgmmaF16, __half, .{0,6}13, " "24576,3072,768|WgmmaF16, __half, .{0,6}5, " > $OUT/profile.log 2>&1
echo "profiled at $((SECONDS-T0)) s"
grep -E "==|Duration|SM Frequency|Issue Slots|No Eligible|L2 Hit|Memory Throughput|DRAM Through" $OUT/profile.log | head -30
python3 - <<'PY'
import csv,glob,os,collections
out=os.environ['OUT']
for f in sorted(glob.glob(out+'/prof/source*.csv')):
    rows=list(csv.reader(open(f)))
    hdr=None
    for i,r in enumerate(rows):
        if 'Source' in r and any('Warp Stall Sampling' in c for c in r): hdr=i;break
    if hdr is None: print(f,'no header'); continue
    h=rows[hdr]; si=h.index('Source')
    cols=[j for j,c in enumerate(h) if c.startswith('Warp Stall Sampling (All')]
    tot=collections.Counter(); tot_all=0
    top=[]
    for r in rows[hdr+1:]:
        if len(r)<=max(cols+[si]): continue
        try: v=float(r[cols[0]])
        except: continue
        tot_all+=v; top.append((v,r[si][:70]))
    top.sort(reverse=True)
    print('==',os.path.basename(f),'samples',tot_all)
    for v,s in top[:14]: print('%6.1f%% %s'%(100*v/max(tot_all,1),s))
PY
echo "all at $((SECONDS-T0)) s"
