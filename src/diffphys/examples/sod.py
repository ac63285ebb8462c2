"""Sod shock tube with the radial finite-volume Euler solver, against the exact Riemann solution."""

from __future__ import annotations

import dataclasses
from pathlib import Path

HEADLINE = True


@dataclasses.dataclass
class Config:
    n_cells: int = 100
    riemann: str = "hllc"
    limiter: str = "mc"
    integrator: str = "rk3"
    reconstruction: str = "primitive"
    cfl: float = 0.5
    gamma: float = 1.4
    t_end: float = 0.2
    rho_left: float = 1.0
    p_left: float = 1.0
    rho_right: float = 0.125
    p_right: float = 0.1

    def validate(self):
        from ..core.checks import check_choice, check_int, check_positive, check_range
        from ..hydro import LIMITERS, RIEMANN_SOLVERS

        check_int("n_cells", self.n_cells, lo=4)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)
        check_range("gamma", self.gamma, 1.0, lo_open=True)
        check_range("t_end", self.t_end, 0.0, lo_open=True)
        for name in ("rho_left", "p_left", "rho_right", "p_right"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)
        check_choice("riemann", self.riemann, tuple(RIEMANN_SOLVERS))
        check_choice("limiter", self.limiter, (*LIMITERS, "none"))
        check_choice("integrator", self.integrator, ("euler", "rk2", "rk3"))
        check_choice("reconstruction", self.reconstruction, ("primitive", "characteristic"))
        check_positive("t_end", self.t_end)


QUICK = {"n_cells": 100}


def run(config: Config, out: Path) -> dict:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure, save_gif
    from ..hydro import riemann_problem, solve

    left = (config.rho_left, 0.0, config.p_left)
    right = (config.rho_right, 0.0, config.p_right)
    limiter = None if config.limiter == "none" else config.limiter
    solver, state0, _, exact = riemann_problem((left, right, 0.5, config.t_end), config.n_cells, gamma=config.gamma,
                                               riemann=config.riemann, limiter=limiter,
                                               reconstruction=config.reconstruction,
                                               integrator=config.integrator, cfl=config.cfl)
    times = np.linspace(0, config.t_end, 11)[1:]
    sol = jax.jit(lambda s: solve(solver, s, None, t_end=config.t_end, save_at=times,
                                  max_steps=40 * config.n_cells))(state0)
    w = np.asarray(solver.primitive(sol.state), dtype=np.float64)
    ref = exact.cell_average(solver.grid.faces, config.t_end)
    l1 = float(np.mean(np.abs(w[0] - ref[0])))

    x = solver.grid.centers
    xf = np.linspace(0, 1, 2000)
    fine = exact.sample(xf, config.t_end)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, k, name in zip(axes, range(3), ("density", "velocity", "pressure")):
        ax.plot(xf, fine[k], "k-", lw=1, label="exact")
        ax.plot(x, w[k], "o", ms=3, label=f"{config.riemann}/{config.limiter}, N={config.n_cells}")
        ax.set_xlabel("x")
        ax.set_title(name)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Sod shock tube at t={config.t_end:g}: L1(density) = {l1:.2e}")
    save_figure(fig, out / "sod_profiles.png")

    frames = []
    snaps = np.asarray(sol.snapshots.u, dtype=np.float64)
    for i, t in enumerate(times):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(xf, exact.sample(xf, t)[0], "k-", lw=1)
        ax.plot(x, snaps[i, 0], "o", ms=2.5)
        ax.set_ylim(0, 1.1)
        ax.set_title(f"density, t = {t:.3f}")
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    save_gif(frames, out / "sod.gif", fps=4)
    return {"l1_density": l1, "n_cells": config.n_cells, "num_steps": int(sol.num_steps)}
