# Per-position medians of the sm90 GEMM kernels in an ncu CSV of `sparse24 bert` filtered to
# them (qkv, attn-out, fc1, fc2 repeat in that order per layer): us, and the configuration index.
import csv, sys, re, statistics, collections
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
pos = collections.defaultdict(list); names = {}
for i, (n, us) in enumerate(seq):
    p = ["qkv", "attn-out", "fc1", "fc2"][i % 4]
    pos[p].append(us)
    m = re.search(r"sparse_gemm_sm90_kernel<[^,]*, [^,]*, (\d+), (\w+)>", n)
    names[p] = m.groups() if m else n[:80]
print(f"{len(seq)} kernels")
for p in ["qkv", "attn-out", "fc1", "fc2"]:
    v = pos[p]
    if v: print(f"  {p:9s} median {statistics.median(v):7.2f} us  min {min(v):7.2f}  n {len(v):3d}  cfg {names[p]}")
