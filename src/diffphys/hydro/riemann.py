"""Approximate Riemann solvers: the numerical flux at a face from left/right primitive states.

Each function takes ``wl, wr`` of shape ``(3, n_faces)`` holding ``(rho, v, p)`` and returns the flux of
``(rho, rho v, E)`` through the face, shape ``(3, n_faces)``. Wave-speed estimates are Davis'
``S_L = min(v_L - c_L, v_R - c_R)``, ``S_R = max(v_L + c_L, v_R + c_R)``.

* :func:`rusanov` (local Lax-Friedrichs): the most diffusive, one wave speed.
* :func:`hll`: two waves, smears contact discontinuities.
* :func:`hllc`: restores the contact wave (Toro, Spruce & Speares 1994); valid in any geometry here
  because the geometric pressure term is a separate cell source (see :mod:`diffphys.hydro.solver`).
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["hll", "hllc", "rusanov", "RIEMANN_SOLVERS", "physical_flux"]


def physical_flux(w, gamma):
    rho, v, p = w[0], w[1], w[2]
    e = p / (gamma - 1.0) + 0.5 * rho * v * v
    return jnp.stack([rho * v, rho * v * v + p, (e + p) * v]), e


def _speeds(wl, wr, gamma):
    cl = jnp.sqrt(gamma * wl[2] / wl[0])
    cr = jnp.sqrt(gamma * wr[2] / wr[0])
    sl = jnp.minimum(wl[1] - cl, wr[1] - cr)
    sr = jnp.maximum(wl[1] + cl, wr[1] + cr)
    return sl, sr


def rusanov(wl, wr, gamma):
    fl, el = physical_flux(wl, gamma)
    fr, er = physical_flux(wr, gamma)
    sl, sr = _speeds(wl, wr, gamma)
    a = jnp.maximum(jnp.abs(sl), jnp.abs(sr))
    ul = jnp.stack([wl[0], wl[0] * wl[1], el])
    ur = jnp.stack([wr[0], wr[0] * wr[1], er])
    return 0.5 * (fl + fr) - 0.5 * a * (ur - ul)


def hll(wl, wr, gamma):
    fl, el = physical_flux(wl, gamma)
    fr, er = physical_flux(wr, gamma)
    sl, sr = _speeds(wl, wr, gamma)
    sl = jnp.minimum(sl, 0.0)
    sr = jnp.maximum(sr, 0.0)
    ul = jnp.stack([wl[0], wl[0] * wl[1], el])
    ur = jnp.stack([wr[0], wr[0] * wr[1], er])
    return (sr * fl - sl * fr + sl * sr * (ur - ul)) / (sr - sl)


def hllc(wl, wr, gamma):
    rl, vl, pl = wl[0], wl[1], wl[2]
    rr, vr, pr = wr[0], wr[1], wr[2]
    fl, el = physical_flux(wl, gamma)
    fr, er = physical_flux(wr, gamma)
    sl, sr = _speeds(wl, wr, gamma)
    ql = rl * (sl - vl)
    qr = rr * (sr - vr)
    ss = (pr - pl + ql * vl - qr * vr) / (ql - qr)

    def star(rho, v, e, p, s, q):
        fac = q / (s - ss)
        return jnp.stack([fac, fac * ss, fac * (e / rho + (ss - v) * (ss + p / q))])

    ul = jnp.stack([rl, rl * vl, el])
    ur = jnp.stack([rr, rr * vr, er])
    fsl = fl + sl * (star(rl, vl, el, pl, sl, ql) - ul)
    fsr = fr + sr * (star(rr, vr, er, pr, sr, qr) - ur)
    return jnp.where(sl >= 0.0, fl, jnp.where(ss >= 0.0, fsl, jnp.where(sr > 0.0, fsr, fr)))


RIEMANN_SOLVERS = {"hll": hll, "hllc": hllc, "rusanov": rusanov}
