"""Float32 step-by-step emulation of GELU(erf) device functions (old and new) with worst-case MUFU errors.

FFMA: fma32(a,b,c) = correctly rounded f32 of the exact a*b+c. a*b is exact in float64 (24+24 bit
significands); the sum ab+c is rounded to float64 *to odd* (RN sum, fixed with the exact TwoSum error),
which makes the final float64->float32 rounding the correctly rounded fused result (53 >= 24+2 bits).
FMUL/FADD: exact in float64 then one rounding to f32 (= IEEE f32 op; no double-rounding issue since
the float64 value is exact).
MUFU: correctly rounded f32 of the exact value (computed in float64), then moved by k ulps
(rcp: k in -1..1, ex2: k in -2..2); every combination is evaluated and the worst error kept.
ftz: rcp input/output and ex2 output below 2^-126 flush to 0 (as .ftz).
"""
import numpy as np, scipy.special as sp

f32 = np.float32
TINY = 2.0**-126

def to32(a): return np.asarray(a, dtype=np.float64).astype(np.float32)

def fma32(a, b, c):
    a = np.asarray(a, np.float32).astype(np.float64); b = np.asarray(b, np.float32).astype(np.float64)
    c = np.asarray(c, np.float32).astype(np.float64)
    p = a * b                      # exact
    with np.errstate(invalid='ignore', over='ignore'):
        s = p + c
        bb = s - p; err = (p - (s - bb)) + (c - bb)   # TwoSum: s + err == p + c exactly (finite case)
        ok = np.isfinite(s) & np.isfinite(err) & (err != 0)
        bits = s.view(np.int64)
        even = (bits & 1) == 0
        fix = ok & even
        s2 = np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s2.astype(np.float32)

def mul32(a, b):
    with np.errstate(invalid='ignore', over='ignore'):
        return (np.asarray(a, np.float32).astype(np.float64) * np.asarray(b, np.float32).astype(np.float64)).astype(np.float32)

def add32(a, b):
    with np.errstate(invalid='ignore', over='ignore'):
        return (np.asarray(a, np.float32).astype(np.float64) + np.asarray(b, np.float32).astype(np.float64)).astype(np.float32)

def ulp_shift(r, k):
    """move positive finite nonzero f32 values by k ulps (keeps 0, inf, nan)."""
    if k == 0: return r
    r = r.copy()
    m = np.isfinite(r) & (r > 0)
    bi = r.view(np.int32)
    bi[m] = bi[m] + k
    return r

def ftz(r):
    r = r.copy(); r[np.abs(r) < TINY] = 0.0; return r

def rcp_approx(d, k):
    d = ftz(np.asarray(d, np.float32))
    with np.errstate(divide='ignore', invalid='ignore'):
        r = ftz(to32(1.0 / d.astype(np.float64)))
    return ftz(ulp_shift(r, k))

def ex2_approx(e, k):
    e = np.asarray(e, np.float32).astype(np.float64)
    with np.errstate(over='ignore', invalid='ignore'):
        r = ftz(to32(np.exp2(e)))
    return ftz(ulp_shift(r, k))

# ---------------- old implementation (activation.h gelu_erf_gpu) ----------------
OLD_C = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
         0.09678418, 0.37409196, 1.00002368, -1.26551223]
def old_gelu(x, krcp=0, kex2=0):
    x = to32(x)
    scale = f32(1.44269504088896341)
    cs = [mul32(f32(c), scale) for c in OLD_C]       # compile-time folded f32 products
    ax = np.abs(x)
    w = mul32(ax, f32(0.84932180028801907))
    t = rcp_approx(fma32(f32(0.41627730557884884), w, f32(1.0)), krcp)
    p = np.full_like(t, cs[0])
    for c in cs[1:]:
        p = fma32(p, t, c)
    e = fma32(-w, w, p)
    erfc_z = mul32(t, ex2_approx(e, kex2))
    one_plus = np.where(x < 0, erfc_z, add32(f32(2.0), -erfc_z))
    return mul32(mul32(f32(0.5), x), one_plus)

# ---------------- new implementation ----------------
def new_gelu(x, coefs, C, NK2, QMAX=f32(16.0), krcp=0, kex2=0):
    """coefs: highest degree first (f32). y = fmaf(-E, min(|x|,QMAX), max(x,0)),
    E = ex2(fmaf(x, x*NK2, P(t))), t = rcp(fmaf(|x|, C, 1))."""
    x = to32(x)
    ax = np.abs(x)
    v = mul32(x, NK2)
    q = np.where(np.isnan(ax), QMAX, np.minimum(ax, QMAX)).astype(np.float32)  # fminf: non-NaN operand
    t = rcp_approx(fma32(ax, C, f32(1.0)), krcp)
    p = np.full_like(t, coefs[0])
    for c in coefs[1:]:
        p = fma32(p, t, c)
    e = fma32(x, v, p)
    E = ex2_approx(e, kex2)
    m = np.where(np.isnan(x), f32(0.0), np.maximum(x, f32(0.0))).astype(np.float32)  # fmaxf
    return fma32(-E, q, m)

