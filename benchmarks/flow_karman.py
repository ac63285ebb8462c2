"""Karman scene (the book's solver-in-the-loop geometry): diffphys.flow vs PhiFlow, one process, same machine.

Both codes run the same scheme: explicit diffusion, semi-Lagrangian advection (Euler trace) of the velocity
and a marker, pressure projection by conjugate gradients to ||r|| <= 1e-5 ||b|| (PhiFlow's
Solve('CG', rel_tol=1e-5, abs_tol=0) has exactly this criterion), float32, dt = 1, inflow speed 1,
viscosity 0.02 (Re = 1000 on D = 20; explicit diffusion is stable on both grids), cylinder r = 10 at (50, 50)
in a 200 x 100 domain, walls on the sides. We time (a) one jitted step per call (after warm-up) and (b) the
gradient of sum(v^2) after 10 steps with respect to the initial velocity, jitted.
Ours with pressure='cg' (Jacobi-preconditioned CG) and pressure='mg' (multigrid-preconditioned CG); the row's
"auto_choice" names the one the default pressure="auto" takes on that grid. `--warm` adds warm-started rows
(PhiFlow's warm-started solve diverges to NaN on this scene, so those rows have no PhiFlow comparison).

Run: PYTHONPATH=src <bench-venv>/bin/python benchmarks/flow_karman.py [--quick]
"""

from __future__ import annotations

import json
import sys

import jax
from _timing import machine, now, results_path, timeit
import jax.numpy as jnp
import numpy as np

NU, TOL, NGRAD = 0.02, 1e-5, 10


def ours(res, pressure, reps, warm, grad_reps):
    from diffphys.core import simulate
    from diffphys.flow import Boundaries, Circle, FlowParams, FlowSolver, Grid, inflow, outflow, wall

    grid = Grid(res, size=(200.0, 100.0))
    bcs = Boundaries(inflow(1.0, marker=lambda s: (np.floor(s / 12.5) % 2).astype(float)), outflow(), wall(), wall())
    solver = FlowSolver(grid, bcs, 1.0, obstacles=[Circle((50.0, 50.0), 10.0)], advection="semi-lagrangian",
                        backtrace="euler", diffusion="explicit", pressure=pressure, tol=TOL,
                        warm_start=warm)
    params = FlowParams(NU)
    state = solver.initial_state(lambda x, y: np.ones_like(x), dtype=jnp.float32)
    step = jax.jit(lambda s: solver.step(s, params))
    for _ in range(30):  # develop a wake so the solves are not trivial
        state = step(state)
    sync = lambda s: jax.block_until_ready(s.u)
    sync(step(state))
    t_step = timeit(lambda: step(state), reps, sync)
    iters = int(step(state).info.iterations)

    def loss(uv):
        s0 = state.__class__(uv[0], uv[1], state.marker, state.p, state.t, state.info)
        s = simulate(solver, s0, params, num_steps=NGRAD).state
        return jnp.sum(s.u**2) + jnp.sum(s.v**2)

    grad = jax.jit(jax.grad(loss))
    uv = (state.u, state.v)
    g = grad(uv)
    jax.block_until_ready(g)
    t_grad = timeit(lambda: grad(uv), grad_reps, jax.block_until_ready)
    scan = jax.jit(lambda s: simulate(solver, s, params, num_steps=reps).state)
    sync(scan(state))
    t_scan = timeit(lambda: scan(state), 1, sync) / reps
    finite = bool(np.all(np.isfinite(np.asarray(state.u))))
    return dict(step_s=t_step, grad10_s=t_grad, step_in_scan_s=t_scan, cg_iterations=iters,
                state_finite_after_warmup=finite,
                grad_finite=bool(np.all(np.isfinite(np.asarray(g[0])))))


def auto_choice(res):
    """What the default pressure="auto" picks on this scene (the figure a user gets without choosing)."""
    from diffphys.flow import Boundaries, Circle, FlowSolver, Grid, inflow, outflow, wall

    solver = FlowSolver(Grid(res, size=(200.0, 100.0)), Boundaries(inflow(1.0), outflow(), wall(), wall()), 1.0,
                        obstacles=[Circle((50.0, 50.0), 10.0)], diffusion="explicit")
    return solver.pressure


