import csv, sys
out = sys.argv[1]
for f in ('bs16', 'bs64'):
    a = {r['tag']: r for r in csv.DictReader(open('%s/bench_%s_main/bench.csv' % (out, f))) if r['dtype'] == 'f16'}
    b = {r['tag']: r for r in csv.DictReader(open('%s/bench_%s_hyb/bench.csv' % (out, f))) if r['dtype'] == 'f16'}
    for t in a:
        if t in b:
            print('%-22s main %-13s %.4f (%.2fx)  hyb %-13s %.4f (%.2fx)' % (t, a[t]['native_plan'], float(a[t]['native_ms']), float(a[t]['native_speedup']), b[t]['native_plan'], float(b[t]['native_ms']), float(b[t]['native_speedup'])))
