"""Learned flow control: a CNN trained through the solver to move marker blobs, tested on held-out pairs."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..core.checks import check_int, check_positive, check_range

QUICK = {"n_train": 12, "iterations": 60}


@dataclasses.dataclass
class Config:
    n: int = 16  # grid n x n on the periodic unit square
    T: int = 8  # controlled steps of dt
    dt: float = 0.05
    viscosity: float = 1e-3
    blob_width: float = 0.1  # Gaussian width of start and target blobs
    shift: float = 0.12  # the target is the start blob moved by this distance in a random direction
    n_train: int = 24  # training pairs (random positions and directions)
    n_test: int = 8  # held-out pairs from the same distribution
    width: int = 16  # hidden channels of the PeriodicCNN
    depth: int = 2  # hidden layers
    force_scale: float = 5.0  # network output unit (forces = force_scale * network output)
    iterations: int = 200  # Adam updates
    learning_rate: float = 3e-3
    weight: float = 1e-4  # force penalty: weight * mean(f^2)
    seed: int = 0

    def validate(self):
        check_int("n", self.n, lo=8)
        check_int("T", self.T, lo=1)
        check_positive("dt", self.dt)
        check_positive("viscosity", self.viscosity)
        check_range("blob_width", self.blob_width, 0.0, 0.25, lo_open=True)
        check_range("shift", self.shift, 0.0, 0.5, lo_open=True)
        check_int("n_train", self.n_train, lo=1)
        check_int("n_test", self.n_test, lo=1)
        check_int("width", self.width, lo=1)
        check_int("depth", self.depth, lo=0)
        check_positive("force_scale", self.force_scale)
        check_int("iterations", self.iterations, lo=0)
        check_positive("learning_rate", self.learning_rate)
        check_positive("weight", self.weight, allow_zero=True)
        check_int("seed", self.seed, lo=0)


def make_problem(c: Config):
    """Solver, params and the training and held-out pairs ``(states, targets)`` (also used by the tests)."""
    import jax.numpy as jnp
    import numpy as np

    from ..flow import Boundaries, FlowParams, FlowSolver, Grid
    from ..learn import gaussian_blob

    dtype = jnp.result_type(float)
    solver = FlowSolver(Grid((c.n, c.n), size=(1.0, 1.0)), Boundaries.all_periodic(), dt=c.dt,
                        diffusion="explicit", velocity_scale=1.0)
    rng = np.random.default_rng(c.seed)

    def pairs(k):
        states, targets = [], []
        for _ in range(k):
            centre, angle = rng.uniform(0, 1, 2), rng.uniform(0, 2 * np.pi)
            goal = centre + c.shift * np.array([np.cos(angle), np.sin(angle)])
            states.append(solver.initial_state(marker=gaussian_blob(solver, tuple(centre), c.blob_width, dtype=dtype),
                                               dtype=dtype))
            targets.append(gaussian_blob(solver, tuple(goal), c.blob_width, dtype=dtype))
        return states, targets

    return solver, FlowParams(c.viscosity), pairs(c.n_train), pairs(c.n_test)


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..learn import PeriodicCNN
    from ..learn.control import marker_misfit
    from ..learn.controller import controller_loss, controller_rollout, stack_pairs, train_controller

    c = config
    t_start = time.perf_counter()
    solver, params, train, test = make_problem(c)
    held = stack_pairs(solver, params, *test, c.T)
    kw = {"force_scale": c.force_scale, "weight": c.weight}
    model0 = PeriodicCNN(4, 2, c.width, c.depth, key=jax.random.PRNGKey(c.seed), init_scale=1e-2)
    held_before = float(controller_loss(model0, solver, params, *held, c.T, **kw))
    model, history, train_s = train_controller(model0, solver, params, *train, c.T, iterations=c.iterations,
                                               learning_rate=c.learning_rate, **kw)
    held_after = float(controller_loss(model, solver, params, *held, c.T, **kw))

    # per held-out pair: the controlled and uncontrolled final markers, and the misfit ratio
    s0, tg, norms = held
    roll = jax.jit(jax.vmap(lambda s, t: controller_rollout(model, solver, params, s, t, c.T,
                                                            force_scale=c.force_scale)))
    finals, (fu, fv) = roll(s0, tg)
    uncontrolled = jax.jit(jax.vmap(lambda s, t: controller_rollout(model0, solver, params, s, t, c.T,
                                                                    force_scale=0.0)[0].marker))(s0, tg)
    misfits = np.asarray(jax.vmap(marker_misfit)(finals.marker, tg) / norms)

    # --- figures: the loss curve, and start / target / uncontrolled / controlled for held-out pairs
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.semilogy(np.arange(len(history)), history, lw=1, label=f"training ({c.n_train} pairs)")
    ax.semilogy([0, max(len(history) - 1, 0)], [held_before, held_after], "o--", color="C3",
                label=f"held-out ({c.n_test} pairs), before and after")
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel("misfit / uncontrolled misfit + force penalty")
    ax.set_title(f"held-out {held_after:.3f}, training {float(history[-1]) if len(history) else np.nan:.3f}")
    ax.legend()
    save_figure(fig, out / "loss.png")

    shown = min(4, c.n_test)
    L = solver.grid.size[0]
    xc, yc = solver.grid.centers()
    fig, axes = plt.subplots(shown, 4, figsize=(13, 3.2 * shown), constrained_layout=True, squeeze=False)
    for i in range(shown):
        fields = [s0.marker[i], tg[i], uncontrolled[i], finals.marker[i]]
        titles = ["start", "target", "uncontrolled (misfit 1)", f"learned control (misfit {misfits[i]:.3f})"]
        vmax = float(max(np.max(np.asarray(f)) for f in fields))
        half = 0.5 * float(np.max(np.asarray(tg[i])))
        for k, (ax, f, t) in enumerate(zip(axes[i], fields, titles)):
            ax.imshow(np.asarray(f).T, origin="lower", extent=(0, L, 0, L), cmap="magma", vmin=0, vmax=vmax)
            if k >= 1:  # the target's half-maximum contour, for comparison
                ax.contour(xc, yc, np.asarray(tg[i]), levels=[half], colors="white", linewidths=1)
            ax.set_title(f"held-out pair {i}: {t}" if k == 0 else t, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        fx = 0.5 * (fu[i] + jnp.roll(fu[i], -1, 1)).mean(0)  # time-mean force at cell centres
        fy = 0.5 * (fv[i] + jnp.roll(fv[i], -1, 2)).mean(0)
        sk = max(1, c.n // 8)
        axes[i][3].quiver(xc[::sk, ::sk], yc[::sk, ::sk], np.asarray(fx)[::sk, ::sk], np.asarray(fy)[::sk, ::sk],
                          color="cyan", width=0.006)
    fig.suptitle("white: the target's half-maximum contour; arrows: time-mean force")
    save_figure(fig, out / "held_out.png")

    return {"train_loss_initial": float(history[0]) if len(history) else float("nan"),
            "train_loss_final": float(history[-1]) if len(history) else float("nan"),
            "held_out_loss_untrained": held_before, "held_out_loss": held_after,
            "held_out_misfit_mean": float(np.mean(misfits)), "held_out_misfit_max": float(np.max(misfits)),
            "n_train": c.n_train, "n_test": c.n_test, "iterations": c.iterations, "train_s": train_s,
            "wall_s": time.perf_counter() - t_start}
