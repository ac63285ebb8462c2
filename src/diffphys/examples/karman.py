"""Karman vortex street behind a cylinder at Re = 100 (inflow/outflow, obstacle, markers): Strouhal number."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.checks import check_choice, check_int, check_positive

HEADLINE = True
QUICK = {"cells_per_diameter": 6, "length": 16.0, "t_end": 45.0, "frames": 30}

ST_REFERENCE = 0.165  # unconfined cylinder at Re = 100 (Williamson 1996: 0.164-0.166)


@dataclasses.dataclass
class Config:
    scene: str = "channel"  # "channel" (diameter 1, validation) or "book" (the solver-in-the-loop preset)
    re: float = 100.0
    cells_per_diameter: int = 8  # channel scene resolution
    length: float = 20.0  # channel length in diameters (cylinder 6 D behind the inflow)
    width: float = 8.0  # channel width in diameters: blockage ratio 1 / width
    t_end: float = 100.0  # in D / U (channel) or time units (book scene)
    cfl: float = 0.5  # channel scene: dt = cfl * dx / U
    resolution: str = "64x32"  # book scene grid (streamwise x cross-stream)
    advection: str = "maccormack"
    pressure_tol: float = 1e-5
    pressure_maxiter: int = 0  # 0: default bound
    frames: int = 60  # animation frames
    discard: float = 0.4  # fraction of the probe signal discarded as start-up before the frequency fit

    def validate(self):
        check_choice("scene", self.scene, ("channel", "book"))
        check_positive("re", self.re)
        check_int("cells_per_diameter", self.cells_per_diameter, lo=2)
        check_positive("length", self.length)
        check_positive("width", self.width)
        if self.length < 10:
            raise ValueError(f"length must be >= 10 diameters (cylinder at 6 D plus a wake); got {self.length}")
        if self.width < 2:
            raise ValueError(f"width must be >= 2 diameters; got {self.width}")
        check_positive("t_end", self.t_end)
        check_positive("cfl", self.cfl)
        check_choice("advection", self.advection, ("maccormack", "semi-lagrangian"))
        check_positive("pressure_tol", self.pressure_tol)
        check_int("pressure_maxiter", self.pressure_maxiter, lo=0)
        check_int("frames", self.frames, lo=1)
        parts = self.resolution.lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"resolution must look like 64x32; got {self.resolution!r}")
        if not 0 <= self.discard < 0.9:
            raise ValueError(f"discard must lie in [0, 0.9); got {self.discard}")


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp

    from ..core.io import save_figure, save_gif
    from ..flow import karman, karman_book, strouhal, vorticity
    from ..flow.plots import field_figure, rgb_frame

    kw = dict(advection=config.advection, tol=config.pressure_tol)
    if config.pressure_maxiter:
        kw["maxiter"] = config.pressure_maxiter
    if config.scene == "channel":
        solver, state, params = karman(config.re, config.cells_per_diameter, config.length, config.width,
                                       cfl=config.cfl, **kw)
        diameter, (cx, cy) = 1.0, (6.0, config.width / 2)
        blockage = 1.0 / config.width
    else:
        res = tuple(int(p) for p in config.resolution.lower().split("x"))
        solver, state, params = karman_book(res, re=config.re, **kw)
        diameter, (cx, cy) = 20.0, (50.0, 50.0)
        blockage = 20.0 / 100.0
    probe = (jnp.asarray(cx + 2 * diameter), jnp.asarray(cy))
    num = max(1, int(round(config.t_end / solver.dt)))
    frames = min(config.frames, num)
    per = num // frames

    def chunk(st):
        def body(s, _):
            s = solver.step(s, params)
            vy = solver.velocity(s.u, s.v)(*probe)[1]
            return s, (vy, s.info.max_divergence, s.info.converged, s.info.residual)
        st, rec = jax.lax.scan(body, st, None, length=per)
        return st, rec, vorticity(solver, st)

    chunk = jax.jit(chunk)
    signal, divs, conv, resid, vort, marks = [], [], [], [], [], []
    for _ in range(frames):
        state, (vy, dv, ok, rr), w = chunk(state)
        signal.append(np.asarray(vy))
        divs.append(np.asarray(dv))
        conv.append(np.asarray(ok))
        resid.append(np.asarray(rr))
        vort.append(np.asarray(w))
        marks.append(np.asarray(state.marker))
    signal, divs, conv = np.concatenate(signal), np.concatenate(divs), np.concatenate(conv)
    st_num = strouhal(signal, solver.dt, diameter, 1.0, discard=config.discard)
    finite = bool(np.all(np.isfinite(np.asarray(state.u))))

    lim = float(np.percentile(np.abs(vort[-1]), 99)) or 1.0
    solid = np.asarray(solver.solid)
    gif = [np.concatenate([rgb_frame(w, solid, lim), rgb_frame(2 * m - 1, solid, 1.0, cmap="viridis")], axis=0)
           for w, m in zip(vort, marks)]
    save_gif(gif, out / "vortex_street.gif", fps=12)
    fig = field_figure(solver, [vort[-1], marks[-1]], [f"vorticity, t = {float(state.t):.1f}", "passive marker"],
                       ["RdBu_r", "viridis"], [True, False])
    save_figure(fig, out / "fields.png")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    t = solver.dt * np.arange(1, len(signal) + 1)
    ax.plot(t, signal)
    ax.axvline(t[int(config.discard * len(t))], color="k", ls="--", lw=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("v at probe (2 D behind)")
    ax.set_title(f"Strouhal number {st_num:.4f} (reference {ST_REFERENCE})")
    save_figure(fig, out / "probe.png")
    gx, gy = solver.grid.shape
    metrics = {"strouhal": st_num, "max_divergence": float(np.max(divs)),
               "strouhal_rel_err": abs(st_num - ST_REFERENCE) / ST_REFERENCE,
               "blockage_ratio": blockage, "grid": f"{gx}x{gy}", "cells_per_diameter": diameter / solver.grid.dx,
               "dt": solver.dt, "steps": per * frames, "re": config.re, "viscosity": float(params.viscosity),
               "pressure_solver": solver.pressure, "pressure_converged": bool(np.all(conv)),
               "max_divergence_times_dx_over_U": float(np.max(divs)) * solver.grid.dx, "finite": finite}
    if not np.all(conv):
        bad = int(np.sum(~conv))
        metrics["pressure_status"] = (f"NOT CONVERGED in {bad} of {len(conv)} steps (maxiter = {solver.maxiter}, "
                                      f"worst relative residual {float(np.max(np.concatenate(resid))):.3g} > "
                                      f"tol = {solver.tol:g})")
    return metrics
