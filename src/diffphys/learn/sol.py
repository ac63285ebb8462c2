"""Solver-in-the-loop (Um et al. 2020): train a correction that makes a coarse solver track a fine one.

The workflow on a periodic 2D incompressible flow (:mod:`diffphys.flow`):

1. :func:`make_flow_pair`: a fine and a coarse :class:`~diffphys.flow.FlowSolver` on the same periodic
   square ``[0, 2 pi]^2`` with the same viscosity and the same CFL number (``dt_coarse = factor * dt_fine``).
2. :func:`smooth_vortices` draws a random smooth, divergence-free initial velocity from a key;
   :func:`reference_trajectory` runs the fine solver and restricts the velocity to the coarse grid
   after every coarse-step's worth of fine steps by conservative face averaging (:func:`restrict`,
   which maps divergence-free fine fields to divergence-free coarse fields).
3. :func:`train_correction` trains a model ``(u, v) -> (du, dv)``, added after each coarse step, with
   optax Adam on unrolled windows of ``k`` corrected coarse steps (:func:`~diffphys.learn.unrolled_loss`)
   drawn from the training trajectories.
4. :func:`evaluate` measures the relative L2 error of the plain and the corrected coarse solver against
   the restricted fine trajectory of a held-out initial condition over a longer horizon.
"""

from __future__ import annotations

import dataclasses
import math
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ..core.checks import check_int, check_positive
from ..flow import Boundaries, FlowParams, FlowSolver, FlowState, Grid, PressureInfo
from .unroll import _check_k, rollout, unrolled_loss

__all__ = ["FlowPair", "make_flow_pair", "smooth_vortices", "restrict", "reference_trajectory", "velocity_state",
           "flow_correction", "window_loss", "train_correction", "TrainResult", "evaluate", "relative_l2"]

TWO_PI = 2 * math.pi


class FlowPair(eqx.Module):
    """A fine and a coarse periodic flow solver with the same physics, ``factor`` cells/steps apart."""

    fine: FlowSolver
    coarse: FlowSolver
    params: FlowParams
    factor: int = eqx.field(static=True)


def make_flow_pair(n_fine: int = 64, n_coarse: int = 16, viscosity: float = 0.01, cfl: float = 0.5, *,
                   velocity_scale: float = 1.0, fine_advection: str = "maccormack",
                   coarse_advection: str = "maccormack") -> FlowPair:
    """Fine (``n_fine^2``) and coarse (``n_coarse^2``) periodic solvers on ``[0, 2 pi]^2``.

    ``dt_fine = cfl * dx_fine / velocity_scale`` and ``dt_coarse = factor * dt_fine`` with
    ``factor = n_fine / n_coarse`` (an integer). Both use the exact FFT pressure solve and
    explicit diffusion is avoided (implicit, as the flow solver's default).
    """
    n_fine = check_int("n_fine", n_fine, lo=8)
    n_coarse = check_int("n_coarse", n_coarse, lo=4)
    if n_fine % n_coarse or n_fine == n_coarse:
        raise ValueError(f"n_fine must be a multiple > 1 of n_coarse; got n_fine = {n_fine}, n_coarse = {n_coarse}")
    check_positive("viscosity", viscosity)
    check_positive("cfl", cfl)
    factor = n_fine // n_coarse
    bcs = Boundaries.all_periodic()
    fgrid = Grid((n_fine, n_fine), size=(TWO_PI, TWO_PI))
    cgrid = Grid((n_coarse, n_coarse), size=(TWO_PI, TWO_PI))
    dt_f = cfl * fgrid.dx / velocity_scale
    kw = dict(velocity_scale=velocity_scale, markers=False, pressure="fft")
    fine = FlowSolver(fgrid, bcs, dt_f, advection=fine_advection, **kw)
    coarse = FlowSolver(cgrid, bcs, dt_f * factor, advection=coarse_advection, **kw)
    return FlowPair(fine, coarse, FlowParams(viscosity), factor)


