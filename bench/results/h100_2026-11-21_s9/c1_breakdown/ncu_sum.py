# Sums ncu's per-kernel gpu__time_duration by kernel family: per-launch mean and count.
import csv, sys, collections, re
rows = list(csv.reader(open(sys.argv[1])))
hdr = None
agg = collections.defaultdict(list)
for r in rows:
    if hdr is None:
        if "Kernel Name" in r: hdr = r
        continue
    if len(r) != len(hdr): continue
    d = dict(zip(hdr, r))
    if d.get("Metric Name") != "gpu__time_duration.sum": continue
    name = d["Kernel Name"]
    agg[name].append(float(d["Metric Value"].replace(",", "")) / 1e3)  # ns -> us
for name, v in sorted(agg.items(), key=lambda kv: -sum(kv[1])):
    v.sort()
    print(f"{len(v):5d} x  median {v[len(v)//2]:9.2f} us  total {sum(v):10.1f} us  {name[:150]}")
