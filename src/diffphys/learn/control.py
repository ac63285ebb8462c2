"""Flow control with the solver in the loop: find per-step force fields that move a passive marker
into a target shape (Holl, Koltun & Thuerey 2020, "Learning to Control PDEs with Differentiable Physics").

A controlled rollout of ``T`` steps applies, before each solver step ``k = 0, ..., T - 1`` (that is,
between steps ``k - 1`` and ``k``), a force field ``(fu[k], fv[k])`` on the MAC grid's u- and v-faces:
``u += dt * fu[k]``, ``v += dt * fv[k]``; with ``project=True`` (default) the forced velocity is then
made divergence-free again with the solver's own pressure projection, so the marker is moved by an
incompressible flow. Then ``FlowSolver.step`` advances (advection of velocity and marker, viscosity,
projection). The flow solver itself is not changed: the force is added to the state between steps.

The loss is ``||m_T - target||^2 / norm + weight * mean(f^2)`` where ``m_T`` is the marker after ``T``
steps, ``norm = ||m_T^0 - target||^2`` is the uncontrolled rollout's misfit (so the uncontrolled loss
is 1; for a fluid at rest it equals ``||m_0 - target||^2``) and ``mean(f^2)`` is the mean square of all
force entries. :func:`optimize_controls` minimises it with Adam, the gradient flowing through all ``T``
steps (each step is ``jax.checkpoint``-ed, so the backward pass stores only the ``T`` states).

The semi-Lagrangian (and MacCormack) marker advection is not conservative: :class:`ControlResult`
reports the relative change of the marker's total mass over the controlled rollout.
"""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ..core.checks import check_int, check_positive
from ..core.fit import fit

__all__ = ["ControlResult", "control_loss", "control_rollout", "force_ms", "force_rms", "gaussian_blob",
           "marker_misfit", "optimize_controls", "ring", "uncontrolled_misfit", "zero_forces"]


def _check_forces(solver, state0, forces):
    if not (isinstance(forces, (tuple, list)) and len(forces) == 2):
        raise ValueError("forces must be a pair (fu, fv) of arrays of shapes (T, *u.shape) and (T, *v.shape)")
    fu, fv = forces
    su, sv = tuple(state0.u.shape), tuple(state0.v.shape)
    if fu.ndim != len(su) + 1 or tuple(fu.shape[1:]) != su:
        raise ValueError(f"forces[0] (fu) must have shape (T, {su[0]}, {su[1]}) (the u-faces); got {tuple(fu.shape)}")
    if fv.ndim != len(sv) + 1 or tuple(fv.shape[1:]) != sv:
        raise ValueError(f"forces[1] (fv) must have shape (T, {sv[0]}, {sv[1]}) (the v-faces); got {tuple(fv.shape)}")
    if fu.shape[0] != fv.shape[0]:
        raise ValueError(f"forces fu and fv must hold the same number of steps T; got {fu.shape[0]} and {fv.shape[0]}")
    if fu.shape[0] < 1:
        raise ValueError(f"forces must hold T >= 1 steps along their leading axis; got T = {fu.shape[0]}")
    return fu.shape[0]


def _check_target(solver, target):
    shape = tuple(solver.grid.shape)
    if tuple(jnp.shape(target)) != shape:
        raise ValueError(f"target must have the grid's cell shape {shape} (a marker field); "
                         f"got {tuple(jnp.shape(target))}")


def zero_forces(solver, state0, T: int):
    """All-zero controls ``(fu, fv)`` for ``T`` steps (the uncontrolled flow)."""
    T = check_int("T", T, lo=1)
    dtype = state0.u.dtype
    return (jnp.zeros((T, *state0.u.shape), dtype), jnp.zeros((T, *state0.v.shape), dtype))


