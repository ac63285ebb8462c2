"""Benchmark: the 2D Orszag-Tang vortex (ideal MHD), diffphys.hydro.mhd.MHDGridSolver vs astronomix in one process.

Run from the repository root with an environment that has astronomix (0.6.6) and this package installed (a venv of
its own: ``pip install -e ".[test]" astronomix``), pinned to one core:

    PYTHONPATH=src taskset -c 1 <astro-python> benchmarks/mhd_orszag_tang.py [--n 64 128 256] [--f64-max-n 64]
        [--fv-max-n 128] [--reps 3] [--long-s 60]

Writes ``benchmarks/results/mhd_orszag_tang.json`` (or under ``$DIFFPHYS_BENCH_RESULTS``), rewritten after every
row, one entry per resolution and precision.

Problem (``diffphys.hydro.mhd.orszag_tang_problem``): the periodic unit square with n x n cells, gamma = 5/3,
rho = 25/(36 pi), p = 5/(12 pi), v = (-sin 2 pi y, sin 2 pi x, 0), B = (-sin 2 pi y, sin 4 pi x, 0) / sqrt(4 pi), run
to t_end = 0.5. Both codes take B in units where the magnetic pressure is B^2/2 (astronomix's total energy is
``p/(gamma-1) + rho v^2/2 + B^2/2``), so the same numbers go in. astronomix ships no Orszag-Tang set-up in its
package (its repository's finite-difference test runs the same vortex on the [0, 2 pi]^2 box, which is this one
rescaled); its face-centred field is made here the way its own Alfven-wave set-up does it: the 6th-order discrete
curl (its ``finite_difference_int6``) of the vector potential ``A_z = B0 (cos 4 pi x / 4 pi + cos 2 pi y / 2 pi)``
on the cell edges, the cell-centred field by its ``interp_face_to_center``, so its div B starts at round-off.

Rows (float32 for every ``--n``; float64 for ``n <= --f64-max-n``; float32 runs with ``jax_enable_x64`` off, since
astronomix promotes a float32 state to float64 when it is on):

* ``ours_cfl04``: ``MHDGridSolver`` defaults (HLLD, MC-limited MUSCL on primitives, SSP-RK2, constrained transport
  of the cell-centred field, Toth 2000 flux-CT with Gardiner & Stone's upwind corner EMF) at CFL 0.4, the number
  astronomix uses: the headline comparison;
* ``ours_default``: the same at our default CFL 0.8;
* ``astronomix_fd``: astronomix's default and recommended scheme, ``solver_mode=FINITE_DIFFERENCE`` (HOW-MHD of
  Seo & Ryu 2023: characteristic-wise WENO5 fluxes, SSP-RK(5,4) of Spiteri & Ruuth, high-order constrained
  transport of face-centred fields), native-JAX backend (its Pallas kernels need a GPU), C_cfl 0.4 (its default);
* ``astronomix_fv``: its finite-volume MHD (its defaults: the gas by HLL + minmod MUSCL, SSP-RK2, unsplit; the
  cell-centred field and the Lorentz force by the implicit-midpoint fixed-point update of Pang & Wu's PPCT with
  centred-difference curls, which keeps the centred-difference div B at round-off), for ``n <= --fv-max-n``.

Time steps: ours ``dt = cfl / max_cells sum_d (|v_d| + c_f,d) / dx``; astronomix (both modes)
``dt = C_cfl dx / sum_d max_cells (|v_d| + c_f,d)`` (per-axis maxima summed, never larger than ours at the same
number). Both land exactly on t_end. Step counts are reported; a step is 2 Riemann/flux evaluations for ours and
astronomix FV, 5 (each a characteristic WENO5 sweep per axis) for astronomix FD.

Times: each forward run is compiled ahead of time (``jit(...).lower(...).compile()``, ``compile_s``), called once
(warm-up), then the best of ``--reps`` calls; a run whose first call takes longer than ``--long-s`` is reported
from that call alone (``timed_calls``: 1).

Per row: steps, ``div_b_max`` (each code's own measure: ours the corner divergence that its CT conserves,
``solver.divergence``; astronomix FD the 6th-order difference of its face fields, as in its
``_compute_magnetic_divergence``; astronomix FV its centred-difference ``divergence2D``), the same relative to
``max|B0| / dx``, ``div_b_corner_max`` (our corner formula applied to every code's cell-centred field, one yardstick
for all), mass and total-energy errors (sums over the cells of the conserved density and of
``p/(gamma-1) + rho v^2/2 + B^2/2`` from the cell-centred primitives), min density and pressure, and
``l1_rho_vs_ours_cfl04``: mean |rho - rho_ours| / mean rho_ours at t_end. The machine's load average at the start
is recorded: the machine has 2 cores and other jobs may run on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _timing import machine, now, results_path  # noqa: E402

from diffphys.hydro import solve  # noqa: E402
from diffphys.hydro.mhd import orszag_tang_problem  # noqa: E402

GAMMA, T_END, CFL_PEER = 5.0 / 3.0, 0.5, 0.4
RHO0, P0, B0 = 25.0 / (36.0 * np.pi), 5.0 / (12.0 * np.pi), 1.0 / np.sqrt(4.0 * np.pi)


def corner_divergence(bx, by, h):
    """Our corner divergence (``MHDGridSolver.divergence``, periodic) of cell-centred fields, in numpy."""
    bx1, by1 = np.roll(bx, -1, 0), np.roll(by, -1, 1)
    return ((bx1 + np.roll(bx1, -1, 1) - bx - np.roll(bx, -1, 1)) / (2 * h)
            + (by1 + np.roll(by1, -1, 0) - by - np.roll(by, -1, 0)) / (2 * h))


def totals(rho, v, p, b, h):
    """Total mass and energy from cell-centred primitives (the same formula for every code)."""
    e = p / (GAMMA - 1) + 0.5 * rho * sum(c * c for c in v) + 0.5 * sum(c * c for c in b)
    return float(np.sum(rho) * h * h), float(np.sum(e) * h * h)


def timed(fn, x, reps, long_s):
    """Compile ``fn`` ahead of time, one warm-up call, then ``reps`` timed calls (fewer when one call is long)."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(x).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(x))
    first = time.perf_counter() - t0
    if first > long_s:
        return out, {"forward_s": first, "timed_calls": 1, "times_s": [first], "compile_s": compile_s}
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(x))
        ts.append(time.perf_counter() - t0)
    return out, {"forward_s": min(ts), "timed_calls": reps, "times_s": ts, "compile_s": compile_s}


