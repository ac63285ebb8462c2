"""The time loop: ``simulate(solver, state0, params, ...)``.

A *solver* is an object (usually an ``equinox.Module``) with a pure step function:

* fixed steps, ``simulate(..., num_steps=N)``: ``solver.step(state, params) -> state``;
* given or adaptive step size, ``simulate(..., dt=h)`` or ``simulate(..., t_end=T, max_steps=M)``:
  ``solver.step(state, params, dt) -> state``, and for adaptive steps
  ``solver.max_dt(state, params) -> dt`` (a CFL limit, say). The last step is shortened so that the
  run lands exactly on ``t_end``.

The loop is ``lax.scan`` (bounded by ``max_steps`` when the step is adaptive: slots after ``t_end`` is
reached are skipped by ``lax.cond``; a solver with ``masked_steps = True``, whose step with
``dt = 0`` returns the state unchanged, has them run with ``dt = 0`` instead and skipped chunk-wise),
laid out by a gradient strategy (:mod:`diffphys.core.gradients`).
Reverse mode (``jax.grad``) and forward mode (``jax.jvp``/``jax.jacfwd``) both work on the same call.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .checks import check_int, is_concrete
from .gradients import ForwardSensitivity, _then_report, resolve_strategy

__all__ = ["simulate", "Solution"]


class Solution(eqx.Module):
    """What :func:`simulate` returns.

    Attributes:
        state: the final state.
        num_steps: number of steps actually taken (an integer array).
        t: the final time (runs with ``t_end`` or ``dt``), else ``None``.
        reached: whether ``t_end`` was reached within ``max_steps`` (always True for fixed steps).
        snapshots: the saved states stacked along a leading axis, or ``None``.
        ts: for each snapshot, its time (time-based runs) or its step index (fixed steps).
    """

    state: Any
    num_steps: Any
    t: Any = None
    reached: Any = True
    snapshots: Any = None
    ts: Any = None


def _reporter(progress, solver, total, unit, done_of, every):
    """``report(carry, every_step)`` for the strategies (None without ``progress``): reports
    ``done_of(carry)`` to a host-side :class:`~diffphys.core.progress.LoopProgress`; called after every
    step, it reports only the steps whose count (the carry's last entry) is a multiple of ``every``."""
    if not progress:
        return None
    from .progress import LoopProgress  # noqa: PLC0415

    tick = LoopProgress(total, f"simulate {type(solver).__name__}", unit)

    def report(carry, every_step=False):
        done = lax.stop_gradient(done_of(carry))
        if every_step:
            lax.cond(carry[-1] % every == 0, lambda: jax.debug.callback(tick, done), lambda: None)
        else:
            jax.debug.callback(tick, done)

    return report


def _loop(strategy, body, carry, length, active=None, report=None):
    kw = {} if active is None else {"active": active}
    if report is not None:  # strategies written before progress bars need not take it
        kw["report"] = report
    return strategy.loop(body, carry, length, **kw)


def _step_fn(solver, params, with_dt):
    if with_dt:
        return lambda s, dt: solver.step(s, params, dt)
    return lambda s, dt: solver.step(s, params)


def simulate(solver, state0, params, *, num_steps=None, t_end=None, dt=None, max_steps=None,
             save_every=None, save_at=None, gradient="store", throw=False, dt_gradient=True,
             progress=False) -> Solution:
    """Run ``solver`` from ``state0`` and return a :class:`Solution`.

    Args:
        solver: static configuration with ``step`` (and ``max_dt`` for adaptive runs).
        state0: initial state (a pytree of arrays).
        params: differentiable parameters (a pytree), passed to every ``step``.
        num_steps: run exactly this many steps (Python int).
        t_end: run until this time; needs ``max_steps`` and either ``dt`` or ``solver.max_dt``.
        dt: a fixed step size. With ``num_steps``: ``num_steps`` steps of ``dt``. With ``t_end``:
            steps of ``dt``, the last one shortened to land on ``t_end``.
        max_steps: bound on the number of steps of a ``t_end`` run (per segment with ``save_at``).
        save_every: with ``num_steps``, also return the state every this many steps
            (the initial state included, at index 0).
        save_at: with ``t_end``-style runs, an increasing array of times at which to save; the run
            ends at ``save_at[-1]`` unless ``t_end`` is later.
        gradient: ``"store"``, ``"checkpoint"``, ``"recursive"``, ``"adjoint"`` (solver-provided),
            ``"forward"`` (:class:`~diffphys.core.gradients.ForwardSensitivity`: ``jax.grad`` by forward-mode
            tangents, for a handful of parameters) or a strategy object from :mod:`diffphys.core.gradients`.
        throw: raise (via ``equinox.error_if``) when ``t_end`` is not reached within ``max_steps``.
        dt_gradient: with adaptive steps, whether derivatives flow through ``solver.max_dt`` (the exact
            derivative of the discrete computation, default) or the step sizes are treated as constants
            (``False``: the derivative of the same scheme on a frozen time grid; smoother over long
            runs where the CFL step depends sensitively on the state). The last step still lands on
            ``t_end`` and is differentiable in ``t_end``.
        progress: show a progress bar (tqdm, on stderr) while the compiled loop runs: steps done, or per
            mille of the run's time. It is fed by ``jax.debug.callback`` about 100 times per run (once per
            chunk for the chunked strategies, once per saved segment with ``save_at`` / ``save_every``),
            from the forward pass only; ``DIFFPHYS_PROGRESS=0`` hides it. A vmapped run reports its
            furthest member. Not available with a solver-provided adjoint.
    """
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False; got {progress!r}")
    strategy = resolve_strategy(gradient, solver)
    if isinstance(strategy, ForwardSensitivity):  # wraps this function, loop options included
        return strategy.simulate(solver, state0, params, num_steps=num_steps, t_end=t_end, dt=dt,
                                 max_steps=max_steps, save_every=save_every, save_at=save_at, throw=throw,
                                 dt_gradient=dt_gradient, progress=progress)
    if hasattr(strategy, "simulate"):
        if progress:
            raise ValueError(f"progress=True is not available with a solver-provided adjoint ({strategy!r}); "
                             "use gradient='checkpoint' for a progress bar")
        return strategy.simulate(solver, state0, params, num_steps=num_steps, t_end=t_end, dt=dt,
                                 max_steps=max_steps, save_every=save_every, save_at=save_at)

    timed = t_end is not None or save_at is not None
    if timed == (num_steps is not None):
        raise ValueError("give exactly one of num_steps (fixed steps) or t_end/save_at (run to a time)")
    if not hasattr(solver, "step"):
        raise ValueError(f"solver {type(solver).__name__} has no step(state, params[, dt]) method")
    if num_steps is not None:
        num_steps = check_int("num_steps", num_steps, lo=0)
        if save_at is not None:
            raise ValueError("save_at goes with t_end; with num_steps use save_every")
        return _simulate_fixed(solver, state0, params, num_steps, dt, save_every, strategy, progress)

    if save_every is not None:
        raise ValueError("save_every goes with num_steps; with t_end use save_at=[times]")
    if max_steps is None:
        raise ValueError("a run to t_end needs max_steps (a bound on the number of steps)")
    max_steps = check_int("max_steps", max_steps, lo=1)
    if dt is None and not hasattr(solver, "max_dt"):
        raise ValueError(f"a run to t_end needs dt= or a solver with max_dt(); {type(solver).__name__} has neither")
    if dt is not None and is_concrete(dt) and not float(np.asarray(dt)) > 0:
        raise ValueError(f"dt must be > 0; got {dt}")
    if save_at is not None:
        save_at = jnp.asarray(save_at)
        if save_at.ndim != 1 or save_at.shape[0] == 0:
            raise ValueError("save_at must be a non-empty 1D array of times")
        if is_concrete(save_at) and np.any(np.diff(np.asarray(save_at)) < 0):
            raise ValueError("save_at must be non-decreasing")
    if t_end is not None and is_concrete(t_end) and not float(np.asarray(t_end)) > 0:
        raise ValueError(f"t_end must be > 0; got {t_end}")
    return _simulate_timed(solver, state0, params, t_end, dt, max_steps, save_at, strategy, throw, dt_gradient,
                           progress)


def _simulate_fixed(solver, state0, params, num_steps, dt, save_every, strategy, progress=False):
    step = _step_fn(solver, params, dt is not None)
    report = _reporter(progress, solver, num_steps, "step", lambda c: c[1], max(1, num_steps // 100))

    def run(carry, length, report=None):
        padded = strategy.padded_length(length)
        if padded == length:
            body = lambda c: (step(c[0], dt), c[1] + 1)  # noqa: E731
        else:  # padding slots are skipped
            stop = carry[1] + length

            def body(c):
                return lax.cond(c[1] < stop, lambda cc: (step(cc[0], dt), cc[1] + 1), lambda cc: cc, c)

        return _loop(strategy, body, carry, length, report=report)

    carry = (state0, jnp.asarray(0, dtype=jnp.int32))
    t0 = None if dt is None else jnp.zeros_like(jnp.asarray(dt))
    if save_every is None:
        state, n = run(carry, num_steps, report)
        if report is not None:
            report((state, n))
        t = None if dt is None else n * jnp.asarray(dt)
        return Solution(state=state, num_steps=n, t=t)

    save_every = check_int("save_every", save_every, lo=1)
    n_seg = num_steps // save_every
    # progress: once per segment, outside the (possibly rematerialised) segment
    seg = _then_report(strategy.wrap_segment(lambda c: run(c, save_every)), report, False)
    carry, saved = lax.scan(lambda c, _: (seg(c),) * 2, carry, None, length=n_seg)
    snaps = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), state0, saved[0])
    ts = jnp.concatenate([jnp.zeros((1,), jnp.int32), saved[1]])
    carry = _then_report(lambda c: run(c, num_steps - n_seg * save_every), report, False)(carry)
    t = None if dt is None else carry[1] * jnp.asarray(dt)
    if dt is not None:
        ts = ts * jnp.asarray(dt) + t0
    return Solution(state=carry[0], num_steps=carry[1], t=t, snapshots=snaps, ts=ts)


def _simulate_timed(solver, state0, params, t_end, dt, max_steps, save_at, strategy, throw, dt_gradient=True,
                    progress=False):
    step = _step_fn(solver, params, True)
    # the time variable takes the dtype of the state's floating leaves
    leaves = [x for x in jax.tree_util.tree_leaves(state0) if jnp.issubdtype(jnp.result_type(x), jnp.floating)]
    tdtype = jnp.result_type(*leaves) if leaves else jnp.result_type(float)
    report = None
    if progress:  # per mille of the run's final time
        last = None if save_at is None else save_at[-1]
        t_final = jnp.asarray(last if t_end is None else (t_end if last is None else jnp.maximum(t_end, last)),
                              tdtype)
        report = _reporter(True, solver, 1000, "permille",
                           lambda c: jnp.floor(1000 * c[1] / t_final).astype(jnp.int32), max(1, max_steps // 200))

    # A solver whose step with dt = 0 returns the state unchanged may declare ``masked_steps = True``:
    # slots after t_end then run a step of exactly 0 (no lax.cond per slot, whose reverse pass is
    # costly), and the strategy skips whole chunks of them.
    masked = bool(getattr(solver, "masked_steps", False))

    def segment(carry, target, report=None):
        def body(c):
            state, t, n = c

            def advance(c):
                state, t, n = c
                remaining = target - t
                h = solver.max_dt(state, params) if dt is None else jnp.asarray(dt, tdtype)
                if not dt_gradient:
                    h = lax.stop_gradient(h)
                last = h >= remaining
                h = jnp.where(last, remaining, h)
                if masked:  # a slot after the end steps by exactly 0 (the solver's step is then the identity)
                    h = jnp.where(t < target, h, jnp.zeros_like(h))
                new = step(state, h)
                return new, jnp.where(last, target, t + h), n + 1

            if masked:
                # only the time and the step count are selected: a select of the state lets XLA fuse the
                # whole step into the select's kernel, 1.2x (HLLC) to 35x (HLL) slower on CPU
                keep = t < target
                new, t_new, n_new = advance(c)
                return new, jnp.where(keep, t_new, t), jnp.where(keep, n_new, n)
            return lax.cond(t < target, advance, lambda c: c, c)

        return _loop(strategy, body, carry, max_steps, (lambda c: c[1] < target) if masked else None, report)

    carry = (state0, jnp.zeros((), tdtype), jnp.asarray(0, jnp.int32))
    if save_at is None:
        target = jnp.asarray(t_end, tdtype)
        state, t, n = segment(carry, target, report)
        reached = t >= target
        snaps, ts = None, None
    else:
        targets = save_at.astype(tdtype)
        seg = strategy.wrap_segment(segment)
        # progress: once per saved segment, outside the (possibly rematerialised) segment
        carry, saved = lax.scan(lambda c, tg: (_then_report(lambda x: seg(x, tg), report, False)(c),) * 2,
                                carry, targets)
        snaps, ts = saved[0], saved[1]
        reached = jnp.all(saved[1] >= targets)
        state, t, n = carry
        if t_end is not None:
            target = jnp.maximum(jnp.asarray(t_end, tdtype), targets[-1])
            state, t, n = segment((state, t, n), target, report)
            reached = reached & (t >= target)
    if report is not None:
        report((state, t, n))
    if throw:
        state = eqx.error_if(state, ~reached, "simulate: t_end not reached within max_steps; raise max_steps")
    return Solution(state=state, num_steps=n, t=t, reached=reached, snapshots=snaps, ts=ts)
