"""A CNN trained through a coarse spectral solver of Kolmogorov turbulence keeps it near a fine one longer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.checks import check_int, check_positive

QUICK = {"n_fine": 64, "n_train": 4, "n_test": 2, "steps": 100, "iterations": 120}


@dataclasses.dataclass
class Config:
    n_fine: int = 128  # reference grid on [0, 2 pi)^2
    n_coarse: int = 32  # the corrected solver's grid; n_fine / n_coarse fine steps per coarse step
    viscosity: float = 1e-3  # Re = 1000 (Kochkov et al. 2021)
    drag: float = 0.1
    n_train: int = 8  # training trajectories (seeds seed, ...); held-out ones from seed + 1000
    n_test: int = 2
    steps: int = 200  # coarse steps per trajectory (after a spin-up of spin_up time units)
    spin_up: float = 5.0
    k: int = 10  # unrolled coarse steps per training window
    iterations: int = 300  # Adam updates
    batch: int = 8
    learning_rate: float = 3e-3
    width: int = 16
    depth: int = 2
    threshold: float = 0.95  # vorticity correlation that defines the "correlated time"
    seed: int = 0

    def validate(self):
        check_int("n_fine", self.n_fine, lo=16)
        check_int("n_coarse", self.n_coarse, lo=16)
        if self.n_fine % self.n_coarse or self.n_fine == self.n_coarse:
            raise ValueError(f"n_fine must be a multiple > 1 of n_coarse; got {self.n_fine}, {self.n_coarse}")
        check_positive("viscosity", self.viscosity)
        check_positive("drag", self.drag, allow_zero=True)
        check_int("n_train", self.n_train, lo=1, hi=999)
        check_int("n_test", self.n_test, lo=1, hi=99)
        check_int("k", self.k, lo=1)
        check_int("steps", self.steps, lo=self.k + 1)
        check_positive("spin_up", self.spin_up, allow_zero=True)
        check_int("iterations", self.iterations, lo=0)
        check_int("batch", self.batch, lo=1)
        check_positive("learning_rate", self.learning_rate)
        check_int("width", self.width, lo=1)
        check_int("depth", self.depth, lo=0)
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must lie in (0, 1); got {self.threshold}")
        check_int("seed", self.seed, lo=0)


def _correlated_time(corr, threshold, dt):
    """Time until the correlation first drops below ``threshold`` (the whole horizon if it never does)."""
    import numpy as np

    below = np.nonzero(corr < threshold)[0]
    return float((below[0] if below.size else corr.size) * dt)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..core.progress import progress_bar
    from ..flow import SpectralState
    from ..learn import (VorticityCorrection, evaluate_spectral, kolmogorov_pair, train_spectral_correction,
                         turbulence_trajectories)

    c = config
    pair = kolmogorov_pair(c.n_fine, c.n_coarse, viscosity=c.viscosity, drag=c.drag)
    t0 = time.perf_counter()
    train = turbulence_trajectories(pair, jax.random.PRNGKey(c.seed), c.n_train, c.steps, spin_up=c.spin_up)
    test = turbulence_trajectories(pair, jax.random.PRNGKey(c.seed + 1000), c.n_test, c.steps, spin_up=c.spin_up)
    reference_s = time.perf_counter() - t0
    vort = jax.vmap(lambda w: pair.coarse.vorticity(SpectralState(w)))
    scale = float(jnp.std(vort(train[:, :: max(1, c.steps // 10)].reshape((-1,) + train.shape[2:]))))
    model = VorticityCorrection(jax.random.PRNGKey(c.seed + 1), scale=scale, width=c.width, depth=c.depth)
    with progress_bar(total=c.iterations, desc="training") as bar:
        res = train_spectral_correction(model, pair, train, k=c.k, iterations=c.iterations, batch=c.batch,
                                        learning_rate=c.learning_rate, key=jax.random.PRNGKey(c.seed + 2),
                                        callback=lambda *_: bar.update(1))
    evs = [evaluate_spectral(res.model, pair, w) for w in test]
    dt = pair.dt_coarse
    t_plain = [_correlated_time(e["corr_plain"], c.threshold, dt) for e in evs]
    t_corr = [_correlated_time(e["corr_corrected"], c.threshold, dt) for e in evs]
    ep = np.mean([e["err_plain"] for e in evs], 0)
    ec = np.mean([e["err_corrected"] for e in evs], 0)
    first = slice(0, c.k)  # the training window's length

    times = dt * np.arange(1, c.steps + 1)
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.4), constrained_layout=True)
    for i, e in enumerate(evs):
        ax[0].plot(times, e["corr_plain"], color="C0", alpha=0.8, label="coarse solver" if i == 0 else None)
        ax[0].plot(times, e["corr_corrected"], color="C1", alpha=0.8,
                   label="coarse + learned correction" if i == 0 else None)
    ax[0].axhline(c.threshold, color="k", ls=":", lw=0.8)
    ax[0].set_xlabel("t")
    ax[0].set_ylabel(f"vorticity correlation with the fine {c.n_fine}^2 run")
    ax[0].set_title(f"{c.n_test} held-out flows: correlated (> {c.threshold}) for "
                    f"{np.mean(t_plain):.2f} vs {np.mean(t_corr):.2f}")
    ax[0].legend(fontsize=8)
    ax[1].semilogy(times, ep, label="coarse solver")
    ax[1].semilogy(times, ec, label="coarse + learned correction")
    ax[1].axvline(c.k * dt, color="k", ls=":", label=f"training window (k = {c.k})")
    ax[1].set_xlabel("t")
    ax[1].set_ylabel("relative L2 vorticity error (mean over held-out flows)")
    ax[1].legend(fontsize=8)
    ax[2].semilogy(res.history, lw=0.8)
    ax[2].set_xlabel("Adam iteration")
    ax[2].set_ylabel(f"training loss (squared relative error over {c.k} steps)")
    save_figure(fig, out / "errors.png")

    e0 = evs[0]
    j = int(np.argmin(np.abs(e0["corr_plain"] - 0.8))) if np.any(e0["corr_plain"] < 0.8) else c.steps - 1
    sub = test[0, j + 1]
    fields = [np.asarray(pair.coarse.vorticity(SpectralState(sub)))]
    ev_j = evaluate_spectral(res.model, pair, test[0, : j + 2])
    fields += [ev_j["final_plain"], ev_j["final_corrected"]]
    lim = float(np.percentile(np.abs(fields[0]), 99.5))
    titles = [f"fine {c.n_fine}^2, restricted to {c.n_coarse}^2", f"coarse (corr. {e0['corr_plain'][j]:.2f})",
              f"coarse + correction (corr. {e0['corr_corrected'][j]:.2f})"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), constrained_layout=True)
    for a, f, title in zip(axes, fields, titles):
        im = a.imshow(f.T, origin="lower", extent=(0, 2 * np.pi, 0, 2 * np.pi), cmap="RdBu_r", vmin=-lim, vmax=lim)
        a.set_title(title)
    fig.colorbar(im, ax=axes, shrink=0.85, label="vorticity")
    fig.suptitle(f"held-out flow at t = {(j + 1) * dt:.2f} after the spin-up")
    save_figure(fig, out / "vorticity.png")
    return {"correlated_time_coarse": float(np.mean(t_plain)), "correlated_time_corrected": float(np.mean(t_corr)),
            "correlated_time_gain": float(np.mean(t_corr) / np.mean(t_plain)),
            "err_coarse_first_k": float(np.mean(ep[first])), "err_corrected_first_k": float(np.mean(ec[first])),
            "error_reduction_first_k": float(np.mean(ep[first]) / np.mean(ec[first])),
            "correlated_time_per_test": [[a, b] for a, b in zip(t_plain, t_corr)],
            "dt_coarse": dt, "reference_s": reference_s, "train_s": res.seconds,
            "train_loss_first": float(res.history[0]) if len(res.history) else None,
            "train_loss_last": float(res.history[-1]) if len(res.history) else None}