def metrics(rho, v, p, b, h, tot0, steps):
    m, e = totals(rho, v, p, b, h)
    return {"steps": steps, "div_b_corner_max": float(np.max(np.abs(corner_divergence(b[0], b[1], h)))),
            "mass_rel_err": abs(m - tot0[0]) / tot0[0], "energy_rel_err": abs(e - tot0[1]) / tot0[1],
            "min_density": float(rho.min()), "max_density": float(rho.max()), "min_pressure": float(p.min()),
            "finite": bool(np.all(np.isfinite(rho)) and np.all(np.isfinite(p)))}


def ours_row(n, dtype, cfl, reps, long_s):
    solver, state0 = orszag_tang_problem(n, dtype=dtype, cfl=cfl)
    run = lambda s: solve(solver, s, None, t_end=T_END, max_steps=int(3 * n / cfl) + 200)  # noqa: E731
    sol, row = timed(run, state0, reps, long_s)
    assert bool(sol.reached), "t_end not reached"
    h = solver.spacing[0]
    w0 = np.asarray(solver.primitive(state0), np.float64)
    w = np.asarray(solver.primitive(sol.state), np.float64)
    row["dtype"] = str(sol.state.u.dtype)
    row.update(metrics(w[0], w[1:4], w[4], w[5:8], h, totals(w0[0], w0[1:4], w0[4], w0[5:8], h), int(sol.num_steps)))
    row["div_b_max"] = float(jnp.max(jnp.abs(solver.divergence(sol.state))))
    row["div_b_max_rel"] = float(row["div_b_max"] * h / B0)
    row["scheme"] = f"HLLD + MC, SSP-RK2, flux-CT (corner EMF of Gardiner & Stone), cfl {cfl}"
    return row, w[0]


