"""A buoyant smoke plume: internal waves against theory, its source recovered from one noisy smoke image.

Boussinesq buoyancy in the flow solver (``FlowParams(buoyancy=, source=)``), checked first on standing internal
gravity waves in a stratified box (frequency against ``omega = N kx / |k|``), then a plume rising from a Gaussian
source whose position and rate are recovered by Levenberg-Marquardt through the whole run (the inverse problem
of PhiFlow's smoke demos).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

HEADLINE = True
X64 = True  # Gauss-Newton covariances and the 1e-10 pressure solves of the wave runs

# the stratified box's modes: aspect = box width / depth (one wavelength across), theta = the wave vector's angle
WAVE_ASPECTS = (1, 2, 4)


@dataclasses.dataclass
class Config:
    n: int = 48  # cells across the unit box (48 x 48)
    t_end: float = 2.5  # plume run length (buoyancy 1, dt = dx)
    x0: float = 0.42  # the truth: source centre (x; height 0.12)
    rate: float = 1.5  # the truth: smoke per unit time (peak source density rate)
    noise: float = 0.02  # Gaussian noise on every cell of the observed smoke image
    blur: float = 0.15  # width of the blur for the first fitting stage
    start_x0: float = 0.6  # the first start
    start_rate: float = 0.7
    start2_x0: float = 0.3  # the second start, on the other side
    start2_rate: float = 3.0
    wave_n: int = 32  # cells per depth of the internal-wave runs
    frames: int = 40  # animation frames
    seed: int = 0

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n", self.n, lo=16)
        check_int("wave_n", self.wave_n, lo=8)
        check_int("frames", self.frames, lo=2)
        check_range("t_end", self.t_end, 0.0, 20.0, lo_open=True)
        for name in ("x0", "start_x0", "start2_x0"):
            check_range(name, getattr(self, name), 0.1, 0.9)
        for name in ("rate", "start_rate", "start2_rate"):
            check_range(name, getattr(self, name), 0.0, 10.0, lo_open=True)
        check_range("noise", self.noise, 0.0, 1.0, lo_open=True)
        check_range("blur", self.blur, 0.0, 1.0, lo_open=True)


QUICK = {"n": 24, "t_end": 1.25, "wave_n": 12, "frames": 10}


def gaussian_blur_matrix(x, sigma):
    """The matrix of a Gaussian blur of width ``sigma`` along points ``x`` (rows normalised: walls reflect
    nothing, the kernel is cut at the box)."""
    import jax.numpy as jnp

    w = jnp.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    return w / jnp.sum(w, axis=1, keepdims=True)


def _probe(solver, state, params, steps, mid):
    """The run's vertical velocity at ``(0, mid)`` after every step, and whether every pressure solve converged."""
    import jax

    def body(s, _):
        s = solver.step(s, params)
        return s, (s.v[0, mid], s.info.converged)

    return jax.jit(lambda s: jax.lax.scan(body, s, None, length=steps))(state)[1]


