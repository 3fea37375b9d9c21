from fit import *
def newc_exactP(x, C0, C1, krcp=0, kex2=0):
    x = to32(x); ax = np.abs(x)
    v = mul32(x, NK2)
    t = rcp_approx(fma32(ax, C1, C0), krcp)
    u = sat32(mul32(ax, t))
    ud = u.astype(np.float64)
    xu = float(C0) * ud / (1 - float(C1) * ud)
    p = to32(target(xu, float(C0), float(C1)))
    e = fma32(x, v, p); E = ex2_approx(e, kex2)
    return fma32(-E, u, np.maximum(x, np.float32(0)))
def rounding_env(C0, C1, X=12.0, nb=240):
    xs = to32(np.concatenate([-np.linspace(0, X, 300001), -np.geomspace(1e-8, 0.05, 50001)]))
    w, r, xa, _ = assess(newc_exactP, xs, C0=C0, C1=C1)
    ax = np.abs(xs.astype(np.float64))
    # envelope over bins in sqrt(|x|) spacing (denser near 0)
    edges = np.linspace(0, np.sqrt(X), nb + 1) ** 2
    idx = np.clip(np.searchsorted(edges, ax, side='right') - 1, 0, nb - 1)
    env = np.zeros(nb); np.maximum.at(env, idx, w)
    env = np.maximum(env, np.maximum(np.r_[env[1:], env[-1]], np.r_[env[0], env[:-1]]))   # widen
    def f(x):
        i = np.clip(np.searchsorted(edges, np.abs(x), side='right') - 1, 0, nb - 1)
        return env[i]
    return f, r, xa
if __name__ == "__main__":
    for C0 in [3.96, 3.6, 2.2]:
        for c in [0.255, 0.315]:
            f, r, xa = rounding_env(np.float32(C0), np.float32(c * C0))
            xs = np.array([0, 1e-3, 0.1, 0.5, 0.85, 1, 2, 4, 8, 11])
            print(C0, c, "rounding-only worst %.3f at %g" % (r, xa), np.round(f(xs), 3), flush=True)
