"""Gradient-based fitting of parameters with optax: ``fit(loss, params0, ...)``.

One jitted update step, a progress bar showing the loss, the loss history, a NaN guard, and
checkpoint/resume to disk such that a run interrupted and resumed ends with bitwise the same
parameters as an uninterrupted run (same machine, same inputs).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .checks import check_finite, check_int
from .io import load_pytree, save_pytree
from .progress import progress_bar

__all__ = ["fit", "FitResult"]


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        params: the final parameters (the last finite ones if the run stopped on a NaN).
        history: loss before each completed update, as a numpy array (``history[0]`` is the initial loss).
        final_loss: loss at ``params``.
        steps: number of updates applied.
        message: why the loop ended ("completed", "stop_when", or which step produced a non-finite value).
        failed_step: the step whose loss or gradient was not finite, else ``None``.
        opt_state: the optimizer state at the end (to continue by hand).
    """

    params: Any
    history: np.ndarray
    final_loss: float
    steps: int
    message: str
    failed_step: int | None = None
    opt_state: Any = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None


def _all_finite(tree):
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def make_update(loss: Callable, optimizer):
    """The jitted update ``(params, opt_state) -> (params, opt_state, loss, ok)``; rejects non-finite steps."""

    # optimizers with extra arguments (optax.lbfgs and its line search; every optax chain accepts and ignores
    # them) get the loss value, the gradient and the loss function itself
    extra = isinstance(optimizer, optax.GradientTransformationExtraArgs)

    @jax.jit
    def update(params, opt_state):
        value, grads = jax.value_and_grad(loss)(params)
        if extra:
            updates, new_state = optimizer.update(grads, opt_state, params, value=value, grad=grads, value_fn=loss)
        else:
            updates, new_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = jnp.isfinite(value) & _all_finite(grads) & _all_finite(new_params)
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        return (jax.tree_util.tree_map(keep, new_params, params),
                jax.tree_util.tree_map(keep, new_state, opt_state), value, ok)

    return update


def fit(loss: Callable, params0, *, optimizer=None, steps: int = 1000, progress: bool | None = None,
        stop_when: Callable | None = None, callback: Callable | None = None, checkpoint=None,
        checkpoint_every: int = 100, resume: bool = False, desc: str = "fit") -> FitResult:
    """Minimise ``loss(params)`` from ``params0`` with an optax optimizer.

    Args:
        loss: scalar function of a params pytree (differentiable).
        params0: initial parameters.
        optimizer: an ``optax.GradientTransformation`` (default ``optax.adam(1e-2)``); quasi-Newton
            ``optax.lbfgs()`` works too (its line search gets the loss function).
        steps: total number of updates (including those done before a resume).
        progress: show a progress bar with the loss (default: when stderr is a terminal).
        stop_when: ``stop_when(step, params, loss) -> bool``, called after each update with the loss
            before it; True ends the loop (message "stop_when").
        callback: ``callback(step, params, loss)`` called before each update (snapshots, logging).
        checkpoint: path of a checkpoint file, written atomically every ``checkpoint_every`` steps and at the end.
        resume: continue from ``checkpoint`` if it exists (same loss, optimizer and params structure).
    """
    optimizer = optimizer if optimizer is not None else optax.adam(1e-2)
    steps = check_int("steps", steps, lo=0)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, lo=1)
    check_finite("params0", params0)
    params = jax.tree_util.tree_map(jnp.asarray, params0)
    opt_state = optimizer.init(params)
    history: list[float] = []
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if resume:
        if ckpt is None:
            raise ValueError("resume=True needs checkpoint=PATH")
        if ckpt.exists():
            like = {"params": params, "opt_state": opt_state, "step": np.int64(0), "history": np.zeros(0)}
            saved = load_pytree(ckpt, like)
            params, opt_state = saved["params"], saved["opt_state"]
            start = int(saved["step"])
            history = [float(x) for x in np.asarray(saved["history"])]

    def save(step):
        if ckpt is not None:
            save_pytree(ckpt, {"params": params, "opt_state": opt_state, "step": np.int64(step),
                               "history": np.asarray(history, dtype=np.float64)})

    update = make_update(loss, optimizer)
    message, failed = "completed", None
    step = start
    with progress_bar(total=steps, desc=desc, enabled=progress, initial=start) as bar:
        while step < steps:
            if callback is not None:
                callback(step, params, history[-1] if history else None)
            new_params, new_state, value, ok = update(params, opt_state)
            value = float(value)
            if not bool(ok):
                failed = step
                what = "loss" if not np.isfinite(value) else "gradient or update"
                message = (f"stopped at step {step}: the {what} is not finite; "
                           f"params are those before this step")
                break
            params, opt_state = new_params, new_state
            history.append(value)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4e}", refresh=False)
            if ckpt is not None and step % checkpoint_every == 0:
                save(step)
            if stop_when is not None and stop_when(step, params, value):
                message = "stop_when"
                break
    save(step)
    final = float(jax.jit(loss)(params))
    return FitResult(params=params, history=np.asarray(history), final_loss=final, steps=step,
                     message=message, failed_step=failed, opt_state=opt_state)
