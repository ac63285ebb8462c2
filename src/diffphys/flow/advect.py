"""Advection of staggered velocity components and cell-centred markers.

``semi_lagrangian`` traces each grid point back along the velocity (Euler or midpoint/RK2 trace) and
samples the field there bilinearly. ``maccormack`` adds the back-and-forth error correction of Selle et
al. (2008) and clamps the result to the values of the forward stencil (the limiter), so no new extrema
appear.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .interp import pad, sample, sample_shifted

__all__ = ["advect", "maccormack", "semi_lagrangian", "trace"]


def trace(velocity, x, y, dt, method="rk2", vel0=None):
    """Departure points of ``(x, y)`` over ``dt`` in the velocity ``velocity(x, y) -> (u, v)``;
    ``vel0`` optionally gives the velocity at ``(x, y)`` itself (grid points: no interpolation needed)."""
    u, v = velocity(x, y) if vel0 is None else vel0
    if method == "euler":
        return x - dt * u, y - dt * v
    um, vm = velocity(x - 0.5 * dt * u, y - 0.5 * dt * v)
    return x - dt * um, y - dt * vm


def semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method="rk2", minmax=False, vel0=None):
    """``vel0`` given means ``(x, y)`` are the field's own points (shape of ``a``) with velocity ``vel0``."""
    ap = pad(a, rules, scale)
    xb, yb = trace(velocity, x, y, dt, method, vel0)
    if method != "euler" or vel0 is None or vel0[0].shape != a.shape:
        return sample(ap, geom, xb, yb, minmax=minmax)
    # Euler trace from grid points: when every departure point is within one spacing (CFL <= 1), the
    # bilinear stencil is a neighbour cell and the sample is shifted slices (fast, fuses); else gather.
    sx, sy = -dt * vel0[0] / geom.hx, -dt * vel0[1] / geom.hy
    local_ok = (jnp.max(jnp.abs(sx)) <= 1) & (jnp.max(jnp.abs(sy)) <= 1)
    return lax.cond(local_ok, lambda: sample_shifted(ap, sx, sy, minmax=minmax),
                    lambda: sample(ap, geom, xb, yb, minmax=minmax))


def maccormack(a, rules, scale, geom, x, y, velocity, dt, method="rk2", vel0=None):
    fwd, lo, hi = semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method, minmax=True, vel0=vel0)
    back = semi_lagrangian(fwd, rules, scale, geom, x, y, velocity, -dt, method, vel0=vel0)
    return jnp.clip(fwd + 0.5 * (a - back), lo, hi)


def advect(a, rules, scale, geom, x, y, velocity, dt, scheme="semi-lagrangian", method="rk2", vel0=None):
    if scheme == "semi-lagrangian":
        return semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method, vel0=vel0)
    return maccormack(a, rules, scale, geom, x, y, velocity, dt, method, vel0=vel0)
