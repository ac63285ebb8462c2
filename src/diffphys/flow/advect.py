"""Advection of staggered velocity components and cell-centred markers.

``semi_lagrangian`` traces each grid point back along the velocity (Euler or midpoint/RK2 trace) and
samples the field there bilinearly. ``maccormack`` adds the back-and-forth error correction of Selle et
al. (2008) and clamps the result to the values of the forward stencil (the limiter), so no new extrema
appear.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .interp import pad, sample, sample_near, sample_shifted

__all__ = ["advect", "maccormack", "semi_lagrangian", "trace"]


def trace(velocity, x, y, dt, method="rk2", vel0=None):
    """Departure points of ``(x, y)`` over ``dt`` in the velocity ``velocity(x, y) -> (u, v)``;
    ``vel0`` optionally gives the velocity at ``(x, y)`` itself (grid points: no interpolation needed)."""
    u, v = velocity(x, y) if vel0 is None else vel0
    if method == "euler":
        return x - dt * u, y - dt * v
    um, vm = velocity(x - 0.5 * dt * u, y - 0.5 * dt * v)
    return x - dt * um, y - dt * vm


def _rk2_near(geom, shape, fields, u0, v0, dt):
    """The half-step displacements of an RK2 trace from the field's own points and the velocities at the
    midpoints, by slices (valid where every half-step displacement is within half a spacing: the caller
    checks); None if the grids do not allow it (then the caller gathers)."""
    up, ugeom, vp, vgeom = fields
    hx, hy = geom.hx, geom.hy
    sxm, sym = -0.5 * dt * u0 / hx, -0.5 * dt * v0 / hy
    um = sample_near(up, ugeom, geom, shape, sxm, sym, 0.5)
    vm = sample_near(vp, vgeom, geom, shape, sxm, sym, 0.5)
    if um is None or vm is None:
        return None
    return sxm, sym, um, vm


def semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method="rk2", minmax=False, vel0=None, fields=None):
    """``vel0`` given means ``(x, y)`` are the field's own points (shape of ``a``) with velocity ``vel0``;
    ``fields = (padded u, its geometry, padded v, its geometry)`` (the fields ``velocity`` samples) lets
    an RK2 trace from those points run without gathers when the displacements allow it."""
    ap = pad(a, rules, scale)
    own = vel0 is not None and vel0[0].shape == a.shape
    if method == "rk2" and own and fields is not None:
        near = _rk2_near(geom, a.shape, fields, vel0[0], vel0[1], dt)
        if near is not None:
            # midpoint velocities by fixed-stencil slices (valid when every half-step displacement is
            # within half a spacing), then the departure sample by shifted slices (every full-step
            # displacement within one spacing); each check at run time, the gathering trace otherwise
            sxm, sym, um, vm = near
            sx, sy = -dt * um / geom.hx, -dt * vm / geom.hy
            ok = ((jnp.max(jnp.abs(sxm)) <= 0.5) & (jnp.max(jnp.abs(sym)) <= 0.5)
                  & (jnp.max(jnp.abs(sx)) <= 1) & (jnp.max(jnp.abs(sy)) <= 1))
            return _fast_or_gathered(ok, ap, sx, sy, velocity, x, y, dt, method, vel0, geom, minmax)
    if method != "euler" or not own:
        xb, yb = trace(velocity, x, y, dt, method, vel0)
        return sample(ap, geom, xb, yb, minmax=minmax)
    # Euler trace from grid points: when every departure point is within one spacing (CFL <= 1), the
    # bilinear stencil is a neighbour cell and the sample is shifted slices (fast, fuses); else gather.
    sx, sy = -dt * vel0[0] / geom.hx, -dt * vel0[1] / geom.hy
    ok = (jnp.max(jnp.abs(sx)) <= 1) & (jnp.max(jnp.abs(sy)) <= 1)
    return _fast_or_gathered(ok, ap, sx, sy, velocity, x, y, dt, method, vel0, geom, minmax)


@jax.custom_batching.custom_vmap
def _for_all_members(ok):
    """``ok`` itself; under ``vmap`` the one boolean "ok for every member", so that the ``lax.cond`` below
    stays a branch (a batched predicate turns it into a select that computes both branches)."""
    return ok


@_for_all_members.def_vmap
def _for_all_members_vmap(axis_size, in_batched, ok):
    del axis_size, in_batched
    return jnp.all(ok), False


def _fast_or_gathered(ok, ap, sx, sy, velocity, x, y, dt, method, vel0, geom, minmax):
    """On a CPU, the shifted-slice sample where ``ok``, else the gathering trace and sample; elsewhere the
    gathering trace and sample. The gathering branch is rematerialised: a differentiated ``lax.cond`` keeps
    the residuals of both branches (zeros for the one not taken), and the gather's are many (cavity 64^2,
    gradient through 10 steps: 105 -> 60 ms)."""

    def gathered(ap, x, y):
        xb, yb = trace(velocity, x, y, dt, method, vel0)
        return sample(ap, geom, xb, yb, minmax=minmax)

    # the run-time choice pays on a CPU only: on a GPU a gather is one kernel and the branch costs more than it
    # saves (Taylor-Green 256^2 default step on an H200: 0.58 ms with the branch, 0.46 ms gathering). The
    # platform switch sits on the predicate (no derivative): elsewhere it is a constant False and XLA keeps
    # only the gathering branch; around the differentiated branches it doubled the tracing time
    ok = _per_platform((_for_all_members(ok),), cpu=lambda o: o, default=lambda o: jnp.zeros_like(o))
    return lax.cond(ok, lambda ap, x, y: sample_shifted(ap, sx, sy, minmax=minmax), jax.checkpoint(gathered),
                    ap, x, y)


def _per_platform(args, cpu, default):
    """``cpu(*args)`` when lowered for a CPU, ``default(*args)`` otherwise (resolved at lowering)."""
    return lax.platform_dependent(*args, cpu=cpu, default=default)


def maccormack(a, rules, scale, geom, x, y, velocity, dt, method="rk2", vel0=None, fields=None):
    fwd, lo, hi = semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method, minmax=True, vel0=vel0,
                                  fields=fields)
    back = semi_lagrangian(fwd, rules, scale, geom, x, y, velocity, -dt, method, vel0=vel0, fields=fields)
    return jnp.clip(fwd + 0.5 * (a - back), lo, hi)


def advect(a, rules, scale, geom, x, y, velocity, dt, scheme="semi-lagrangian", method="rk2", vel0=None,
           fields=None):
    if scheme == "semi-lagrangian":
        return semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method, vel0=vel0, fields=fields)
    return maccormack(a, rules, scale, geom, x, y, velocity, dt, method, vel0=vel0, fields=fields)
