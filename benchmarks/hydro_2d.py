"""Benchmark: 2D Kelvin-Helmholtz, diffphys.hydro.CartesianEulerSolver vs jf1uids in one process.

Run from the repository root with the bench environment (jf1uids installed), pinned to one core:

    PYTHONPATH=src taskset -c 1 <bench-python> benchmarks/hydro_2d.py [--n 64] [--reps 5] [--rows hll hllc]

Writes ``benchmarks/results/hydro_2d.json`` (or under ``$DIFFPHYS_BENCH_RESULTS``), one entry per ``n``.

Problem: the smooth-interface Kelvin-Helmholtz test of McNally, Lyra & Passy (2012, ApJS 201, 18) on the
periodic box [0, 1]^2 with n x n cells, float64: density 1 (outer layers) / 2 (middle layer), shear
velocity +-0.5, interfaces at y = 1/4, 3/4 smoothed exponentially over L = 0.025, uniform pressure 2.5,
gamma = 5/3, perturbation v_y = A sin(4 pi x) with A = 0.01, run to t_end = 1.

Schemes (both codes: MUSCL reconstruction of the primitive variables, unsplit, periodic):

* ours: ``CartesianEulerSolver`` (unsplit MUSCL-Hancock: one half-step predictor, one Riemann solve per face
  and step);
* jf1uids 0.4.0: ``SimulationConfig(dimensionality=2, geometry=CARTESIAN, split=UNSPLIT,
  time_integrator=RK2_SSP, boundary_settings=BoundarySettings(periodic, periodic), riemann_solver,
  limiter, numerical_precision=DOUBLE_PRECISION)`` (its unsplit scheme: SSP-RK2 (Heun), two Riemann
  solves per face and step; its MUSCL-Hancock predictor exists only in the dimensionally split scheme).

Rows, the same Riemann solver and limiter in both codes:
``hll``: HLL (Davis wave speeds in both) + minmod, jf1uids' default; ``hllc``: HLLC + MC (jf1uids'
``DOUBLE_MINMOD`` is the monotonized-central limiter), our default (jf1uids' HLLC takes Einfeldt/Roe wave
speeds, ours Davis').

Time step: ours ``dt = cfl / max_cells sum_d (|v_d| + c) / dx_d``; jf1uids (unsplit)
``dt = C_cfl / sum_d (max_cells (|v_d| + c) / dx_d)`` (per-axis maxima summed; no ``dt_max`` cap in the
unsplit branch). Both use 0.4; the definitions agree when the largest |v_x| + c and |v_y| + c occur in the
same cell (here: the fast, light layer, where c is largest), otherwise jf1uids' step is smaller. Both land
exactly on t_end. The step counts are reported.

Gradients: ``jax.grad`` of mean(rho_final^2) with respect to A, step sizes held fixed (jf1uids wraps them
in ``stop_gradient``; ours ``dt_gradient=False``). Ours: ``solve(..., gradient="checkpoint")`` (about
2 sqrt(steps) stored states, one extra forward run), and ``gradient="store"`` beside it; jf1uids:
``differentiation_mode=BACKWARDS`` (equinox ``checkpointed_while_loop``) with ``num_checkpoints=100`` (its
default). Forward: ours ``solve`` with its default layout, jf1uids ``differentiation_mode=FORWARDS``
(``lax.while_loop``). Times: median of ``--reps`` calls after one warm-up call (compilation excluded).

Sanity: the relative L1 difference of the two codes' final density fields (also relative to the L1 norm of
jf1uids' density change over the run), each code's relative change of the total mass, and the loss and its
gradient from both codes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from importlib.metadata import version
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _timing import machine, now, results_path, warm_times  # noqa: E402

from diffphys.hydro import CartesianEulerSolver, kelvin_helmholtz_profile, solve  # noqa: E402

GAMMA, CFL, T_END, AMP = 5 / 3, 0.4, 1.0, 0.01
ROWS = {"hll": ("hll", "minmod", "HLL", "MINMOD"), "hllc": ("hllc", "mc", "HLLC", "DOUBLE_MINMOD")}


def kelvin_helmholtz(x, y, amp):
    """McNally et al. (2012) primitives ``rho, v_x, v_y, p`` at cell centres ``x, y`` (axis 0 = x): the library's
    shear-layer profile and the seed ``v_y = amp sin(4 pi x)``."""
    rho, vx = (jnp.asarray(a) for a in kelvin_helmholtz_profile(np.asarray(y)))
    return rho, vx, amp * jnp.sin(4 * jnp.pi * x), jnp.full_like(rho, 2.5)


def centers(n):
    """Cell-centre coordinates ``x, y`` of the n x n grid on [0, 1]^2, each (n, n), axis 0 = x."""
    c = (jnp.arange(n) + 0.5) / n
    return jnp.meshgrid(c, c, indexing="ij")


def median_time(f, *args, reps, record):
    """Median of ``reps`` warm calls; all times go to ``record``."""
    ts = warm_times(f, *args, reps=reps)
    record["times_s"] = ts
    return float(np.median(ts))


def ours_case(n, riemann, limiter):
    """Our run (a ``Solution``, for A and a gradient layout), the loss of A, and the configuration."""
    s = CartesianEulerSolver(shape=(n, n), lengths=(1.0, 1.0), gamma=GAMMA, riemann=riemann, limiter=limiter,
                             cfl=CFL, boundary="periodic")
    x, y = centers(n)

    def state0(amp):
        rho, vx, vy, p = kelvin_helmholtz(x, y, amp)
        return s.initial_state(rho, (vx, vy), p)

    # a bound on the steps: twice those at the initial CFL step (the slots past t_end are skipped)
    max_steps = 2 * math.ceil(T_END / float(s.max_dt(state0(AMP))))

    def run(amp, gradient="store"):
        return solve(s, state0(amp), None, t_end=T_END, max_steps=max_steps, gradient=gradient, dt_gradient=False)

    def loss(amp, gradient):
        return jnp.mean(run(amp, gradient).state.u[0] ** 2)

    return run, loss, dict(riemann=riemann, limiter=limiter, cfl=CFL, scheme="unsplit MUSCL-Hancock",
                           max_steps=max_steps)


def jf1uids_case(n, riemann, limiter):
    """jf1uids' forward (FORWARDS), its step count (a run with snapshots), its reverse-mode loss (BACKWARDS)."""
    from jf1uids import (SimulationConfig, SimulationParams, construct_primitive_state, finalize_config,
                         get_registered_variables, time_integration)
    from jf1uids.option_classes import simulation_config as sc

    periodic = sc.BoundarySettings1D(left_boundary=sc.PERIODIC_BOUNDARY, right_boundary=sc.PERIODIC_BOUNDARY)
    options = dict(dimensionality=2, geometry=sc.CARTESIAN, box_size=1.0, num_cells=n,
                   numerical_precision=sc.DOUBLE_PRECISION, riemann_solver=getattr(sc, riemann),
                   limiter=getattr(sc, limiter), split=sc.UNSPLIT, time_integrator=sc.RK2_SSP,
                   boundary_settings=sc.BoundarySettings(x=periodic, y=periodic), num_checkpoints=100)
    x, y = centers(n)
    params = SimulationParams(C_cfl=CFL, gamma=GAMMA, t_end=T_END, dt_max=T_END)

    def make(**extra):
        config = finalize_config(SimulationConfig(**options, **extra), (4, n, n))
        registered = get_registered_variables(config)

        def state0(amp):
            rho, vx, vy, p = kelvin_helmholtz(x, y, amp)
            return construct_primitive_state(config=config, registered_variables=registered, density=rho,
                                             velocity_x=vx, velocity_y=vy, gas_pressure=p)

        return lambda amp: time_integration(state0(amp), config, params, registered)

    forward = make(differentiation_mode=sc.FORWARDS)
    counted = make(differentiation_mode=sc.FORWARDS, return_snapshots=True, num_snapshots=2,
                   snapshot_settings=sc.SnapshotSettings(return_states=False, return_final_state=True))
    backward = make(differentiation_mode=sc.BACKWARDS)

    def loss(amp):
        return jnp.mean(backward(amp)[0] ** 2)

    config = {k: v for k, v in options.items() if k != "boundary_settings"}
    config.update(riemann_solver=riemann, limiter=limiter, geometry="CARTESIAN", split="UNSPLIT",
                  time_integrator="RK2_SSP", numerical_precision="DOUBLE_PRECISION",
                  boundary_settings="PERIODIC_BOUNDARY on all sides",
                  differentiation_mode="FORWARDS (forward), BACKWARDS (gradient)",
                  params=dict(C_cfl=CFL, gamma=GAMMA, t_end=T_END, dt_max=T_END))
    return forward, counted, loss, config


