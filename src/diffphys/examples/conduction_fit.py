"""Spitzer conduction's suppression factor in a wind bubble from its noisy hot-gas temperature profile."""

from __future__ import annotations

import dataclasses
from pathlib import Path

X64 = True  # derivatives through ~10^4 implicit conduction substeps


@dataclasses.dataclass
class Config:
    n_cells: int = 401
    suppression: float = 0.3  # the truth: a fraction of Spitzer's conductivity (magnetic suppression)
    saturation: float = 1.0  # Cowie & McKee's phi_s (0: none), known to the fit
    noise_dex: float = 0.02  # Gaussian noise on log10 T of each cell above 1e6 K
    start_low: float = 0.05
    start_high: float = 1.0
    seed: int = 0
    grid_points: int = 25  # the chi^2 curve along the suppression factor (one vmapped call)

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n_cells", self.n_cells, lo=64)
        check_int("grid_points", self.grid_points, lo=3)
        for name in ("suppression", "start_low", "start_high"):
            check_range(name, getattr(self, name), 0.0, 10.0, lo_open=True)
        check_range("saturation", self.saturation, 0.0)
        check_range("noise_dex", self.noise_dex, 0.0, 1.0, lo_open=True)


QUICK = {"n_cells": 201, "grid_points": 9}


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..hydro import Conduction, solve, wind_problem
    from .wind_fit import fit_with_errors, linearize

    base = wind_problem(config.n_cells)
    u, grid = base.units, base.solver.grid
    k_t = 0.6 * 1.67262192e-24 * u.velocity_cms ** 2 / 1.380649e-16  # K per code p / rho
    max_steps = int(40 * config.n_cells * base.t_end / 0.025 + 1000)
    sat = config.saturation or None

    def log_temperature(log_f):
        wp = wind_problem(config.n_cells, conduction=Conduction.spitzer(suppression=jnp.exp(log_f), saturation=sat))
        sol = solve(wp.solver, wp.state0, wp.params, t_end=wp.t_end, max_steps=max_steps)
        rho, _, p = wp.solver.primitive(sol.state)
        return jnp.log10(k_t * p / rho)

    truth = np.asarray(jax.jit(log_temperature)(jnp.log(config.suppression)), np.float64)
    r_pc = u.to_pc(grid.centers)
    cells = np.nonzero((truth > 6.0) & (r_pc > 0.6))[0]  # the X-ray gas beyond the reverse shock
    if len(cells) < 5:
        raise RuntimeError(f"only {len(cells)} cells above 1e6 K: nothing to fit")
    rng = np.random.default_rng(config.seed)
    observed = truth[cells] + config.noise_dex * rng.standard_normal(len(cells))

    def residuals(theta):  # in units of the noise
        return log_temperature(theta[0])[cells] / config.noise_dex

    lin = linearize(residuals, jnp.asarray(observed / config.noise_dex))
    fits = {}
    for name, start in (("low", config.start_low), ("high", config.start_high)):
        theta, path, losses, iters, wall, cov = fit_with_errors(lin, jnp.asarray([np.log(start)]), max_iter=25)
        fits[name] = (float(np.exp(theta[0])), float(np.exp(theta[0]) * np.sqrt(cov[0, 0])), iters, wall,
                      np.exp(path[:, 0]), 2.0 * losses)

    # chi^2 along the factor, one vmapped call
    grid_f = np.geomspace(min(config.start_low, config.suppression) / 1.5,
                          max(config.start_high, config.suppression) * 1.5, config.grid_points)
    curve = jax.jit(jax.vmap(lambda lf: jnp.sum((residuals(lf[None]) - observed / config.noise_dex) ** 2)))
    chi2 = np.asarray(curve(jnp.log(jnp.asarray(grid_f))), np.float64)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    ax = axes[0]
    ax.errorbar(r_pc[cells], observed, yerr=config.noise_dex, fmt=".", ms=3, color="0.4", label="observed (noisy)")
    ax.plot(r_pc, truth, "k-", lw=1, label=f"truth (f = {config.suppression:g})")
    for fit, color in zip(fits.values(), ("C0", "C3")):
        model = np.asarray(jax.jit(log_temperature)(jnp.log(fit[0])), np.float64)
        start = np.asarray(jax.jit(log_temperature)(jnp.log(fit[4][0])), np.float64)
        ax.plot(r_pc, start, ":", color=color, lw=1, label=f"start f = {fit[4][0]:g}")
        ax.plot(r_pc, model, "--", color=color, lw=1, label=f"fit f = {fit[0]:.4f} +- {fit[1]:.4f}")
    ax.set_xlabel("r [pc]")
    ax.set_ylabel("log10 T [K]")
    ax.set_ylim(3.8, 8.0)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogx(grid_f, chi2, "k-", lw=1, label=r"$\chi^2$ (vmap over f)")
    for fit, color in zip(fits.values(), ("C0", "C3")):
        ax.semilogx(fit[4], fit[5], "o-", color=color, ms=4, label=f"Levenberg-Marquardt from {fit[4][0]:g}")
    ax.axvline(config.suppression, color="k", ls="--", lw=0.8, label="truth")
    ax.set_yscale("log")
    ax.set_xlabel("suppression factor f (of Spitzer's conductivity)")
    ax.legend(fontsize=7)
    fig.suptitle(f"conduction from an X-ray-like temperature profile: {len(cells)} cells above 1e6 K, noise "
                 f"{config.noise_dex:g} dex, N={config.n_cells} (forward-mode derivatives through the implicit "
                 "substeps)")
    save_figure(fig, out / "conduction_fit.png")

    worst = max(fits.values(), key=lambda f: abs(f[0] / config.suppression - 1))
    return {"suppression_true": config.suppression, "suppression_fit": worst[0], "suppression_sigma": worst[1],
            "suppression_rel_err": abs(worst[0] / config.suppression - 1),
            "suppression_pull": (worst[0] - config.suppression) / worst[1],
            "starts_apart_sigma": abs(fits["low"][0] - fits["high"][0]) / worst[1],
            "iterations": max(f[2] for f in fits.values()), "wall_s": max(f[3] for f in fits.values()),
            "chi2_path_low": [float(c) for c in fits["low"][5]], "chi2_path_high": [float(c) for c in fits["high"][5]],
            "chi2_per_cell": float(min(f[5][-1] for f in fits.values()) / len(cells)),
            "n_cells": config.n_cells, "n_data": int(len(cells))}