def wave_frequencies(n: int):
    """Measured and theoretical frequencies of the standing internal wave in boxes of ``WAVE_ASPECTS``
    (three wave periods each; zero crossings of the vertical velocity at mid-depth)."""
    import math

    import jax.numpy as jnp
    import numpy as np

    from ..flow import internal_wave, internal_wave_frequency

    rows = []
    for aspect in WAVE_ASPECTS:
        solver, state, params = internal_wave(n, aspect=aspect, dtype=jnp.float64)
        kx, kz = 2 * math.pi / aspect, math.pi
        omega = internal_wave_frequency(2.0, kx, kz)
        steps = int(round(3 * 2 * math.pi / omega / solver.dt))
        mid = solver.grid.shape[1] // 2

        vs, ok = _probe(solver, state, params, steps, mid)
        t = solver.dt * np.arange(steps + 1)
        vs = np.concatenate([[float(state.v[0, mid])], np.asarray(vs)])
        i = np.nonzero(np.sign(vs[:-1]) != np.sign(vs[1:]))[0]
        crossings = t[i] - vs[i] * (t[i + 1] - t[i]) / (vs[i + 1] - vs[i])
        measured = math.pi / float(np.mean(np.diff(crossings)))
        rows.append(dict(aspect=aspect, angle_deg=math.degrees(math.atan2(kz, kx)), omega=measured, theory=omega,
                         rel_err=measured / omega - 1, amplitude=float(np.max(np.abs(vs[-steps // 3:])) / abs(vs[0])),
                         converged=bool(np.all(np.asarray(ok))), t=t, v=vs / vs[0]))
    return rows


def run(config: Config, out: Path) -> dict:
    import math

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure, save_gif
    from ..core.progress import progress_bar
    from ..flow import FlowParams, smoke_plume
    from .wind_fit import fit_with_errors, linearize

    # --- 1. buoyancy against linear theory: internal gravity waves in a stratified box
    waves = wave_frequencies(config.wave_n)

    # --- 2. the plume, and its source from one noisy image
    solver, state0, params, source_fn = smoke_plume(config.n, x0=config.x0, rate=config.rate, size=(1.0, 1.0),
                                                   dtype=jnp.float64)
    steps = max(1, int(round(config.t_end / solver.dt)))
    frames = min(config.frames, steps)
    per = steps // frames

    def run_plume(theta, length):  # theta = (x0, log rate)
        p = FlowParams(params.viscosity, buoyancy=params.buoyancy, source=source_fn(theta[0], jnp.exp(theta[1])))
        return jax.lax.scan(lambda s, _: (solver.step(s, p), None), state0, None, length=length)[0]

    def smoke(theta):
        return run_plume(theta, steps).marker

    theta_true = jnp.asarray([config.x0, math.log(config.rate)])
    movie = jax.jit(lambda th: jax.lax.scan(lambda s, _: (lambda s2: (s2, s2.marker))(
        jax.lax.fori_loop(0, per, lambda i, x: solver.step(x, FlowParams(
            params.viscosity, buoyancy=params.buoyancy, source=source_fn(th[0], jnp.exp(th[1])))), s)),
        state0, None, length=frames))
    final, snaps = movie(theta_true)
    truth = np.asarray(smoke(theta_true), np.float64)
    rng = np.random.default_rng(config.seed)
    observed = truth + config.noise * rng.standard_normal(truth.shape)

    # two stages: Levenberg-Marquardt on blurred images first (a plume that misses the observed one by more than
    # its width has no useful pixel-wise gradient; blurred, the two overlap), then on the images themselves
    # with the noise's likelihood, which gives the estimate and its Gauss-Newton covariance
    blur_x, blur_y = (gaussian_blur_matrix(c, config.blur) for c in (solver.coords[4][:, 0], solver.coords[5][0]))
    blurred = lambda img: blur_x @ img @ blur_y.T  # noqa: E731
    lin_coarse = linearize(lambda th: blurred(smoke(th)).ravel() / config.noise,
                           blurred(jnp.asarray(observed)).ravel() / config.noise)
    lin = linearize(lambda th: smoke(th).ravel() / config.noise, jnp.asarray(observed.ravel() / config.noise))
    fits = {}
    with progress_bar(2, desc="smoke-plume fits") as bar:
        for name, start in (("first", (config.start_x0, config.start_rate)),
                            ("second", (config.start2_x0, config.start2_rate))):
            coarse, coarse_path, *_ = fit_with_errors(lin_coarse, jnp.asarray([start[0], math.log(start[1])]),
                                                      max_iter=15)
            theta, path, losses, iters, wall, cov = fit_with_errors(lin, jnp.asarray(coarse), max_iter=30)
            path = np.concatenate([coarse_path, path[1:]])
            fits[name] = dict(x0=float(theta[0]), x0_sigma=float(math.sqrt(cov[0, 0])), rate=float(math.exp(theta[1])),
                              rate_sigma=float(math.exp(theta[1]) * math.sqrt(cov[1, 1])),
                              iterations=len(path) - 1,
                              wall_s=wall, path=np.asarray(path), chi2=2.0 * np.asarray(losses), start=start)
            bar.update(1)

    # --- figures
    lx, ly = solver.grid.size
    ext = (0, lx, 0, ly)
    fig, axes = plt.subplots(1, 5, figsize=(16, 4.6), gridspec_kw=dict(width_ratios=(1, 1, 1, 1, 1.6)))
    vmax = float(np.max(truth))
    for ax, k in zip(axes[:3], (frames // 3 - 1, 2 * frames // 3 - 1, frames - 1)):
        ax.imshow(np.asarray(snaps[k]).T, origin="lower", extent=ext, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"t = {(k + 1) * per * solver.dt:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[3].imshow(observed.T, origin="lower", extent=ext, cmap="magma", vmin=0, vmax=vmax)
    axes[3].set_title(f"observed, noise {config.noise:g}")
    axes[3].set_xticks([])
    axes[3].set_yticks([])
    ax = axes[4]
    for fit, color in zip(fits.values(), ("C0", "C3")):
        ax.plot(fit["path"][:, 0], np.exp(fit["path"][:, 1]), "o-", ms=3, color=color,
                label=f"LM from ({fit['start'][0]:g}, {fit['start'][1]:g}): {fit['iterations']} steps")
    ax.plot([config.x0], [config.rate], "k*", ms=12, label="truth")
    ax.set_xlabel("source x0")
    ax.set_ylabel("source rate")
    ax.legend(fontsize=7)
    ax.set_title("recovering the source (blurred, then full images)")
    fig.subplots_adjust(wspace=0.35)
    fig.suptitle(f"buoyant smoke plume ({solver.grid.shape[0]} x {solver.grid.shape[1]}, {steps} steps): the source "
                 f"from the final image by Levenberg-Marquardt on forward-mode Jacobians through the solver")
    save_figure(fig, out / "smoke_plume.png")
    save_gif([np.asarray(s).T[::-1] / vmax for s in snaps], out / "smoke_plume.gif")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for w in waves:
        axes[0].plot(w["t"], w["v"], lw=1, label=f"aspect {w['aspect']}: omega/N = {w['omega'] / 2:.4f}")
        axes[0].plot(w["t"], np.cos(w["theory"] * w["t"]), "k:", lw=0.7)
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("v / v(0) at mid-depth")
    axes[0].legend(fontsize=7)
    axes[0].set_title("standing internal waves (dotted: cos(omega t), linear theory)")
    ang = np.linspace(1.0, 89.0, 100)
    axes[1].plot(ang, np.cos(np.radians(ang)), "k-", lw=1, label="omega / N = kx / |k| (Boussinesq)")
    axes[1].plot([w["angle_deg"] for w in waves], [w["omega"] / 2.0 for w in waves], "o", color="C3",
                 label=f"measured ({config.wave_n} cells per depth)")
    axes[1].set_xlabel("angle of the wave vector from the horizontal [deg]")
    axes[1].set_ylabel("omega / N")
    axes[1].legend(fontsize=8)
    axes[1].set_title("internal-wave dispersion relation")
    save_figure(fig, out / "internal_waves.png")

    worst = max(fits.values(), key=lambda f: abs(f["x0"] - config.x0) / f["x0_sigma"])
    return {
        "wave_omega_rel_err": {str(w["aspect"]): w["rel_err"] for w in waves},
        "wave_max_rel_err": max(abs(w["rel_err"]) for w in waves),
        "wave_amplitude_after_3_periods": min(w["amplitude"] for w in waves),
        "wave_solves_converged": all(w["converged"] for w in waves),
        "x0_true": config.x0, "x0_fit": worst["x0"], "x0_sigma": worst["x0_sigma"],
        "x0_pull": (worst["x0"] - config.x0) / worst["x0_sigma"],
        "rate_true": config.rate, "rate_fit": worst["rate"], "rate_sigma": worst["rate_sigma"],
        "rate_pull": (worst["rate"] - config.rate) / worst["rate_sigma"],
        "starts_apart_sigma": abs(fits["first"]["x0"] - fits["second"]["x0"]) / worst["x0_sigma"],
        "iterations": max(f["iterations"] for f in fits.values()),
        "fit_wall_s": max(f["wall_s"] for f in fits.values()),
        "chi2_per_cell": float(min(f["chi2"][-1] for f in fits.values()) / truth.size),
        "grid": list(solver.grid.shape), "steps": steps, "smoke_max": vmax,
        "plume_top": float(np.max(np.nonzero(truth.max(axis=0) > 0.05 * vmax)[0]) + 1) * solver.grid.dy,
    }
