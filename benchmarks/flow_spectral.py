"""Benchmark: forced 2D turbulence (Kolmogorov flow, Kochkov et al. 2021's setting), diffphys.flow's
pseudo-spectral solver vs jax-cfd's spectral ``NavierStokes2D`` in one process.

Same grid, initial vorticity, force, viscosity, drag and time step for both. Ours: integrating-factor RK4
(4 evaluations of the nonlinear term, 5 real FFTs each). jax-cfd: Crank-Nicolson / low-storage RK4
(``crank_nicolson_rk4``: 5 stages, 5 FFTs each plus 2 for the force). Reports

* time per step (float32, ``lax.scan`` of the steps) and of a reverse-mode gradient of a loss on the final
  vorticity with respect to the initial vorticity;
* accuracy (float64): each code's vorticity at the benchmark's time step against a run of the same code
  with a 16x smaller step, and the two fine runs against each other (the same solution).

Run:  PYTHONPATH=src <flow-bench python> benchmarks/flow_spectral.py [--n 256] [--steps 100]
Writes benchmarks/results/flow_spectral.json (flow_spectral_n<N>.json for another --n).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import jax

ACCURACY = "--accuracy" in sys.argv  # the float64 part runs in its own process (jax-cfd's float32 run
if ACCURACY:  # would be promoted to complex128 by its float64 wavenumbers under x64)
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine, now, results_path, warm_times  # noqa: E402

from diffphys.core import simulate  # noqa: E402
from diffphys.flow import SpectralParams, SpectralSolver, random_vorticity  # noqa: E402

NU, DRAG, KF = 1e-3, 0.1, 4


def ours(n, dtype):
    dx = 2 * np.pi / n
    # jax-cfd samples its fields at cell centres ((i + 1/2) dx): the same force pattern here
    y = (np.arange(n) + 0.5) * dx
    fx = np.sin(KF * y)[None, :] * np.ones((n, 1))
    solver = SpectralSolver(n, force=(fx, np.zeros((n, n))))
    params = SpectralParams(jnp.asarray(NU, dtype), jnp.asarray(DRAG, dtype), jnp.asarray(1.0, dtype))

    def run(w0, dt, steps, gradient="store"):
        st = solver.initial_state(w0)
        return solver.vorticity(simulate(solver, st, params, num_steps=steps, dt=dt, gradient=gradient).state)

    return run


def jaxcfd(n, dtype):
    import jax_cfd.base as cfd
    import jax_cfd.spectral as spectral

    grid = cfd.grids.Grid((n, n), domain=((0, 2 * np.pi), (0, 2 * np.pi)))
    eq = spectral.equations.NavierStokes2D(NU, grid, drag=DRAG, smooth=True,
                                           forcing_fn=lambda g: cfd.forcings.kolmogorov_forcing(g, k=KF))

    def run(w0, dt, steps):
        step = spectral.time_stepping.crank_nicolson_rk4(eq, dt)
        wh = jnp.fft.rfftn(w0)
        wh, _ = jax.lax.scan(lambda w, _: (step(w), None), wh, None, length=steps)
        return jnp.fft.irfftn(wh, s=(n, n))

    return run


def timing(n=256, steps=100, reps=5):
    res = {"machine": machine(), "date": now(), "jax": jax.__version__, "n": n, "steps": steps,
           "viscosity": NU, "drag": DRAG, "forcing_wavenumber": KF, "load_average_at_start": list(os.getloadavg())}
    dt = 0.5 * (2 * np.pi / n) / 7.0  # jax-cfd's stable_time_step(max_velocity=7, max_courant_number=0.5)
    res["dt"] = dt
    # random vorticity peaked at k_f with RMS velocity 1 (the same array for both codes)
    w32 = random_vorticity(jax.random.PRNGKey(0), n, float(KF), 1.0, dtype=jnp.float32)
    weights = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), jnp.float32)
    codes = {"ours": ours(n, jnp.float32), "jax_cfd": jaxcfd(n, jnp.float32)}
    for name, run in codes.items():
        fwd = jax.jit(lambda w, run=run: run(w, dt, steps))
        assert fwd(w32).dtype == jnp.float32
        ts = warm_times(fwd, w32, reps=reps)
        res[f"{name}_step_ms"] = 1e3 * float(np.median(ts)) / steps
        res[f"{name}_step_ms_min"] = 1e3 * min(ts) / steps
        grad = jax.jit(jax.grad(lambda w, run=run: jnp.mean(weights * run(w, dt, steps)) ** 2))
        ts = warm_times(grad, w32, reps=max(2, reps // 2))
        res[f"{name}_grad_step_ms"] = 1e3 * float(np.median(ts)) / steps
        res[f"{name}_grad_over_forward"] = res[f"{name}_grad_step_ms"] / res[f"{name}_step_ms"]
        print(name, {k: v for k, v in res.items() if k.startswith(name)}, flush=True)
    res["step_ratio_ours_over_jax_cfd"] = res["ours_step_ms"] / res["jax_cfd_step_ms"]
    res["grad_ratio_ours_over_jax_cfd"] = res["ours_grad_step_ms"] / res["jax_cfd_grad_step_ms"]
    return res


def accuracy(n=256, steps=100):
    """Float64: each code at the benchmark's dt and at dt / 16 over the same time."""
    dt = 0.5 * (2 * np.pi / n) / 7.0
    w64 = random_vorticity(jax.random.PRNGKey(0), n, float(KF), 1.0, dtype=jnp.float64)
    acc_steps = max(8, steps // 4)
    res, fine = {"accuracy_time": acc_steps * dt}, {}
    for name, run in {"ours": ours(n, jnp.float64), "jax_cfd": jaxcfd(n, jnp.float64)}.items():
        coarse = np.asarray(jax.jit(lambda w, run=run: run(w, dt, acc_steps))(w64))
        fine[name] = np.asarray(jax.jit(lambda w, run=run: run(w, dt / 16, 16 * acc_steps))(w64))
        res[f"{name}_time_error_at_dt"] = float(np.max(np.abs(coarse - fine[name])) / np.max(np.abs(fine[name])))
        if name == "ours":  # at half the step: about jax-cfd's cost per unit time (our step costs ~0.5x)
            half = np.asarray(jax.jit(lambda w, run=run: run(w, dt / 2, 2 * acc_steps))(w64))
            res["ours_time_error_at_half_dt"] = float(np.max(np.abs(half - fine[name])) / np.max(np.abs(fine[name])))
    res["fine_runs_difference"] = float(np.max(np.abs(fine["ours"] - fine["jax_cfd"])) / np.max(np.abs(fine["ours"])))
    # the difference is jax-cfd's 2/3 filter, which keeps k_x = -(n - 1) // 3 but not +(n - 1) // 3: with that
    # filter in our solver the two nonlinear terms (force included) agree to round-off
    import equinox as eqx
    import jax_cfd.spectral as spectral
    from jax_cfd.base import forcings, grids

    grid = grids.Grid((n, n), domain=((0, 2 * np.pi), (0, 2 * np.pi)))
    eq = spectral.equations.NavierStokes2D(NU, grid, drag=DRAG, smooth=True,
                                           forcing_fn=lambda g: forcings.kolmogorov_forcing(g, k=KF))
    y = (np.arange(n) + 0.5) * 2 * np.pi / n
    solver = SpectralSolver(n, force=(np.sin(KF * y)[None, :] * np.ones((n, 1)), np.zeros((n, n))))
    wh = jnp.fft.rfft2(w64)
    theirs = eq.explicit_terms(wh)
    for name, keep in (("our_filter", solver.keep), ("jax_cfd_filter", spectral.utils.brick_wall_filter_2d(grid))):
        mine = eqx.tree_at(lambda m: m.keep, solver, np.asarray(keep)).nonlinear(wh, SpectralParams(NU, DRAG, 1.0))
        res[f"nonlinear_term_difference_{name}"] = float(jnp.max(jnp.abs(mine - theirs)) / jnp.max(jnp.abs(mine)))
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--accuracy", action="store_true", help="internal: the float64 part, printed as JSON")
    a = ap.parse_args()
    if a.accuracy:
        print("ACCURACY " + json.dumps(accuracy(a.n, a.steps)))
    else:
        res = timing(a.n, a.steps, a.reps)
        out = subprocess.run([sys.executable, __file__, "--accuracy", "--n", str(a.n), "--steps", str(a.steps)],
                             capture_output=True, text=True, check=True).stdout
        res.update(json.loads(out.split("ACCURACY ", 1)[1]))
        res["load_average_at_end"] = list(os.getloadavg())
        print(json.dumps(res, indent=1))
        name = "flow_spectral" if a.n == 256 else f"flow_spectral_n{a.n}"
        results_path(name).write_text(json.dumps(res, indent=1) + "\n")
