import json, sys, os
# tunecmp.py DIR_A DIR_B ... : per shape, the tuned ms of every plan in each run dir (bench.json)
runs = sys.argv[1:]
data = {}
for r in runs:
    d = json.load(open(os.path.join(r, "bench.json")))
    for t in d.get("tuning", []):
        key = (t["m"], t["n"], t["k"], t["dtype"], t.get("activated", False))
        data.setdefault(key, {})[r] = {x["plan"]: x["ms"] for x in t["results"]}
    for row in d.get("rows", []):
        key = (row["m"], row["n"], row["k"], row["dtype"].upper().replace("F8", "F8"), "dense")
for key, per in data.items():
    plans = sorted({p for v in per.values() for p in v})
    print(f"== M={key[0]} N={key[1]} K={key[2]} {key[3]} gelu={key[4]}")
    print("   " + " ".join(f"{os.path.basename(r.rstrip('/')):>14s}" for r in runs))
    for p in plans:
        vals = [per.get(r, {}).get(p) for r in runs]
        print(f"   {p:16s}" + " ".join(f"{v:14.4f}" if v else f"{'-':>14s}" for v in vals))
    best = [min(per[r].values()) if r in per else None for r in runs]
    print(f"   {'BEST':16s}" + " ".join(f"{v:14.4f}" if v else f"{'-':>14s}" for v in best))
