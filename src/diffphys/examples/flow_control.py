"""Flow control: per-step force fields, optimised through the solver, push a marker blob into a target shape."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.checks import check_choice, check_int, check_positive, check_range

QUICK = {"iterations": 60, "T": 16}
TARGETS = ("ring", "ellipse", "shift")


@dataclasses.dataclass
class Config:
    n: int = 32  # grid n x n on the periodic unit square
    T: int = 20  # controlled steps (time horizon T * dt)
    dt: float = 0.05
    viscosity: float = 1e-3
    target: str = "ring"  # ring (mass-matched to the blob), ellipse (shifted, stretched), shift (displaced blob)
    blob_width: float = 0.08  # Gaussian width of the starting blob, centred at (0.35, 0.5)
    iterations: int = 300  # Adam updates
    learning_rate: float = 0.2
    weight: float = 1e-4  # force penalty: weight * mean(f^2)
    advection: str = "semi-lagrangian"
    project: bool = True  # project the forced velocity before each step (incompressible control)

    def validate(self):
        check_int("n", self.n, lo=8)
        check_int("T", self.T, lo=1)
        check_positive("dt", self.dt)
        check_positive("viscosity", self.viscosity)
        check_choice("target", self.target, TARGETS)
        check_range("blob_width", self.blob_width, 0.0, 0.25, lo_open=True)
        check_int("iterations", self.iterations, lo=0)
        check_positive("learning_rate", self.learning_rate)
        check_positive("weight", self.weight, allow_zero=True)
        check_choice("advection", self.advection, ("semi-lagrangian", "maccormack"))


def make_problem(c: Config):
    """Solver, params, starting state and target marker of the example (also used by the tests)."""
    import jax.numpy as jnp
    import numpy as np

    from ..flow import Boundaries, FlowParams, FlowSolver, Grid
    from ..learn import gaussian_blob, ring

    dtype = jnp.result_type(float)
    solver = FlowSolver(Grid((c.n, c.n), size=(1.0, 1.0)), Boundaries.all_periodic(), dt=c.dt,
                        diffusion="explicit", advection=c.advection, velocity_scale=1.0)
    params = FlowParams(c.viscosity)
    m0 = gaussian_blob(solver, (0.35, 0.5), c.blob_width, dtype=dtype)
    if c.target == "shift":
        target = gaussian_blob(solver, (0.65, 0.5), c.blob_width, dtype=dtype)
    elif c.target == "ellipse":
        xc, yc = solver.grid.centers()
        w = c.blob_width
        target = jnp.asarray(np.exp(-((xc - 0.65) ** 2 / (2 * (2 * w) ** 2) + (yc - 0.5) ** 2 / (2 * (w / 2) ** 2))),
                             dtype)
    else:
        r = ring(solver, (0.6, 0.5), 0.15, c.blob_width / 2, dtype=dtype)
        target = r * (jnp.sum(m0) / jnp.sum(r))  # same total marker as the blob
    return solver, params, solver.initial_state(marker=m0, dtype=dtype), target


def run(config: Config, out: Path) -> dict:
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure, save_gif
    from ..learn import optimize_controls

    c = config
    solver, params, s0, target = make_problem(c)
    res = optimize_controls(solver, params, s0, target, c.T, iterations=c.iterations,
                            learning_rate=c.learning_rate, weight=c.weight, project=c.project)
    m0 = float(jnp.sum(s0.marker))
    unc_mass = (float(jnp.sum(res.uncontrolled.marker)) - m0) / m0

    # --- figures
    L = solver.grid.size[0]
    fields = [s0.marker, target, res.uncontrolled.marker, res.final.marker]
    titles = ["initial marker", f"target ({c.target})", f"uncontrolled after T = {c.T} (loss 1)",
              f"controlled (loss {res.misfit_final:.3f})"]
    vmax = float(max(np.max(np.asarray(f)) for f in fields))
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.4), constrained_layout=True)
    for ax, f, t in zip(axes, fields, titles):
        im = ax.imshow(np.asarray(f).T, origin="lower", extent=(0, L, 0, L), cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(t)
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    fu, fv = (np.asarray(f) for f in res.forces)
    fx = 0.5 * (fu + np.roll(fu, -1, 1)).mean(0)  # time-mean force at cell centres (periodic faces)
    fy = 0.5 * (fv + np.roll(fv, -1, 2)).mean(0)
    xc, yc = solver.grid.centers()
    s = max(1, c.n // 16)
    axes[3].quiver(xc[::s, ::s], yc[::s, ::s], fx[::s, ::s], fy[::s, ::s], color="cyan", scale=None, width=0.004)
    axes[3].set_title(titles[3] + "\narrows: time-mean force", fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.85, label="marker")
    save_figure(fig, out / "fields.png")

    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    ax.semilogy(np.arange(len(res.history)), res.history, lw=1)
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel("loss (misfit / uncontrolled misfit + force penalty)")
    ax.set_title(f"final {res.loss_final:.4f}")
    save_figure(fig, out / "loss.png")

    # --- animation of the controlled marker (cheap: T + 1 frames, colour-mapped and upscaled)
    cmap = matplotlib.colormaps["magma"]
    up = max(1, 192 // c.n)
    frames = []
    for m in [np.asarray(s0.marker), *res.markers]:
        rgb = (cmap(np.clip(m.T[::-1] / vmax, 0, 1))[..., :3] * 255).astype(np.uint8)
        frames.append(np.kron(rgb, np.ones((up, up, 1), np.uint8)))
    save_gif(frames, out / "control.gif", fps=8)

    return {"loss_initial": res.loss_initial, "loss_final": res.loss_final, "misfit_final": res.misfit_final,
            "iterations": res.iterations, "wall_s": res.wall_s, "force_rms": res.force_rms,
            "marker_mass_rel_change": res.marker_mass_rel_change, "uncontrolled_mass_rel_change": unc_mass,
            "T": c.T, "horizon_time": c.T * c.dt, "n": c.n, "target": c.target, "message": res.message}
