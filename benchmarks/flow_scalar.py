"""Conservative scalar advection: ours (``FlowSolver(marker_advection="conservative")``'s scheme,
``diffphys.flow.advect.conservative``: MUSCL + van Leer slopes, Heun RK2, unsplit) vs jax-cfd's
``advect_van_leer`` (van Leer limited Lax-Wendroff fluxes, one forward-Euler update per step), in one process.

A periodic unit box, uniform velocity (1, 0.5): after t = 2 every profile is back where it started, so the
error is measured against the initial field. Profiles: a Gaussian blob (smooth) and a square (discontinuous).
Both codes at dt = 0.5 dx (their stability limits allow it: ours in ceil(4 dt |u| / dx) = 2 substeps); jax-cfd
also at dt / 4, the same number of flux evaluations as ours. Reported: L1 error, change of the total, new
extrema, time per step (jitted, a 20-step ``fori_loop`` per call, best of 5), and the time ratio.

Run:  PYTHONPATH=src <flow-bench python> benchmarks/flow_scalar.py [--n 64 128 256] [--x64]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, nargs="+", default=[64, 128, 256])
ap.add_argument("--x64", action="store_true")
args = ap.parse_args()
jax.config.update("jax_enable_x64", args.x64)

import jax.numpy as jnp  # noqa: E402
import jax_cfd.base as cfd  # noqa: E402
import numpy as np  # noqa: E402

from diffphys.flow.advect import conservative  # noqa: E402

U, V, T_END = 1.0, 0.5, 2.0
PROFILES = {
    "gaussian": lambda x, y: np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.1**2),
    "square": lambda x, y: ((np.abs(x - 0.5) < 0.2) & (np.abs(y - 0.5) < 0.2)).astype(float),
}


def best_time(fn, x, reps=5):
    y = fn(x)
    jax.block_until_ready(y)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        best = min(best, time.perf_counter() - t0)
    return best


def ours(n, dt):
    h = 1.0 / n
    u, v = jnp.full((n, n), U), jnp.full((n, n), V)
    rules = (("wrap", None),) * 4
    substeps = max(1, math.ceil(4 * dt * max(U, V) / h - 1e-12))
    return lambda c: conservative(c, rules, 1.0, u, v, dt, h, h, True, True, substeps), substeps


def jax_cfd_step(n, dt):
    grid = cfd.grids.Grid((n, n), domain=((0.0, 1.0), (0.0, 1.0)))
    bc = cfd.boundaries.periodic_boundary_conditions(2)
    dtype = jnp.result_type(float)
    vel = tuple(cfd.grids.GridVariable(cfd.grids.GridArray(jnp.full((n, n), s, dtype), off, grid), bc)
                for s, off in ((U, (1.0, 0.5)), (V, (0.5, 1.0))))

    def step(c):
        cv = cfd.grids.GridVariable(cfd.grids.GridArray(c, (0.5, 0.5), grid), bc)
        return c + dt * cfd.advection.advect_van_leer(cv, vel, dt).data

    return step


def run(step, c0, steps, chunk=20):
    many = jax.jit(lambda c: jax.lax.fori_loop(0, chunk, lambda i, a: step(a), c))
    full = jax.jit(lambda c: jax.lax.fori_loop(0, steps, lambda i, a: step(a), c))
    return np.asarray(full(c0)), best_time(many, c0) / chunk


def main():
    rows = []
    for n in args.n:
        h = 1.0 / n
        x = (np.arange(n) + 0.5) * h
        X, Y = np.meshgrid(x, x, indexing="ij")
        dt = 0.5 * h
        steps = int(round(T_END / dt))
        for name, prof in PROFILES.items():
            c0 = jnp.asarray(prof(X, Y), jnp.result_type(float))
            our_step, sub = ours(n, dt)
            variants = [("diffphys conservative", our_step, steps, dt),
                        ("jax-cfd advect_van_leer", jax_cfd_step(n, dt), steps, dt),
                        ("jax-cfd advect_van_leer, dt/4", jax_cfd_step(n, dt / 4), 4 * steps, dt / 4)]
            for label, step, nsteps, d in variants:
                c, per = run(step, c0, nsteps)
                c0n = np.asarray(c0)
                rows.append(dict(n=n, profile=name, code=label, dt=d, steps=nsteps,
                                 l1=float(np.mean(np.abs(c - c0n))), mass=float(c.sum() / c0n.sum() - 1),
                                 undershoot=float(min(0.0, c.min())), overshoot=float(max(0.0, c.max() - c0n.max())),
                                 step_ms=per * 1e3, run_ms=per * nsteps * 1e3,
                                 substeps=sub if "diffphys" in label else 1))
                r = rows[-1]
                print(f"{n:4d} {name:8s} {label:32s} L1 {r['l1']:.3e}  mass {r['mass']:+.1e}  "
                      f"under {r['undershoot']:.1e} over {r['overshoot']:.1e}  step {r['step_ms']:.3f} ms  "
                      f"run {r['run_ms']:.1f} ms", flush=True)
    for n in args.n:
        for name in PROFILES:
            sel = {r["code"]: r for r in rows if r["n"] == n and r["profile"] == name}
            o, j, j4 = (sel[k] for k in ("diffphys conservative", "jax-cfd advect_van_leer",
                                         "jax-cfd advect_van_leer, dt/4"))
            print(f"{n:4d} {name:8s} run-time ratio ours / jax-cfd {o['run_ms'] / j['run_ms']:.2f} "
                  f"(vs dt/4: {o['run_ms'] / j4['run_ms']:.2f}); L1 ratio {o['l1'] / j['l1']:.2f} "
                  f"(vs dt/4: {o['l1'] / j4['l1']:.2f})")
    out = Path(__file__).parent / "results" / "flow_scalar.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(dict(machine="2-core x86_64 sandbox CPU", x64=args.x64, rows=rows), indent=1))


if __name__ == "__main__":
    main()
