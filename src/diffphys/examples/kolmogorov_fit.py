"""4D-Var: the initial vorticity of a turbulent flow recovered from sparse noisy later observations (L-BFGS)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.checks import check_int, check_positive
from .kolmogorov import validate_flow

QUICK = {"n": 32, "obs_stride": 2, "window": 0.3, "iterations": 150}
X64 = True  # L-BFGS's line search on a chaotic flow's misfit needs float64 round-off


@dataclasses.dataclass
class Config:
    n: int = 64  # grid of the periodic square [0, 2 pi)^2
    viscosity: float = 1e-3
    drag: float = 0.1
    spin_up: int = 5  # the true state is a random start run this many time units into turbulence
    window: float = 0.5  # assimilation window (time units; the flow decorrelates in ~0.5, docs/learn.md)
    n_obs_times: int = 4  # observation times, evenly spaced in (0, window]
    obs_stride: int = 2  # observe every obs_stride-th grid point in x and y (a quarter of them)
    noise: float = 0.05  # observation noise, relative to the RMS vorticity
    iterations: int = 200  # L-BFGS iterations
    seed: int = 0

    def validate(self):
        validate_flow(self)
        check_int("spin_up", self.spin_up, lo=0)
        check_positive("window", self.window)
        check_int("n_obs_times", self.n_obs_times, lo=1)
        check_int("obs_stride", self.obs_stride, lo=1, hi=self.n // 2)
        check_positive("noise", self.noise)
        check_int("iterations", self.iterations, lo=1)
        check_int("seed", self.seed, lo=0)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np
    import optax

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core import fit, simulate
    from ..core.io import save_figure
    from ..flow import SpectralState, kolmogorov

    c = config
    solver, start, params = kolmogorov(c.n, viscosity=c.viscosity, drag=c.drag, seed=c.seed)
    dtype = jnp.finfo(start.omega_hat.dtype).dtype
    vort = solver.vorticity

    max_steps = int(50 / solver.dx) + 10  # per time unit: CFL steps with |u| + |v| <= 100

    @jax.jit
    def advance(st):  # one time unit of CFL steps
        return simulate(solver, st, params, t_end=1.0, max_steps=max_steps).state

    def spun(st, t):
        for _ in range(int(round(t))):
            st = advance(st)
        return st

    truth0 = spun(start, c.spin_up)
    # the background error covariance: the modal variance of the climate (another run, 4 states 1 apart)
    _, other, _ = kolmogorov(c.n, viscosity=c.viscosity, drag=c.drag, seed=c.seed + 100)
    clim = [spun(other, c.spin_up)]
    for _ in range(3):
        clim.append(advance(clim[-1]))
    var = np.mean([np.abs(np.asarray(s.omega_hat)) ** 2 for s in clim], axis=0)
    kint = np.rint(np.sqrt(solver.k2)).astype(int)  # shell-average the variance: isotropic prior
    shell_var = np.bincount(kint.ravel(), var.ravel()) / np.maximum(np.bincount(kint.ravel()), 1)
    sqrt_b = jnp.asarray(np.sqrt(shell_var[kint]) * solver.keep, dtype)  # B^(1/2) in Fourier space

    # observations: every obs_stride-th grid point at n_obs_times times, Gaussian noise
    dt = float(0.8 * solver.max_dt(truth0, params))
    every = max(1, int(round(c.window / c.n_obs_times / dt)))
    steps = every * c.n_obs_times
    dt = c.window / steps

    def trajectory(state0, num=steps):
        sol = simulate(solver, state0, params, num_steps=num, dt=dt, save_every=every, gradient="checkpoint")
        return jax.vmap(lambda w: vort(SpectralState(w)))(sol.snapshots.omega_hat)  # (num / every + 1, n, n)

    true_traj = trajectory(truth0, 2 * steps)  # the window and as long again after it (the forecast)
    obs_true = true_traj[1: c.n_obs_times + 1, :: c.obs_stride, :: c.obs_stride]
    sigma = c.noise * float(jnp.sqrt(jnp.mean(true_traj[0] ** 2)))
    y = obs_true + sigma * jax.random.normal(jax.random.PRNGKey(c.seed + 7), obs_true.shape, dtype)
    n_obs = y.size

    def initial(chi):  # control variable transform: omega_0 = B^(1/2) chi (chi white, unit variance)
        return SpectralState(jnp.fft.rfft2(chi) * sqrt_b / c.n)  # rfft2 of white noise: variance n^2 per mode

    def loss(chi):
        w = trajectory(initial(chi))[1:, :: c.obs_stride, :: c.obs_stride]
        return 0.5 * jnp.sum(((w - y) / sigma) ** 2) + 0.5 * jnp.sum(chi**2)

    chi0 = jnp.zeros((c.n, c.n), dtype)  # the background: the climatological mean (no vorticity)
    t0 = time.perf_counter()
    res = fit(loss, chi0, optimizer=optax.lbfgs(), steps=c.iterations, desc="4D-Var (L-BFGS)")
    wall = time.perf_counter() - t0
    fitted0 = initial(res.params)
    fit_traj = trajectory(fitted0, 2 * steps)
    norms = jnp.sqrt(jnp.sum(true_traj**2, (1, 2)))
    err = np.asarray(jnp.sqrt(jnp.sum((fit_traj - true_traj) ** 2, (1, 2))) / norms)
    w_fit = fit_traj[1: c.n_obs_times + 1, :: c.obs_stride, :: c.obs_stride]
    chi2 = float(jnp.sum(((w_fit - y) / sigma) ** 2)) / n_obs
    times = np.arange(2 * c.n_obs_times + 1) * every * dt

    # figures
    lim = float(np.percentile(np.abs(np.asarray(true_traj[0])), 99.5))
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), constrained_layout=True)
    panels = [(true_traj[0], "true initial vorticity"), (vort(fitted0), f"4D-Var estimate (error {err[0]:.2f})"),
              (vort(fitted0) - true_traj[0], "estimate - truth"),
              (true_traj[c.n_obs_times], f"truth at t = {c.window:g} with the observed points")]
    for ax, (f, title) in zip(axes, panels):
        im = ax.imshow(np.asarray(f).T, origin="lower", extent=(0, 2 * np.pi, 0, 2 * np.pi), cmap="RdBu_r",
                       vmin=-lim, vmax=lim)
        ax.set_title(title)
    xo = np.arange(0, c.n, c.obs_stride) * solver.dx
    xx, yy = np.meshgrid(xo, xo, indexing="ij")
    axes[3].plot(xx.ravel(), yy.ravel(), "k.", ms=2)
    fig.colorbar(im, ax=axes, shrink=0.85, label="vorticity")
    save_figure(fig, out / "fields.png")
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    ax[0].semilogy(times, err, "o-", label="4D-Var estimate, run forward")
    ax[0].axvspan(0, c.window, color="grey", alpha=0.15, label="assimilation window")
    ax[0].axhline(1.0, color="k", ls=":", label="background (no vorticity)")
    ax[0].set_xlabel("t")
    ax[0].set_ylabel("relative L2 vorticity error")
    ax[0].legend(fontsize=8)
    ax[1].semilogy(res.history)
    ax[1].set_xlabel("L-BFGS iteration")
    ax[1].set_ylabel("cost J (misfit / 2 sigma^2 + prior)")
    ax[1].set_title(f"chi^2 per observation at the end: {chi2:.2f} ({n_obs} observations)")
    save_figure(fig, out / "convergence.png")
    return {"init_rel_err": float(err[0]), "window_end_rel_err": float(err[c.n_obs_times]),
            "forecast_rel_err": float(err[-1]), "chi2_per_obs": chi2, "n_obs": int(n_obs),
            "n_unknowns": int(c.n * c.n), "iterations": int(res.steps), "cost_first": float(res.history[0]),
            "cost_last": float(res.final_loss), "wall_s": wall, "fit_message": res.message,
            "errors_vs_time": [float(e) for e in err], "times": [float(t) for t in times]}
