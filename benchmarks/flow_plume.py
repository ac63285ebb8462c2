"""Buoyant smoke plume: diffphys.flow vs PhiFlow's smoke-plume demo, one process, same machine.

PhiFlow's plume (its README / demos): a closed box, smoke entering through a soft sphere every step, smoke
advected by MacCormack and the velocity by semi-Lagrangian (Euler trace), buoyancy ``(0, 0.1 * smoke)``
resampled onto the staggered velocity, no viscosity, pressure by CG warm-started from the last pressure.
Ours: the same box, source, buoyancy and dt, ``diffusion="none"``, MacCormack for both the velocity and the
smoke (our solver advects both with one scheme: strictly more work than PhiFlow's), Euler trace; the pressure
by our default for a closed box (``"auto"`` -> a DCT direct solve) and by CG to the same relative tolerance
1e-5 as PhiFlow's. float32. Timed: (a) one jitted step, after 40 warm-up steps (a developed plume); (b) the
gradient of the summed squared smoke after 10 steps with respect to the source field, jitted.

Run: PYTHONPATH=src <bench-venv>/bin/python benchmarks/flow_plume.py [--quick]
"""

from __future__ import annotations

import json
import sys

import jax
from _timing import machine, now, results_path, timeit
import jax.numpy as jnp
import numpy as np

SIZE, CENTER, RADIUS, RATE, BUOY, DT, TOL, NGRAD, WARMUP = 100.0, (50.0, 9.5), 5.0, 0.6, 0.1, 1.0, 1e-5, 10, 40


def ours(n, pressure, reps, grad_reps):
    from diffphys.core import simulate
    from diffphys.flow import Boundaries, FlowParams, FlowSolver, Grid, wall

    grid = Grid((n, n), size=(SIZE, SIZE))
    solver = FlowSolver(grid, Boundaries(wall(), wall(), wall(), wall()), DT, advection="maccormack",
                        backtrace="euler", diffusion="none", pressure=pressure, tol=TOL, warm_start=True,
                        velocity_scale=1.0, max_cfl=10.0)
    # a soft sphere: the cell fraction inside (sampled 4 x 4 per cell), as PhiFlow's soft resample of a Sphere
    xc, yc = (np.asarray(c) for c in solver.coords[4:6])
    off = (np.arange(4) + 0.5) / 4 - 0.5
    inside = np.zeros(grid.shape)
    for ox in off:
        for oy in off:
            inside += ((xc + ox * grid.dx - CENTER[0]) ** 2 + (yc + oy * grid.dy - CENTER[1]) ** 2 <= RADIUS**2)
    source = jnp.asarray(RATE * inside / 16 / DT, jnp.float32)     # PhiFlow adds 0.6 * fraction per step
    params = FlowParams(1e-6, buoyancy=BUOY, source=source)
    state = solver.initial_state(dtype=jnp.float32)
    warm = jax.jit(lambda s: simulate(solver, s, params, num_steps=WARMUP).state)
    state = warm(state)
    step = jax.jit(lambda s: solver.step(s, params))
    sync = lambda s: jax.block_until_ready(s.marker)
    sync(step(state))
    t_step = timeit(lambda: step(state), reps, sync)

    def loss(src):
        prm = FlowParams(1e-6, buoyancy=BUOY, source=src)
        return jnp.sum(simulate(solver, state, prm, num_steps=NGRAD).state.marker ** 2)

    grad = jax.jit(jax.grad(loss))
    g = grad(source)
    jax.block_until_ready(g)
    t_grad = timeit(lambda: grad(source), grad_reps, jax.block_until_ready)
    return dict(step_s=t_step, grad10_s=t_grad, smoke_total=float(jnp.sum(state.marker)) * grid.dx * grid.dy,
                grad_finite=bool(np.all(np.isfinite(np.asarray(g)))), pressure=solver.pressure)


