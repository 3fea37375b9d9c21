# Splits an ncu gpu__time_duration CSV of `sparse24 bert` into forward passes (each starts at the
# embeddings kernel), labels each forward dense (cuBLAS kernels) or 2:4, and prints the last
# eager forward of each per kernel family and per Linear position.
import csv, sys, collections, re
rows = list(csv.reader(open(sys.argv[1])))
hdr = None; seq = []
for r in rows:
    if hdr is None:
        if "Kernel Name" in r: hdr = r
        continue
    if len(r) != len(hdr): continue
    d = dict(zip(hdr, r))
    if d.get("Metric Name") != "gpu__time_duration.sum": continue
    seq.append((d["Kernel Name"], float(d["Metric Value"].replace(",", "")) / 1e3))
fwds = []; cur = None
for name, us in seq:
    if "embeddings_ln_kernel" in name:
        cur = []; fwds.append(cur)
    if cur is not None: cur.append((name, us))
def kind(f): return "dense" if any(("nvjet" in n or "cutlass" in n.lower() or "gemm" in n.lower() and "Wgmma" not in n and "Sm90" not in n and "sm80" not in n.lower()) for n, _ in f) else "sparse"
def fam(n):
    if "nvjet" in n: return "dense_gemm"
    n = re.sub(r"\(.*", "", n)
    if "Wgmma" in n or "sparse_gemm_sm90" in n: return "sparse_gemm"
    return n.split("<")[0].replace("void ", "").split("::")[-1]
# the last complete forward of each kind (ncu's launch limit may cut the final one short)
full = max(len(f) for f in fwds)
last = {}
for f in fwds:
    n_dense = max(len(g) for g in fwds if kind(g) == "dense")
    if len(f) == max(len(g) for g in fwds if kind(g) == kind(f)): last[kind(f)] = f
print("forwards:", [kind(f) for f in fwds])
for k, f in last.items():
    tot = collections.defaultdict(float); cnt = collections.Counter()
    for n, us in f: tot[fam(n)] += us; cnt[fam(n)] += 1
    print(f"== {k}: {len(f)} kernels, sum {sum(u for _, u in f):.1f} us")
    for n, v in sorted(tot.items(), key=lambda kv: -kv[1]): print(f"   {cnt[n]:4d} x {n:40s} {v:9.1f} us")
    print("   layer 1 sequence:")
    # the second layer: skip embeddings, then kernels until the 2nd attention
    att = [i for i, (n, _) in enumerate(f) if "attention" in n]
    lo = att[0] + 1 if len(att) > 1 else 1; hi = att[1] + 1 if len(att) > 1 else len(f)
    for n, us in f[lo:hi]: print(f"      {us:8.2f} us  {n[:130]}")
