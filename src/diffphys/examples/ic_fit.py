"""Fit the initial white noise of a PM N-body universe so that its projected density at a = 1 draws an image.

The lecture's configuration (pmwd, Li et al. 2022): 16x27x16 particles in a 160x270x160 (Mpc/h)^3
box, a 32x54x32 mesh, 2LPT at a = 1/64, 63 FastPM kick-drift-kick steps to a = 1, the final particles
projected along z onto a 64x108 mesh; loss = var(projection - target) / var(target); Adam (cosine-decayed
learning rate) on the white noise; gradients by the reverse-time adjoint (memory independent of the number of steps).
``--set projections=2`` also projects along x (the transposed (z, y) map) and sums the two losses.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from ..core.checks import check_int, check_range  # noqa: E402

HEADLINE = True


@dataclasses.dataclass
class Config:
    iterations: int = 3000
    learning_rate: float = 0.1
    lr_decay: float = 0.01           # cosine-decay the rate to this fraction by the end (1 = constant) ...
    decay_from: float = 0.7          # ... starting at this fraction of the iterations (0 = from the start)
    projections: int = 1
    target: str = ""                 # a PNG/JPG path; empty = the word "diffphys" (Pillow's default font)
    seed: int = 0
    num_steps: int = 63
    a_start: float = 1.0 / 64
    a_stop: float = 1.0
    box_x: float = 160.0
    box_y: float = 270.0
    box_z: float = 160.0
    ptcl_x: int = 16
    ptcl_y: int = 27
    ptcl_z: int = 16
    mesh_factor: int = 2             # mesh = mesh_factor x particle grid
    image_factor: int = 4            # projection mesh = image_factor x particle grid
    Omega_m: float = 0.3
    sigma8: float = 0.8
    frames: int = 40                 # frames of the fit animation
    gradient: str = "fd4"            # force differentiation: "fd4" (as FastPM) or "spectral" (as pmwd)
    devices: int = 1                 # split the PM mesh and particles over this many devices (0 = all; see parallel.md)

    def validate(self):
        check_int("iterations", self.iterations, lo=0)
        check_range("learning_rate", self.learning_rate, 0.0, 10.0, lo_open=True)
        check_range("lr_decay", self.lr_decay, 0.0, 1.0)
        check_range("decay_from", self.decay_from, 0.0, 1.0)
        check_int("projections", self.projections, lo=1, hi=2)
        check_int("num_steps", self.num_steps, lo=1, hi=10000)
        check_range("a_start", self.a_start, 1e-3, 2.0, lo_open=True)
        check_range("a_stop", self.a_stop, 1e-3, 2.0)
        if not self.a_start < self.a_stop:
            raise ValueError(f"a_start must be < a_stop; got a_start={self.a_start}, a_stop={self.a_stop}")
        for name in ("box_x", "box_y", "box_z"):
            check_range(name, getattr(self, name), 0.0, 1e5, lo_open=True)
        for name in ("ptcl_x", "ptcl_y", "ptcl_z"):
            check_int(name, getattr(self, name), lo=2, hi=512)
        check_int("mesh_factor", self.mesh_factor, lo=1, hi=8)
        check_int("image_factor", self.image_factor, lo=1, hi=16)
        check_range("Omega_m", self.Omega_m, 0.0, 1.0, lo_open=True)
        check_range("sigma8", self.sigma8, 0.0, 3.0, lo_open=True)
        check_int("frames", self.frames, lo=1, hi=1000)
        if self.gradient not in ("spectral", "fd4"):
            raise ValueError(f"gradient must be 'spectral' or 'fd4'; got {self.gradient!r}")
        check_int("devices", self.devices, lo=0)
        if self.target:
            from ..gravity.target import load_target

            load_target(self.target, (4, 4))  # fails early with a clear message


QUICK = {"iterations": 10, "frames": 5}


def setup(config):
    """Solver, cosmology, target map(s) (normalised to the particle count) and the loss function."""
    from .. import gravity as g
    from ..core import simulate
    from ..gravity.target import default_target_image, load_target, normalise_target
    from ..parallel import split_devices

    solver = g.PMSolver(box=(config.box_x, config.box_y, config.box_z),
                        ptcl_grid=(config.ptcl_x, config.ptcl_y, config.ptcl_z),
                        mesh=tuple(config.mesh_factor * n for n in (config.ptcl_x, config.ptcl_y, config.ptcl_z)),
                        a_start=config.a_start, a_stop=config.a_stop, num_steps=config.num_steps,
                        gradient=config.gradient, devices=split_devices(config.devices))
    cosmo = g.Cosmology(Omega_m=config.Omega_m, sigma8=config.sigma8)
    shape = (config.image_factor * config.ptcl_x, config.image_factor * config.ptcl_y)  # (rows, cols)
    img = load_target(config.target, shape) if config.target else default_target_image(shape)
    target = jnp.asarray(normalise_target(img, solver.num_particles), jnp.float32)
    # projection along z gives (x, y) = shape; along x gives (y, z), transposed to (z, y)
    shape_x = (config.image_factor * config.ptcl_y, config.image_factor * config.ptcl_z)

    def projections(state):
        out = [g.project(solver, state, 2, shape)]
        if config.projections == 2:
            if shape_x[::-1] != shape:
                raise ValueError("projections=2 needs the x and z sides equal (ptcl_x = ptcl_z, box_x = box_z)")
            out.append(g.project(solver, state, 0, shape_x).T)
        return out

    def evolve(noise, gradient="adjoint", save_every=None):
        c = cosmo.tabulate()
        state0 = solver.initial_state(noise, c)
        return simulate(solver, state0, c, num_steps=solver.num_steps, gradient=gradient, save_every=save_every)

    vt = jnp.var(target)

    def loss(noise, gradient="adjoint"):
        state = evolve(noise, gradient).state
        return sum(jnp.var(p - target) / vt for p in projections(state))

    return solver, cosmo, target, projections, evolve, loss


def _sequence(n):
    """The lecture's sequence of iterations to show: 0, 10, 100, 1000, ... and the last."""
    seq, k = [0], 10
    while k < n:
        seq.append(k)
        k *= 10
    if n not in seq:
        seq.append(n)
    return seq


