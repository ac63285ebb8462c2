"""Benchmark: a cold uniform sphere collapsing in 3D with vacuum (open) gravity boundaries, diffphys vs jf1uids.

Run from the repository root with the bench environment (jf1uids installed), pinned to one core:

    PYTHONPATH=src taskset -c 1 <bench-python> benchmarks/hydro_collapse.py [--n 32] [--reps 3]

Writes ``benchmarks/results/hydro_collapse.json`` (or under ``$DIFFPHYS_BENCH_RESULTS``).

Problem (``diffphys.hydro.collapse_problem``): the box [-1/2, 1/2]^3 with n^3 cells and outflow boundaries, a sphere
of density 1 and radius 1/4 in gas of density 1e-3 at the same pressure 1e-3 (thermal energy 1% of the binding
energy), gamma 5/3, G = 1, float64, run to 0.7 t_ff (t_ff = sqrt(3 pi / 32) = 0.543). The truth: every shell of a
pressureless uniform sphere falls as ``r = r0 cos^2(xi)``; the uniform core's density is ``rho0 / (r/r0)^3``
(:func:`diffphys.hydro.free_fall_radius`). Accuracy: the mean density of the cells within 0.4 R(t) of the centre
against it.

Schemes: both unsplit MUSCL with HLL and minmod (jf1uids switches to minmod whenever self-gravity is on); ours
MUSCL-Hancock (one Riemann solve per face and step), jf1uids SSP-RK2 (two). Ours also with its defaults (HLLC + MC)
beside it. Gravity: ours the integrated Green's function of a cell (exact for cell-uniform densities) on a
``2n + 2`` zero-padded box, ``rho g`` and ``rho v . g`` at the half step; jf1uids 0.4.0 the point-mass ``-G / r``
kernel (``r = 0`` replaced by one cell width) on a ``2n`` box (its ``_compute_gravitational_potential``) with its
``SIMPLE_SOURCE_TERM`` coupling (its default, ``DONOR_ACCOUNTING``, leaves a negative pressure at the sphere's
edge within its first steps here: measured and reported, ``jf1uids_default_coupling_after_t_0.005``). CFL 0.4
both; time steps: ours ``cfl / max sum_k (|v_k| + c) / dx`` (and the free-fall limit), jf1uids its unsplit
``C_cfl / sum_k max (|v_k| + c) / dx`` (``dt_max`` set to t_end).

Also the field of the initial sphere from each code's potential (the same centred difference for both) against
Newton: ``(4/3) pi G rho r`` inside, ``G M / r^2`` outside.

Gradients: ``jax.grad`` of the core density at t_end with respect to a factor on the initial density, step sizes
held fixed (ours ``dt_gradient=False``, ``gradient="checkpoint"``; jf1uids ``BACKWARDS``, which stops the gradient of
its step sizes). Times: median of ``--reps`` calls after a warm-up call (compilation excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _timing import machine, now, results_path, warm_times  # noqa: E402

from diffphys.hydro import CartesianEulerSolver, free_fall_radius, free_fall_time, solve  # noqa: E402

CFL, FRACTION, R, AMBIENT, P0 = 0.4, 0.7, 0.25, 1e-3, 1e-3


def sphere(n):
    """Cell-centre radii on [-1/2, 1/2]^3 and the initial density."""
    c = (np.arange(n) + 0.5) / n - 0.5
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    r = np.sqrt(x * x + y * y + z * z)
    return r, np.where(r < R, 1.0, AMBIENT)


def core_error(rho, r, n):
    a = free_fall_radius(FRACTION)
    core = r < max(0.4 * R * a, 0.9 / n)
    return float(np.asarray(rho)[core].mean() * a ** 3 - 1.0)


def ours_case(n, riemann, limiter):
    s = CartesianEulerSolver((n,) * 3, 1.0, 5 / 3, riemann=riemann, limiter=limiter, cfl=CFL, origin=-0.5,
                             boundary="outflow", self_gravity=1.0, self_gravity_boundary="isolated")
    r, rho = sphere(n)
    t_end = FRACTION * free_fall_time(1.0)
    core = jnp.asarray(r < max(0.4 * R * free_fall_radius(FRACTION), 0.9 / n))

    def run(a):
        st = s.initial_state(jnp.asarray(rho) * a, (0.0, 0.0, 0.0), P0)
        return solve(s, st, t_end=t_end, max_steps=2000, dt_gradient=False, gradient="checkpoint")

    def loss(a):
        u = run(a).state.u[0]
        return jnp.sum(jnp.where(core, u, 0.0)) / jnp.sum(core)

    return s, run, loss


def jf1uids_case(n, version_name="SIMPLE_SOURCE_TERM", t_end=None):
    from jf1uids import (SimulationConfig, SimulationParams, construct_primitive_state, finalize_config,
                         get_registered_variables, time_integration)
    from jf1uids.option_classes import simulation_config as sc

    open_ = sc.BoundarySettings1D(left_boundary=sc.OPEN_BOUNDARY, right_boundary=sc.OPEN_BOUNDARY)
    options = dict(dimensionality=3, geometry=sc.CARTESIAN, box_size=1.0, num_cells=n,
                   numerical_precision=sc.DOUBLE_PRECISION, riemann_solver=sc.HLL, limiter=sc.MINMOD,
                   split=sc.UNSPLIT, time_integrator=sc.RK2_SSP, self_gravity=True,
                   self_gravity_version=getattr(sc, version_name),
                   boundary_settings=sc.BoundarySettings(x=open_, y=open_, z=open_), num_checkpoints=100)
    t_end = FRACTION * free_fall_time(1.0) if t_end is None else t_end
    params = SimulationParams(C_cfl=CFL, gamma=5 / 3, t_end=t_end, dt_max=t_end, gravitational_constant=1.0)
    r, rho = sphere(n)
    core = jnp.asarray(r < max(0.4 * R * free_fall_radius(FRACTION), 0.9 / n))

    def make(**extra):
        config = finalize_config(SimulationConfig(**options, **extra), (5, n, n, n))
        registered = get_registered_variables(config)

        def state0(a):
            z = jnp.zeros((n, n, n))
            return construct_primitive_state(config=config, registered_variables=registered,
                                             density=jnp.asarray(rho) * a, velocity_x=z, velocity_y=z, velocity_z=z,
                                             gas_pressure=jnp.full((n, n, n), P0))

        return config, (lambda a: time_integration(state0(a), config, params, registered))

    config, forward = make(differentiation_mode=sc.FORWARDS)
    _, counted = make(differentiation_mode=sc.FORWARDS, return_snapshots=True, num_snapshots=2,
                      snapshot_settings=sc.SnapshotSettings(return_states=False, return_final_state=True))
    _, backward = make(differentiation_mode=sc.BACKWARDS)

    def loss(a):
        u = backward(a)[0]
        return jnp.sum(jnp.where(core, u, 0.0)) / jnp.sum(core)

    return config, forward, counted, loss


def field_errors(g_r, r, mass):
    inner = (r > 0.02) & (r < 0.15)
    far = (r > 0.32) & (r < 0.42)  # outside the sphere, two cells or more from the box's faces at n >= 24
    return {"inside_max_rel_err": float(np.max(np.abs(g_r[inner] / (-(4 * np.pi / 3) * r[inner]) - 1))),
            "outside_max_rel_err": float(np.max(np.abs(-g_r[far] * r[far] ** 2 / mass - 1)))}


def radial(gs, n):
    c = (np.arange(n) + 0.5) / n - 0.5
    xs = np.meshgrid(c, c, c, indexing="ij")
    r = np.sqrt(sum(x * x for x in xs))
    return sum(np.asarray(g) * x for g, x in zip(gs, xs)) / np.maximum(r, 1e-300)


def centred(phi, h):
    """-grad(phi) by centred differences in the interior (edges: one-sided), for either code's potential."""
    return [-np.gradient(np.asarray(phi), h, axis=a) for a in range(3)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    n, reps = args.n, args.reps
    res = {"date_utc": now(), "machine": machine(), "jax": jax.__version__, "jf1uids": version("jf1uids"), "n": n,
           "t_end_over_tff": FRACTION}
    r, rho = sphere(n)
    h = 1.0 / n
    sphere_rho = np.where(r < R, 1.0, 0.0)
    mass = sphere_rho.sum() * h ** 3

    # the field of the sphere (no ambient gas), from each code's potential, the same centred difference
    s, _, _ = ours_case(n, "hll", "minmod")
    phi_ours = np.asarray(s.gravity_potential(jnp.asarray(sphere_rho)))
    config, forward, counted, jf_loss = jf1uids_case(n)
    from jf1uids._physics_modules._self_gravity._poisson_solver import _compute_gravitational_potential

    phi_jf = np.asarray(_compute_gravitational_potential(jnp.asarray(sphere_rho), config.grid_spacing, config, 1.0))
    # jf1uids' default gravity-energy coupling (DONOR_ACCOUNTING) on this sphere: its first steps (to t = 0.005)
    # already leave a negative pressure or NaN; the runs below use its SIMPLE_SOURCE_TERM
    _, _, first, _ = jf1uids_case(n, "DONOR_ACCOUNTING", t_end=0.005)
    fs = jax.jit(first)(1.0)
    res["jf1uids_default_coupling_after_t_0.005"] = {"steps": int(fs.num_iterations),
                                                     "p_min": float(jnp.min(fs.final_state[4])),
                                                     "finite": bool(jnp.all(jnp.isfinite(fs.final_state)))}
    print("jf1uids default coupling", res["jf1uids_default_coupling_after_t_0.005"], flush=True)
    res["field_ours"] = field_errors(radial(centred(phi_ours, h), n), r, mass)
    res["field_jf1uids"] = field_errors(radial(centred(phi_jf, h), n), r, mass)
    res["centre_potential_ours_jf1uids_exact"] = [float(phi_ours[n // 2, n // 2, n // 2]),
                                                  float(phi_jf[n // 2, n // 2, n // 2]),
                                                  float(-mass * 1.5 / R)]
    print("field", res["field_ours"], res["field_jf1uids"], flush=True)

    # the collapse: accuracy, steps, forward and gradient times
    rows = {}
    for name, (riemann, limiter) in {"ours_hll_minmod": ("hll", "minmod"), "ours_hllc_mc": ("hllc", "mc")}.items():
        s, run, loss = ours_case(n, riemann, limiter)
        sol = jax.jit(run)(1.0)
        assert bool(sol.reached)
        row = {"steps": int(sol.num_steps), "core_density_rel_err": core_error(sol.state.u[0], r, n)}
        row["forward_s"] = float(np.median(warm_times(jax.jit(lambda a, run=run: run(a).state.u), 1.0, reps=reps)))
        g = jax.jit(jax.value_and_grad(loss))
        row["grad_s"] = float(np.median(warm_times(g, 1.0, reps=reps)))
        row["loss"], row["dloss_da"] = (float(x) for x in g(1.0))
        row["grad_over_forward"] = row["grad_s"] / row["forward_s"]
        rows[name] = row
        print(name, row, flush=True)
    snap = jax.jit(counted)(1.0)
    row = {"steps": int(snap.num_iterations), "core_density_rel_err": core_error(snap.final_state[0], r, n)}
    row["forward_s"] = float(np.median(warm_times(jax.jit(forward), 1.0, reps=reps)))
    g = jax.jit(jax.value_and_grad(jf_loss))
    row["grad_s"] = float(np.median(warm_times(g, 1.0, reps=reps)))
    row["loss"], row["dloss_da"] = (float(x) for x in g(1.0))
    row["grad_over_forward"] = row["grad_s"] / row["forward_s"]
    rows["jf1uids_hll_minmod"] = row
    print("jf1uids", row, flush=True)
    res["rows"] = rows
    res["forward_ratio_ours_over_jf1uids"] = rows["ours_hll_minmod"]["forward_s"] / row["forward_s"]
    res["grad_ratio_ours_over_jf1uids"] = rows["ours_hll_minmod"]["grad_s"] / row["grad_s"]
    out = results_path("hydro_collapse")
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
