"""Kelvin-Helmholtz instability on a 2D Cartesian grid (McNally et al. 2012): growth of the seeded mode, roll-up."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.checks import check_int, check_positive

HEADLINE = True
QUICK = {"n": 128, "frames": 20}


@dataclasses.dataclass
class Config:
    n: int = 256  # cells per side of the periodic unit square
    t_end: float = 2.0
    amplitude: float = 0.01  # seed v_y = amplitude sin(4 pi x)
    riemann: str = "hllc"
    limiter: str = "mc"
    cfl: float = 0.5
    segment: float = 0.05  # diagnostics every this much time
    frames: int = 40  # animation frames

    def validate(self):
        from ..core.checks import check_choice
        from ..hydro import LIMITERS, RIEMANN_SOLVERS

        check_int("n", self.n, lo=16)
        check_positive("t_end", self.t_end)
        check_positive("amplitude", self.amplitude)
        check_positive("segment", self.segment)
        if self.segment * 4 > self.t_end:
            raise ValueError(f"segment must be <= t_end / 4; got {self.segment} for t_end {self.t_end}")
        check_choice("riemann", self.riemann, tuple(RIEMANN_SOLVERS))
        check_choice("limiter", self.limiter, tuple(LIMITERS))
        if not 0 < self.cfl <= 1.0:
            raise ValueError(f"cfl must lie in (0, 1]; got {self.cfl}")
        check_int("frames", self.frames, lo=1)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure, save_gif, write_json
    from ..core.progress import progress_bar
    from ..viz.fields import snapshot_row
    from ..hydro import kelvin_helmholtz_problem, kh_linear_growth_rate, kh_mode_amplitude, solve

    c = config
    solver, state = kelvin_helmholtz_problem(c.n, amplitude=c.amplitude, riemann=c.riemann, limiter=c.limiter,
                                             cfl=c.cfl)
    n_seg = int(round(c.t_end / c.segment))
    # |v| + c <= ~3 here (sound speed ~1.3-1.8, |v| <= ~1): a segment needs about segment * 2 * 3 n / cfl steps
    max_steps = int(np.ceil(c.segment * 2 * 6.0 * c.n / c.cfl)) + 1

    @jax.jit
    def advance(st):
        sol = solve(solver, st, t_end=c.segment, max_steps=max_steps)
        return sol.state, sol.num_steps, sol.reached, kh_mode_amplitude(solver, sol.state)

    totals0 = np.asarray(solver.totals(state), np.float64)
    amp = [float(kh_mode_amplitude(solver, state))]
    snap_at = {int(round(f * n_seg)) for f in (0.5, 0.75, 1.0)}
    snaps = {0: np.asarray(state.u[0])}
    frames, steps = [], 0
    frame_every = max(1, n_seg // c.frames)
    t0 = time.perf_counter()
    with progress_bar(total=n_seg, desc=f"kelvin-helmholtz {c.n}^2") as bar:
        for k in range(1, n_seg + 1):
            state, ns, reached, m = advance(state)
            if not bool(reached):
                raise RuntimeError(f"segment {k} did not reach its end within {max_steps} steps")
            steps += int(ns)
            amp.append(float(m))
            if k in snap_at:
                snaps[k] = np.asarray(state.u[0])
            if k % frame_every == 0:
                frames.append(_frame(np.asarray(state.u[0])))
            bar.update(1)
    wall = time.perf_counter() - t0
    totals = np.asarray(solver.totals(state), np.float64)
    mass_err = abs(totals[0] / totals0[0] - 1)
    energy_err = abs(totals[3] / totals0[3] - 1)
    momentum_err = float(np.max(np.abs(totals[1:3] - totals0[1:3])) / (0.5 * totals0[0]))  # against |m| ~ rho / 2
    t = np.arange(n_seg + 1) * c.segment
    amp = np.asarray(amp)
    # exponential growth: fit log M where it lies between 1.5x and 10x the seed (the linear phase)
    lin = (amp > 1.5 * c.amplitude) & (amp < 10 * c.amplitude) & (t > 0)
    growth = float(np.polyfit(t[lin], np.log(amp[lin]), 1)[0]) if lin.sum() >= 3 else float("nan")
    # the fastest eigenmode of the linearised equations for this profile (at amplitude 1e-4 in float64 the run's
    # rate between t = 1.2 and 2 meets it to 2.0% at 128^2 and 0.45% at 256^2; at the default 0.01 the fit
    # window includes the start of the non-linear saturation)
    growth_lin = kh_linear_growth_rate(gamma=solver.gamma)

    keys = sorted(snaps)
    snapshot_row([snaps[k] for k in keys], [f"density, t = {k * c.segment:.2f}" for k in keys], (0, 1, 0, 1),
                 out / "density.png", height=4.0, cmap="magma", vmin=0.9, vmax=2.1)

    fig, ax = plt.subplots(1, 1, figsize=(6, 4))
    ax.semilogy(t, amp, label=f"{c.n}^2, {c.riemann} + {c.limiter}")
    if np.isfinite(growth):
        tl = t[lin]
        ax.semilogy(tl, np.exp(np.polyval(np.polyfit(tl, np.log(amp[lin]), 1), tl)), "k--",
                    label=f"exp fit: growth rate {growth:.2f}")
    ax.semilogy(t, c.amplitude * np.exp(growth_lin * (t - 0.5)), ":", color="grey",
                label=f"linear theory: {growth_lin:.3f} (slope)")
    ax.set_xlabel("t")
    ax.set_ylabel("mode amplitude M (McNally et al. 2012)")
    ax.set_title(f"mass {mass_err:.1e}, energy {energy_err:.1e} (relative change)")
    ax.legend()
    save_figure(fig, out / "mode_amplitude.png")
    if frames:
        save_gif(frames, out / "density.gif", fps=10)
    write_json(out / "mode_amplitude.json", {"t": t, "mode_amplitude": amp})
    return {"n": c.n, "num_steps": steps, "wall_s": wall, "mode_amplitude_final": float(amp[-1]),
            "growth_rate": growth, "growth_rate_linear_theory": growth_lin, "mass_rel_err": float(mass_err),
            "energy_rel_err": float(energy_err),
            "momentum_rel_err": momentum_err}


def _frame(rho):
    """An RGB frame of a density field (magma colour map, y up)."""
    import matplotlib

    cmap = matplotlib.colormaps["magma"]
    img = cmap(np.clip((rho.T[::-1] - 0.9) / 1.2, 0.0, 1.0))[..., :3]
    return (img * 255).astype(np.uint8)