def phiflow(res, reps, warm, grad_reps):
    from phi import math
    from phi.jax.flow import (
        ZERO_GRADIENT,
        Box,
        CenteredGrid,
        Obstacle,
        Solve,
        Sphere,
        StaggeredGrid,
        advect,
        diffuse,
        field,
        fluid,
        jit_compile,
        vec,
    )

    domain = dict(x=res[0], y=res[1], bounds=Box(x=200, y=100))
    bc = {"x-": vec(x=1.0, y=0.0), "x+": ZERO_GRADIENT, "y": 0}
    v0 = StaggeredGrid(vec(x=1.0, y=0.0), bc, **domain)
    m0 = CenteredGrid(0.0, ZERO_GRADIENT, **domain)
    p0 = CenteredGrid(0.0, ZERO_GRADIENT, **domain)
    _ = (v0.points, m0.points, v0.geometry.center, m0.geometry.center)  # avoid a tracer leak in PhiFlow's caches
    cyl = Obstacle(Sphere(x=50.0, y=50.0, radius=10.0))

    def body(v, m, p):
        v = diffuse.explicit(v, NU, 1.0)
        m = advect.semi_lagrangian(m, v, 1.0)
        v = advect.semi_lagrangian(v, v, 1.0)
        v, p = fluid.make_incompressible(v, [cyl], Solve("CG", TOL, 0.0, x0=p if warm else None))
        return v, m, p

    step = jit_compile(body)
    v, m, p = v0, m0, p0
    for _ in range(30):
        v, m, p = step(v, m, p)
    sync = lambda out: float(math.sum(out[2].values))
    sync(step(v, m, p))
    t_step = timeit(lambda: step(v, m, p), reps, sync)

    def loss(vv):
        vs, ms, ps = vv, m, p
        for _ in range(NGRAD):
            vs, ms, ps = body(vs, ms, ps)
        return field.l2_loss(vs)

    vc = v.at_centers().values.numpy("x,y,vector")
    finite = bool(np.isfinite(vc).all() and np.isfinite(p.values.numpy("x,y")).all())
    grad = jit_compile(math.gradient(loss, "vv", get_output=False))
    g = grad(v)
    gsync = lambda g: float(math.sum(field.l2_loss(g)))
    gsync(g)
    t_grad = timeit(lambda: grad(v), grad_reps, gsync)
    # PhiFlow's warm start (x0 = previous pressure) blows up to NaN on this scene within 10 steps; its CG then
    # stops after 0 iterations, so its "warm" times are not those of a solve: recorded, not compared.
    return dict(step_s=t_step, grad10_s=t_grad, state_finite_after_warmup=finite)


def main():
    quick = "--quick" in sys.argv
    sizes = [(64, 32)] if quick else [(64, 32), (256, 128)]
    rows = []
    for res in sizes:
        reps = 50 if res[0] <= 64 else 10
        grad_reps = 20 if res[0] <= 64 else 1   # the small grid's gradient (~15-100 ms) needs many calls to time
        for warm in ((False, True) if "--warm" in sys.argv else (False,)):
            row = {"grid": f"{res[0]}x{res[1]}", "warm_start": warm}
            for pressure in ("mg", "cg"):
                row[f"ours_{pressure}"] = ours(res, pressure, reps, warm, grad_reps)
            try:
                row["phiflow"] = phiflow(res, reps, warm, grad_reps)
            except Exception as err:  # record what failed instead of hiding it
                row["phiflow"] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
            row["auto_choice"] = auto_choice(res)
            if row["phiflow"].get("state_finite_after_warmup"):
                for pressure in ("mg", "cg"):
                    o = row[f"ours_{pressure}"]
                    o["step_ratio_vs_phiflow"] = o["step_s"] / row["phiflow"]["step_s"]
                    o["grad_ratio_vs_phiflow"] = o["grad10_s"] / row["phiflow"]["grad10_s"]
            rows.append(row)
            print(json.dumps(row, indent=1), flush=True)
    import phi

    meta = {"machine": machine(),
            "jax": jax.__version__, "phiflow": phi.__version__, "date": now(),
            "viscosity": NU, "pressure_rel_tol": TOL, "grad_steps": NGRAD}
    out = results_path("flow_karman")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    for r in rows:
        a = r["ours_" + r["auto_choice"]]
        if "step_ratio_vs_phiflow" in a:
            print(f"{r['grid']} default pressure='auto' -> {r['auto_choice']}: step {a['step_ratio_vs_phiflow']:.3f}x, "
                  f"gradient through {NGRAD} steps {a['grad_ratio_vs_phiflow']:.3f}x PhiFlow's")
    print(f"{'grid':<9} {'warm':<5} {'ours mg step':>13} {'ours cg step':>13} {'phi step':>10} {'ratio mg':>9} "
          f"{'ratio cg':>9} {'ours mg grad':>13} {'ours cg grad':>13} {'phi grad':>10} {'ratio mg':>9} {'ratio cg':>9}")
    for r in rows:
        om, oc, ph = r["ours_mg"], r["ours_cg"], r["phiflow"]
        if ph.get("state_finite_after_warmup"):
            print(f"{r['grid']:<9} {r['warm_start']!s:<5} {om['step_s']*1e3:>11.2f}ms {oc['step_s']*1e3:>11.2f}ms "
                  f"{ph['step_s']*1e3:>8.2f}ms {om['step_ratio_vs_phiflow']:>9.3f} {oc['step_ratio_vs_phiflow']:>9.3f} "
                  f"{om['grad10_s']*1e3:>11.1f}ms "
                  f"{oc['grad10_s']*1e3:>11.1f}ms {ph['grad10_s']*1e3:>8.1f}ms {om['grad_ratio_vs_phiflow']:>9.3f} "
                  f"{oc['grad_ratio_vs_phiflow']:>9.3f}")
        else:
            why = ph.get("error", "state NaN after warm-up (diverged)")
            print(f"{r['grid']:<9} {r['warm_start']!s:<5} "
                  f"ours mg {om['step_s']*1e3:.2f}ms / {om['grad10_s']*1e3:.1f}ms, "
                  f"cg {oc['step_s']*1e3:.2f}ms / {oc['grad10_s']*1e3:.1f}ms; PhiFlow not comparable: {why}")


if __name__ == "__main__":
    main()
