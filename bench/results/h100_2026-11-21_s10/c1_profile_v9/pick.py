import csv, re, sys
want = ["gpu__time_duration.sum","sm__cycles_elapsed.avg.per_second",
 "sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_elapsed",
 "lts__t_sectors.avg.pct_of_peak_sustained_elapsed","lts__throughput.avg.pct_of_peak_sustained_elapsed",
 "l1tex__data_pipe_lsu_wavefronts_mem_shared.avg.pct_of_peak_sustained_elapsed",
 "l1tex__throughput.avg.pct_of_peak_sustained_active","dram__throughput.avg.pct_of_peak_sustained_elapsed",
 "smsp__issue_active.avg.pct_of_peak_sustained_active","lts__t_bytes.sum.per_second","dram__bytes_read.sum","dram__bytes_write.sum","lts__t_bytes.sum"]
res={}
for f in sys.argv[1:]:
    rows = list(csv.reader(open(f)))
    hi = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    head, units, vals = rows[hi], rows[hi + 1], rows[hi + 2]
    d={h:(v,u) for h,u,v in zip(head,units,vals)}
    print("==", f, d["Kernel Name"][0][:100])
    for w in want:
        if w in d: print(f"   {w:78s} {d[w][0]:>14s} {d[w][1]}")
    st=[]
    for h,(v,u) in d.items():
        m=re.match(r"smsp__average_warps_issue_stalled_(.*)_per_issue_active.ratio$",h)
        if m:
            try: st.append((float(v.replace(",","")),m.group(1)))
            except: pass
    print("   stalls:", ", ".join(f"{n} {v:.2f}" for v,n in sorted(st,reverse=True)[:9]))
