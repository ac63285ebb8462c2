"""Orszag-Tang vortex (2D ideal MHD, HLLD + constrained transport): shocks and current sheets, div B at round-off."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

HEADLINE = True


@dataclasses.dataclass
class Config:
    n: int = 256
    riemann: str = "hlld"
    limiter: str = "mc"
    reconstruction: str = "primitive"
    cfl: float = 0.8
    t_end: float = 0.5
    n_frames: int = 11

    def validate(self):
        from ..core.checks import check_choice, check_int, check_range
        from ..hydro import LIMITERS
        from ..hydro.mhd import MHD_RIEMANN_SOLVERS, RECONSTRUCTIONS

        check_int("n", self.n, lo=16)
        check_int("n_frames", self.n_frames, lo=2)
        check_choice("riemann", self.riemann, tuple(MHD_RIEMANN_SOLVERS))
        check_choice("limiter", self.limiter, (*LIMITERS, "none"))
        check_choice("reconstruction", self.reconstruction, RECONSTRUCTIONS)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)
        check_range("t_end", self.t_end, 0.0, lo_open=True)


QUICK = {"n": 128}


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure, save_gif
    from ..hydro import solve
    from ..hydro.mhd import orszag_tang_problem

    limiter = None if config.limiter == "none" else config.limiter
    solver, state0 = orszag_tang_problem(config.n, riemann=config.riemann, limiter=limiter, cfl=config.cfl,
                                         reconstruction=config.reconstruction)
    times = np.linspace(0.0, config.t_end, config.n_frames)[1:]
    max_steps = int(4 * config.n * config.t_end / 0.5 / config.cfl) + 200
    t0 = time.perf_counter()
    sol = jax.jit(lambda s: solve(solver, s, None, t_end=config.t_end, save_at=times, max_steps=max_steps,
                                  progress=True))(state0)
    jax.block_until_ready(sol.state.u)
    wall = time.perf_counter() - t0
    if not bool(sol.reached):
        raise RuntimeError(f"the run did not reach t_end in {max_steps} steps")

    w = np.asarray(solver.primitive(sol.state), dtype=np.float64)
    dx = solver.spacing[0]
    b_scale = float(jnp.max(jnp.abs(state0.u[5:7]))) / dx
    tot0 = np.asarray(solver.totals(state0), dtype=np.float64)
    tot1 = np.asarray(solver.totals(sol.state), dtype=np.float64)
    area = solver.lengths[0] * solver.lengths[1]
    kinetic = 0.5 * np.sum(w[0] * (w[1] ** 2 + w[2] ** 2 + w[3] ** 2)) * dx * dx
    magnetic = 0.5 * np.sum(w[5] ** 2 + w[6] ** 2 + w[7] ** 2) * dx * dx
    metrics = {
        "n": config.n, "num_steps": int(sol.num_steps), "wall_s": wall,
        # the conserved corner divergence, relative to |B| / dx
        "div_b_max_rel": float(jnp.max(jnp.abs(solver.divergence(sol.state)))) / b_scale,
        "mass_rel_err": float(abs(tot1[0] - tot0[0]) / tot0[0]),
        "energy_rel_err": float(abs(tot1[4] - tot0[4]) / tot0[4]),
        "momentum_abs_err": float(np.max(np.abs(tot1[1:4] - tot0[1:4])) / area),
        "min_density": float(w[0].min()), "max_density": float(w[0].max()),
        "min_pressure": float(w[4].min()), "max_pressure": float(w[4].max()),
        "kinetic_energy": float(kinetic), "magnetic_energy": float(magnetic),
    }

    extent = (0, solver.lengths[0], 0, solver.lengths[1])
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.2))
    jz = ((np.roll(w[6], -1, 0) - np.roll(w[6], 1, 0)) - (np.roll(w[5], -1, 1) - np.roll(w[5], 1, 1))) / (2 * dx)
    for ax, (field, title, cmap) in zip(axes.flat, ((w[0], "density", "inferno"), (w[4], "pressure", "viridis"),
                                                    (0.5 * (w[5] ** 2 + w[6] ** 2), "magnetic pressure", "magma"),
                                                    (jz, "current density $j_z$", "RdBu_r"))):
        kw = {}
        if cmap == "RdBu_r":
            lim = np.percentile(np.abs(field), 99.5)
            kw = dict(vmin=-lim, vmax=lim)
        im = ax.imshow(field.T, origin="lower", extent=extent, cmap=cmap, **kw)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"Orszag-Tang vortex at t = {config.t_end:g}, {config.n}^2 cells, {config.riemann.upper()} + "
                 f"constrained transport: max |div B| dx / |B| = {metrics['div_b_max_rel']:.1e}")
    save_figure(fig, out / "orszag_tang.png")

    # the pressure along y = 0.3125 and 0.4277, the cuts most papers show
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    xc = (np.arange(config.n) + 0.5) * dx
    for ax, yc in zip(axes, (0.3125, 0.4277)):
        j = min(int(yc / dx), config.n - 1)
        ax.plot(xc, w[4][:, j], "-", lw=1)
        ax.set_xlabel("x")
        ax.set_title(f"pressure along y = {yc}")
    save_figure(fig, out / "orszag_tang_cuts.png")

    frames = []
    snaps = np.asarray(sol.snapshots.u[:, 0], dtype=np.float64)
    lo, hi = float(snaps.min()), float(snaps.max())
    for i, t in enumerate(times):
        fig, ax = plt.subplots(figsize=(4.6, 4.6))
        ax.imshow(snaps[i].T, origin="lower", extent=extent, cmap="inferno", vmin=lo, vmax=hi)
        ax.set_title(f"density, t = {t:.2f}")
        ax.set_axis_off()
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    save_gif(frames, out / "orszag_tang.gif", fps=3)
    return metrics
