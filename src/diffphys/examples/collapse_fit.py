"""A collapsing cloud's initial density, radius and spin from one noisy column-density image, through the 3D solver."""

from __future__ import annotations

import dataclasses
from pathlib import Path

QUICK = {"n": 16, "iterations": 15}
X64 = True  # forward-mode Jacobians through a few hundred steps with self-gravity: float64 round-off


@dataclasses.dataclass
class Config:
    n: int = 24  # cells per side of [-1/2, 1/2]^3 (vacuum gravity boundaries, outflow hydro boundaries)
    t_obs: float = 0.38  # the time of the image (G = 1; 0.70 t_ff of the true cloud)
    noise: float = 0.01  # Gaussian noise per pixel, relative to the true image's peak column
    rho0: float = 1.0  # truth: the cloud's density
    radius: float = 0.25  # truth: its radius (a tanh edge 0.75 cells wide, so that the image is smooth in it)
    omega: float = 1.1  # truth: solid-body rotation about z (rotational / gravitational energy 0.096)
    start_rho0: float = 0.7
    start_radius: float = 0.2
    start_omega: float = 0.4
    ambient: float = 1e-3  # the surrounding gas's density (absolute), at the cloud's pressure
    pressure: float = 1e-3
    iterations: int = 25
    seed: int = 0

    def validate(self):
        from ..core.checks import check_int, check_positive, check_range

        check_int("n", self.n, lo=12)
        check_int("iterations", self.iterations, lo=1)
        for name in ("t_obs", "noise", "rho0", "start_rho0", "ambient", "pressure"):
            check_positive(name, getattr(self, name))
        for name in ("radius", "start_radius"):
            check_range(name, getattr(self, name), 0.0, 0.4, lo_open=True)
        for name in ("omega", "start_omega"):
            check_range(name, getattr(self, name), -5.0, 5.0)
        import math

        t_ff = math.sqrt(3 * math.pi / (32 * self.rho0))
        if not self.t_obs < 0.9 * t_ff:
            raise ValueError(f"t_obs must be < 0.9 t_ff of the true cloud ({0.9 * t_ff:.4g}); got {self.t_obs}")


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure, write_json
    from ..hydro import CartesianEulerSolver, CartesianState, solve
    from .wind_fit import fit_with_errors, linearize

    c = config
    solver = CartesianEulerSolver((c.n,) * 3, 1.0, 5.0 / 3.0, origin=-0.5, boundary="outflow", cfl=0.4,
                                  self_gravity=1.0, self_gravity_boundary="isolated")
    x, y, z = solver.centers()
    r = np.sqrt(x * x + y * y + z * z)
    dx = solver.dx[0]
    dtype = jnp.zeros(()).dtype
    gm1 = solver.gamma - 1.0

    def state(theta):
        """theta = (log rho0, log radius, omega) -> the initial state: a uniform sphere with a smooth edge, in solid
        body rotation about z, at uniform pressure in thin ambient gas."""
        rho0, radius, omega = jnp.exp(theta[0]), jnp.exp(theta[1]), theta[2]
        inside = 0.5 * (1.0 - jnp.tanh((jnp.asarray(r, dtype) - radius) / (0.75 * dx)))
        rho = c.ambient + (rho0 - c.ambient) * inside
        vx, vy = -omega * jnp.asarray(y, dtype) * inside, omega * jnp.asarray(x, dtype) * inside
        e = c.pressure / gm1 + 0.5 * rho * (vx * vx + vy * vy)
        return CartesianState(jnp.stack([rho, rho * vx, rho * vy, jnp.zeros_like(rho), e]))

    def image(theta):
        """The column density along y at t_obs (the rotation axis z lies in the image: the cloud seen edge-on)."""
        sol = solve(solver, state(theta), t_end=c.t_obs, max_steps=4000)
        return jnp.sum(sol.state.u[0], axis=1) * dx

    truth = jnp.asarray([np.log(c.rho0), np.log(c.radius), c.omega], dtype)
    clean = jax.jit(image)(truth)
    sigma_pix = c.noise * float(jnp.max(clean))
    obs = clean + sigma_pix * jax.random.normal(jax.random.PRNGKey(c.seed), clean.shape, dtype)
    lin = linearize(lambda th: image(th).ravel() / sigma_pix, obs.ravel() / sigma_pix)
    theta0 = jnp.asarray([np.log(c.start_rho0), np.log(c.start_radius), c.start_omega], dtype)
    # Gauss-Newton covariance of theta at the optimum (residuals in noise units)
    theta, path, losses, iters, wall, cov = fit_with_errors(lin, theta0, c.iterations)
    sig = np.sqrt(np.diag(cov))
    tr = np.asarray(truth, np.float64)
    pulls = np.abs(theta - tr) / sig
    fitted = np.asarray(jax.jit(image)(jnp.asarray(theta, dtype)))
    start = np.asarray(jax.jit(image)(theta0))
    chi2 = float(np.mean(((fitted - np.asarray(obs)) / sigma_pix) ** 2))

    ext = (-0.5, 0.5, -0.5, 0.5)
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.6), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
    vmax = float(np.max(clean)) * 1.05
    for ax, img, title in ((axes[0], np.asarray(obs), f"observed at t = {c.t_obs:g} (noise {c.noise:g} of peak)"),
                           (axes[1], start, f"start: rho0 {c.start_rho0:g}, R {c.start_radius:g}, "
                                            f"omega {c.start_omega:g}"),
                           (axes[2], fitted, "fitted")):
        im = ax.imshow(img.T, origin="lower", extent=ext, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x")
    axes[0].set_ylabel("z (rotation axis)")
    fig.colorbar(im, ax=list(axes[:3]), label="column density", shrink=0.9)
    res = (np.asarray(obs) - fitted) / sigma_pix
    im4 = axes[3].imshow(res.T, origin="lower", extent=ext, cmap="RdBu_r", vmin=-3, vmax=3)
    axes[3].set_title("residual / noise", fontsize=9)
    fig.colorbar(im4, ax=axes[3], shrink=0.9)
    names = ("rho0", "R", "omega")
    pth = np.asarray(path, np.float64)
    vals = np.concatenate([np.exp(pth[:, :2]), pth[:, 2:]], axis=1)
    tvals = np.array([c.rho0, c.radius, c.omega])
    for k, name in enumerate(names):
        axes[4].plot(np.arange(len(vals)), vals[:, k] / tvals[k], "o-", ms=3, label=f"{name} / truth")
    axes[4].axhline(1.0, color="k", lw=0.8)
    axes[4].set_xlabel("accepted Levenberg-Marquardt step")
    axes[4].set_ylabel("parameter / truth")
    axes[4].set_title(f"{iters} iterations, chi^2 per pixel {chi2:.3f}", fontsize=9)
    axes[4].legend(fontsize=8)
    save_figure(fig, out / "fit.png")
    write_json(out / "fit.json", {"theta": theta, "truth": tr, "sigma": sig, "covariance": cov, "path": pth,
                                  "losses": losses})
    return {"rho0_rel_err": float(abs(np.exp(theta[0] - tr[0]) - 1)),
            "radius_rel_err": float(abs(np.exp(theta[1] - tr[1]) - 1)),
            "omega_abs_err": float(abs(theta[2] - tr[2])),
            "sigma_log_rho0": float(sig[0]), "sigma_log_radius": float(sig[1]), "sigma_omega": float(sig[2]),
            "max_pull": float(pulls.max()), "chi2_per_pixel": chi2,
            "start_chi2_per_pixel": float(2 * losses[0] / clean.size), "iterations": int(iters), "wall_s": wall,
            "n": c.n}