def control_rollout(solver, params, state0, forces, *, project: bool = True, checkpoint: bool = True,
                    observe=None):
    """Run ``T`` controlled steps; returns ``(final_state, observed)``.

    ``forces = (fu, fv)`` of shapes ``(T, *u.shape)``, ``(T, *v.shape)``; force ``k`` acts on the velocity
    entering step ``k`` (see the module docstring). ``observe(state)`` after each step is stacked along
    a leading axis (default: the marker). ``checkpoint`` wraps each step in ``jax.checkpoint``.
    With all-zero forces and ``project=False`` this is exactly ``T`` plain ``solver.step`` calls.
    """
    _check_forces(solver, state0, forces)
    observe = observe or (lambda s: s.marker)
    def one(state, f):
        new = _forced_step(solver, params, state, f[0], f[1], project)
        return new, observe(new)

    body = jax.checkpoint(one) if checkpoint else one
    return lax.scan(body, state0, forces)


def _forced_step(solver, params, state, fu, fv, project):
    dtype = state.u.dtype
    u = state.u + solver.dt * fu.astype(dtype)
    v = state.v + solver.dt * fv.astype(dtype)
    if project:
        u, v = solver.enforce(u, v, jnp.asarray(params.boundary_speed, dtype))
        u, v, _, _ = solver.project(u, v)
    return solver.step(eqx.tree_at(lambda s: (s.u, s.v), state, (u, v)), params)


def marker_misfit(marker, target):
    """``||marker - target||^2`` summed over the cells."""
    return jnp.sum((marker - target) ** 2)


def force_ms(forces):
    """Mean square over every entry of ``(fu, fv)`` (the penalty term; smooth at zero forces)."""
    fu, fv = forces
    return (jnp.sum(fu**2) + jnp.sum(fv**2)) / (fu.size + fv.size)


def force_rms(forces):
    """Root mean square over every entry of ``(fu, fv)`` (a report; use :func:`force_ms` in losses)."""
    return jnp.sqrt(force_ms(forces))


def control_loss(solver, params, state0, target, forces, *, norm=None, weight: float = 0.0, project: bool = True,
                 checkpoint: bool = True):
    """``||m_T - target||^2 / norm + weight * mean(f^2)`` for the controls ``forces``.

    ``norm`` defaults to the uncontrolled misfit ``||m_T^0 - target||^2`` (computed here, without
    gradient), so zero forces give exactly 1.
    """
    _check_target(solver, target)
    T = _check_forces(solver, state0, forces)
    check_positive("weight", weight, allow_zero=True)
    if norm is None:
        norm = uncontrolled_misfit(solver, params, state0, target, T, project=project)
    final, _ = control_rollout(solver, params, state0, forces, project=project, checkpoint=checkpoint,
                               observe=lambda s: ())
    return marker_misfit(final.marker, target) / norm + weight * force_ms(forces)


def uncontrolled_misfit(solver, params, state0, target, T: int, *, project: bool = True):
    """``||m_T^0 - target||^2`` of the uncontrolled rollout (no gradient flows through it)."""
    final, _ = control_rollout(solver, params, state0, zero_forces(solver, state0, T), project=project,
                               checkpoint=False, observe=lambda s: ())
    return lax.stop_gradient(marker_misfit(final.marker, target))


@dataclasses.dataclass
class ControlResult:
    """Outcome of :func:`optimize_controls`.

    forces: the optimised ``(fu, fv)``. history: the loss before each Adam update. loss_initial: the
    loss of zero controls (1 when ``weight`` is 0 or the forces start at 0). loss_final: the loss of
    ``forces``; misfit_final: its marker part alone. final / uncontrolled: the states after ``T``
    controlled / uncontrolled steps; markers: the controlled marker after each step, ``(T, nx, ny)``.
    marker_mass_rel_change: ``(sum m_T - sum m_0) / sum m_0`` of the controlled rollout.
    """

    forces: tuple
    history: np.ndarray
    loss_initial: float
    loss_final: float
    misfit_final: float
    iterations: int
    wall_s: float
    force_rms: float
    marker_mass_rel_change: float
    final: object
    uncontrolled: object
    markers: np.ndarray
    message: str


