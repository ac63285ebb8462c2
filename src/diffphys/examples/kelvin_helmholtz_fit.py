"""Kelvin-Helmholtz inverse problem: the seed's amplitude and phase and the shear speed from a noisy density image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.checks import check_int, check_positive

QUICK = {"n": 32}
X64 = True  # forward-mode Jacobians through ~1,000 steps of a growing instability: float64 round-off


@dataclasses.dataclass
class Config:
    n: int = 64  # cells per side of the periodic unit square
    t_obs: float = 1.2  # the density is observed once, at this time
    noise: float = 0.01  # Gaussian noise (absolute, on a density of 1-2) added to every cell
    amplitude: float = 0.01  # truth: seed v_y = amplitude sin(4 pi x + phase)
    phase: float = 0.3
    shear: float = 0.5  # truth: the streams move at +-shear
    start_amplitude: float = 0.02
    start_phase: float = 0.0
    start_shear: float = 0.45
    iterations: int = 30  # Levenberg-Marquardt iterations at most
    seed: int = 0

    def validate(self):
        check_int("n", self.n, lo=16)
        check_int("iterations", self.iterations, lo=1)
        for name in ("t_obs", "noise", "amplitude", "shear", "start_amplitude", "start_shear"):
            check_positive(name, getattr(self, name))
        if self.shear >= 1.5 or self.start_shear >= 1.5:
            raise ValueError("shear and start_shear must be < 1.5 (the streams stay subsonic)")


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..hydro import CartesianEulerSolver, kelvin_helmholtz_profile, solve
    from ..hydro.cartesian import CartesianState
    from ..viz.fields import snapshot_row
    from .wind_fit import levenberg_marquardt, linearize

    c = config
    s = CartesianEulerSolver((c.n, c.n), 1.0, 5.0 / 3.0)
    x, y = s.centers()
    rho_np, vx_np = kelvin_helmholtz_profile(y)
    dtype = jnp.zeros(()).dtype
    rho0, vx_unit, sx = (jnp.asarray(a, dtype) for a in (rho_np, vx_np / 0.5, 4 * np.pi * x))
    # a bound on the steps: |v| + c < 3.5 for shear < 1.5 (c <= 1.9)
    max_steps = int(np.ceil(c.t_obs * 2 * 3.5 * c.n / s.cfl)) + 1

    def final_density(theta):
        """Density at t_obs from theta = (log amplitude, phase, shear)."""
        amp, phase, shear = jnp.exp(theta[0]), theta[1], theta[2]
        vx, vy = shear * vx_unit, amp * jnp.sin(sx + phase)
        e = 2.5 / (s.gamma - 1.0) + 0.5 * rho0 * (vx * vx + vy * vy)
        st = CartesianState(jnp.stack([rho0, rho0 * vx, rho0 * vy, e]))
        return solve(s, st, t_end=c.t_obs, max_steps=max_steps).state.u[0]

    truth = jnp.asarray([np.log(c.amplitude), c.phase, c.shear], dtype)
    clean = final_density(truth)
    obs = clean + c.noise * jax.random.normal(jax.random.PRNGKey(c.seed), clean.shape, dtype)

    # Levenberg-Marquardt on the residuals (observed - model) / noise, with forward-mode Jacobians (one pass of
    # three tangents per iteration: cheaper than reverse mode for three parameters, and constant memory)
    lin = linearize(lambda th: final_density(th).ravel() / c.noise, obs.ravel() / c.noise)
    theta0 = jnp.asarray([np.log(c.start_amplitude), c.start_phase, c.start_shear], dtype)
    t0 = time.perf_counter()
    theta, path, losses, iters = levenberg_marquardt(lin, theta0, max_iter=c.iterations)
    wall = time.perf_counter() - t0
    theta = np.asarray(theta, np.float64)
    # Gauss-Newton covariance of the estimate (the residuals are in units of the noise): the truth should lie
    # within ~2-3 sigma of the maximum-likelihood point; one snapshot constrains the parameters only to ~1-2%
    jac = np.asarray(lin(jnp.asarray(theta, dtype))[1], np.float64)
    sigma = np.sqrt(np.diag(np.linalg.inv(jac.T @ jac)))
    pulls = np.abs(theta - np.asarray(truth, np.float64)) / sigma
    amp, phase, shear = float(np.exp(theta[0])), float(theta[1]), float(theta[2])
    phase_err = abs((phase - c.phase + np.pi / 2) % np.pi - np.pi / 2)  # sin(4 pi x + phase): period pi in phase
    fitted = np.asarray(final_density(jnp.asarray(theta, dtype)))
    start = np.asarray(final_density(theta0))
    chi2 = float(np.mean(((fitted - np.asarray(obs)) / c.noise) ** 2))

    snapshot_row([np.asarray(obs), start, fitted], [f"observed at t = {c.t_obs:g} (noise {c.noise:g})",
                 "start", "fitted"], (0, 1, 0, 1), out / "densities.png", height=4.0, cmap="magma", vmin=0.9, vmax=2.1)
    diff = fitted - np.asarray(clean)
    lim = float(np.abs(diff).max())
    snapshot_row([diff], [f"fitted - noise-free truth (noise is {c.noise:g})"], (0, 1, 0, 1), out / "residual.png",
                 height=4.0, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(np.arange(len(losses)), np.asarray(losses) / c.n ** 2)
    ax.axhline(0.5, color="grey", ls=":", label="noise level (chi^2 / 2 per cell)")
    ax.set_xlabel("accepted Levenberg-Marquardt step")
    ax.set_ylabel("misfit: chi^2 / 2 per cell")
    ax.set_title(f"A {amp:.5f} ({c.amplitude:g}), phase {phase:.4f} ({c.phase:g}), shear {shear:.5f} ({c.shear:g})")
    ax.legend()
    save_figure(fig, out / "loss.png")
    return {"amplitude_rel_err": abs(amp / c.amplitude - 1), "phase_err": float(phase_err),
            "shear_rel_err": abs(shear / c.shear - 1), "max_pull": float(pulls.max()),
            "sigma_log_amplitude": float(sigma[0]), "sigma_phase": float(sigma[1]), "sigma_shear": float(sigma[2]),
            "chi2_per_cell": chi2, "start_chi2_per_cell": float(2 * losses[0] / c.n ** 2), "iterations": int(iters),
            "wall_s": wall, "n": c.n}
