# Median ncu gpu__time_duration per kernel family of a CSV (sparse sm90 GEMM vs cuBLAS nvjet vs others).
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1]))); hdr = None; agg = collections.defaultdict(list)
for r in rows:
    if hdr is None:
        if "Kernel Name" in r: hdr = r
        continue
    if len(r) != len(hdr): continue
    d = dict(zip(hdr, r))
    if d.get("Metric Name") != "gpu__time_duration.sum": continue
    n = d["Kernel Name"]; key = "sm90 " + n.split("<")[1].split(">")[0] if "sparse_gemm_sm90" in n else n[:60]
    agg[key].append(float(d["Metric Value"].replace(",", "")) / 1e3)
for k, v in sorted(agg.items(), key=lambda kv: -len(kv[1])):
    v.sort(); print(f"{len(v):4d} x median {v[len(v)//2]:8.2f} us  min {v[0]:8.2f}  {k}")
