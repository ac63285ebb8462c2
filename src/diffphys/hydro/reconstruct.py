"""Reconstruction of face states from cell averages: first order, or MUSCL on primitive variables (optionally
limited in characteristic variables: ``project`` of :func:`reconstruct_rows`).

Slopes are limited with one of :data:`LIMITERS` (``minmod``, ``mc`` (monotonized central), ``vanleer``),
each a function of the backward and forward differences ``a``, ``b``; all are symmetric and odd, so a
mirrored state gives mirrored face values. A face whose reconstructed left or right state would have
non-positive density or pressure falls back to the first-order (cell-average) states on both sides.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["minmod", "mc", "vanleer", "LIMITERS", "reconstruct", "reconstruct_rows", "materialize", "euler_projection",
           "characteristic_slopes", "monotone_half_slope", "RECONSTRUCTIONS"]

RECONSTRUCTIONS = ("primitive", "characteristic")


def _same_sign(a, b):
    # not a * b > 0: the product of two tiny differences can be subnormal (slow on x86)
    return ((a > 0) & (b > 0)) | ((a < 0) & (b < 0))


# The limiters select one of a few linear candidates (written as selects rather than sign * min(|.|)):
# same values, and a derivative that is a select of candidate derivatives (cheaper in reverse mode).
def minmod(a, b):
    return jnp.where(_same_sign(a, b), jnp.where(jnp.abs(a) <= jnp.abs(b), a, b), 0.0)


def mc(a, b):
    aa, bb, cc = 2.0 * jnp.abs(a), 2.0 * jnp.abs(b), 0.5 * jnp.abs(a + b)  # min(aa, bb, cc) is the slope size
    pick = jnp.where((aa <= bb) & (aa <= cc), 2.0 * a, jnp.where(bb <= cc, 2.0 * b, 0.5 * (a + b)))
    return jnp.where(_same_sign(a, b), pick, 0.0)


def vanleer(a, b):
    pos = _same_sign(a, b)
    den = jnp.where(pos, a + b, 1.0)
    return jnp.where(pos, 2.0 * a * (b / den), 0.0)


LIMITERS = {"minmod": minmod, "mc": mc, "vanleer": vanleer}


def materialize(x, one):
    """``x / one`` where ``one`` is exactly 1.0 at run time (so the result is ``x`` bit for bit).

    XLA's CPU fusion copies cheap elementwise producers into every consumer kernel; a limited slope
    used by both faces of a cell and by the positivity test was re-derived ~30 times per face (the
    reconstruction was 2/3 of a step). A floating-point division counts as expensive, so XLA computes
    the quotient once into a buffer and the consumers read it. ``one`` must carry no derivative
    (``lax.stop_gradient``); the division is then exact in value and derivative. The solver's ``one`` is
    opaque on a CPU only; elsewhere it is a constant 1.0 and XLA folds the division away (see
    ``diffphys.hydro.solver._one``).
    """
    return x if one is None else x / one


def monotone_half_slope(hs, dl, dr):
    """``hs`` clipped so that both face values ``w_i +- hs`` stay between the cell's neighbours' averages."""
    zero = jnp.zeros_like(hs)
    lo = jnp.maximum(jnp.minimum(zero, dl), jnp.minimum(zero, dr))
    hi = jnp.minimum(jnp.maximum(zero, dl), jnp.maximum(zero, dr))
    return jnp.clip(hs, lo, hi)


def euler_projection(w, gamma, one=None):
    """``(to_char, from_char)`` for the Euler equations' primitive rows ``w = (rho, v, p)`` of some cells: the
    amplitudes of the three waves ``v - c, v, v + c`` of each cell's state in a tuple of difference rows, and back.

    Right eigenvectors ``(1, -c / rho, c^2)``, ``(1, 0, 0)``, ``(1, c / rho, c^2)``; left ones ``(0, -rho / 2c,
    1 / 2c^2)``, ``(1, 0, -1 / c^2)``, ``(0, rho / 2c, 1 / 2c^2)``, ``c^2 = gamma p / rho``.
    """
    rho, _, p = w
    inv_c2 = materialize(rho / (gamma * p), one)
    c = materialize(jnp.sqrt(gamma * p / rho), one)
    c_rho = materialize(c / rho, one)
    rho_c = materialize(0.5 * rho / c, one)
    half_inv_c2 = 0.5 * inv_c2
    c2 = materialize(gamma * p / rho, one)

    def to_char(d):
        dr, dv, dp = d
        return (half_inv_c2 * dp - rho_c * dv, dr - inv_c2 * dp, half_inv_c2 * dp + rho_c * dv)

    def from_char(a):
        a1, a2, a3 = a
        return (a1 + a2 + a3, c_rho * (a3 - a1), c2 * (a1 + a3))

    return to_char, from_char


def characteristic_slopes(rows, limiter, project, one=None):
    """Limited (full) slopes of the cells ``1..n+2`` of padded rows, limited in characteristic variables
    (``project`` as in :func:`reconstruct_rows`) and clipped so that ``w_i +- slope / 2`` lies between the
    neighbouring averages; ``project=None``: each row limited on its own."""
    lim = LIMITERS[limiter]
    dl = [r[..., 1:-1] - r[..., :-2] for r in rows]
    dr = [r[..., 2:] - r[..., 1:-1] for r in rows]
    if project is None:
        return [lim(a, b) for a, b in zip(dl, dr)]
    to_char, from_char = project(tuple(r[..., 1:-1] for r in rows), one)
    cl, cr = ([materialize(c, one) for c in to_char(d)] for d in (dl, dr))
    hs = from_char(tuple(materialize(0.5 * lim(a, b), one) for a, b in zip(cl, cr)))
    return [2.0 * monotone_half_slope(h, a, b) for h, a, b in zip(hs, dl, dr)]


def reconstruct_rows(rows, limiter: str | None, one=None, positive=(0, 2), project=None):
    """Like :func:`reconstruct` for a tuple of padded primitive rows (``(rho, v, p)`` by default), each
    ``(..., n + 4)``: faces along the last axis.

    ``one``: an array equal to 1.0 at run time (see :func:`materialize`): slopes and the positivity
    mask are then computed once per cell/face instead of once per consumer (same values).
    ``positive``: the rows that must stay positive on both sides of a face (density and pressure; ``(0, 4)`` for
    the MHD rows ``(rho, v_n, v_t1, v_t2, p, ...)``), else the face falls back to first order.
    ``project``: ``None`` (limit each primitive row) or a function of the cells ``1..n+2``'s primitive rows and
    ``one`` that returns ``(to_char, from_char)``, maps of a tuple of difference rows into characteristic
    variables and back (:func:`diffphys.hydro.mhd.characteristic_projection`): the backward and forward
    differences are then limited wave by wave, and the slopes, back in primitive variables, are clipped so that
    each face value lies between the neighbouring cell averages (Stone et al. 2008, ApJS 178, 137, section 4.2).
    """
    first_l = tuple(r[..., 1:-2] for r in rows)
    first_r = tuple(r[..., 2:-1] for r in rows)
    if limiter is None:
        return first_l, first_r
    wl, wr = [], []
    for s, a, b in zip(characteristic_slopes(rows, limiter, project, one), first_l, first_r):
        h = materialize(0.5 * s, one)  # half slopes of padded cells 1..n+2
        wl.append(a + h[..., :-1])
        wr.append(b - h[..., 1:])
    ok = True
    for k in positive:
        ok = ok & (wl[k] > 0) & (wr[k] > 0)
    if one is not None:
        ok = materialize(jnp.where(ok, 1.0, 0.0).astype(rows[0].dtype), one) > 0
    return (tuple(materialize(jnp.where(ok, a, b), one) for a, b in zip(wl, first_l)),
            tuple(materialize(jnp.where(ok, a, b), one) for a, b in zip(wr, first_r)))


def reconstruct(wp, limiter: str | None):
    """Face states from padded primitive variables ``wp`` of shape ``(3, n + 4)`` (two ghosts per side).

    Returns ``(wl, wr)``, each ``(3, n + 1)``: the states left and right of faces ``0..n``.
    """
    first_l = wp[:, 1:-2]
    first_r = wp[:, 2:-1]
    if limiter is None:
        return first_l, first_r
    d = wp[:, 1:] - wp[:, :-1]  # (3, n+3)
    s = LIMITERS[limiter](d[:, :-1], d[:, 1:])  # slopes of padded cells 1..n+2
    wl = first_l + 0.5 * s[:, :-1]
    wr = first_r - 0.5 * s[:, 1:]
    ok = (wl[0] > 0) & (wl[2] > 0) & (wr[0] > 0) & (wr[2] > 0)
    return jnp.where(ok, wl, first_l), jnp.where(ok, wr, first_r)
