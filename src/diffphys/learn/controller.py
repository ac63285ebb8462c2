"""A learned controller: a :class:`~diffphys.learn.PeriodicCNN` maps ``(marker, target, u, v)`` to the
force ``(fu, fv)`` applied before each step (periodic grids, where u and v are ``(nx, ny)`` arrays).

Trained through the solver on several start/target pairs with the loss of
:func:`~diffphys.learn.control.control_loss` averaged over the pairs (each pair normalised by its own
uncontrolled misfit), then evaluated on held-out pairs (Holl, Koltun & Thuerey 2020, in miniature: one
small CNN, no hierarchy).
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ..core.checks import check_int, check_positive
from ..core.fit import fit
from .control import _forced_step, marker_misfit, uncontrolled_misfit

__all__ = ["controller_loss", "controller_rollout", "stack_pairs", "train_controller"]


def _check(solver, model, T):
    if not (solver.boundaries.periodic_x and solver.boundaries.periodic_y):
        raise ValueError("the learned controller needs a periodic solver (u and v on (nx, ny) faces)")
    if getattr(model, "in_channels", 4) != 4 or getattr(model, "out_channels", 2) != 2:
        raise ValueError("model must map 4 channels (marker, target, u, v) to 2 (fu, fv)")
    return check_int("T", T, lo=1)


def controller_rollout(model, solver, params, state0, target, T: int, *, force_scale: float = 1.0,
                       project: bool = True, checkpoint: bool = True):
    """``T`` steps with the force ``force_scale * model(stack(marker, target, u, v))`` before each;
    returns ``(final_state, forces)`` with ``forces = (fu, fv)`` of shape ``(T, nx, ny)`` each."""
    T = _check(solver, model, T)

    def one(state, _):
        x = jnp.stack([state.marker, target.astype(state.u.dtype), state.u, state.v])
        f = model(x) * force_scale
        return _forced_step(solver, params, state, f[0], f[1], project), (f[0], f[1])

    body = jax.checkpoint(one) if checkpoint else one
    return lax.scan(body, state0, None, length=T)


def controller_loss(model, solver, params, states0, targets, norms, T: int, *, weight: float = 0.0,
                    force_scale: float = 1.0, project: bool = True, checkpoint: bool = True):
    """Mean over the pairs (leading axis of ``states0``, ``targets``, ``norms``) of
    ``||m_T - target||^2 / norm + weight * mean(f^2)``."""

    def one(s0, tg, nm):
        final, (fu, fv) = controller_rollout(model, solver, params, s0, tg, T, force_scale=force_scale,
                                             project=project, checkpoint=checkpoint)
        return marker_misfit(final.marker, tg) / nm + weight * (jnp.mean(fu**2) + jnp.mean(fv**2)) / 2

    return jnp.mean(jax.vmap(one)(states0, targets, norms))


def stack_pairs(solver, params, states, targets, T, project=True):
    """Stack start states and targets along a leading axis; with each pair's uncontrolled misfit."""
    if len(states) != len(targets) or not states:
        raise ValueError(f"states and targets must be non-empty lists of equal length; got {len(states)}, "
                         f"{len(targets)}")
    s0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)
    tg = jnp.stack(targets)
    # one compiled, vectorised rollout for all pairs (a rollout per pair compiled each its own scan:
    # minutes for a few hundred pairs, and the compiled code ran the process out of memory maps)
    norms = jax.jit(jax.vmap(lambda s, t: uncontrolled_misfit(solver, params, s, t, T, project=project)))(s0, tg)
    return s0, tg, norms


def train_controller(model, solver, params, states, targets, T: int, *, iterations: int = 300,
                     learning_rate: float = 1e-3, weight: float = 1e-4, force_scale: float = 1.0,
                     project: bool = True, checkpoint: bool = True, progress=None):
    """Train ``model`` on the start/target pairs; returns ``(model, history, seconds)``.

    The trained network outputs forces in units of ``force_scale``: evaluate it with the same value
    (``controller_loss(..., force_scale=force_scale)``, ``controller_rollout(...)``); with the default 1.0 its
    forces are ``force_scale`` times too weak."""
    T = _check(solver, model, T)
    iterations = check_int("iterations", iterations, lo=0)
    check_positive("learning_rate", learning_rate)
    check_positive("weight", weight, allow_zero=True)
    s0, tg, nm = stack_pairs(solver, params, states, targets, T, project)
    params_m, static = eqx.partition(model, eqx.is_inexact_array)
    t0 = time.perf_counter()

    def loss(p):
        return controller_loss(eqx.combine(p, static), solver, params, s0, tg, nm, T, weight=weight,
                               force_scale=force_scale, project=project, checkpoint=checkpoint)

    res = fit(loss, params_m, optimizer=optax.adam(learning_rate), steps=iterations, progress=progress,
              desc="controller")
    return eqx.combine(res.params, static), np.asarray(res.history), time.perf_counter() - t0
