"""Taylor-Green vortex (2D incompressible, periodic): kinetic-energy decay vs the analytic rate, convergence order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.checks import check_choice, check_int, check_positive

QUICK = {"n_min": 16, "levels": 3}


@dataclasses.dataclass
class Config:
    n_min: int = 32  # coarsest grid (n x n); each level doubles it
    levels: int = 3  # number of grids for the order fit
    nu: float = 0.05  # viscosity
    t_end: float = 2.0
    cfl: float = 0.5  # CFL number on the coarsest grid; dt shrinks like dx^2 on finer grids
    advection: str = "maccormack"

    def validate(self):
        check_int("n_min", self.n_min, lo=8)
        check_int("levels", self.levels, lo=2, hi=5)
        check_positive("nu", self.nu)
        check_positive("t_end", self.t_end)
        check_positive("cfl", self.cfl)
        check_choice("advection", self.advection, ("maccormack", "semi-lagrangian"))


def run(config: Config, out: Path) -> dict:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core import simulate
    from ..core.io import save_figure
    from ..flow import kinetic_energy, taylor_green, taylor_green_exact, vorticity
    from ..flow.plots import field_figure

    ns = [config.n_min * 2**k for k in range(config.levels)]
    errs, rates, steps = [], [], []
    for n in ns:
        cfl = config.cfl * config.n_min / n  # dt ~ dx^2: the first-order splitting error shrinks like dx^2
        solver, state0, params = taylor_green(n, nu=config.nu, cfl=cfl, advection=config.advection)
        num = max(1, int(round(config.t_end / solver.dt)))
        run = jax.jit(lambda s, solver=solver, params=params, num=num: simulate(solver, s, params, num_steps=num).state)
        final = run(state0)
        t = float(final.t)
        xu, yu, xv, yv, _, _ = (np.asarray(c) for c in solver.coords)
        du = np.asarray(final.u) - taylor_green_exact(xu, yu, t, config.nu, "u")
        dv = np.asarray(final.v) - taylor_green_exact(xv, yv, t, config.nu, "v")
        errs.append(float(np.sqrt(np.mean(du**2) + np.mean(dv**2))))
        ke0, ke = float(kinetic_energy(solver, state0)), float(kinetic_energy(solver, final))
        rates.append(-np.log(ke / ke0) / t)
        steps.append(num)
    hs = 2 * np.pi / np.asarray(ns)
    order = float(np.polyfit(np.log(hs), np.log(errs), 1)[0])
    exact_rate = 4 * config.nu
    decay_rel_err = float(abs(rates[-1] - exact_rate) / exact_rate)

    fig = field_figure(solver, [vorticity(solver, final), final.marker],
                       [f"vorticity, t = {t:.2f} ({ns[-1]}^2)", "passive marker"], ["RdBu_r", "viridis"], [True, False])
    save_figure(fig, out / "fields.png")
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].loglog(hs, errs, "o-", label=f"error (fitted order {order:.2f})")
    ax[0].loglog(hs, errs[0] * (hs / hs[0]) ** 2, "k--", label="slope 2")
    ax[0].set_xlabel("dx")
    ax[0].set_ylabel("RMS velocity error at t_end")
    ax[0].legend()
    ax[1].plot(ns, np.asarray(rates) / exact_rate, "o-")
    ax[1].axhline(1.0, color="k", ls="--")
    ax[1].set_xlabel("n")
    ax[1].set_ylabel("KE decay rate / analytic 4 nu")
    save_figure(fig, out / "convergence.png")
    return {"decay_rel_err": decay_rel_err, "order": order, "grids": ns, "errors": errs,
            "decay_rates": [float(r) for r in rates], "analytic_rate": exact_rate, "steps": steps,
            "max_divergence": float(final.info.max_divergence)}
