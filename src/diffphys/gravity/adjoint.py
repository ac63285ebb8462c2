"""Reverse-time adjoint of the PM solver: gradient memory independent of the number of steps.

As in pmwd (Li et al. 2022, arXiv:2211.09958): the forward pass keeps only the final state. The
backward pass integrates the particles backward in time with the exactly invertible KDK step and,
step by step, propagates the cotangents with the step's vector-Jacobian product. The force mesh at the
current positions is carried from one reverse step to the next, so each reverse step costs one force
evaluation (to undo the step) plus one force *transpose* (paint, 3 forward FFTs, 1 inverse FFT,
read-out), not a second forward force.

Use it as ``core.simulate(solver, state0, params, num_steps=N, gradient="adjoint")`` (``save_every``
is supported; cotangents of the snapshots are injected as the reverse pass crosses them). It is a
``jax.custom_vjp``: reverse mode only (use ``gradient="store"`` or ``"checkpoint"`` for ``jax.jvp``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ..core.checks import check_int
from ..core.simulate import Solution
from .mesh import cic_paint_vjp, cic_readout_vjp
from .nbody import PMState, _tabulated
from .slabs import paint_slabs_vjp, readout_slabs_vjp

__all__ = ["ReverseAdjoint", "force_vjp"]


def force_vjp(solver, disp, meshes, g):
    """Cotangent of the displacements for the unit force read out at ``disp`` with cotangent ``g`` (N, 3),
    given the force ``meshes`` at ``disp`` (no forward force solve): read-out transpose, the FFT
    operator's transpose (3 forward FFTs, 1 inverse), paint transpose."""
    cell = jnp.asarray(solver.cell, disp.dtype)
    x = solver._cells(disp)
    counts_like = jnp.zeros(solver.mesh, disp.dtype)
    if solver._ring:  # mesh and particles split over devices: the same transposes, per device (gravity.slabs)
        x_ro, m_bar = readout_slabs_vjp(meshes, x, g, solver.devices, solver.device_axis)
        (c_bar,) = jax.linear_transpose(solver.force_operator, counts_like)(m_bar)
        return (x_ro + paint_slabs_vjp(x, c_bar, solver.devices, solver.device_axis)) / cell
    x_ro, m_bar = cic_readout_vjp(meshes, x, g)
    (c_bar,) = jax.linear_transpose(solver.force_operator, counts_like)(m_bar)
    x_paint, _ = cic_paint_vjp(x, solver.mesh, c_bar)
    return (x_ro + x_paint) / cell


class ReverseAdjoint:
    """Gradient strategy object for :func:`diffphys.core.simulate` (``gradient="adjoint"``)."""

    def simulate(self, solver, state0, params, *, num_steps=None, t_end=None, dt=None, max_steps=None,
                 save_every=None, save_at=None) -> Solution:
        if num_steps is None or t_end is not None or dt is not None or save_at is not None:
            raise ValueError("the PM reverse-time adjoint runs fixed steps: give num_steps (and optionally "
                             "save_every); t_end, dt, save_at are not supported")
        num_steps = check_int("num_steps", num_steps, lo=0)
        if save_every is not None:
            save_every = check_int("save_every", save_every, lo=1)
        params = _tabulated(params)
        final, snaps = _run(solver, num_steps, save_every, state0, params)
        n = jnp.asarray(num_steps, jnp.int32)
        if save_every is None:
            return Solution(state=final, num_steps=n)
        ts = jnp.arange(num_steps // save_every + 1, dtype=jnp.int32) * save_every
        return Solution(state=final, num_steps=n, snapshots=snaps, ts=ts)

    def __repr__(self):
        return "ReverseAdjoint()"


def _forward(solver, num_steps, save_every, state0, params):
    body = lambda s, _: (solver.step(s, params), None)  # noqa: E731
    if save_every is None:
        final = lax.scan(body, state0, None, length=num_steps)[0] if num_steps else state0
        return final, None
    n_seg = num_steps // save_every

    def seg(s, _):
        s = lax.scan(body, s, None, length=save_every)[0]
        return s, s

    s, saved = lax.scan(seg, state0, None, length=n_seg)
    snaps = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), state0, saved)
    rest = num_steps - n_seg * save_every
    if rest:
        s = lax.scan(body, s, None, length=rest)[0]
    return s, snaps


def _run(solver, num_steps, save_every, state0, params):
    @jax.custom_vjp
    def run(state0, params):
        return _forward(solver, num_steps, save_every, state0, params)

    def fwd(state0, params):
        final, snaps = _forward(solver, num_steps, save_every, state0, params)
        return (final, snaps), (final, params)

    def bwd(res, cts):
        final, params = res
        ct_final, ct_snaps = cts
        zeros_p = jax.tree_util.tree_map(jnp.zeros_like, params)
        dt = final.disp.dtype

        def add_snap(ct, idx):
            if ct_snaps is None:
                return ct
            j = idx // save_every
            on = (idx % save_every) == 0
            pick = lambda c, s: c + jnp.where(on, s[j], jnp.zeros_like(c))  # noqa: E731
            return jax.tree_util.tree_map(pick, ct, ct_snaps)

        _, mesh1 = solver.force_and_mesh(final.disp)

        def body(carry, i):
            state1, mesh1, ct, ct_p = carry     # state after step i, its force mesh, cotangents
            ct = add_snap(ct, i + 1)
            a1 = state1.a
            a0 = solver.prev_a(a1)
            (k1, dr, k2), fac_vjp = jax.vjp(lambda c: solver.step_factors(c, a0, a1), params)
            k1c, drc, k2c = k1.astype(dt), dr.astype(dt), k2.astype(dt)
            # undo the step
            ph = state1.mom - state1.acc * k2c
            disp0 = state1.disp - ph * drc
            acc0, mesh0 = solver.force_and_mesh(disp0)
            mom0 = ph - acc0 * k1c
            state0 = PMState(disp=disp0, mom=mom0, acc=acc0, a=a0)
            # vjp of the step at state0 (outputs: disp1, mom1, acc1)
            g = ct.acc + ct.mom * k2c
            xbar = ct.disp + force_vjp(solver, state1.disp, mesh1, g)
            phbar = ct.mom + xbar * drc
            ct0 = PMState(disp=xbar, mom=phbar, acc=phbar * k1c, a=jnp.zeros_like(ct.a))
            kb1 = jnp.sum(phbar * state0.acc)
            drb = jnp.sum(xbar * ph)
            kb2 = jnp.sum(ct.mom * state1.acc)
            (dp,) = fac_vjp((kb1.astype(k1.dtype), drb.astype(dr.dtype), kb2.astype(k2.dtype)))
            ct_p = jax.tree_util.tree_map(jnp.add, ct_p, dp)
            return (state0, mesh0, ct0, ct_p), None

        carry = (final, mesh1, ct_final, zeros_p)
        if num_steps:
            carry, _ = lax.scan(body, carry, jnp.arange(num_steps - 1, -1, -1))
        _, _, ct0, ct_p = carry
        ct0 = add_snap(ct0, 0)
        ct0 = PMState(disp=ct0.disp, mom=ct0.mom, acc=ct0.acc, a=jnp.zeros_like(ct0.a))
        return ct0, ct_p

    run.defvjp(fwd, bwd)
    return run(state0, params)
