set -uo pipefail
source .devbin/env.sh
FINAL_OUT=$OUT; OUT=$OUT/w; mkdir -p $OUT
T0=$SECONDS
finish() { cd $FINAL_OUT && tar czf s11c5.tgz w && rm -rf w; ls $FINAL_OUT; }
trap finish EXIT
touch src/cuda/gemm/* src/cuda/arch/*
export S24_PROFILE_SOURCE=1
timeout 400 bash scripts/profile_gpu.sh $OUT/prof "24576,3072,768|WgmmaF16, __half, .{0,6}13, " > $OUT/profile.log 2>&1
echo "profile at $((SECONDS-T0)) s"
grep -v "^==WARNING" $OUT/profile.log | head -60
python3 - <<'PY' $OUT/prof/source1.csv > $OUT/stall_top.txt
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
hdr = None
for i, r in enumerate(rows):
    if "Address" in r and "Source" in r: hdr = i; break
h = rows[hdr]; data = rows[hdr+1:]
ci = {k: j for j, k in enumerate(h)}
samp = [k for k in h if "Warp Stall Sampling (All" in k]
sc = ci[samp[0]] if samp else None
tot = sum(float(r[sc] or 0) for r in data if len(r) > sc)
print("columns:", [k for k in h if "Stall" in k][:6], "total samples", tot)
top = sorted(data, key=lambda r: -float(r[sc] or 0) if len(r) > sc else 0)[:40]
for r in top:
    print(f"{float(r[sc] or 0)/tot*100:5.1f}%  {r[ci['Address']]}  {r[ci['Source']][:110]}")
PY
head -45 $OUT/stall_top.txt
echo "all at $((SECONDS-T0)) s"
