"""A star's wind (v_inf, Mdot) from a noisy projected image of its bubble, through the axisymmetric 2D solver."""

from __future__ import annotations

import dataclasses
from pathlib import Path

QUICK = {"n_r": 24, "n_inject": 2}
X64 = True  # forward-mode Jacobians through thousands of steps: float64 round-off


@dataclasses.dataclass
class Config:
    n_r: int = 32  # cells along R (3 pc); 2 n_r along z
    n_inject: int = 2
    noise: float = 0.01  # Gaussian noise per pixel, relative to the ambient column through the centre
    v_inf_kms: float = 2000.0  # truth
    mdot_msun_myr: float = 0.1186  # truth
    start_v_kms: float = 1500.0
    start_mdot: float = 0.08  # off the degeneracy ridge Mdot v^2 = const: a smaller bubble to start from
    iterations: int = 30
    seed: int = 0

    def validate(self):
        from ..core.checks import check_int, check_positive

        check_int("n_r", self.n_r, lo=16)
        check_int("n_inject", self.n_inject, lo=1)
        if self.n_inject > self.n_r // 4:
            raise ValueError(f"n_inject must be <= n_r / 4 ({self.n_r // 4}); got {self.n_inject}")
        check_int("iterations", self.iterations, lo=1)
        for name in ("noise", "v_inf_kms", "mdot_msun_myr", "start_v_kms", "start_mdot"):
            check_positive(name, getattr(self, name))


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..hydro import WindParams, axisymmetric_wind_problem, solve
    from .wind_fit import fit_with_errors, linearize

    c = config
    solver, state0, wind = axisymmetric_wind_problem(c.n_r, c.n_inject, v_inf_kms=c.v_inf_kms,
                                                     mdot_msun_myr=c.mdot_msun_myr)
    u = wind.units
    dtype = state0.u.dtype
    # the CFL speed is at least v_inf along both axes; the fit may try up to ~3x the truth's v_inf
    max_steps = int(3 * 4 / solver.cfl * wind.t_end * float(wind.params.v_inf) * c.n_r / wind.solver.grid.r_max)
    big = float(u.length(3.0))
    column0 = 2 * big * wind.rho0  # the ambient column through the centre

    def image(theta):
        """The projected column density at t_end over the ambient central column, theta = log (v_inf, Mdot)."""
        p = WindParams(jnp.exp(theta[0]), jnp.exp(theta[1]))
        sol = solve(solver, state0, p, t_end=wind.t_end, max_steps=max_steps)
        return solver.project(sol.state.u[0]) / column0

    truth = jnp.log(jnp.asarray([float(wind.params.v_inf), float(wind.params.mdot)], dtype))
    clean = jax.jit(image)(truth)
    obs = clean + c.noise * jax.random.normal(jax.random.PRNGKey(c.seed), clean.shape, dtype)
    lin = linearize(lambda th: image(th).ravel() / c.noise, obs.ravel() / c.noise)
    theta0 = jnp.log(jnp.asarray([float(u.velocity(c.start_v_kms)), float(u.mass_loss_rate(c.start_mdot))], dtype))
    # Gauss-Newton covariance of theta at the optimum (residuals in noise units)
    theta, path, losses, iters, wall, cov = fit_with_errors(lin, theta0, c.iterations)
    sigma = np.sqrt(np.diag(cov))
    corr = float(cov[0, 1] / (sigma[0] * sigma[1]))
    tr = np.asarray(truth, np.float64)
    pulls = np.abs(theta - tr) / sigma
    fitted = np.asarray(jax.jit(image)(jnp.asarray(theta, dtype)))
    chi2 = float(np.mean(((fitted - np.asarray(obs)) / c.noise) ** 2))

    ext = (0, 3.0, -3.0, 3.0)
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    start_img = np.asarray(jax.jit(image)(theta0))
    for ax, img, title in ((axes[0], np.asarray(obs), f"observed (noise {c.noise:g})"),
                           (axes[1], start_img, f"start: {c.start_v_kms:g} km/s, {c.start_mdot:g} Msun/Myr"),
                           (axes[2], fitted, "fitted")):
        im = ax.imshow(img.T, origin="lower", extent=ext, cmap="viridis", vmin=0, vmax=float(np.max(clean)) * 1.05)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("projected R [pc]")
    axes[0].set_ylabel("z [pc]")
    fig.colorbar(im, ax=list(axes[:3]), label="column / ambient centre column", shrink=0.9)
    pth = np.exp(np.asarray(path))
    kms, msun = float(u.velocity(1.0)), float(u.mass_loss_rate(1.0))
    axes[3].plot(pth[:, 0] / kms, pth[:, 1] / msun, "o-", ms=3, label="Levenberg-Marquardt path")
    axes[3].plot(c.v_inf_kms, c.mdot_msun_myr, "k*", ms=12, label="truth")
    t_ = np.linspace(0, 2 * np.pi, 200)
    ell = np.linalg.cholesky(cov) @ np.stack([np.cos(t_), np.sin(t_)]) * 2.0  # 2 sigma
    axes[3].plot(np.exp(theta[0] + ell[0]) / kms, np.exp(theta[1] + ell[1]) / msun, "r-", lw=1, label="2 sigma")
    axes[3].set_xlabel("v_inf [km/s]")
    axes[3].set_ylabel("Mdot [Msun/Myr]")
    axes[3].legend(fontsize=8)
    axes[3].set_title(f"{iters} iterations, chi^2 per pixel {chi2:.3f}", fontsize=9)
    save_figure(fig, out / "fit.png")
    return {"v_rel_err": float(abs(np.exp(theta[0] - tr[0]) - 1)),
            "mdot_rel_err": float(abs(np.exp(theta[1] - tr[1]) - 1)),
            "sigma_log_v": float(sigma[0]), "sigma_log_mdot": float(sigma[1]), "correlation": corr,
            "max_pull": float(pulls.max()), "chi2_per_pixel": chi2,
            "start_chi2_per_pixel": float(2 * losses[0] / clean.size), "iterations": int(iters), "wall_s": wall,
            "n_r": c.n_r}
