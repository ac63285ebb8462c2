"""Lid-driven cavity at Re = 100 on a staggered grid, compared with the Ghia et al. (1982) centreline profiles."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.checks import check_choice, check_int, check_positive

HEADLINE = True
QUICK = {"n": 64, "t_end": 12.0}


@dataclasses.dataclass
class Config:
    n: int = 128  # n x n cells on the unit square
    re: float = 100.0  # Reynolds number (lid speed 1, side 1)
    t_end: float = 16.0  # time to (near) steady state
    cfl: float = 0.5  # dt = cfl * dx
    advection: str = "maccormack"
    pressure: str = "auto"
    pressure_maxiter: int = 0  # 0: the solver's default bound on CG iterations

    def validate(self):
        check_int("n", self.n, lo=8)
        check_positive("re", self.re)
        check_positive("t_end", self.t_end)
        check_positive("cfl", self.cfl)
        check_choice("advection", self.advection, ("maccormack", "semi-lagrangian"))
        check_choice("pressure", self.pressure, ("auto", "fft", "mg", "cg"))
        check_int("pressure_maxiter", self.pressure_maxiter, lo=0)


def centreline_profiles(solver, state):
    """u on the vertical centreline x = 1/2 and v on the horizontal one y = 1/2 (walls included)."""
    n = solver.grid.nx
    u, v = np.asarray(state.u), np.asarray(state.v)
    yc = (np.arange(n) + 0.5) / n
    if n % 2 == 0:
        u_line = u[n // 2, :]
        v_line = v[:, n // 2]
    else:
        u_line = 0.5 * (u[n // 2, :] + u[n // 2 + 1, :])
        v_line = 0.5 * (v[:, n // 2] + v[:, n // 2 + 1])
    y = np.r_[0.0, yc, 1.0]
    return y, np.r_[0.0, u_line, 1.0], y, np.r_[0.0, v_line, 0.0]


def run(config: Config, out: Path) -> dict:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core import simulate
    from ..core.io import save_figure
    from ..flow import cavity, ghia_re100, vorticity
    from ..flow.plots import field_figure

    kw = {"maxiter": config.pressure_maxiter} if config.pressure_maxiter else {}
    solver, state, params = cavity(config.n, re=config.re, dt=config.cfl / config.n, advection=config.advection,
                                   pressure=config.pressure, **kw)
    xc, yc = np.asarray(solver.coords[4]), np.asarray(solver.coords[5])
    state = state.__class__(state.u, state.v, ((np.floor(8 * xc) % 2) * (yc > 0.5)).astype(state.u.dtype),
                            state.p, state.t, state.info)
    chunks = 8
    per = max(1, int(round(config.t_end / solver.dt / chunks)))
    run_chunk = jax.jit(lambda s: simulate(solver, s, params, num_steps=per).state)
    converged_all, max_div, changes = True, 0.0, []
    for _ in range(chunks):
        prev = np.asarray(state.u)
        state = run_chunk(state)
        converged_all &= bool(state.info.converged)
        max_div = max(max_div, float(state.info.max_divergence))
        changes.append(float(np.max(np.abs(np.asarray(state.u) - prev))))
    y, u_line, x, v_line = centreline_profiles(solver, state)
    g = ghia_re100()
    dev_u = np.abs(np.interp(g["y"], y, u_line) - g["u"])
    dev_v = np.abs(np.interp(g["x"], x, v_line) - g["v"])

    fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    ax[0].plot(u_line, y, "-", label=f"diffphys {config.n}^2")
    ax[0].plot(g["u"], g["y"], "o", mfc="none", label="Ghia et al. 1982")
    ax[0].set_xlabel("u(x = 1/2, y)")
    ax[0].set_ylabel("y")
    ax[0].legend()
    ax[1].plot(x, v_line, "-", label=f"diffphys {config.n}^2")
    ax[1].plot(g["x"], g["v"], "o", mfc="none", label="Ghia et al. 1982")
    ax[1].set_xlabel("x")
    ax[1].set_ylabel("v(x, y = 1/2)")
    ax[1].legend()
    fig.suptitle(f"lid-driven cavity, Re = {config.re:g}: max |u - u_Ghia| = {dev_u.max():.4f}, "
                 f"max |v - v_Ghia| = {dev_v.max():.4f}")
    save_figure(fig, out / "profiles.png")
    fig = field_figure(solver, [vorticity(solver, state), state.marker], [f"vorticity, t = {float(state.t):.1f}",
                       "passive marker (stripes released in the upper half)"], ["RdBu_r", "viridis"], [True, False])
    save_figure(fig, out / "fields.png")
    metrics = {"ghia_u_max_abs_dev": float(dev_u.max()), "ghia_v_max_abs_dev": float(dev_v.max()),
               "n": config.n, "re": config.re, "t_end": float(state.t), "steps": per * chunks,
               "last_chunk_max_du": changes[-1], "max_divergence": max_div,
               "pressure_solver": solver.pressure, "pressure_converged": converged_all}
    if not converged_all:
        metrics["pressure_status"] = (f"NOT CONVERGED: a pressure solve stopped at maxiter = {solver.maxiter} with "
                                      f"relative residual {float(state.info.residual):.3g} > tol = {solver.tol:g}")
    return metrics