def run(config, out: Path) -> dict:
    import matplotlib.pyplot as plt
    import optax

    from ..core.io import save_figure, save_gif
    from ..core.progress import progress_bar

    solver, cosmo, target, projections, evolve, loss = setup(config)
    key = jax.random.PRNGKey(config.seed)
    noise = jax.random.normal(key, solver.ptcl_grid, jnp.float32)
    # constant rate, then a cosine decay over the last part: with a constant rate Adam's loss keeps
    # jittering by ~0.03 around its floor, so where iteration N lands in that jitter would decide the result
    start = int(config.decay_from * config.iterations)
    schedule = optax.join_schedules(
        [optax.constant_schedule(config.learning_rate),
         optax.cosine_decay_schedule(config.learning_rate, max(1, config.iterations - start), alpha=config.lr_decay)],
        [start])
    opt = optax.adam(schedule)
    opt_state = opt.init(noise)

    def loss_aux(noise):
        ps = projections(evolve(noise).state)
        return sum(jnp.var(p - target) / jnp.var(target) for p in ps), ps

    @jax.jit
    def update(noise, opt_state):
        (value, ps), grad = jax.value_and_grad(loss_aux, has_aux=True)(noise)
        upd, opt_state = opt.update(grad, opt_state, noise)
        return optax.apply_updates(noise, upd), opt_state, value, ps

    show = set(_sequence(config.iterations))
    frame_every = max(1, config.iterations // config.frames)
    shots, frames, history = {}, [], []
    t0 = time.perf_counter()
    t_steady, n_steady = 0.0, 0

    def record(it, ps):
        p = [np.asarray(x) for x in ps]
        if it in show:
            shots[it] = p
        if it % frame_every == 0 or it == config.iterations:
            frames.append(p[0])

    with progress_bar(config.iterations, desc="ic-fit") as bar:
        for it in range(config.iterations + 1):
            t1 = time.perf_counter()
            new_noise, new_state, value, ps = update(noise, opt_state)
            value = float(value)
            if it > 0:
                t_steady += time.perf_counter() - t1
                n_steady += 1
            record(it, ps)  # projections of the noise before this update
            if not np.isfinite(value):
                raise FloatingPointError(f"loss became {value} at iteration {it}")
            if it == config.iterations:  # the last call only evaluates the final loss
                final_loss = value
                break
            history.append(value)
            noise, opt_state = new_noise, new_state
            bar.update(1)
    wall = time.perf_counter() - t0
    loss_final = float(final_loss)
    loss_initial = history[0] if history else loss_final
    steady = t_steady / n_steady if n_steady else wall / max(1, config.iterations)

    # target vs projection at 0, 10, 100, ...
    its = sorted(shots)
    ncol = 1 + config.projections
    fig, axes = plt.subplots(len(its), ncol, figsize=(3.2 * ncol, 2.1 * len(its)), squeeze=False)
    tgt = np.asarray(target)
    vmax = float(np.percentile(tgt, 99.5))
    for r, it in enumerate(its):
        axes[r, 0].imshow(tgt, cmap="magma", vmin=0, vmax=vmax)
        axes[r, 0].set_ylabel(f"iter {it}")
        for j, p in enumerate(shots[it]):
            axes[r, 1 + j].imshow(p, cmap="magma", vmin=0, vmax=vmax)
            lv = float(np.var(p - tgt) / np.var(tgt))
            axes[r, 1 + j].set_title(f"{'z' if j == 0 else 'x'}-projection, loss {lv:.3f}", fontsize=8)
    axes[0, 0].set_title("target", fontsize=8)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    save_figure(fig, out / "ic_fit_sequence.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    if history:
        ax.semilogy(np.arange(1, len(history) + 1), history)
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel("var(proj - target) / var(target)")
    ax.grid(alpha=0.3)
    save_figure(fig, out / "ic_fit_loss.png")

    def to_u8(m):
        return (np.clip(np.asarray(m) / vmax, 0, 1) ** 0.7 * 255).astype(np.uint8)[::-1].repeat(3, 0).repeat(3, 1)

    save_gif([to_u8(f) for f in frames], out / "ic_fit_animation.gif", fps=8)
    # the fitted universe evolving from a_start to a_stop
    snaps = jax.jit(lambda n: evolve(n, gradient="store", save_every=1).snapshots)(noise)
    from .. import gravity as g

    evo = jax.jit(jax.vmap(lambda s: g.project(solver, s, 2, tgt.shape)))(snaps)
    save_gif([to_u8(f) for f in np.asarray(evo)], out / "ic_fit_universe.gif", fps=12)

    metrics = {"loss_initial": loss_initial, "loss_final": loss_final, "iterations": config.iterations,
               "wall_s": wall, "s_per_iteration": steady,
               "devices": 1 if solver.devices is None else int(solver.devices.size)}
    for k in (10, 100, 1000, 3000):
        if len(history) > k:
            metrics[f"loss_at_{k}"] = history[k]  # loss before update k (= after k iterations)
    return metrics
