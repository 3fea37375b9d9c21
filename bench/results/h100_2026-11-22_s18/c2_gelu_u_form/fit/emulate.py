"""Full-grid emulation of old and new gelu_erf_gpu (see emu.py for the method)."""
import json, sys
from emu import *
cf = json.load(open('/tmp/gelu/coefs.json'))
X = grids()
print("points:", X.size, "in [-14, 14]")
def report(name, fn, **kw):
    w, r, xa, nf = assess(fn, X, **kw)
    w0, r0, xa0, nf0 = assess(lambda x, krcp, kex2, **k: fn(x, krcp=0, kex2=0, **k), X, **kw)
    neg = X < 0
    i_pos = np.argmax(np.where(~neg, w, 0))
    print("%-10s worst-case MUFU: %.4f of bound at x=%.9g (x>0 side worst %.4f at %.6g); abs-criterion failures %d | "
          "correctly-rounded MUFU: %.4f at x=%.9g" % (name, r, xa, w[i_pos], X[i_pos], nf, r0, xa0), flush=True)
    # profile
    for lo, hi in [(0, 1e-3), (1e-3, 0.1), (0.1, 1), (1, 2), (2, 4), (4, 8), (8, 11.7)]:
        m = neg & (np.abs(X) >= lo) & (np.abs(X) < hi)
        print("    x in -[%g, %g): worst %.4f" % (lo, hi, w[m].max()))
which = sys.argv[1:] or ['old', 'deg6', 'deg7']
if 'old' in which: report('old', old_gelu)
for k in ['deg6', 'deg7', 'deg7_noenv']:
    if k in which:
        c = cf[k]
        report(k, newc_gelu, coefs=[np.float32(a) for a in c['coefs']], C0=np.float32(c['C0']), C1=np.float32(c['C1']))