def exact(x):
    xd = np.asarray(x, np.float32).astype(np.float64)
    return 0.5 * xd * sp.erfc(-xd / np.sqrt(2.0))

def assess(fn, x, **kw):
    """worst ratio err/bound over all MUFU perturbations; returns (worst, x_at, abs_fail_count, combos)."""
    x = to32(x)
    ex = exact(x)
    bound = (1 + 0.2 * x.astype(np.float64)**2) * 1e-6
    small = np.abs(ex) < 1e-30
    worst = np.zeros(x.shape); absfail = np.zeros(x.shape, bool)
    for kr in (-1, 0, 1):
        for ke in (-2, -1, 0, 1, 2):
            y = fn(x, krcp=kr, kex2=ke, **kw).astype(np.float64)
            with np.errstate(divide='ignore', invalid='ignore'):
                rel = np.abs(y - ex) / np.abs(ex) / bound
            rel = np.where(small, 0.0, rel)
            rel = np.where(np.isnan(rel), np.inf, rel)
            worst = np.maximum(worst, rel)
            absfail |= small & ~(np.abs(y - ex) <= 1e-30)
    i = int(np.argmax(worst))
    return worst, float(worst[i]), float(x[i]), int(absfail.sum())

def grids():
    xs = [np.linspace(-14, 14, 4_000_001)]
    xs.append(to32(-14 + 28 * np.arange(200001) / 200000))   # the test's grid
    # every float in small neighbourhoods
    for c in [0.0, -0.5, -0.6744898, -1.0, -2.0, -3.0, -6.0, -10.0, -13.0, -13.2, 1.0, 13.5]:
        b = np.float32(c).view(np.int32)
        if c == 0.0:
            pos = np.arange(0, 1 << 20, dtype=np.int32).view(np.float32)
            xs += [pos, -pos]
            # also the floats just below 1e-3 .. and between 2^-10 and 2^-9 sampled densely
            b2 = np.float32(1e-3).view(np.int32)
            xs += [ (b2 + np.arange(-(1<<19), 1<<19, dtype=np.int32)).view(np.float32) ]
            xs += [ -(b2 + np.arange(-(1<<19), 1<<19, dtype=np.int32)).view(np.float32) ]
        else:
            if c < 0: bb = np.float32(-c).view(np.int32); xs.append(-(bb + np.arange(-(1<<19), 1<<19, dtype=np.int32)).view(np.float32))
            else: xs.append((b + np.arange(-(1<<19), 1<<19, dtype=np.int32)).view(np.float32))
    rng = np.random.default_rng(1)
    xs.append(rng.uniform(-14, 14, 2_000_000))
    X = np.unique(to32(np.concatenate([to32(a) for a in xs])))
    return X[np.abs(X) <= 14]

if __name__ == "__main__":
    X = grids()
    print("points", X.size)
    w, r, xa, nf = assess(old_gelu, X)
    print("old: worst/bound %.4f at x=%r, abs-criterion failures %d" % (r, xa, nf))
    w0, r0, xa0, nf0 = assess(lambda x, krcp, kex2: old_gelu(x, 0, 0), X)
    print("old (MUFU correctly rounded): worst/bound %.4f at x=%r" % (r0, xa0))

# ---------------- new implementation, form (c) ----------------
NK2 = np.float32(-0.72134752044448170)   # -log2(e)/2
def sat32(a):
    a = np.asarray(a, np.float32)
    return np.where(np.isnan(a), np.float32(0), np.clip(a, np.float32(0), np.float32(1))).astype(np.float32)

def newc_gelu(x, coefs, C0, C1, krcp=0, kex2=0):
    """y = fmaf(-E, u, fmaxf(x, 0)), u = sat(|x| * rcp(fmaf(|x|, C1, C0))),
    E = ex2(fmaf(x, x*NK2, P(u))), P Horner with f32 coefs (highest degree first)."""
    x = to32(x)
    ax = np.abs(x)
    v = mul32(x, NK2)
    t = rcp_approx(fma32(ax, C1, C0), krcp)
    u = sat32(mul32(ax, t))
    p = np.full_like(u, coefs[0])
    for c in coefs[1:]:
        p = fma32(p, u, c)
    e = fma32(x, v, p)
    E = ex2_approx(e, kex2)
    m = np.where(np.isnan(x), np.float32(0), np.maximum(x, np.float32(0))).astype(np.float32)  # fmaxf
    return fma32(-E, u, m)
