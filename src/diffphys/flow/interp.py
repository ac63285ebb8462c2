"""Ghost cells and bilinear sampling of staggered fields.

A field is padded with one ghost layer per side according to a rule: ``"wrap"`` (periodic),
``"even"`` (zero gradient / copy) or ``"odd"`` with a value ``w`` (the ghost is ``2 w - a``, so the
value half-way between ghost and first point is ``w``: Dirichlet at a wall).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

__all__ = ["FieldGeom", "laplacian", "pad", "sample", "sample_near", "sample_shifted"]


@dataclasses.dataclass(frozen=True)
class FieldGeom:
    """Where a staggered field's points lie: point ``k`` of axis 0 is at ``x0 + k * hx`` (likewise y)."""

    x0: float
    y0: float
    hx: float
    hy: float
    lx: float
    ly: float
    periodic_x: bool
    periodic_y: bool


def _ghost(a, axis, side, rule, scale):
    mode, values = rule
    if mode == "wrap":
        return jnp.take(a, -1 if side == 0 else 0, axis=axis)
    edge = jnp.take(a, 0 if side == 0 else -1, axis=axis)
    if mode == "even":
        return edge
    w = 0.0 if values is None else values
    if not np.isscalar(w):
        w = jnp.asarray(w, a.dtype)
        if w.shape[0] != edge.shape[0]:  # after padding the other axis
            w = jnp.concatenate([w[:1], w, w[-1:]])
    return 2 * (w * scale) - edge


def pad(a, rules, scale=1.0):
    """Pad ``a`` with one ghost layer per side; ``rules = (left, right, bottom, top)``; ``scale``
    multiplies the Dirichlet values (the boundary-speed parameter)."""
    left, right, bottom, top = rules
    a = jnp.concatenate([_ghost(a, 0, 0, left, scale)[None], a, _ghost(a, 0, 1, right, scale)[None]], axis=0)
    a = jnp.concatenate([_ghost(a, 1, 0, bottom, scale)[:, None], a, _ghost(a, 1, 1, top, scale)[:, None]], axis=1)
    return a


def _coord(x, x0, h, length, per, n):
    if per:
        x = jnp.mod(x, length)
    f = (x - x0) / h + 1.0  # padded index
    f = jnp.clip(f, 0.0, n - 1.0)
    i0 = jnp.clip(jnp.floor(f), 0, n - 2).astype(jnp.int32)
    return i0, f - i0


def _bilinear(a00, a10, a01, a11, tx, ty, minmax):
    """The bilinear value from the four stencil values; with ``minmax`` also their min and max."""
    val = (1 - tx) * ((1 - ty) * a00 + ty * a01) + tx * ((1 - ty) * a10 + ty * a11)
    if not minmax:
        return val
    lo = jnp.minimum(jnp.minimum(a00, a10), jnp.minimum(a01, a11))
    hi = jnp.maximum(jnp.maximum(a00, a10), jnp.maximum(a01, a11))
    return val, lo, hi


def sample(ap, geom: FieldGeom, x, y, minmax=False):
    """Bilinear value of the padded field ``ap`` at points ``(x, y)``; optionally also the min and max
    of the four stencil values (for limiters)."""
    nxp, nyp = ap.shape
    i0, tx = _coord(x, geom.x0, geom.hx, geom.lx, geom.periodic_x, nxp)
    j0, ty = _coord(y, geom.y0, geom.hy, geom.ly, geom.periodic_y, nyp)
    a00 = ap[i0, j0]
    a10 = ap[i0 + 1, j0]
    a01 = ap[i0, j0 + 1]
    a11 = ap[i0 + 1, j0 + 1]
    return _bilinear(a00, a10, a01, a11, tx, ty, minmax)


