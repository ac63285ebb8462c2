"""Forced 2D turbulence (Kolmogorov flow, Re = 1000), pseudo-spectral: energy budget, spectrum, animation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.checks import check_int, check_positive

HEADLINE = True
QUICK = {"n": 64, "t_end": 6.0, "frames": 30}


@dataclasses.dataclass
class Config:
    n: int = 256  # grid points per side of the 2 pi periodic square
    viscosity: float = 1e-3  # Reynolds number 1 / viscosity (unit velocity and length scales; Kochkov et al. 2021)
    drag: float = 0.1  # linear drag (removes the energy of the inverse cascade at large scales)
    forcing_wavenumber: int = 4
    t_end: float = 20.0
    segment: float = 0.1  # diagnostics (energy, enstrophy, injected power) every this much time
    cfl: float = 0.5
    frames: int = 60  # animation frames
    seed: int = 0

    def validate(self):
        validate_flow(self)
        check_int("forcing_wavenumber", self.forcing_wavenumber, lo=1, hi=(self.n - 1) // 6)
        check_positive("t_end", self.t_end)
        check_positive("segment", self.segment)
        if self.segment * 4 > self.t_end:
            raise ValueError(f"segment must be <= t_end / 4; got {self.segment} for t_end {self.t_end}")
        if not 0 < self.cfl <= 1.0:
            raise ValueError(f"cfl must lie in (0, 1]; got {self.cfl}")
        check_int("frames", self.frames, lo=1)


def validate_flow(config):
    """The checks shared by the Kolmogorov examples: an even grid of at least 16, viscosity > 0, drag >= 0."""
    check_int("n", config.n, lo=16)
    if config.n % 2:
        raise ValueError(f"n must be even; got {config.n}")
    check_positive("viscosity", config.viscosity)
    check_positive("drag", config.drag, allow_zero=True)


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core import simulate
    from ..core.io import save_figure, save_gif
    from ..core.progress import progress_bar
    from ..flow import kolmogorov
    from ..flow.plots import rgb_frame
    from ..viz.fields import snapshot_row

    c = config
    solver, state, params = kolmogorov(c.n, viscosity=c.viscosity, drag=c.drag,
                                       forcing_wavenumber=c.forcing_wavenumber, seed=c.seed, cfl=c.cfl)
    _, y = solver.coords
    sin_ky = jnp.asarray(np.sin(c.forcing_wavenumber * y), jnp.finfo(state.omega_hat.dtype).dtype)
    n_seg = int(round(c.t_end / c.segment))
    # CFL steps; a segment takes at most ~cfl dx / max|u| with |u| + |v| <= 20 (a bound, not reached at Re 1000)
    max_steps = int(np.ceil(c.segment * 20.0 / (c.cfl * solver.dx))) + 1

    @jax.jit
    def advance(st):
        sol = simulate(solver, st, params, t_end=c.segment, max_steps=max_steps)
        return sol.state, sol.num_steps, sol.reached

    @jax.jit
    def diagnostics(st):
        u, _ = solver.velocity(st)
        # d E / dt = <u . F> - 2 nu Z - 2 alpha E for the truncated equations (E = <|u|^2> / 2, Z = <w^2> / 2)
        e, z = solver.energy(st), solver.enstrophy(st)
        power = params.forcing * jnp.mean(u * sin_ky)
        return jnp.stack([e, z, power, 2 * params.viscosity * z, 2 * params.drag * e])

    diag = [np.asarray(diagnostics(state), np.float64)]
    frame_every = max(1, n_seg // c.frames)
    snaps, frames, spectra, steps = {}, [], [], 0
    lim = float(jnp.percentile(jnp.abs(solver.vorticity(state)), 99.5)) * 2
    snap_at = {0: 0.0} | {int(round(f * n_seg)): f for f in (0.25, 0.5, 1.0)}
    with progress_bar(total=n_seg, desc=f"kolmogorov {c.n}^2") as bar:
        for k in range(1, n_seg + 1):
            if k == 1:
                snaps[0] = np.asarray(solver.vorticity(state))
            state, ns, reached = advance(state)
            if not bool(reached):
                raise RuntimeError(f"segment {k} did not reach its end within {max_steps} steps (velocity blew up?)")
            steps += int(ns)
            diag.append(np.asarray(diagnostics(state), np.float64))
            if k in snap_at:
                snaps[k] = np.asarray(solver.vorticity(state))
            if k % frame_every == 0:
                frames.append(rgb_frame(np.asarray(solver.vorticity(state)), np.zeros((c.n, c.n), bool), lim,
                                        scale=max(1, 256 // c.n)))
            if k > n_seg // 2:
                spectra.append(np.asarray(solver.spectrum(state)[1], np.float64))
            bar.update(1)
    d = np.asarray(diag)
    t = np.arange(n_seg + 1) * c.segment
    e, z, power, visc, drag = d.T
    # energy budget: E(t_end) - E(0) against the integral of the rates (Simpson on the segment grid where it fits)
    rate = power - visc - drag
    integral = float(np.sum(0.5 * (rate[1:] + rate[:-1])) * c.segment)
    scale = float(np.sum(0.5 * (np.abs(power[1:]) + np.abs(power[:-1]))) * c.segment)
    budget_err = abs((e[-1] - e[0]) - integral) / scale
    k, _ = solver.spectrum(state)
    spec = np.mean(spectra, axis=0)
    kf = c.forcing_wavenumber
    fit = (k >= 2 * kf) & (k <= max(2 * kf + 2, (c.n - 1) // 3 // 2))
    slope = float(np.polyfit(np.log(k[fit]), np.log(spec[fit]), 1)[0])

    keys = sorted(snaps)
    snapshot_row([snaps[k] for k in keys], [f"vorticity, t = {k * c.segment:.1f}" for k in keys],
                 (0, 2 * np.pi, 0, 2 * np.pi), out / "vorticity.png", cmap="RdBu_r", vmin=-lim, vmax=lim)

    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot(t, e, label="energy E")
    ax[0].plot(t, z / z.max() * e.max(), label=f"enstrophy Z (x {e.max() / z.max():.2g})")
    ax[0].set_xlabel("t")
    ax[0].legend()
    ax[1].plot(t, power, label="forcing power <u . F>")
    ax[1].plot(t, visc, label="viscous 2 nu Z")
    ax[1].plot(t, drag, label="drag 2 alpha E")
    ax[1].set_xlabel("t")
    ax[1].set_title(f"energy budget: residual {budget_err:.1e} of the injected energy")
    ax[1].legend()
    ax[2].loglog(k, spec, label=f"E(k), mean over t > {c.t_end / 2:g}")
    ref = spec[fit][0] * (k[fit] / k[fit][0]) ** -3.0
    ax[2].loglog(k[fit], ref, "k--", label="k^-3 (enstrophy cascade)")
    ax[2].loglog(k[fit], spec[fit][0] * (k[fit] / k[fit][0]) ** slope, "r:", label=f"fit: k^{slope:.2f}")
    ax[2].axvline(kf, color="grey", lw=0.8)
    ax[2].set_xlabel("k")
    ax[2].legend()
    save_figure(fig, out / "budget_spectrum.png")
    if frames:
        save_gif(frames, out / "vorticity.gif", fps=12)
    return {"n": c.n, "steps": steps, "energy_final": float(e[-1]), "enstrophy_final": float(z[-1]),
            "energy_budget_rel_err": float(budget_err), "spectrum_slope": slope,
            "spectrum_fit_range": [int(k[fit][0]), int(k[fit][-1])], "reynolds_number": 1.0 / c.viscosity}
