"""The magnetic field of a shock tube (B_x, both B_y) from a blurred, noisy density profile, through the HLLD solver."""

from __future__ import annotations

import dataclasses
from pathlib import Path

QUICK = {"n_cells": 128}
X64 = True  # forward-mode Jacobians of a shock-capturing run: float64 keeps them smooth in the parameters


@dataclasses.dataclass
class Config:
    n_cells: int = 256
    noise: float = 0.01  # Gaussian noise per cell, relative to the left density
    beam: float = 0.03  # the observation's resolution: a Gaussian beam of this standard deviation (box lengths)
    bx: float = 0.75  # truth (Brio & Wu 1988)
    by_left: float = 1.0
    by_right: float = -1.0
    start_bx: float = 0.5
    start_by_left: float = 1.4
    start_by_right: float = -0.6
    iterations: int = 30
    seed: int = 0

    def validate(self):
        from ..core.checks import check_int, check_positive

        check_int("n_cells", self.n_cells, lo=32)
        check_int("iterations", self.iterations, lo=1)
        for name in ("noise", "beam", "bx", "by_left", "start_bx", "start_by_left"):
            check_positive(name, getattr(self, name))
        for name in ("by_right", "start_by_right"):
            if not getattr(self, name) < 0:
                raise ValueError(f"{name} must be < 0 (the field reverses across the tube); got {getattr(self, name)}")


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..hydro import solve
    from ..hydro.mhd import MHDSolver
    from .wind_fit import fit_with_errors, linearize

    c = config
    solver = MHDSolver(c.n_cells, gamma=2.0)
    x = solver.centers
    left = x < 0.5
    t_end = 0.1
    max_steps = 4 * c.n_cells

    def final(theta):
        """The final state for theta = (log B_x, log B_y,left, log -B_y,right)."""
        bx, byl, byr = jnp.exp(theta[0]), jnp.exp(theta[1]), -jnp.exp(theta[2])
        state0 = solver.initial_state(jnp.where(left, 1.0, 0.125), 0.0, 0.0, 0.0, jnp.where(left, 1.0, 0.1), bx,
                                      jnp.where(left, byl, byr), 0.0)
        return solve(solver, state0, None, t_end=t_end, max_steps=max_steps).state

    # a Gaussian beam (rows normalised, so a uniform density stays uniform at the edges): the observation
    # smooths the shocks, and the misfit then varies smoothly with where they are
    kern = np.exp(-0.5 * ((x[:, None] - x[None, :]) / c.beam) ** 2)
    beam = jnp.asarray(kern / kern.sum(axis=1, keepdims=True))

    def density(theta):
        return beam @ final(theta).u[0]

    truth = jnp.log(jnp.asarray([c.bx, c.by_left, -c.by_right]))
    clean = jax.jit(density)(truth)
    obs = clean + c.noise * jax.random.normal(jax.random.PRNGKey(c.seed), clean.shape, clean.dtype)
    lin = linearize(lambda th: density(th) / c.noise, obs / c.noise)
    theta0 = jnp.log(jnp.asarray([c.start_bx, c.start_by_left, -c.start_by_right]))
    theta, path, losses, iters, wall, cov = fit_with_errors(lin, theta0, c.iterations)
    sigma = np.sqrt(np.diag(cov))  # of log B: relative errors
    tr = np.asarray(truth, np.float64)
    pulls = np.abs(theta - tr) / sigma
    fitted = np.asarray(jax.jit(density)(jnp.asarray(theta)))
    chi2 = float(np.mean(((fitted - np.asarray(obs)) / c.noise) ** 2))
    start = np.asarray(jax.jit(density)(theta0))
    names = ("B_x", "B_y,left", "B_y,right")
    signs = np.array([1.0, 1.0, -1.0])
    fit_b = signs * np.exp(theta)

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), gridspec_kw={"width_ratios": [1.6, 1, 1]})
    axes[0].plot(x, np.asarray(obs), ".", color="0.5", ms=3, label=f"observed (beam {c.beam:g}, noise {c.noise:g})")
    axes[0].plot(x, start, "-", color="tab:orange", lw=1, label="start: B = ({:g}, {:g}, {:g})".format(
        c.start_bx, c.start_by_left, c.start_by_right))
    axes[0].plot(x, fitted, "-", color="tab:blue", lw=1.2, label="fitted: B = ({:.3f}, {:.3f}, {:.3f})".format(*fit_b))
    axes[0].set_xlabel("x")
    axes[0].set_ylabel("beam-smoothed density at t = 0.1")
    axes[0].legend(fontsize=8)
    pth = signs * np.exp(np.asarray(path))
    for ax, (i, j) in zip(axes[1:], ((0, 1), (0, 2))):
        ax.plot(pth[:, i], pth[:, j], "o-", ms=3, label="Levenberg-Marquardt path")
        ax.plot((c.bx, c.by_left, c.by_right)[i], (c.bx, c.by_left, c.by_right)[j], "k*", ms=12, label="truth")
        # the 1-sigma ellipse of the fit (Gauss-Newton covariance, log space mapped to B to first order)
        sub = cov[np.ix_((i, j), (i, j))] * np.outer(fit_b[[i, j]], fit_b[[i, j]])
        vals, vecs = np.linalg.eigh(sub)
        phi = np.linspace(0, 2 * np.pi, 100)
        ell = vecs @ (np.sqrt(np.maximum(vals, 0))[:, None] * np.stack([np.cos(phi), np.sin(phi)]))
        ax.plot(fit_b[i] + ell[0], fit_b[j] + ell[1], "-", color="tab:red", lw=1, label="1 sigma")
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
    axes[1].legend(fontsize=8)
    fig.suptitle(f"The field from the gas: {iters} Levenberg-Marquardt iterations (forward-mode Jacobians through "
                 f"the HLLD solver), chi^2 per cell {chi2:.3f}, largest pull {pulls.max():.2f} sigma", fontsize=10)
    save_figure(fig, out / "mhd_fit.png")
    rel = np.abs(fit_b - signs * np.exp(tr)) / np.exp(tr)
    start_chi2 = float(np.mean(((start - np.asarray(obs)) / c.noise) ** 2))
    return {"bx_rel_err": float(rel[0]), "by_left_rel_err": float(rel[1]), "by_right_rel_err": float(rel[2]),
            "bx_sigma_rel": float(sigma[0]), "by_left_sigma_rel": float(sigma[1]),
            "by_right_sigma_rel": float(sigma[2]), "max_pull": float(pulls.max()), "chi2_per_cell": chi2,
            "start_chi2_per_cell": start_chi2, "iterations": int(iters), "wall_s": wall, "n_cells": c.n_cells}
