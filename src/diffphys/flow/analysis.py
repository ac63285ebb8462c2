"""Derived quantities: cell-centre velocity, vorticity, kinetic energy, shedding frequency."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["centers_velocity", "kinetic_energy", "strouhal", "vorticity"]


def centers_velocity(solver, state):
    """Velocity averaged to cell centres, ``(uc, vc)`` each ``(nx, ny)``."""
    u, v = state.u, state.v
    if solver.boundaries.periodic_x:
        uc = 0.5 * (u + jnp.roll(u, -1, 0))
    else:
        uc = 0.5 * (u[1:] + u[:-1])
    if solver.boundaries.periodic_y:
        vc = 0.5 * (v + jnp.roll(v, -1, 1))
    else:
        vc = 0.5 * (v[:, 1:] + v[:, :-1])
    return uc, vc


def vorticity(solver, state):
    """``dv/dx - du/dy`` at cell centres (central differences of the centre velocity; 0 in solids)."""
    uc, vc = centers_velocity(solver, state)
    dx, dy = solver.grid.spacing
    w = jnp.gradient(vc, dx, axis=0) - jnp.gradient(uc, dy, axis=1)
    return w * solver.fluid.astype(w.dtype)


def kinetic_energy(solver, state):
    """``1/2 sum (u^2 + v^2) dx dy`` over the faces (each face carries one cell's worth of area)."""
    dx, dy = solver.grid.spacing
    return 0.5 * (jnp.sum(state.u**2) + jnp.sum(state.v**2)) * dx * dy


def strouhal(signal, dt, length, speed, discard=0.0):
    """Strouhal number ``f L / U`` from the dominant frequency of a probe signal (after ``discard``
    of its duration), refined by parabolic interpolation of the spectral peak."""
    s = np.asarray(signal, dtype=np.float64)
    s = s[int(discard * len(s)):]
    s = s - s.mean()
    if len(s) < 8 or not np.any(s):
        return float("nan")
    n = len(s)
    window = np.hanning(n)
    pad = 8 * n
    spec = np.abs(np.fft.rfft(s * window, pad))
    freqs = np.fft.rfftfreq(pad, dt)
    k = int(np.argmax(spec[1:]) + 1)
    if 1 <= k < len(spec) - 1:
        a, b, c = np.log(spec[k - 1] + 1e-300), np.log(spec[k] + 1e-300), np.log(spec[k + 1] + 1e-300)
        off = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    else:
        off = 0.0
    f = (k + off) * (freqs[1] - freqs[0])
    return float(f * length / speed)
