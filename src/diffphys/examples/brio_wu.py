"""Brio-Wu magnetised shock tube (ideal MHD: HLLD vs HLL, primitive vs characteristic reconstruction) against a
fine-grid run, exact mass and energy budgets."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

HEADLINE = True


@dataclasses.dataclass
class Config:
    n_cells: int = 800
    reference_cells: int = 6400
    limiter: str = "mc"
    integrator: str = "rk2"
    cfl: float = 0.8
    t_end: float = 0.1

    def validate(self):
        from ..core.checks import check_choice, check_int, check_range
        from ..hydro import LIMITERS

        check_int("n_cells", self.n_cells, lo=16)
        check_int("reference_cells", self.reference_cells, lo=self.n_cells)
        if self.reference_cells % self.n_cells:
            raise ValueError(f"reference_cells must be a multiple of n_cells ({self.n_cells}); "
                             f"got {self.reference_cells}")
        check_choice("limiter", self.limiter, (*LIMITERS, "none"))
        check_choice("integrator", self.integrator, ("euler", "rk2", "rk3"))
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)
        check_range("t_end", self.t_end, 0.0, 0.2, lo_open=True)  # later, the fast waves leave [0, 1]


QUICK = {"n_cells": 400, "reference_cells": 3200}


def run(config: Config, out: Path) -> dict:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..hydro import solve
    from ..hydro.mhd import brio_wu_problem

    limiter = None if config.limiter == "none" else config.limiter
    kw = dict(limiter=limiter, integrator=config.integrator, cfl=config.cfl)
    runs, t0 = {}, time.perf_counter()
    for name, n, riemann, rec in (("hlld", config.n_cells, "hlld", "primitive"),
                                  ("hll", config.n_cells, "hll", "primitive"),
                                  ("hlld_characteristic", config.n_cells, "hlld", "characteristic"),
                                  ("reference", config.reference_cells, "hlld", "characteristic")):
        solver, state0, _ = brio_wu_problem(n, riemann=riemann, reconstruction=rec, **kw)
        steps = int(40 * n * config.t_end / 0.1 / config.cfl) + 100
        sol = jax.jit(lambda s, solver=solver, steps=steps: solve(solver, s, None, t_end=config.t_end,
                                                                   max_steps=steps))(state0)
        if not bool(sol.reached):
            raise RuntimeError(f"the {name} run did not reach t_end in {steps} steps")
        runs[name] = (solver, state0, sol)
    wall = time.perf_counter() - t0

    def prim(name):
        solver, _, sol = runs[name]
        return np.asarray(solver.primitive(sol.state), dtype=np.float64)

    ref = prim("reference")
    k = config.reference_cells // config.n_cells
    solver_ref = runs["reference"][0]
    u_ref = np.asarray(runs["reference"][2].state.u, dtype=np.float64)
    ref_avg_rho = u_ref[0].reshape(config.n_cells, k).mean(axis=1)  # cell averages on the coarse grid
    ref_avg = ref.reshape(7, config.n_cells, k).mean(axis=2)
    tv_ref = np.abs(np.diff(ref_avg, axis=1)).sum(axis=1)
    metrics = {}
    for name in ("hlld", "hll", "hlld_characteristic"):
        rho = np.asarray(runs[name][2].state.u[0], dtype=np.float64)
        metrics[f"l1_density_{name}"] = float(np.mean(np.abs(rho - ref_avg_rho)))
        # oscillations: total variation beyond the fine run's (averaged onto this grid), v_x and B_y
        tv = np.abs(np.diff(prim(name), axis=1)).sum(axis=1) - tv_ref
        metrics[f"tv_excess_vx_{name}"], metrics[f"tv_excess_by_{name}"] = float(tv[1]), float(tv[5])
    solver, state0, sol = runs["hlld"]
    tot0 = np.asarray(solver.totals(state0), dtype=np.float64)
    tot1 = np.asarray(solver.totals(sol.state), dtype=np.float64)
    w = prim("hlld")
    metrics.update({
        "n_cells": config.n_cells, "reference_cells": config.reference_cells,
        # gas at rest at both ends: no mass or energy crosses them
        "mass_rel_err": float(abs(tot1[0] - tot0[0]) / tot0[0]),
        "energy_rel_err": float(abs(tot1[4] - tot0[4]) / tot0[4]),
        "min_density": float(w[0].min()), "min_pressure": float(w[4].min()),
        "num_steps": int(sol.num_steps), "wall_s": wall,
    })

    x, xr = solver.centers, solver_ref.centers
    w_hll, w_char = prim("hll"), prim("hlld_characteristic")
    panels = ((0, "density"), (1, "$v_x$"), (2, "$v_y$"), (4, "pressure"), (5, "$B_y$"), (None, "total pressure"))
    fig, axes = plt.subplots(2, 3, figsize=(14, 7), sharex=True)
    for ax, (i, title) in zip(axes.flat, panels):
        def get(a, i=i):
            return a[4] + 0.5 * (0.75 ** 2 + a[5] ** 2 + a[6] ** 2) if i is None else a[i]

        ax.plot(xr, get(ref), "k-", lw=1, label=f"HLLD, characteristic, N={config.reference_cells}")
        ax.plot(x, get(w_hll), "-", color="tab:orange", lw=1.2, label=f"HLL, N={config.n_cells}")
        ax.plot(x, get(w), ".", color="tab:blue", ms=2.5, label=f"HLLD, N={config.n_cells}")
        ax.plot(x, get(w_char), ".", color="tab:green", ms=2.0, label=f"HLLD, characteristic, N={config.n_cells}")
        ax.set_title(title)
    for ax in axes[1]:
        ax.set_xlabel("x")
    axes[0, 0].legend(fontsize=8)
    if config.t_end == 0.1:  # where the waves are at the standard time
        for xw, yw, label in ((0.37, 0.95, "FR"), (0.47, 0.9, "CW"), (0.56, 0.5, "CD"), (0.64, 0.32, "SS"),
                              (0.85, 0.2, "FR")):
            axes[0, 0].annotate(label, (xw, yw), fontsize=8, ha="center")
    fig.suptitle(f"Brio & Wu (1988) shock tube at t = {config.t_end:g} (gamma = 2, B_x = 0.75): "
                 f"fast rarefactions (FR), compound wave (CW), contact (CD), slow shock (SS)\n"
                 f"L1(density) against the fine run: HLLD {metrics['l1_density_hlld']:.2e}, "
                 f"HLL {metrics['l1_density_hll']:.2e}, HLLD with characteristic limiting "
                 f"{metrics['l1_density_hlld_characteristic']:.2e}", fontsize=10)
    save_figure(fig, out / "brio_wu_profiles.png")

    # zooms: the compound wave and the contact, where HLLD's extra waves show; v_x around the slow shock, where
    # limiting the primitive variables one by one leaves ripples and limiting the wave amplitudes far fewer
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    sel, selr = (x > 0.4) & (x < 0.65), (xr > 0.4) & (xr < 0.65)
    ax.plot(xr[selr], ref[0][selr], "k-", lw=1, label=f"HLLD, characteristic, N={config.reference_cells}")
    ax.plot(x[sel], w_hll[0][sel], "s-", color="tab:orange", ms=2.5, lw=0.8, label=f"HLL, N={config.n_cells}")
    ax.plot(x[sel], w[0][sel], "o-", color="tab:blue", ms=2.5, lw=0.8, label=f"HLLD, N={config.n_cells}")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title("compound wave, contact and slow shock")
    ax.legend(fontsize=8)
    sel, selr = (x > 0.6) & (x < 0.9), (xr > 0.6) & (xr < 0.9)
    ax2.plot(xr[selr], ref[1][selr], "k-", lw=1, label=f"HLLD, characteristic, N={config.reference_cells}")
    ax2.plot(x[sel], w[1][sel], "o-", color="tab:blue", ms=2.5, lw=0.8,
             label=f"HLLD, primitive: excess TV {metrics['tv_excess_vx_hlld']:.3f}")
    ax2.plot(x[sel], w_char[1][sel], "^-", color="tab:green", ms=2.5, lw=0.8,
             label=f"HLLD, characteristic: excess TV {metrics['tv_excess_vx_hlld_characteristic']:.3f}")
    ax2.set_xlabel("x")
    ax2.set_ylabel("$v_x$")
    ax2.set_title("$v_x$ around the slow shock")
    ax2.legend(fontsize=8)
    save_figure(fig, out / "brio_wu_zoom.png")
    return metrics