def astronomix_case(n, dtype, mode):
    """astronomix's config, registry, initial primitive state and div-B measure for the vortex."""
    from astronomix import (SimulationConfig, SimulationParams, construct_primitive_state, finalize_config,
                            get_registered_variables)
    from astronomix._spatial_operators._differencing import finite_difference_int6
    from astronomix._spatial_operators._interpolate import interp_face_to_center
    from astronomix.option_classes import simulation_config as sc

    per = sc.BoundarySettings1D(sc.PERIODIC_BOUNDARY, sc.PERIODIC_BOUNDARY)
    fd = mode == "fd"
    options = dict(solver_mode=sc.FINITE_DIFFERENCE if fd else sc.FINITE_VOLUME, mhd=True, dimensionality=2,
                   box_size=1.0, num_cells=n, boundary_settings=sc.BoundarySettings(per, per),
                   numerical_precision=sc.DOUBLE_PRECISION if dtype == jnp.float64 else sc.SINGLE_PRECISION,
                   return_snapshots=True, num_snapshots=2,
                   snapshot_settings=sc.SnapshotSettings(return_final_state=True))
    if not fd:
        options.update(riemann_solver=sc.HLL, limiter=sc.MINMOD, time_integrator=sc.RK2_SSP, split=sc.UNSPLIT)
    config = SimulationConfig(**options)
    params = SimulationParams(t_end=T_END, C_cfl=CFL_PEER, gamma=GAMMA)
    reg = get_registered_variables(config)
    h = 1.0 / n
    xc, xf = (np.arange(n) + 0.5) * h, (np.arange(n) + 1.0) * h  # index i: cell i, face i + 1/2
    x, y = np.meshgrid(xc, xc, indexing="ij")

    def field(a):
        return jnp.asarray(np.broadcast_to(a, (n, n)), dtype)

    fields = dict(density=field(RHO0), velocity_x=field(-np.sin(2 * np.pi * y)),
                  velocity_y=field(np.sin(2 * np.pi * x)), gas_pressure=field(P0), magnetic_field_z=field(0.0))
    if fd:
        xe, ye = np.meshgrid(xf, xf, indexing="ij")
        az = jnp.asarray(B0 * (np.cos(4 * np.pi * xe) / (4 * np.pi) + np.cos(2 * np.pi * ye) / (2 * np.pi)), dtype)
        bxf, byf = finite_difference_int6(az, axis=1) / h, -finite_difference_int6(az, axis=0) / h
        fields.update(velocity_z=field(0.0), magnetic_field_x=interp_face_to_center(bxf, 0),
                      magnetic_field_y=interp_face_to_center(byf, 1), interface_magnetic_field_x=bxf,
                      interface_magnetic_field_y=byf, interface_magnetic_field_z=field(0.0))
    else:
        fields.update(magnetic_field_x=field(-B0 * np.sin(2 * np.pi * y)),
                      magnetic_field_y=field(B0 * np.sin(4 * np.pi * x)))
    state0 = construct_primitive_state(config=config, registered_variables=reg, **fields)
    config = finalize_config(config, state0.shape)

    def div_b(w):
        if fd:
            i = reg.interface_magnetic_field_index
            return (finite_difference_int6(w[i.x], axis=0) + finite_difference_int6(w[i.y], axis=1)) / h
        from astronomix._finite_volume._magnetic_update._vector_maths import divergence2D

        return divergence2D(w[reg.magnetic_index.x:reg.magnetic_index.y + 1], h)

    return config, params, reg, state0, div_b