def phiflow(n, reps, grad_reps):
    from phi import math
    from phi.jax.flow import (
        ZERO_GRADIENT,
        Box,
        CenteredGrid,
        Solve,
        Sphere,
        StaggeredGrid,
        advect,
        fluid,
        jit_compile,
        resample,
    )

    domain = dict(x=n, y=n, bounds=Box(x=SIZE, y=SIZE))
    smoke0 = CenteredGrid(0.0, ZERO_GRADIENT, **domain)
    v0 = StaggeredGrid(0.0, 0.0, **domain)
    p0 = CenteredGrid(0.0, ZERO_GRADIENT, **domain)
    inflow = RATE * resample(Sphere(x=CENTER[0], y=CENTER[1], radius=RADIUS), to=smoke0, soft=True)
    _ = (v0.points, smoke0.points, v0.geometry.center, smoke0.geometry.center)  # avoid a tracer leak in its caches

    def body(v, s, p, src):
        s = advect.mac_cormack(s, v, DT) + src
        buoyancy = resample(s * (0, BUOY), to=v)
        v = advect.semi_lagrangian(v, v, DT) + buoyancy * DT
        v, p = fluid.make_incompressible(v, (), Solve("CG", TOL, 0.0, x0=p))
        return v, s, p

    step = jit_compile(body)
    v, s, p = v0, smoke0, p0
    for _ in range(WARMUP):
        v, s, p = step(v, s, p, inflow)
    sync = lambda out: float(math.sum(out[1].values))
    sync(step(v, s, p, inflow))
    t_step = timeit(lambda: step(v, s, p, inflow), reps, sync)

    def loss(src):
        vs, ss, ps = v, s, p
        for _ in range(NGRAD):
            vs, ss, ps = body(vs, ss, ps, src)
        return math.sum(ss.values ** 2)

    grad = jit_compile(math.gradient(loss, "src", get_output=False))
    g = grad(inflow)
    gsync = lambda g: float(math.sum(g.values))
    gsync(g)
    t_grad = timeit(lambda: grad(inflow), grad_reps, gsync)
    total = float(math.sum(s.values)) * (SIZE / n) ** 2
    return dict(step_s=t_step, grad10_s=t_grad, smoke_total=total,
                grad_finite=bool(np.isfinite(g.values.numpy("x,y")).all()))


def main():
    quick = "--quick" in sys.argv
    sizes = [64] if quick else [64, 128]
    rows = []
    for n in sizes:
        reps, grad_reps = (50, 10) if n <= 64 else (20, 3)
        row = {"grid": f"{n}x{n}"}
        try:  # PhiFlow first: after our runs in the same process its jitted step hit a tracer-conversion error
            row["phiflow"] = phiflow(n, reps, grad_reps)
        except Exception as err:  # record what failed instead of hiding it
            row["phiflow"] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
        row["ours_auto"] = ours(n, "auto", reps, grad_reps)
        row["ours_cg"] = ours(n, "cg", reps, grad_reps)
        if "step_s" in row["phiflow"]:
            for k in ("ours_auto", "ours_cg"):
                row[k]["step_ratio_vs_phiflow"] = row[k]["step_s"] / row["phiflow"]["step_s"]
                row[k]["grad_ratio_vs_phiflow"] = row[k]["grad10_s"] / row["phiflow"]["grad10_s"]
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    import phi

    meta = {"machine": machine(), "jax": jax.__version__, "phiflow": phi.__version__, "date": now(),
            "dt": DT, "buoyancy": BUOY, "pressure_rel_tol": TOL, "grad_steps": NGRAD, "warmup_steps": WARMUP}
    out = results_path("flow_plume")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    for r in rows:
        if "step_ratio_vs_phiflow" in r["ours_auto"]:
            for k in ("ours_auto", "ours_cg"):
                o = r[k]
                print(f"{r['grid']} {k} ({o['pressure']}): step {o['step_s'] * 1e3:.2f} ms = "
                      f"{o['step_ratio_vs_phiflow']:.3f}x PhiFlow's {r['phiflow']['step_s'] * 1e3:.2f} ms; gradient "
                      f"through {NGRAD} steps {o['grad10_s'] * 1e3:.1f} ms = {o['grad_ratio_vs_phiflow']:.3f}x "
                      f"PhiFlow's {r['phiflow']['grad10_s'] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