def optimize_controls(solver, params, state0, target, T: int, *, iterations: int = 200,
                      learning_rate: float = 0.1, weight: float = 1e-4, project: bool = True,
                      checkpoint: bool = True, forces0=None, progress=None) -> ControlResult:
    """Direct optimisation of the per-step force fields with Adam through the ``T``-step rollout."""
    _check_target(solver, target)
    T = check_int("T", T, lo=1)
    iterations = check_int("iterations", iterations, lo=0)
    check_positive("learning_rate", learning_rate)
    check_positive("weight", weight, allow_zero=True)
    target = jnp.asarray(target, state0.u.dtype)
    forces0 = zero_forces(solver, state0, T) if forces0 is None else tuple(jnp.asarray(f) for f in forces0)
    if _check_forces(solver, state0, forces0) != T:
        raise ValueError(f"forces0 must hold T = {T} steps; got {forces0[0].shape[0]}")
    t0 = time.perf_counter()
    norm = uncontrolled_misfit(solver, params, state0, target, T, project=project)
    if not float(norm) > 0:
        raise ValueError("target equals the uncontrolled final marker: nothing to control (norm = 0)")

    def loss(f):
        return control_loss(solver, params, state0, target, f, norm=norm, weight=weight, project=project,
                            checkpoint=checkpoint)

    res = fit(loss, forces0, optimizer=optax.adam(learning_rate), steps=iterations, progress=progress,
              desc="control")
    forces = tuple(res.params)
    run = jax.jit(lambda f: control_rollout(solver, params, state0, f, project=project, checkpoint=False))
    final, markers = run(forces)
    unc, _ = run(zero_forces(solver, state0, T))
    jax.block_until_ready(markers)
    wall = time.perf_counter() - t0
    misfit = float(marker_misfit(final.marker, target) / norm)
    m0 = float(jnp.sum(state0.marker))
    return ControlResult(
        forces=forces, history=res.history,
        loss_initial=float(marker_misfit(unc.marker, target) / norm) + 0.0,
        loss_final=float(res.final_loss), misfit_final=misfit, iterations=int(res.steps), wall_s=wall,
        force_rms=float(force_rms(forces)),
        marker_mass_rel_change=(float(jnp.sum(final.marker)) - m0) / m0 if m0 != 0 else float("nan"),
        final=final, uncontrolled=unc, markers=np.asarray(markers), message=res.message)


def gaussian_blob(solver, center, width, amplitude=1.0, dtype=None):
    """A Gaussian marker ``amplitude * exp(-|x - center|^2 / (2 width^2))`` at the cell centres
    (periodic distance on periodic axes)."""
    check_positive("width", width)
    return _shape(solver, lambda r2: amplitude * np.exp(-r2 / (2 * width**2)), center, dtype)


def ring(solver, center, radius, width, amplitude=1.0, dtype=None):
    """A ring marker ``amplitude * exp(-(|x - center| - radius)^2 / (2 width^2))``."""
    check_positive("radius", radius)
    check_positive("width", width)
    return _shape(solver, lambda r2: amplitude * np.exp(-(np.sqrt(r2) - radius) ** 2 / (2 * width**2)), center,
                  dtype)


def _shape(solver, f, center, dtype):
    xc, yc = solver.grid.centers()
    lx, ly = solver.grid.size
    dx_, dy_ = xc - center[0], yc - center[1]
    if solver.boundaries.periodic_x:
        dx_ = (dx_ + lx / 2) % lx - lx / 2
    if solver.boundaries.periodic_y:
        dy_ = (dy_ + ly / 2) % ly - ly / 2
    return jnp.asarray(f(dx_**2 + dy_**2), dtype or jnp.result_type(float))
