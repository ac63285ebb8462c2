"""Approximate Riemann solvers: the numerical flux at a face from left/right primitive states.

Each function takes ``wl, wr`` of shape ``(3, n_faces)`` holding ``(rho, v, p)`` and returns the flux of
``(rho, rho v, E)`` through the face, shape ``(3, n_faces)``. The ``*_rows`` forms also take transverse
velocities after the pressure, ``(rho, v_n, p, v_t1, ...)`` (multi-dimensional grids,
:mod:`diffphys.hydro.cartesian`), and then return the fluxes ``(rho, rho v_n, E, rho v_t1, ...)``: the
transverse velocities are carried by the mass flux (HLLC: the upwind side's in the star states).
Wave-speed estimates are Davis'
``S_L = min(v_L - c_L, v_R - c_R)``, ``S_R = max(v_L + c_L, v_R + c_R)``.

* :func:`rusanov` (local Lax-Friedrichs): the most diffusive, one wave speed.
* :func:`hll`: two waves, smears contact discontinuities.
* :func:`hllc`: restores the contact wave (Toro, Spruce & Speares 1994); valid in any geometry here
  because the geometric pressure term is a separate cell source (see :mod:`diffphys.hydro.solver`).
"""

from __future__ import annotations

import jax.numpy as jnp

from .reconstruct import materialize as _mat

__all__ = ["hll", "hllc", "rusanov", "RIEMANN_SOLVERS", "physical_flux"]


def _flux(w, gamma):
    rho, v, p = w[0], w[1], w[2]
    if len(w) == 3:
        e = p / (gamma - 1.0) + 0.5 * rho * v * v
        return (rho * v, rho * v * v + p, (e + p) * v), e
    kin = v * v
    for t in w[3:]:
        kin = kin + t * t
    e = p / (gamma - 1.0) + 0.5 * rho * kin
    mass = rho * v
    return (mass, mass * v + p, (e + p) * v, *(mass * t for t in w[3:])), e


def _conserved(w, e):
    """``(rho, rho v_n, E, rho v_t...)`` of a primitive face state with its total energy ``e``."""
    return (w[0], w[0] * w[1], e, *(w[0] * t for t in w[3:]))


def physical_flux(w, gamma):
    f, e = _flux(w, gamma)
    return jnp.stack(f), e


def _speeds(wl, wr, gamma, one=None):
    cl = jnp.sqrt(gamma * wl[2] / wl[0])
    cr = jnp.sqrt(gamma * wr[2] / wr[0])
    sl = jnp.minimum(wl[1] - cl, wr[1] - cr)
    sr = jnp.maximum(wl[1] + cl, wr[1] + cr)
    return _mat(sl, one), _mat(sr, one)


def rusanov_rows(wl, wr, gamma, one=None):
    fl, el = _flux(wl, gamma)
    fr, er = _flux(wr, gamma)
    sl, sr = _speeds(wl, wr, gamma, one)
    a = jnp.maximum(jnp.abs(sl), jnp.abs(sr))
    ul, ur = _conserved(wl, el), _conserved(wr, er)
    return tuple(0.5 * (fl[k] + fr[k]) - 0.5 * a * (ur[k] - ul[k]) for k in range(len(fl)))


def hll_rows(wl, wr, gamma, one=None):
    fl, el = _flux(wl, gamma)
    fr, er = _flux(wr, gamma)
    sl, sr = _speeds(wl, wr, gamma, one)
    sl = jnp.minimum(sl, 0.0)
    sr = jnp.maximum(sr, 0.0)
    inv = 1.0 / (sr - sl)
    ul, ur = _conserved(wl, el), _conserved(wr, er)
    return tuple((sr * fl[k] - sl * fr[k] + sl * sr * (ur[k] - ul[k])) * inv for k in range(len(fl)))


def hllc_rows(wl, wr, gamma, one=None):
    rl, vl, pl = wl[0], wl[1], wl[2]
    rr, vr, pr = wr[0], wr[1], wr[2]
    sl, sr = _speeds(wl, wr, gamma, one)
    ql = rl * (sl - vl)
    qr = rr * (sr - vr)
    ss = _mat((pr - pl + ql * vl - qr * vr) / (ql - qr), one)
    # pick the upwind side of the contact, then the star or outer flux on that side (the flux of the
    # picked side only: the same values as picking between both sides' fluxes, half the work)
    left = ss >= 0.0
    rho, v, p, s, q, *vt = (_mat(jnp.where(left, a, b), one)
                            for a, b in ((rl, rr), (vl, vr), (pl, pr), (sl, sr), (ql, qr), *zip(wl[3:], wr[3:])))
    f, e = _flux((rho, v, p, *vt), gamma)
    fac = _mat(q / (s - ss), one)
    ustar = (fac, fac * ss, fac * (e / rho + (ss - v) * (ss + p / q)), *(fac * t for t in vt))
    u = _conserved((rho, v, p, *vt), e)
    outer = jnp.where(left, sl >= 0.0, sr <= 0.0)
    return tuple(jnp.where(outer, f[k], f[k] + s * (ustar[k] - u[k])) for k in range(len(f)))


def _stacked(rows_fn):
    def fn(wl, wr, gamma):
        return jnp.stack(rows_fn(wl, wr, gamma))

    fn.__name__ = rows_fn.__name__.replace("_rows", "")
    fn.__doc__ = f"Numerical flux ({fn.__name__}) from ``(3, n)`` primitive states; returns ``(3, n)``."
    return fn


hll = _stacked(hll_rows)
hllc = _stacked(hllc_rows)
rusanov = _stacked(rusanov_rows)

RIEMANN_SOLVERS = {"hll": hll, "hllc": hllc, "rusanov": rusanov}
RIEMANN_ROWS = {"hll": hll_rows, "hllc": hllc_rows, "rusanov": rusanov_rows}