def sample_shifted(ap, sx, sy, minmax=False):
    """Bilinear value of the padded field ``ap`` at its own points displaced by ``(sx, sy)`` grid spacings,
    for displacements of at most one spacing (``|sx|, |sy| <= 1``; the caller checks). The stencil is then
    one of the four cells around each point, chosen by the displacement's sign, so the sample is a few
    shifted slices and selects (no gather). Same bilinear formula as :func:`sample` at those points."""
    n, m = ap.shape[0] - 2, ap.shape[1] - 2
    ox = jnp.clip(jnp.floor(sx), -1, 0)
    oy = jnp.clip(jnp.floor(sy), -1, 0)
    tx, ty = sx - ox, sy - oy
    sl = lambda a, b: ap[1 + a:1 + a + n, 1 + b:1 + b + m]
    lx, ly = ox < 0, oy < 0

    def corner(di, dj):  # value at stencil corner (ox + di, oy + dj)
        lo = jnp.where(ly, sl(di - 1, dj - 1), sl(di - 1, dj))
        hi = jnp.where(ly, sl(di, dj - 1), sl(di, dj))
        return jnp.where(lx, lo, hi)

    a00, a10, a01, a11 = corner(0, 0), corner(1, 0), corner(0, 1), corner(1, 1)
    return _bilinear(a00, a10, a01, a11, tx, ty, minmax)


def _near_axis(c, smax, n_target, n_padded):
    """Stencil rows for points ``c + k + s`` (padded index, ``k = 0 .. n_target - 1``, ``|s| <= smax``): the
    lowest and highest left stencil row offsets, or None when the stencil could leave the padded field."""
    k_lo = int(np.floor(c - smax + 1e-9))
    k_hi = int(np.ceil(c + smax - 1e-9)) - 1
    if k_lo < 0 or k_hi + n_target > n_padded - 1 or k_hi < k_lo:
        return None
    return k_lo, k_hi


def sample_near(ap, geom: FieldGeom, target: FieldGeom, shape, sx, sy, smax, minmax=False):
    """Bilinear value of the padded field ``ap`` (points of ``geom``) at the points of another grid ``target``
    of the same spacing (array ``shape``), displaced by ``(sx, sy)`` spacings with ``|sx|, |sy| <= smax``
    (the caller checks at run time). The stencil of every point is then one of at most two neighbour
    cells per axis, so the sample is shifted slices and selects (no gather); the same bilinear formula as
    :func:`sample` at those points. Returns None when the stencil could leave the padded field (use
    :func:`sample`). A staggered field sampled at another field's points half a step away (the midpoint
    of an RK2 trace) has a fixed stencil: no select at all."""
    if not (np.isclose(geom.hx, target.hx) and np.isclose(geom.hy, target.hy)):
        return None
    cx = (target.x0 - geom.x0) / geom.hx + 1.0  # padded index of the target's point 0
    cy = (target.y0 - geom.y0) / geom.hy + 1.0
    kx = _near_axis(cx, smax, shape[0], ap.shape[0])
    ky = _near_axis(cy, smax, shape[1], ap.shape[1])
    if kx is None or ky is None:
        return None
    gx, gy = cx + sx, cy + sy
    ox = jnp.clip(jnp.floor(gx), kx[0], kx[1])
    oy = jnp.clip(jnp.floor(gy), ky[0], ky[1])
    tx, ty = gx - ox, gy - oy
    n, m = shape
    cache = {}

    def sl(a, b):  # each distinct slice once: their transposes (pads of cotangents) are summed in a gradient
        if (a, b) not in cache:
            cache[a, b] = ap[a:a + n, b:b + m]
        return cache[a, b]

    def pick(lo, hi, o, first, second):  # first if o == lo else second (one choice: no select)
        return first if lo == hi else jnp.where(o == lo, first, second)

    def corner(di, dj):  # value at stencil corner (ox + di, oy + dj)
        rows = [pick(ky[0], ky[1], oy, sl(a, ky[0] + dj), sl(a, ky[1] + dj)) for a in (kx[0] + di, kx[1] + di)]
        return pick(kx[0], kx[1], ox, rows[0], rows[1])

    a00, a10, a01, a11 = corner(0, 0), corner(1, 0), corner(0, 1), corner(1, 1)
    return _bilinear(a00, a10, a01, a11, tx, ty, minmax)


def laplacian(ap, hx, hy):
    """Five-point Laplacian of the interior of a padded field."""
    c = ap[1:-1, 1:-1]
    return ((ap[2:, 1:-1] - 2 * c + ap[:-2, 1:-1]) / hx**2
            + (ap[1:-1, 2:] - 2 * c + ap[1:-1, :-2]) / hy**2)