def smooth_vortices(key, n: int, kmax: int = 3, max_speed: float = 1.0, dtype=None):
    """A random smooth periodic velocity on the ``n x n`` MAC grid of ``[0, 2 pi]^2``.

    The stream function is a sum of Fourier modes with integer wavenumbers ``1 <= |k|_inf <= kmax``,
    Gaussian random amplitudes weighted by ``exp(-|k|^2 / kmax^2)`` and random phases;
    ``u = d psi / dy`` and ``v = -d psi / dx`` are evaluated analytically at the face centres, then
    scaled so that the largest speed on the grid is ``max_speed``. Returns ``(u, v)``, each ``(n, n)``.
    """
    n = check_int("n", n, lo=4)
    kmax = check_int("kmax", kmax, lo=1)
    check_positive("max_speed", max_speed)
    dtype = dtype or jnp.result_type(float)
    ks = np.array([(a, b) for a in range(-kmax, kmax + 1) for b in range(0, kmax + 1)
                   if (b > 0 or a > 0)], dtype=np.float64)  # half plane: cos(k x + phase) covers +-k
    k1, k2 = jax.random.split(key)
    # drawn in float32 whatever the x64 flag, so that a key gives the same flow in float32 and float64 runs
    amp = np.asarray(jax.random.normal(k1, (len(ks),), jnp.float32), np.float64)
    phase = np.asarray(jax.random.uniform(k2, (len(ks),), jnp.float32), np.float64) * TWO_PI
    amp = amp * np.exp(-(ks ** 2).sum(1) / kmax**2)
    h = TWO_PI / n
    i = np.arange(n)
    xu, yu = np.meshgrid(i * h, (i + 0.5) * h, indexing="ij")
    xv, yv = np.meshgrid((i + 0.5) * h, i * h, indexing="ij")

    def dpsi(x, y, axis):
        arg = ks[:, 0, None, None] * x + ks[:, 1, None, None] * y + phase[:, None, None]
        return np.sum(-amp[:, None, None] * ks[:, axis, None, None] * np.sin(arg), 0)

    u = dpsi(xu, yu, 1)
    v = -dpsi(xv, yv, 0)
    s = max_speed / max(np.abs(u).max(), np.abs(v).max())
    return jnp.asarray(u * s, dtype), jnp.asarray(v * s, dtype)


