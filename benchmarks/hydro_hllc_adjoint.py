"""Experiment: is a hand-derived reverse pass of the HLLC flux cheaper than autodiff's?

The gradient of the wind run costs ~5x its forward
4x would need the backward of a step to cost <= 1
forward step (see docs/benchmarks.md, hydro). The HLLC flux is the step's largest piece. This script
compares, per call on 402 faces in float64 and inside a 1000-iteration scan (so call overhead is amortised):
the forward flux, `jax.vjp` (forward + backward, as the checkpointed tape runs it), and a hand-derived
straight-line reverse pass (forward quantities recomputed, then the adjoint of every expression, each
select transposed to one branch). It also checks that the two reverse passes agree.

Run: PYTHONPATH=src python benchmarks/hydro_hllc_adjoint.py
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # a benchmark script, not the library
from _timing import machine, now, results_path  # noqa: E402

from diffphys.hydro.riemann import hllc_rows  # noqa: E402

g = 5 / 3


def hllc_bwd(wl, wr, gb):
    rl, vl, pl = wl
    rr, vr, pr = wr
    cl = jnp.sqrt(g * pl / rl)
    cr = jnp.sqrt(g * pr / rr)
    a1, a2 = vl - cl, vr - cr
    p1 = a1 <= a2
    sl = jnp.where(p1, a1, a2)
    b1, b2 = vl + cl, vr + cr
    p2 = b1 >= b2
    sr = jnp.where(p2, b1, b2)
    ql = rl * (sl - vl)
    qr = rr * (sr - vr)
    num = pr - pl + ql * vl - qr * vr
    den = ql - qr
    ss = num / den
    left = ss >= 0.0
    rho, v, p, s, q = (jnp.where(left, a, b) for a, b in ((rl, rr), (vl, vr), (pl, pr), (sl, sr), (ql, qr)))
    e = p / (g - 1.0) + 0.5 * rho * v * v
    D = s - ss
    fac = q / D
    A = ss - v
    B = ss + p / q
    H = e / rho + A * B
    outer = jnp.where(left, sl >= 0.0, sr <= 0.0)
    g0, g1, g2 = gb
    w = jnp.where(outer, 0.0, s)
    sbar = jnp.where(outer, 0.0, g0 * (fac - rho) + g1 * (fac * ss - rho * v) + g2 * (fac * H - e))
    u0, u1, u2 = w * g0, w * g1, w * g2   # ustar bar
    facb = u0 + u1 * ss + u2 * H
    ssb = u1 * fac
    Hb = u2 * fac
    eb = Hb / rho - u2 + g2 * v          # from H, from -u (u2 = e), from F2
    rb = -Hb * e / (rho * rho) - u0 - u1 * v + g0 * v + g1 * v * v
    vb = -Hb * B - u1 * rho + g0 * rho + 2.0 * g1 * rho * v + g2 * (e + p)
    pb = Hb * A / q + g1 + g2 * v
    qb = -Hb * A * p / (q * q) + facb / D
    ssb = ssb + Hb * (A + B) + facb * q / (D * D)
    sbar = sbar - facb * q / (D * D)
    # e = p/(g-1) + rho v^2/2
    pb = pb + eb / (g - 1.0)
    rb = rb + 0.5 * eb * v * v
    vb = vb + eb * rho * v
    # ss = num/den
    numb = ssb / den
    denb = -ssb * ss / den
    qlb = jnp.where(left, qb, 0.0) + numb * vl + denb
    qrb = jnp.where(left, 0.0, qb) - numb * vr - denb
    slb = jnp.where(left, sbar, 0.0) + qlb * rl
    srb = jnp.where(left, 0.0, sbar) + qrb * rr
    rlb = jnp.where(left, rb, 0.0) + qlb * (sl - vl)
    rrb = jnp.where(left, 0.0, rb) + qrb * (sr - vr)
    vlb = jnp.where(left, vb, 0.0) + numb * ql - qlb * rl
    vrb = jnp.where(left, 0.0, vb) - numb * qr - qrb * rr
    plb = jnp.where(left, pb, 0.0) - numb
    prb = jnp.where(left, 0.0, pb) + numb
    a1b = jnp.where(p1, slb, 0.0)
    a2b = slb - a1b
    b1b = jnp.where(p2, srb, 0.0)
    b2b = srb - b1b
    vlb = vlb + a1b + b1b
    vrb = vrb + a2b + b2b
    clb = b1b - a1b
    crb = b2b - a2b
    plb = plb + clb * cl / (2 * pl)
    rlb = rlb - clb * cl / (2 * rl)
    prb = prb + crb * cr / (2 * pr)
    rrb = rrb - crb * cr / (2 * rr)
    return (rlb, vlb, plb), (rrb, vrb, prb)


rng = np.random.default_rng(0)
n = 402


def mk():
    return (jnp.asarray(rng.uniform(0.5, 2, n)), jnp.asarray(rng.uniform(-1.5, 1.5, n)),
            jnp.asarray(rng.uniform(0.2, 2, n)))


wl, wr = mk(), mk()
gb = mk()

def ad(wl, wr, gb):
    _, vjp = jax.vjp(lambda a, b: hllc_rows(a, b, g), wl, wr)
    return vjp(gb)


A = jax.jit(ad)(wl, wr, gb)
Bh = jax.jit(hllc_bwd)(wl, wr, gb)
diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(A), jax.tree.leaves(Bh)))
print("max |autodiff - hand| over the six cotangents:", diff)


def loop(f):
    def body(c, _):
        a, b = f(c[0], c[1], gb)
        return (tuple(x + 1e-9 * y for x, y in zip(c[0], a)), tuple(x + 1e-9 * y for x, y in zip(c[1], b))), None
    return jax.jit(lambda a, b: jax.lax.scan(body, (a, b), None, length=1000)[0])


def fwd_body(c, _):
    return (tuple(x + 1e-9 * y for x, y in zip(c[0], hllc_rows(c[0], c[1], g))), c[1]), None


fwdloop = jax.jit(lambda a, b: jax.lax.scan(fwd_body, (a, b), None, length=1000)[0])
res = {"machine": machine(), "date": now(), "jax": jax.__version__, "faces": n, "max_abs_diff": diff}
for _ in range(2):
    for name, f in (("forward", fwdloop), ("autodiff_vjp", loop(ad)), ("hand_vjp", loop(hllc_bwd))):
        jax.block_until_ready(f(wl, wr))
        ts = []
        for _rep in range(5):
            t = time.perf_counter()
            jax.block_until_ready(f(wl, wr))
            ts.append(time.perf_counter() - t)
        res.setdefault(name + "_us", []).append(min(ts) * 1e3)  # 1000 calls: ms per scan = us per call
        print(name, "us per call %.2f" % (min(ts) * 1e3))
results_path("hydro_hllc_adjoint").write_text(json.dumps(res, indent=1) + "\n")
