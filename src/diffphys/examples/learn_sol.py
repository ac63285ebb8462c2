"""Solver-in-the-loop: a CNN trained through a coarse flow solver cuts its error against a fine one (held out)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.checks import check_choice, check_int, check_positive

QUICK = {"n_train": 4, "n_test": 2, "train_steps": 16, "k": 4, "horizon": 16, "iterations": 250, "width": 16}
HEADLINE = True


@dataclasses.dataclass
class Config:
    n_fine: int = 64  # reference grid (n x n) on [0, 2 pi]^2, periodic
    n_coarse: int = 16  # grid of the solver being corrected; n_fine / n_coarse fine steps per coarse step
    viscosity: float = 0.01  # same in both solvers (Re ~ U L / nu ~ 100)
    cfl: float = 0.5  # dt = cfl * dx / U on both grids
    kmax: int = 3  # largest wavenumber of the random initial stream function
    coarse_advection: str = "maccormack"  # the coarse solver's scheme (the fine one: maccormack)
    n_train: int = 10  # training initial conditions: seeds seed, seed + 1, ...
    n_test: int = 3  # held-out initial conditions: seeds seed + 1000, seed + 1001, ...
    train_steps: int = 32  # coarse steps per training trajectory
    k: int = 8  # unrolled steps per training window
    horizon: int = 32  # coarse steps of the held-out evaluation (a multiple of k)
    iterations: int = 1000  # Adam updates
    batch: int = 8  # windows per update
    learning_rate: float = 2e-3  # cosine-decayed to 10 % over the run
    width: int = 32  # hidden channels
    depth: int = 2  # hidden layers
    checkpoint: bool = False  # jax.checkpoint each unrolled step
    seed: int = 0  # training seeds seed..seed + n_train - 1, held-out seeds from seed + 1000, model init: seed

    def validate(self):
        check_int("n_fine", self.n_fine, lo=8)
        check_int("n_coarse", self.n_coarse, lo=4)
        if self.n_fine % self.n_coarse or self.n_fine == self.n_coarse:
            raise ValueError(f"n_fine must be a multiple > 1 of n_coarse; got {self.n_fine}, {self.n_coarse}")
        check_positive("viscosity", self.viscosity)
        check_positive("cfl", self.cfl)
        check_int("kmax", self.kmax, lo=1, hi=self.n_coarse // 2)
        check_choice("coarse_advection", self.coarse_advection, ("semi-lagrangian", "maccormack"))
        check_int("n_train", self.n_train, lo=1, hi=999)
        check_int("n_test", self.n_test, lo=1, hi=99)
        check_int("k", self.k, lo=1)
        check_int("train_steps", self.train_steps, lo=self.k)
        check_int("horizon", self.horizon, lo=1)
        check_int("iterations", self.iterations, lo=0)
        check_int("batch", self.batch, lo=1)
        check_positive("learning_rate", self.learning_rate)
        check_int("width", self.width, lo=1)
        check_int("depth", self.depth, lo=0)
        check_int("seed", self.seed, lo=0)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..flow import vorticity
    from ..learn import (VelocityCNN, evaluate, make_flow_pair, reference_trajectory, smooth_vortices,
                         train_correction, velocity_state)

    c = config
    dtype = jnp.result_type(float)
    pair = make_flow_pair(c.n_fine, c.n_coarse, c.viscosity, c.cfl, coarse_advection=c.coarse_advection)
    train_seeds = [c.seed + i for i in range(c.n_train)]
    test_seeds = [c.seed + 1000 + i for i in range(c.n_test)]
    assert not set(test_seeds) & set(train_seeds)  # the held-out flows are never seen in training

    t0 = time.perf_counter()
    train = []
    for s in train_seeds:
        u0, v0 = smooth_vortices(jax.random.PRNGKey(s), c.n_fine, c.kmax, dtype=dtype)
        train.append(reference_trajectory(pair, u0, v0, c.train_steps))
    tests = []
    for s in test_seeds:
        u0, v0 = smooth_vortices(jax.random.PRNGKey(s), c.n_fine, c.kmax, dtype=dtype)
        tests.append(reference_trajectory(pair, u0, v0, c.horizon))
    test, test_seed = tests[0], test_seeds[0]  # the one shown in the figures
    reference_s = time.perf_counter() - t0

    model = VelocityCNN(c.width, c.depth, key=jax.random.PRNGKey(c.seed), dtype=dtype)
    res = train_correction(model, pair.coarse, pair.params, train, k=c.k, iterations=c.iterations, batch=c.batch,
                           learning_rate=c.learning_rate, key=jax.random.PRNGKey(c.seed + 1),
                           checkpoint=c.checkpoint)
    evs = [evaluate(res.model, pair.coarse, pair.params, *t, horizon=c.horizon) for t in tests]
    ev = evs[0]
    ev_train = evaluate(res.model, pair.coarse, pair.params, *train[0], horizon=min(c.horizon, c.train_steps))
    # errors: relative L2 after each coarse step, averaged over the horizon and the held-out flows
    ep = np.mean([e["err_plain"] for e in evs], 0)
    ec = np.mean([e["err_corrected"] for e in evs], 0)
    err_coarse, err_corr = float(np.mean(ep)), float(np.mean(ec))
    per_seed = [float(np.mean(e["err_plain"]) / np.mean(e["err_corrected"])) for e in evs]

    # --- figures: vorticity at the end of the horizon, error curves, training loss
    coarse = pair.coarse
    vort = lambda u, v: vorticity(coarse, velocity_state(coarse, jnp.asarray(u), jnp.asarray(v)))  # noqa: E731
    T = c.horizon
    fields = [vort(test[0][T], test[1][T]), vort(ev["plain"][0][-1], ev["plain"][1][-1]),
              vort(ev["corrected"][0][-1], ev["corrected"][1][-1])]
    t_end = T * coarse.dt
    lim = float(np.percentile(np.abs(np.asarray(fields[0])), 99)) or 1.0  # one colour scale: the reference's
    e0p, e0c = ev["err_plain"][-1], ev["err_corrected"][-1]
    titles = [f"fine {c.n_fine}^2 restricted to {c.n_coarse}^2", f"coarse solver (error {e0p:.3f})",
              f"coarse + learned correction (error {e0c:.3f})"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), constrained_layout=True)
    L = coarse.grid.size[0]
    for ax, f, title in zip(axes, fields, titles):
        im = ax.imshow(np.asarray(f).T, origin="lower", extent=(0, L, 0, L), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.colorbar(im, ax=axes, shrink=0.85, label="vorticity")
    fig.suptitle(f"held-out flow (seed {test_seed}) at t = {t_end:.2f} ({T} coarse steps)")
    save_figure(fig, out / "vorticity.png")
    times = coarse.dt * np.arange(1, T + 1)
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    ax[0].plot(times, ep, label=f"coarse solver (mean {err_coarse:.3f})")
    ax[0].plot(times, ec, label=f"coarse + learned correction (mean {err_corr:.3f})")
    ax[0].axvline(c.k * coarse.dt, color="k", ls=":", label=f"training window (k = {c.k})")
    ax[0].set_xlabel("t")
    ax[0].set_ylabel("relative L2 error vs restricted fine solution")
    ax[0].set_title(f"mean over {c.n_test} held-out initial conditions")
    ax[0].legend(fontsize=8, loc="upper left")
    ax[1].semilogy(res.history, lw=0.8)
    ax[1].set_xlabel("Adam iteration")
    ax[1].set_ylabel(f"unrolled loss (MSE over {c.k} steps)")
    ax[1].set_title(f"training: {c.n_train} trajectories, {res.num_windows} windows")
    save_figure(fig, out / "errors.png")
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    ax.semilogy(res.history, lw=0.8)
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel(f"unrolled loss (MSE over {c.k} steps)")
    save_figure(fig, out / "training_loss.png")

    return {"err_coarse": err_coarse, "err_corrected": err_corr, "error_reduction": err_coarse / err_corr,
            "err_coarse_final": float(ep[-1]), "err_corrected_final": float(ec[-1]),
            "error_reduction_final": float(ep[-1] / ec[-1]),
            "error_reduction_train": float(np.mean(ev_train["err_plain"]) / np.mean(ev_train["err_corrected"])),
            "error_reduction_per_test_seed": per_seed,
            "train_s": res.seconds, "iterations": res.iterations, "reference_s": reference_s,
            "loss_first": float(res.history[0]) if len(res.history) else None,
            "loss_last": float(np.mean(res.history[-10:])) if len(res.history) else None,
            "num_windows": res.num_windows, "train_seeds": train_seeds, "test_seeds": test_seeds,
            "dt_coarse": coarse.dt, "horizon_time": t_end}