def restrict(u, v, factor: int):
    """Conservative restriction of a periodic MAC velocity by ``factor``: each coarse face value is the
    mean of the ``factor`` fine face values on it (the flux through the coarse face), so the coarse
    divergence of a cell is the mean of the fine divergences inside it. Works on leading batch axes."""
    factor = check_int("factor", factor, lo=1)
    *lead, nx, ny = u.shape
    if u.shape != v.shape or nx % factor or ny % factor:
        raise ValueError(f"restrict needs u and v of the same shape divisible by factor = {factor}; "
                         f"got u {u.shape}, v {v.shape}")
    uc = u[..., ::factor, :].reshape(*lead, nx // factor, ny // factor, factor).mean(-1)
    vc = v[..., :, ::factor].reshape(*lead, nx // factor, factor, ny // factor).mean(-2)
    return uc, vc


def velocity_state(solver: FlowSolver, u, v, t=0.0) -> FlowState:
    """A :class:`~diffphys.flow.FlowState` of ``solver`` holding the velocity ``(u, v)`` (no projection;
    zero marker and pressure). Traceable, so it can be built inside ``jit``/``vmap``."""
    dtype = u.dtype
    return FlowState(u, v.astype(dtype), jnp.zeros(solver.grid.shape, dtype), jnp.zeros(solver.grid.shape, dtype),
                     jnp.asarray(t, dtype), PressureInfo.empty(dtype))


def reference_trajectory(pair: FlowPair, u0, v0, num_steps: int):
    """Run the fine solver from ``(u0, v0)`` (fine grid; projected first) for ``num_steps * factor``
    fine steps; returns ``(U, V)`` of shape ``(num_steps + 1, n_coarse, n_coarse)``: the restricted
    velocity at every coarse time step, the initial one first."""
    num_steps = check_int("num_steps", num_steps, lo=1)
    fine = pair.fine
    s0 = fine.initial_state(u0, v0, dtype=u0.dtype)

    @jax.jit
    def run(s0):
        def coarse_step(s, _):
            s = lax.fori_loop(0, pair.factor, lambda i, x: fine.step(x, pair.params), s)
            return s, restrict(s.u, s.v, pair.factor)

        _, (us, vs) = lax.scan(coarse_step, s0, None, length=num_steps)
        u_first, v_first = restrict(s0.u, s0.v, pair.factor)
        return jnp.concatenate([u_first[None], us]), jnp.concatenate([v_first[None], vs])

    return run(s0)


def flow_correction(model, state: FlowState) -> FlowState:
    """Add ``model(u, v) -> (du, dv)`` to the velocity of ``state`` (the next step's projection removes
    any divergence the correction introduces)."""
    du, dv = model(state.u, state.v)
    return eqx.tree_at(lambda s: (s.u, s.v), state, (state.u + du.astype(state.u.dtype),
                                                     state.v + dv.astype(state.v.dtype)))


def _observe_velocity(state):
    return state.u, state.v


def window_loss(model, solver: FlowSolver, params: FlowParams, u0, v0, U, V, k: int, *, checkpoint=False,
                correct=flow_correction):
    """Unrolled loss of one window: ``k`` corrected coarse steps from ``(u0, v0)`` against ``(U, V)``
    (each ``(k, n, n)``: the targets after step 1..k)."""
    state0 = velocity_state(solver, u0, v0)
    return unrolled_loss(lambda s: solver.step(s, params), correct, model, state0, (U, V), k,
                         observe=_observe_velocity, checkpoint=checkpoint)


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_correction` returns: the trained ``model``, the loss ``history`` (numpy, one
    value per iteration, the loss of that iteration's batch before the update), ``iterations``,
    ``seconds`` (wall time of the loop, compilation included) and ``num_windows`` available."""

    model: object
    history: np.ndarray
    iterations: int
    seconds: float
    num_windows: int


def _windows(trajectories, k):
    """All ``(trajectory, start)`` pairs with ``k`` targets after the start."""
    out = []
    for j, (U, _) in enumerate(trajectories):
        out += [(j, s) for s in range(U.shape[0] - k)]
    return np.asarray(out, dtype=np.int32)


def train_correction(model, solver: FlowSolver, params: FlowParams, trajectories, *, k: int = 8,
                     iterations: int = 500, batch: int = 8, learning_rate: float = 1e-3, key=None,
                     checkpoint: bool = False, decay: bool = True, callback=None) -> TrainResult:
    """Train ``model`` as the correction of ``solver`` on unrolled windows of the ``trajectories``.

    Args:
        model: an equinox model ``(u, v) -> (du, dv)`` (e.g. :class:`~diffphys.learn.VelocityCNN`).
        solver, params: the coarse solver and its parameters.
        trajectories: list of ``(U, V)`` arrays ``(T + 1, n, n)`` (from :func:`reference_trajectory`).
        k: unrolled steps per window (``T >= k`` for every trajectory).
        iterations: Adam updates; each uses ``batch`` windows drawn at random (without replacement within
            an update) from all ``(trajectory, start)`` pairs.
        learning_rate: Adam's step; with ``decay`` it follows a cosine schedule down to 10 % of it.
        key: PRNG key for the batches (default ``PRNGKey(0)``).
        checkpoint: ``jax.checkpoint`` each unrolled step.
        callback: ``callback(iteration, model, loss)`` after each update.
    """
    k = _check_k(k)
    iterations = check_int("iterations", iterations, lo=0)
    batch = check_int("batch", batch, lo=1)
    check_positive("learning_rate", learning_rate)
    if not trajectories:
        raise ValueError("trajectories must hold at least one (U, V) pair")
    for i, (U, V) in enumerate(trajectories):
        if U.shape != V.shape or U.ndim != 3 or U.shape[1:] != solver.grid.shape:
            raise ValueError(f"trajectories[{i}] must be (U, V) of shape (T + 1, *{solver.grid.shape}); got "
                             f"{U.shape}, {V.shape}")
        if U.shape[0] <= k:
            raise ValueError(f"trajectories[{i}] has {U.shape[0] - 1} steps; k = {k} needs at least k steps")
    key = key if key is not None else jax.random.PRNGKey(0)
    Us = jnp.stack([U for U, _ in trajectories]) if len({U.shape for U, _ in trajectories}) == 1 else None
    if Us is None:
        raise ValueError("trajectories must all have the same length")
    Vs = jnp.stack([V for _, V in trajectories])
    windows = jnp.asarray(_windows(trajectories, k))
    nwin = int(windows.shape[0])
    batch = min(batch, nwin)
    schedule = optax.cosine_decay_schedule(learning_rate, max(iterations, 1), alpha=0.1) if decay else learning_rate
    optimizer = optax.adam(schedule)
    params_m, static_m = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optimizer.init(params_m)

    def batch_loss(pm, idx):
        m = eqx.combine(pm, static_m)
        j, s = windows[idx, 0], windows[idx, 1]

        def one(j, s):
            u0, v0 = Us[j, s], Vs[j, s]
            U = lax.dynamic_slice_in_dim(Us[j], s + 1, k)
            V = lax.dynamic_slice_in_dim(Vs[j], s + 1, k)
            return window_loss(m, solver, params, u0, v0, U, V, k, checkpoint=checkpoint)

        return jnp.mean(jax.vmap(one)(j, s))

    @jax.jit
    def update(pm, opt_state, key):
        key, sub = jax.random.split(key)
        idx = jax.random.choice(sub, nwin, (batch,), replace=False)
        value, grads = jax.value_and_grad(batch_loss)(pm, idx)
        updates, opt_state = optimizer.update(grads, opt_state, pm)
        return optax.apply_updates(pm, updates), opt_state, key, value

    params_m, history, seconds = run_updates(update, params_m, opt_state, key, iterations,
                                             lambda pm: eqx.combine(pm, static_m), callback)
    return TrainResult(eqx.combine(params_m, static_m), history, iterations, seconds, nwin)


def run_updates(update, params, opt_state, key, iterations, combine, callback=None):
    """The host loop of the training functions: ``iterations`` calls of the jitted
    ``update(params, opt_state, key) -> (params, opt_state, key, loss)``, stopping with a ``FloatingPointError``
    at a non-finite loss; ``callback(iteration, combine(params), loss)`` after each. Returns ``(params,
    history, seconds)``."""
    history, t0 = [], time.perf_counter()
    for it in range(iterations):
        params, opt_state, key, value = update(params, opt_state, key)
        value = float(value)
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss became {value} at iteration {it}; lower learning_rate")
        history.append(value)
        if callback is not None:
            callback(it, combine(params), value)
    return params, np.asarray(history), time.perf_counter() - t0


def relative_l2(u, v, U, V):
    """``sqrt(sum (u - U)^2 + (v - V)^2) / sqrt(sum U^2 + V^2)`` over the last two axes."""
    num = jnp.sum((u - U) ** 2, (-2, -1)) + jnp.sum((v - V) ** 2, (-2, -1))
    den = jnp.sum(U**2, (-2, -1)) + jnp.sum(V**2, (-2, -1))
    return jnp.sqrt(num / den)


def evaluate(model, solver: FlowSolver, params: FlowParams, U, V, horizon: int | None = None,
             correct=flow_correction):
    """Roll the plain and the corrected coarse solver from ``(U[0], V[0])`` for ``horizon`` steps
    (default: all of the trajectory) and compare with ``U[1:], V[1:]``.

    Returns a dict of numpy arrays: ``err_plain``, ``err_corrected`` (relative L2 error after each step),
    ``plain`` and ``corrected`` (the ``(u, v)`` trajectories, each ``(horizon, n, n)``).
    """
    horizon = horizon if horizon is not None else U.shape[0] - 1
    horizon = _check_k(horizon)
    if U.shape[0] <= horizon:
        raise ValueError(f"horizon = {horizon} needs a trajectory of at least horizon + 1 states; got {U.shape[0]}")
    state0 = velocity_state(solver, U[0], V[0])
    step = lambda s: solver.step(s, params)  # noqa: E731

    @jax.jit
    def both(model, state0):
        _, plain = rollout(step, None, None, state0, horizon, observe=_observe_velocity)
        _, corr = rollout(step, correct, model, state0, horizon, observe=_observe_velocity)
        return plain, corr

    plain, corr = both(model, state0)
    Ut, Vt = U[1:horizon + 1], V[1:horizon + 1]
    return {"err_plain": np.asarray(relative_l2(*plain, Ut, Vt)),
            "err_corrected": np.asarray(relative_l2(*corr, Ut, Vt)),
            "plain": tuple(np.asarray(a) for a in plain), "corrected": tuple(np.asarray(a) for a in corr)}
