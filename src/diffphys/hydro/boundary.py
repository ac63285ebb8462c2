"""Boundary conditions, applied through two ghost cells per side on primitive variables.

* ``Reflective()``: a wall (the origin of a cylindrical or spherical grid): density and pressure
  mirrored, velocity mirrored with its sign flipped. Mass and energy fluxes through the wall are set to
  exactly zero, so these are conserved to round-off.
* ``Outflow()``: zero gradient (copy the edge cell).
* ``Fixed(rho, v, p)``: a prescribed state outside the domain.
* ``Periodic()``: both ends wrap around (planar only; give it on both sides).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ..core.checks import check_finite, check_positive

__all__ = ["Boundary", "Reflective", "Outflow", "Fixed", "Periodic", "as_boundary", "pad"]


class Boundary(eqx.Module):
    def ghosts(self, edge, inner):  # pragma: no cover - interface
        """Ghost states (nearest first) given the edge cell and the next one, each ``(3,)``."""
        raise NotImplementedError


class Reflective(Boundary):
    def ghosts(self, edge, inner):
        flip = jnp.asarray([1.0, -1.0, 1.0], dtype=edge.dtype)
        return edge * flip, inner * flip


class Outflow(Boundary):
    def ghosts(self, edge, inner):
        return edge, edge


class Fixed(Boundary):
    rho: float = eqx.field(static=True)
    v: float = eqx.field(static=True)
    p: float = eqx.field(static=True)

    def __init__(self, rho, v, p):
        check_positive("Fixed boundary rho", rho)
        check_finite("Fixed boundary v", v)
        check_positive("Fixed boundary p", p)
        self.rho, self.v, self.p = float(rho), float(v), float(p)

    def ghosts(self, edge, inner):
        w = jnp.asarray([self.rho, self.v, self.p], dtype=edge.dtype)
        return w, w


class Periodic(Boundary):
    def ghosts(self, edge, inner):  # handled in pad(), which sees both ends
        raise NotImplementedError


_NAMES = {"reflective": Reflective, "outflow": Outflow, "periodic": Periodic}


def as_boundary(b, name="boundary") -> Boundary:
    if isinstance(b, Boundary):
        return b
    if isinstance(b, str) and b in _NAMES:
        return _NAMES[b]()
    raise ValueError(f"{name} must be 'reflective', 'outflow', 'periodic' or a Fixed(rho, v, p); got {b!r}")


def pad(w, left: Boundary, right: Boundary):
    """Pad primitive variables ``(3, n)`` with two ghost cells per side -> ``(3, n + 4)``."""
    if isinstance(left, Periodic):
        return jnp.concatenate([w[:, -2:], w, w[:, :2]], axis=1)
    l1, l2 = left.ghosts(w[:, 0], w[:, 1])
    r1, r2 = right.ghosts(w[:, -1], w[:, -2])
    return jnp.concatenate([l2[:, None], l1[:, None], w, r1[:, None], r2[:, None]], axis=1)


def pad_rows(rows, left: Boundary, right: Boundary):
    """Pad a tuple of primitive rows ``(rho, v, p)`` with two ghost cells per side."""
    if isinstance(left, Periodic):
        return tuple(jnp.concatenate([r[-2:], r, r[:2]]) for r in rows)
    out = []
    for k, r in enumerate(rows):
        sign = -1.0 if k == 1 else 1.0
        parts = []
        for b, edge, inner in ((left, r[:1], r[1:2]), (right, r[-1:], r[-2:-1])):
            if isinstance(b, Reflective):
                g1, g2 = sign * edge, sign * inner
            elif isinstance(b, Outflow):
                g1, g2 = edge, edge
            else:  # Fixed
                val = jnp.full((1,), (b.rho, b.v, b.p)[k], dtype=r.dtype)
                g1, g2 = val, val
            parts.append((g1, g2))
        (l1, l2), (r1, r2) = parts
        out.append(jnp.concatenate([l2, l1, r, r1, r2]))
    return tuple(out)
