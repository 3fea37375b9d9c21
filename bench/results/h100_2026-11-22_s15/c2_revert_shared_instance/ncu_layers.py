# Per-slot medians over the encoder layers of the last sparse and dense forward in an ncu
# gpu__time_duration CSV of `sparse24 bert` (slots: the kernels between two attention kernels).
import csv, sys, statistics, re
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
    if "embeddings_ln_kernel" in name: cur = []; fwds.append(cur)
    if cur is not None: cur.append((name, us))
def short(n):
    n = re.sub(r"\(.*", "", n).replace("void ", "").replace("<unnamed>", "anon")
    m = re.search(r"sparse_gemm_sm90_kernel<[^,]*, [^,]*, (\d+), (\d+)>", n)
    if m: return f"sm90 cfg{m.group(1)} unroll{m.group(2)}"
    if "nvjet" in n: return n[:40]
    return n.split("<")[0].split("::")[-1]
for label in ("sparse", "dense"):
    fs = [f for f in fwds if (any(short(n).startswith("sm90 cfg") for n, _ in f)) == (label == "sparse")]
    if not fs: continue
    f = fs[-1]
    att = [i for i, (n, _) in enumerate(f) if "attention" in n]
    layers = [f[att[i] + 1:att[i + 1] + 1] for i in range(len(att) - 1)]
    if not layers: continue
    n = min(len(l) for l in layers)
    print(f"== {label}: {len(f)} kernels, sum {sum(u for _, u in f):.1f} us; {len(layers)} full layers")
    tot = 0
    for s in range(n):
        v = [l[s][1] for l in layers]
        tot += statistics.median(v)
        print(f"   slot {s}: median {statistics.median(v):8.2f} us (min {min(v):7.2f} max {max(v):7.2f})  {short(layers[0][s][0])}")
    print(f"   layer sum of medians {tot:.1f} us")