def row(n, name, reps):
    riemann, limiter, jf_riemann, jf_limiter = ROWS[name]
    res = {"row": name}
    run, loss, res["ours_config"] = ours_case(n, riemann, limiter)
    jf_fwd, jf_counted, jf_loss, res["jf1uids_config"] = jf1uids_case(n, jf_riemann, jf_limiter)

    # physics: final states, steps, mass, agreement
    sol = jax.jit(run)(AMP)
    res["ours_steps"] = int(sol.num_steps)
    assert bool(sol.reached), "our run did not reach t_end within max_steps"
    snap = jax.jit(jf_counted)(AMP)
    res["jf1uids_steps"] = int(snap.num_iterations)
    rho0 = np.asarray(kelvin_helmholtz(*centers(n), AMP)[0])
    rho_ours, rho_jf = np.asarray(sol.state.u[0]), np.asarray(snap.final_state[0])
    res["density_rel_l1_diff"] = float(np.abs(rho_ours - rho_jf).sum() / np.abs(rho_jf).sum())
    # the same for the change of the density over the run (the part the two schemes compute)
    res["density_change_rel_l1_diff"] = float(np.abs(rho_ours - rho_jf).sum() / np.abs(rho_jf - rho0).sum())
    res["ours_mass_rel_err"] = float(abs(rho_ours.sum() / rho0.sum() - 1))
    res["jf1uids_mass_rel_err"] = float(abs(rho_jf.sum() / rho0.sum() - 1))

    res["ours_forward_detail"], res["jf1uids_forward_detail"] = {}, {}
    res["ours_forward_s"] = median_time(jax.jit(lambda a: run(a).state.u), AMP, reps=reps,
                                        record=res["ours_forward_detail"])
    res["jf1uids_forward_s"] = median_time(jax.jit(jf_fwd), AMP, reps=reps, record=res["jf1uids_forward_detail"])
    print(name, "forward", res["ours_forward_s"], res["jf1uids_forward_s"], flush=True)

    grads = {"ours_grad": jax.jit(jax.value_and_grad(lambda a: loss(a, "checkpoint"))),
             "ours_grad_store": jax.jit(jax.value_and_grad(lambda a: loss(a, "store"))),
             "jf1uids_grad": jax.jit(jax.value_and_grad(jf_loss))}
    for key, g in grads.items():
        res[f"{key}_detail"] = {}
        res[f"{key}_s"] = median_time(g, AMP, reps=reps, record=res[f"{key}_detail"])
        value, grad = g(AMP)
        res[f"{key}_loss"], res[f"{key}_dloss_dA"] = float(value), float(grad)
        print(name, key, res[f"{key}_s"], flush=True)

    res["forward_ratio_ours_over_jf1uids"] = res["ours_forward_s"] / res["jf1uids_forward_s"]
    res["grad_ratio_ours_over_jf1uids"] = res["ours_grad_s"] / res["jf1uids_grad_s"]
    res["grad_store_ratio_ours_over_jf1uids"] = res["ours_grad_store_s"] / res["jf1uids_grad_s"]
    res["ours_grad_over_fwd"] = res["ours_grad_s"] / res["ours_forward_s"]
    res["ours_grad_store_over_fwd"] = res["ours_grad_store_s"] / res["ours_forward_s"]
    res["jf1uids_grad_over_fwd"] = res["jf1uids_grad_s"] / res["jf1uids_forward_s"]
    res["dloss_dA_rel_diff"] = abs(res["ours_grad_dloss_dA"] / res["jf1uids_grad_dloss_dA"] - 1)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="cells per axis (default 64)")
    ap.add_argument("--reps", type=int, default=5, help="timed calls per figure after a warm-up (default 5)")
    ap.add_argument("--rows", nargs="+", choices=tuple(ROWS), default=list(ROWS),
                    help="scheme rows: hll (HLL + minmod), hllc (HLLC + MC); default both")
    args = ap.parse_args()
    res = {"machine": machine(), "date": now(), "jax": jax.__version__,
           "jf1uids": version("jf1uids"), "n": args.n, "reps": args.reps,
           "problem": "Kelvin-Helmholtz, McNally et al. 2012: rho 1/2, v_x +-0.5, L=0.025, p=2.5, gamma=5/3, "
                      f"v_y = A sin(4 pi x), A={AMP}, periodic [0,1]^2, t_end={T_END}, float64",
           "loss": "mean(rho_final^2), d/dA with the step sizes held fixed",
           "cfl": {"value_both": CFL, "ours": "dt = cfl / max_cells sum_d (|v_d| + c) / dx_d",
                   "jf1uids": "dt = C_cfl / sum_d max_cells (|v_d| + c) / dx_d (unsplit)"},
           "load_average_at_start": list(os.getloadavg())}
    res["rows"] = [row(args.n, name, args.reps) for name in args.rows]
    res["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps(res, indent=1))
    out = results_path("hydro_2d")
    old = json.loads(out.read_text()) if out.exists() else {}
    old[f"n{args.n}"] = res
    out.write_text(json.dumps(old, indent=1) + "\n")


if __name__ == "__main__":
    main()