def astronomix_row(n, dtype, mode, reps, long_s):
    from astronomix import time_integration

    config, params, reg, state0, div_b = astronomix_case(n, dtype, mode)
    out, row = timed(lambda s: time_integration(s, config, params, reg), state0, reps, long_s)
    h = 1.0 / n
    w = np.asarray(out.final_state, np.float64)
    w0 = np.asarray(state0, np.float64)

    def parts(a):
        v = [a[reg.velocity_index.x], a[reg.velocity_index.y]]
        v.append(a[reg.velocity_index.z] if reg.velocity_index.z >= 0 else np.zeros_like(v[0]))
        b = [a[reg.magnetic_index.x], a[reg.magnetic_index.y], a[reg.magnetic_index.z]]
        return a[reg.density_index], v, a[reg.pressure_index], b

    row["dtype"] = str(out.final_state.dtype)
    row.update(metrics(*parts(w), h, totals(*parts(w0), h), int(out.num_iterations)))
    row["t_final"] = float(out.time_points[-1])
    row["div_b_max"] = float(jnp.max(jnp.abs(div_b(out.final_state))))
    row["div_b_initial_max"] = float(jnp.max(jnp.abs(div_b(state0))))
    row["div_b_max_rel"] = float(row["div_b_max"] * h / B0)
    row["scheme"] = (f"FINITE_DIFFERENCE (HOW-MHD: WENO5 characteristic, SSP-RK(5,4), high-order CT), "
                     f"C_cfl {CFL_PEER}" if mode == "fd" else
                     f"FINITE_VOLUME (HLL + minmod, SSP-RK2 unsplit; PPCT implicit field update), C_cfl {CFL_PEER}")
    return row, w[reg.density_index]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--f64-max-n", type=int, default=64)
    ap.add_argument("--fv-max-n", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--long-s", type=float, default=60.0)
    args = ap.parse_args()
    res = {"date_utc": now(), "machine": machine(), "loadavg_at_start": list(os.getloadavg()),
           "cpu_affinity": sorted(os.sched_getaffinity(0)), "jax": jax.__version__,
           "astronomix": version("astronomix"), "problem": "Orszag-Tang, periodic unit square, gamma 5/3, t_end 0.5",
           "reps": args.reps, "long_s": args.long_s, "rows": {}}
    out = results_path("mhd_orszag_tang")
    print("load average", res["loadavg_at_start"], flush=True)
    cases = [(n, "float32") for n in args.n] + [(n, "float64") for n in args.n if n <= args.f64_max_n]
    for n, precision in cases:
        jax.config.update("jax_enable_x64", precision == "float64")
        dtype = jnp.float64 if precision == "float64" else jnp.float32
        key = f"n{n}_{precision}"
        rows = res["rows"][key] = {}

        def save():
            res["loadavg_at_end"] = list(os.getloadavg())
            out.write_text(json.dumps(res, indent=1) + "\n")
        ref_row, ref = ours_row(n, dtype, CFL_PEER, args.reps, args.long_s)
        rows["ours_cfl04"] = ref_row
        print(key, "ours_cfl04", ref_row, flush=True)
        save()
        row, rho = ours_row(n, dtype, 0.8, args.reps, args.long_s)
        row["l1_rho_vs_ours_cfl04"] = float(np.mean(np.abs(rho - ref)) / np.mean(ref))
        rows["ours_default"] = row
        print(key, "ours_default", row, flush=True)
        save()
        for mode in ("fd", "fv"):
            if mode == "fv" and n > args.fv_max_n:
                continue
            row, rho = astronomix_row(n, dtype, mode, args.reps, args.long_s)
            row["l1_rho_vs_ours_cfl04"] = float(np.mean(np.abs(rho - ref)) / np.mean(ref))
            rows[f"astronomix_{mode}"] = row
            print(key, f"astronomix_{mode}", row, flush=True)
            save()
        fd = rows["astronomix_fd"]["forward_s"]
        rows["ratio_ours_cfl04_over_astronomix_fd"] = rows["ours_cfl04"]["forward_s"] / fd
        rows["ratio_ours_default_over_astronomix_fd"] = rows["ours_default"]["forward_s"] / fd
        if "astronomix_fv" in rows:
            rows["ratio_ours_cfl04_over_astronomix_fv"] = (rows["ours_cfl04"]["forward_s"]
                                                          / rows["astronomix_fv"]["forward_s"])
        save()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
