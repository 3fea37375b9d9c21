# For a `sparse24 bert` ncu CSV run with S24_EXP_TWICE: per forward kind, pairs of consecutive
# identical GEMM launches (first, second) in the last complete eager forward of each kind.
import csv, sys, re, collections
rows = list(csv.reader(open(sys.argv[1]))); hdr = None; seq = []
for r in rows:
    if hdr is None:
        if "Kernel Name" in r: hdr = r
        continue
    if len(r) != len(hdr): continue
    d = dict(zip(hdr, r))
    if d.get("Metric Name") != "gpu__time_duration.sum": continue
    seq.append((d["Kernel Name"], float(d["Metric Value"].replace(",", "")) / 1e3))
fwds = []; cur = None
for n, us in seq:
    if "embeddings_ln_kernel" in n: cur = []; fwds.append(cur)
    if cur is not None: cur.append((n, us))
def kind(f): return "dense" if any("nvjet" in n for n, _ in f) else "sparse"
def short(n):
    if "nvjet" in n: return "cublas " + n.split("_")[3]
    if "sparse_gemm_sm90" in n: return "sm90<" + ",".join(n.split("<")[1].split(">")[0].split(",")[2:]) + ">"
    return n.split("(")[0].split("::")[-1][:30]
best = {}
for f in fwds:
    k = kind(f)
    if len(f) >= len(best.get(k, [])): best[k] = f
for k, f in best.items():
    gem = [(short(n), us) for n, us in f if "nvjet" in n or "sparse_gemm_sm90" in n]
    pairs = collections.defaultdict(list)
    i = 0
    while i + 1 < len(gem):
        if gem[i][0] == gem[i + 1][0]:
            pairs[(i // 2) % 4].append((gem[i][0], gem[i][1], gem[i + 1][1])); i += 2
        else: i += 1
    print(f"== {k}: {len(f)} kernels")
    for pos, lst in sorted(pairs.items()):
        a = sorted(x[1] for x in lst); b = sorted(x[2] for x in lst)
        print(f"   {lst[0][0]:22s} n={len(lst):2d} first median {a[len(a)//2]:8.2f} us  second median {b[len(b)//2]:8.2f} us  ratio {a[len(a)//2]/b[len(b)//2]:.3f}")
