"""Unrolled training: ``k`` steps of (solver step -> learned correction) inside ``lax.scan``.

``step(state) -> state`` is one step of a differentiable solver (parameters closed over),
``correct(model, state) -> state`` applies the model to a state (``None``: no correction, the plain
solver). The loss compares the ``k`` states after each corrected step with ``k`` target states, so the
gradient with respect to the model flows back through the solver steps: the network learns how its
correction changes the states the solver will produce later (Um et al. 2020, solver-in-the-loop).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["rollout", "unrolled_loss", "mse"]


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (the number of unrolled steps) must be an integer >= 1; got {k!r}")
    return k


def _identity(state):
    return state


def rollout(step: Callable, correct: Callable | None, model, state0, k: int, *, observe: Callable | None = None,
            checkpoint: bool = False):
    """Run ``k`` corrected steps from ``state0``.

    Returns ``(final_state, observed)`` where ``observed`` is ``observe(state)`` after each of the ``k``
    steps, stacked along a new leading axis (``observe`` defaults to the whole state).
    ``checkpoint=True`` wraps each step in ``jax.checkpoint``: the backward pass recomputes a step's
    internals instead of storing them (memory ~ k states rather than k steps' intermediates).
    """
    k = _check_k(k)
    observe = observe or _identity

    def one(state, _):
        new = step(state)
        if correct is not None:
            new = correct(model, new)
        return new, observe(new)

    body = jax.checkpoint(one) if checkpoint else one
    return lax.scan(body, state0, None, length=k)


def mse(pred, target):
    """Mean squared difference over all entries of two pytrees of the same structure."""
    sq = [jnp.sum((a - b) ** 2) for a, b in zip(jax.tree_util.tree_leaves(pred), jax.tree_util.tree_leaves(target))]
    n = sum(a.size for a in jax.tree_util.tree_leaves(pred))
    return sum(sq) / n


def _check_targets(targets, observed_one, k):
    t_leaves, t_def = jax.tree_util.tree_flatten(targets)
    o_leaves, o_def = jax.tree_util.tree_flatten(observed_one)
    if t_def != o_def:
        raise ValueError(f"targets must have the structure of observe(state) with a leading time axis; "
                         f"got {t_def} for {o_def}")
    for i, (t, o) in enumerate(zip(t_leaves, o_leaves)):
        shape = jnp.shape(t)
        if len(shape) != len(o.shape) + 1 or tuple(shape[1:]) != tuple(o.shape):
            raise ValueError(f"targets leaf {i} must have shape (k, *{tuple(o.shape)}) (k = {k}, the state's field "
                             f"shape after it); got {tuple(shape)}")
        if shape[0] < k:
            raise ValueError(f"targets hold {shape[0]} steps but k = {k}; targets need at least k steps "
                             f"along their leading axis")


def unrolled_loss(step: Callable, correct: Callable | None, model, state0, targets, k: int, *,
                  observe: Callable | None = None, checkpoint: bool = False, loss: Callable = mse):
    """Mean squared error of ``k`` corrected steps from ``state0`` against ``targets``.

    Args:
        step: ``step(state) -> state``, one solver step.
        correct: ``correct(model, state) -> state`` (``None``: the plain solver).
        model: the pytree being trained (an ``equinox.Module``); differentiate with respect to it.
        state0: starting state.
        targets: ``observe(state)``-shaped pytree with a leading axis of at least ``k`` entries: the target
            after step 1, 2, ..., k (extra entries are ignored).
        k: number of unrolled steps (>= 1).
        observe: which part of a state is compared (default: the whole state).
        checkpoint: ``jax.checkpoint`` each step (recompute in the backward pass).
        loss: ``loss(pred, target)`` on the stacked ``(k, ...)`` pytrees (default: mean squared error).

    Works under ``jit``, ``grad`` and ``vmap`` (over ``state0`` and ``targets`` for batches of windows).
    """
    k = _check_k(k)
    observe = observe or _identity
    _check_targets(targets, jax.eval_shape(observe, state0), k)
    targets = jax.tree_util.tree_map(lambda t: t[:k], targets)
    _, pred = rollout(step, correct, model, state0, k, observe=observe, checkpoint=checkpoint)
    return loss(pred, targets)
