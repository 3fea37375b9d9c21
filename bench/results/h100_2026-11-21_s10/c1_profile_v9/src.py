import csv, sys
# Group warp-stall samples by region of the SASS listing: print the top instructions and
# cumulative samples between markers (HGMMA, SYNCS, BAR, STG...).
f=sys.argv[1]
rows=list(csv.reader(open(f)))
head=rows[1]; data=rows[2:]
ia=head.index("Address"); isrc=head.index("Source"); isamp=head.index("Warp Stall Sampling (All Samples)")
tot=sum(int(r[isamp]) for r in data if r[isamp].isdigit())
print("total samples", tot, "instructions", len(data))
top=sorted(((int(r[isamp]),i,r[isrc].strip()) for i,r in enumerate(data) if r[isamp].isdigit()),reverse=True)[:25]
for s,i,src in top: print(f"{s:6d} {100*s/tot:5.1f}%  #{i:5d} {src[:90]}")
# where are HGMMA
hg=[i for i,r in enumerate(data) if "HGMMA" in r[isrc]]
print("HGMMA at", hg[:4], "...", hg[-4:] if hg else None)
# cumulative by index bucket of 100
import collections
b=collections.Counter()
for i,r in enumerate(data):
    if r[isamp].isdigit(): b[i//100]+=int(r[isamp])
print(" ".join(f"{k*100}:{100*v/tot:.0f}%" for k,v in sorted(b.items()) if v/tot>0.01))
