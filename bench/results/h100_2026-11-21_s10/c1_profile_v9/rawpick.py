import csv, re, sys
# Print chosen metrics from an `ncu --page raw --csv` export (one kernel per file).
pats = [r"^gpu__time_duration.sum$", r"^sm__cycles_elapsed.avg.per_second$",
        r"tensor.*pct_of_peak_sustained_(active|elapsed)$", r"^lts__t_sectors.avg.pct_of_peak_sustained_elapsed$",
        r"^lts__throughput.avg.pct", r"^l1tex__data_pipe_lsu_wavefronts_mem_shared.*pct_of_peak_sustained_elapsed$",
        r"^l1tex__throughput.avg.pct", r"^dram__throughput.avg.pct", r"^sm__throughput.avg.pct",
        r"^smsp__issue_active.avg.pct", r"^smsp__average_warps_issue_stalled_.*_per_issue_active.ratio$",
        r"^lts__t_bytes.sum.per_second$", r"^dram__bytes_(read|write).sum$", r"^lts__t_bytes.sum$"]
for f in sys.argv[1:]:
    rows = list(csv.reader(open(f)))
    hi = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    head, units, vals = rows[hi], rows[hi + 1], rows[hi + 2]
    print("==", f, vals[head.index("Kernel Name")][:110])
    stalls = []
    for h, u, v in zip(head, units, vals):
        if any(re.search(p, h) for p in pats):
            if "issue_stalled" in h:
                try: stalls.append((float(v.replace(",", "")), h))
                except ValueError: pass
            else:
                print(f"   {h:80s} {v:>14s} {u}")
    for v, h in sorted(stalls, reverse=True)[:8]:
        print(f"   stall {h.replace('smsp__average_warps_issue_stalled_','').replace('_per_issue_active.ratio',''):30s} {v:.2f}")
