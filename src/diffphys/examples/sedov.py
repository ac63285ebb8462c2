"""Sedov-Taylor point explosion (spherical, cylindrical or planar) against the self-similar solution."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass
class Config:
    n_cells: int = 400
    geometry: str = "spherical"
    gamma: float = 1.4
    cfl: float = 0.5

    def validate(self):
        from ..core.checks import check_choice, check_int, check_range

        check_int("n_cells", self.n_cells, lo=16)
        check_choice("geometry", self.geometry, ("planar", "cylindrical", "spherical"))
        check_range("gamma", self.gamma, 1.0, lo_open=True)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)


QUICK = {"n_cells": 200}


def run(config: Config, out: Path) -> dict:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..core.progress import show_progress
    from ..hydro import Sedov, outer_shock_radius, sedov_problem, solve

    j = {"planar": 1, "cylindrical": 2, "spherical": 3}[config.geometry]
    solver, state0 = sedov_problem(config.n_cells, geometry=config.geometry, gamma=config.gamma, n_deposit=4,
                                   r_max=1.2, cfl=config.cfl)
    sed = Sedov(config.gamma, j)
    t_end = sed.xi0 ** (-(j + 2) / 2)  # the analytic shock is at r = 1
    sol = jax.jit(lambda s: solve(solver, s, None, t_end=t_end, max_steps=300 * config.n_cells,
                                          progress=show_progress()))(state0)
    w = np.asarray(solver.primitive(sol.state), dtype=np.float64)
    r = solver.grid.centers
    r_num = outer_shock_radius(r, w[0], 1.0, 1.0 + 0.5 * (w[0].max() - 1.0))
    r_ana = float(sed.shock_radius(t_end))
    rel = abs(r_num / r_ana - 1)
    ref = sed.profile(r, t_end)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, k, name in zip(axes, range(3), ("density", "velocity", "pressure")):
        ax.plot(r, ref[k], "k-", lw=1, label="Sedov-Taylor")
        ax.plot(r, w[k], ".", ms=3, label=f"N={config.n_cells}")
        ax.axvline(r_num, color="C1", lw=0.8, ls="--")
        ax.set_xlabel("r")
        ax.set_title(name)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Sedov ({config.geometry}, gamma={config.gamma:g}): shock radius error {rel:.2%}")
    save_figure(fig, out / "sedov_profiles.png")
    return {"shock_radius_rel_err": rel, "shock_radius": r_num, "shock_radius_exact": r_ana,
            "n_cells": config.n_cells, "num_steps": int(sol.num_steps)}
