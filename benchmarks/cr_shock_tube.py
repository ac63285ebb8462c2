"""Benchmark: the cosmic-ray shock tube, diffphys.hydro.CosmicRaySolver vs astronomix's cosmic-ray fluid, one process.

Run from the repository root with an environment that has astronomix (0.6.6) and this package installed (its own
venv: ``pip install -e ".[test]" astronomix``), pinned to one core:

    PYTHONPATH=src taskset -c 1 <astro-python> benchmarks/cr_shock_tube.py [--n 100 200 400 800] [--reps 5]

Both codes solve the same two-fluid model (gas gamma 5/3 and adiabatic cosmic rays gamma_cr 4/3, no injection, no
diffusion; astronomix carries ``n_cr = p_cr^(1/gamma_cr)`` as a density, we carry ``rho K``), the same planar tube
on [0, 1] to t = 0.2 with open ends, float64: a cosmic-ray dominated high-pressure side ``(rho, v, p_gas, p_cr) =
(1, 0, 2/3, 4/3)`` against ``(0.2, 0, 0.02, 0.05)`` (cosmic rays ahead of the shock too). The truth is the exact
two-fluid Riemann solution (``ExactCRRiemann``); L1 errors of the cell averages of density, velocity, gas and
cosmic-ray pressure, the totals of mass and energy (no wave reaches the ends by t = 0.2), and the forward time
(compiled, best of ``reps`` calls). astronomix in its finite-volume mode (its cosmic rays exist only there) with
its defaults HLL + minmod, SSP-RK2, unsplit, C_cfl 0.5; ours with the same HLL + minmod + SSP-RK2 at CFL 0.5
(like for like) and with our defaults HLLC + MC. Results in ``benchmarks/results/cr_shock_tube.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, now, results_path  # noqa: E402

from diffphys.hydro import solve  # noqa: E402
from diffphys.hydro.cosmic_rays import cr_shock_tube  # noqa: E402

LEFT = (1.0, 0.0, 2.0 / 3.0, 4.0 / 3.0)
RIGHT = (0.2, 0.0, 0.02, 0.05)
T_END, CFL, GAMMA, GAMMA_CR = 0.2, 0.5, 5.0 / 3.0, 4.0 / 3.0


def best_time(fn, x, reps):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(x))
    first = time.perf_counter() - t0
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        ts.append(time.perf_counter() - t0)
    return out, min(ts), first


def errors(w, exact, faces):
    ref = exact.cell_average(faces, T_END)
    return [float(v) for v in np.mean(np.abs(np.asarray(w, np.float64) - ref), axis=1)]


def ours(n, riemann, limiter, reps):
    solver, st, _, exact = cr_shock_tube(LEFT, RIGHT, n_cells=n, t_end=T_END, dtype=jnp.float64, riemann=riemann,
                                         limiter=limiter, integrator="rk2", cfl=CFL)
    fn = jax.jit(lambda s: solve(solver, s, None, t_end=T_END, max_steps=20 * n))
    sol, best, first = best_time(fn, st, reps)
    tot0, tot1 = np.asarray(solver.totals(st)), np.asarray(solver.totals(sol.state))
    return {"forward_s": best, "first_call_s": first, "steps": int(sol.num_steps),
            "l1_rho_v_pgas_pcr": errors(solver.primitive(sol.state), exact, solver.grid.faces),
            "mass_rel_err": float(abs(tot1[0] / tot0[0] - 1)), "energy_rel_err": float(abs(tot1[2] / tot0[2] - 1)),
            "scheme": f"{riemann.upper()} + {limiter}, SSP-RK2, CFL {CFL}"}, exact


def astronomix(n, reps, exact):
    from astronomix import (SimulationConfig, SimulationParams, construct_primitive_state, finalize_config,
                            get_registered_variables, time_integration)
    from astronomix._modules._cosmic_rays.cosmic_ray_options import CosmicRayConfig
    from astronomix.option_classes import simulation_config as sc

    opn = sc.BoundarySettings1D(sc.OPEN_BOUNDARY, sc.OPEN_BOUNDARY)
    config = SimulationConfig(solver_mode=sc.FINITE_VOLUME, dimensionality=1, box_size=1.0, num_cells=n,
                              geometry=sc.CARTESIAN, boundary_settings=opn, numerical_precision=sc.DOUBLE_PRECISION,
                              cosmic_ray_config=CosmicRayConfig(cosmic_rays=True), riemann_solver=sc.HLL,
                              limiter=sc.MINMOD, time_integrator=sc.RK2_SSP, split=sc.UNSPLIT)
    params = SimulationParams(t_end=T_END, C_cfl=CFL, gamma=GAMMA)
    reg = get_registered_variables(config)
    x = (np.arange(n) + 0.5) / n
    left = x < 0.5
    field = [jnp.asarray(np.where(left, a, b)) for a, b in zip(LEFT, RIGHT)]
    st = construct_primitive_state(config=config, registered_variables=reg, density=field[0], velocity_x=field[1],
                                   gas_pressure=field[2], cosmic_ray_pressure=field[3])
    config = finalize_config(config, st.shape)
    fn = jax.jit(lambda s: time_integration(s, config, params, reg))
    out, best, first = best_time(fn, st, reps)
    w = np.asarray(out, np.float64)
    pc = w[reg.cosmic_ray_n_index] ** GAMMA_CR
    prim = np.stack([w[reg.density_index], w[reg.velocity_index], w[reg.pressure_index] - pc, pc])

    def totals(p):
        rho, v, pg, pcr = p
        return np.sum(rho) / n, np.sum(0.5 * rho * v * v + pg / (GAMMA - 1) + pcr / (GAMMA_CR - 1)) / n

    w0 = np.asarray(st, np.float64)
    pc0 = w0[reg.cosmic_ray_n_index] ** GAMMA_CR
    t0 = totals(np.stack([w0[0], w0[1], w0[2] - pc0, pc0]))
    t1 = totals(prim)
    faces = np.linspace(0.0, 1.0, n + 1)
    return {"forward_s": best, "first_call_s": first,
            "l1_rho_v_pgas_pcr": errors(prim, exact, faces),
            "mass_rel_err": float(abs(t1[0] / t0[0] - 1)), "energy_rel_err": float(abs(t1[1] / t0[1] - 1)),
            "scheme": f"FINITE_VOLUME, HLL + minmod, SSP-RK2 unsplit, C_cfl {CFL}"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[100, 200, 400, 800])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rows = {}
    for n in args.n:
        like, exact = ours(n, "hll", "minmod", args.reps)
        default, _ = ours(n, "hllc", "mc", args.reps)
        peer = astronomix(n, args.reps, exact)
        rows[str(n)] = {"ours_hll_minmod": like, "ours_hllc_mc": default, "astronomix": peer,
                        "time_ratio_like_for_like": like["forward_s"] / peer["forward_s"],
                        "l1_density_ratio_like_for_like": like["l1_rho_v_pgas_pcr"][0] / peer["l1_rho_v_pgas_pcr"][0],
                        "l1_density_ratio_default": default["l1_rho_v_pgas_pcr"][0] / peer["l1_rho_v_pgas_pcr"][0]}
        print(n, json.dumps(rows[str(n)], indent=1), flush=True)
    result = {"date": now(), "machine": machine(), "jax": jax.__version__, "astronomix": version("astronomix"),
              "problem": f"CR shock tube {LEFT} | {RIGHT}, gamma 5/3, gamma_cr 4/3, t_end {T_END}, float64",
              "rows": rows}
    path = results_path("cr_shock_tube")
    path.write_text(json.dumps(result, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
