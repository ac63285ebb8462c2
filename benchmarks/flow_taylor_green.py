"""Taylor-Green vortex, 256^2 periodic: diffphys.flow step time vs jax-cfd, one process, same machine.

jax-cfd: ``semi_implicit_navier_stokes`` (its default: van Leer finite-volume convection, explicit
diffusion, FFT pressure solve). Ours with the FFT pressure solve and (a) semi-Lagrangian advection (Euler
trace) + explicit diffusion (the closest amount of work) and (b) our default MacCormack (RK2 trace) +
implicit diffusion; no marker (jax-cfd has none). float32, nu = 0.005 (explicit diffusion, as jax-cfd uses,
must be stable), dt = 0.5 dx. Both are checked against the analytic decay.

Run: PYTHONPATH=src <bench-venv>/bin/python benchmarks/flow_taylor_green.py [--n 256]
"""

from __future__ import annotations

import json
import sys

import jax
from _timing import machine, now, results_path, timeit
import jax.numpy as jnp
import numpy as np
from jax import lax

NU, STEPS = 0.005, 20  # explicit diffusion (both codes) is stable at 256^2 with dt = 0.5 dx


def rms_err(u, v, xu, yu, xv, yv, t):
    d = np.exp(-2 * NU * t)
    eu = np.asarray(u) - np.sin(xu) * np.cos(yu) * d
    ev = np.asarray(v) + np.cos(xv) * np.sin(yv) * d
    return float(np.sqrt(np.mean(eu**2) + np.mean(ev**2)))


def ours(n, advection, backtrace, diffusion):
    from diffphys.core import simulate
    from diffphys.flow import taylor_green

    solver, state, params = taylor_green(n, nu=NU, cfl=0.5, dtype=jnp.float32, advection=advection,
                                         backtrace=backtrace, diffusion=diffusion, markers=False)
    step = jax.jit(lambda s: solver.step(s, params))
    sync = lambda s: jax.block_until_ready(s.u)
    sync(step(state))
    t_step = timeit(lambda: step(state), 20, sync)
    many = jax.jit(lambda s: simulate(solver, s, params, num_steps=STEPS).state)
    out = many(state)
    sync(out)
    t_scan = timeit(lambda: many(state), 1, sync) / STEPS
    xu, yu, xv, yv, _, _ = (np.asarray(c) for c in solver.coords)
    return dict(step_s=t_step, step_in_scan_s=t_scan, dt=solver.dt,
                rms_err_after=rms_err(out.u, out.v, xu, yu, xv, yv, float(out.t)))


def jaxcfd(n):
    import jax_cfd.base as cfd

    grid = cfd.grids.Grid((n, n), domain=((0, 2 * np.pi), (0, 2 * np.pi)))
    bc = cfd.boundaries.periodic_boundary_conditions(2)
    vx = grid.eval_on_mesh(lambda x, y: jnp.sin(x) * jnp.cos(y), grid.cell_faces[0])
    vy = grid.eval_on_mesh(lambda x, y: -jnp.cos(x) * jnp.sin(y), grid.cell_faces[1])
    v0 = (cfd.grids.GridVariable(vx, bc), cfd.grids.GridVariable(vy, bc))
    dt = 0.5 * 2 * np.pi / n
    step_fn = cfd.equations.semi_implicit_navier_stokes(density=1.0, viscosity=NU, dt=dt, grid=grid)
    step = jax.jit(step_fn)
    sync = lambda v: jax.block_until_ready(v[0].data)
    sync(step(v0))
    t_step = timeit(lambda: step(v0), 20, sync)
    many = jax.jit(lambda v: lax.fori_loop(0, STEPS, lambda i, c: step_fn(c), v))
    out = many(v0)
    sync(out)
    t_scan = timeit(lambda: many(v0), 1, sync) / STEPS
    (xu, yu), (xv, yv) = grid.mesh(grid.cell_faces[0]), grid.mesh(grid.cell_faces[1])
    return dict(step_s=t_step, step_in_scan_s=t_scan, dt=dt,
                rms_err_after=rms_err(out[0].data, out[1].data, np.asarray(xu), np.asarray(yu), np.asarray(xv),
                                      np.asarray(yv), STEPS * dt))


def main():
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 256
    res = {"ours_sl_explicit": ours(n, "semi-lagrangian", "euler", "explicit"),
           "ours_default_maccormack_implicit": ours(n, "maccormack", "rk2", "implicit")}
    try:
        res["jax_cfd"] = jaxcfd(n)
    except Exception as err:
        res["jax_cfd"] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
    if "step_s" in res["jax_cfd"]:
        for k in ("ours_sl_explicit", "ours_default_maccormack_implicit"):
            res[k]["step_ratio_vs_jax_cfd"] = res[k]["step_s"] / res["jax_cfd"]["step_s"]
            res[k]["scan_ratio_vs_jax_cfd"] = res[k]["step_in_scan_s"] / res["jax_cfd"]["step_in_scan_s"]
    import jax_cfd

    meta = {"machine": machine(),
            "jax": jax.__version__, "jax_cfd": getattr(jax_cfd, "__version__", "?"), "date": now(),
            "n": n, "viscosity": NU, "steps_in_scan": STEPS}
    out = results_path("flow_taylor_green")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": res}, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    print(f"{'code':<34} {'step (jit call)':>16} {'step (in scan)':>15} {'ratio':>7} {'RMS err':>9}")
    for k, r in res.items():
        if "step_s" in r:
            print(f"{k:<34} {r['step_s']*1e3:>14.2f}ms {r['step_in_scan_s']*1e3:>13.2f}ms "
                  f"{r.get('step_ratio_vs_jax_cfd', 1.0):>7.3f} {r['rms_err_after']:>9.2e}")


if __name__ == "__main__":
    main()
