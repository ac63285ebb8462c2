"""Rayleigh-Benard convection: a Boussinesq fluid between a hot floor and a cold lid.

The marker is the temperature (fixed on the walls with ``wall(marker=...)`` / ``slip(marker=...)``, conducted
with :class:`FlowParams` ``diffusivity``, buoyant with ``buoyancy``). Linear theory of the onset (Rayleigh 1916;
Chandrasekhar 1961), the growth rate measured from a run and differentiated through it, Newton's method for the
critical Rayleigh number on those derivatives, and the Nusselt number.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..core.checks import check_positive
from .grid import Boundaries, Grid, periodic, slip, wall
from .solver import FlowParams, FlowSolver

__all__ = ["RB_CRITICAL_NO_SLIP", "critical", "growth_rate_fn", "linear_growth_rate", "nusselt", "onset",
           "rayleigh_benard", "OnsetResult"]

# Chandrasekhar (1961), Hydrodynamic and Hydromagnetic Stability, section 15 (table III): the onset of convection
# between two rigid (no-slip) plates: critical Rayleigh number and wavenumber (times the depth)
RB_CRITICAL_NO_SLIP = (1707.762, 3.117)


def critical(walls="slip"):
    """``(Ra_c, k_c)``: the onset of convection in a layer of depth 1 (Rayleigh 1916; Chandrasekhar 1961).
    Free-slip walls: ``Ra_c = 27 pi^4 / 4``, ``k_c = pi / sqrt(2)`` exactly; no-slip: the table value
    :data:`RB_CRITICAL_NO_SLIP`."""
    if walls == "slip":
        return 27 * math.pi**4 / 4, math.pi / math.sqrt(2)
    if walls == "wall":
        return RB_CRITICAL_NO_SLIP
    raise ValueError(f"walls must be 'slip' or 'wall'; got {walls!r}")


def linear_growth_rate(ra, pr=1.0, k=None):
    """Linear growth rate of the mode ``cos(k x) sin(pi y)`` between free-slip walls (depth 1, temperature
    difference 1, buoyancy ``b = 1``: the free-fall time unit; ``nu = sqrt(Pr / Ra)``, ``kappa = 1 / sqrt(Pr Ra)``):
    the larger root of ``(s + nu a^2)(s + kappa a^2) = k^2 / a^2`` with ``a^2 = k^2 + pi^2``; ``k`` defaults to
    the critical ``pi / sqrt(2)``."""
    k = math.pi / math.sqrt(2) if k is None else k
    nu, kappa = math.sqrt(pr / ra), 1 / math.sqrt(pr * ra)
    a2 = k * k + math.pi**2
    return 0.5 * (-(nu + kappa) * a2 + math.sqrt(((nu - kappa) * a2) ** 2 + 4 * k * k / a2))


def rayleigh_benard(n=16, ra=2000.0, pr=1.0, k=None, walls="slip", amplitude=1e-6, dt=0.01, dtype=None,
                    **solver_kw):
    """Rayleigh-Benard convection: a Boussinesq fluid of depth 1 between a floor held at temperature 1 and a lid
    at 0 (the marker is the temperature; ``wall(marker=...)``), periodic in x over one wavelength ``2 pi / k``
    (default: the critical wavenumber of ``walls``, ``"slip"`` (free-slip) or ``"wall"`` (no-slip)). Free-fall
    units: buoyancy ``b = 1``, ``nu = sqrt(Pr / Ra)``, ``kappa = 1 / sqrt(Pr Ra)``. Starts from the conduction
    profile ``1 - y`` plus ``amplitude cos(k x) sin(pi y)``; ``n`` cells per depth, fixed ``dt``.

    Returns ``(solver, state0, params, params_fn)``; ``params_fn(ra)`` gives the differentiable parameters for
    another Rayleigh number (same Prandtl number).
    """
    ra_c, k_c = critical(walls)
    k = k_c if k is None else k
    for name, val in (("k", k), ("ra", ra), ("pr", pr)):
        check_positive(f"rayleigh_benard {name}", val)
    k = float(k)
    width = 2 * math.pi / k
    grid = Grid((max(4, int(round(n * width))), n), size=(width, 1.0))
    side = slip if walls == "slip" else wall
    solver_kw.setdefault("advection", "maccormack")
    solver_kw.setdefault("tol", 1e-10)
    solver = FlowSolver(grid, Boundaries(periodic(), periodic(), side(marker=1.0), side(marker=0.0)), dt,
                        velocity_scale=1.0, **solver_kw)

    def params_fn(ra):
        ra = jnp.asarray(ra, dtype or jnp.result_type(float))
        return FlowParams(jnp.sqrt(pr / ra), buoyancy=1.0, diffusivity=1 / jnp.sqrt(pr * ra))

    state = solver.initial_state(marker=lambda x, y: 1 - y + amplitude * np.cos(k * x) * np.sin(math.pi * y),
                                 dtype=dtype)
    return solver, state, params_fn(ra), params_fn


def nusselt(solver, marker):
    """The Nusselt numbers at the floor and the lid: the conducted heat flux through each, ``(T_wall - T_cell)``
    over half a cell, averaged along the wall, in units of the conduction state's flux (1 for a fluid at rest)."""
    if solver.m_vals[2] is None or solver.m_vals[3] is None:
        raise ValueError("the Nusselt number needs fixed marker values on the floor and the lid (wall(marker=...))")
    hy = solver.grid.spacing[1]
    bottom, top = (jnp.asarray(solver.m_vals[i], marker.dtype) for i in (2, 3))
    dtemp = jnp.mean(bottom) - jnp.mean(top)
    return (jnp.mean(bottom - marker[:, 0]) / (hy / 2) / dtemp, jnp.mean(marker[:, -1] - top) / (hy / 2) / dtemp)


def growth_rate_fn(solver, state, params_fn, t_end, fit_from=0.5):
    """``sigma(ra)``: the exponential growth rate of the rms vertical velocity in a run of ``t_end`` from
    ``state`` with ``params_fn(ra)``, fitted by least squares to its logarithm over the times after
    ``fit_from * t_end`` (after the decaying modes of the start have gone). Differentiable in ``ra``; forward mode
    (one parameter) is the cheap way: ``jax.jvp(sigma, (ra,), (1.0,))``."""
    check_positive("growth_rate_fn t_end", t_end)
    n = int(round(t_end / solver.dt))
    if n < 4:
        raise ValueError(f"t_end = {t_end!r} is fewer than 4 steps of dt = {solver.dt!r}")
    dtype = state.u.dtype
    t = solver.dt * jnp.arange(1, n + 1, dtype=dtype)
    sel = (t > fit_from * t_end).astype(dtype)
    if float(jnp.sum(sel)) < 2:
        raise ValueError(f"fit_from = {fit_from!r} leaves fewer than 2 steps to fit")
    tm = jnp.sum(sel * t) / jnp.sum(sel)

    def sigma(ra):
        params = params_fn(ra)

        def body(s, _):
            s = solver.step(s, params)
            return s, 0.5 * jnp.log(jnp.mean(s.v ** 2))

        _, la = lax.scan(body, state, None, length=n)
        lm = jnp.sum(sel * la) / jnp.sum(sel)
        return jnp.sum(sel * (t - tm) * (la - lm)) / jnp.sum(sel * (t - tm) ** 2)

    return sigma


class OnsetResult(NamedTuple):
    """The result of :func:`onset`; ``history``: ``(ra, sigma, dsigma/dra)`` per Newton iteration."""

    ra_c: float
    history: list
    converged: bool


def onset(sigma, ra0, rtol=1e-8, max_iter=12):
    """The critical Rayleigh number: Newton's method on ``sigma(ra) = 0`` from ``ra0``, the derivative by
    forward mode through the whole run (one compilation; each iteration one run with its tangent). Stops when
    the Newton step is below ``rtol * ra``."""
    check_positive("onset ra0", ra0)
    f = jax.jit(lambda ra: jax.jvp(sigma, (ra,), (jnp.ones_like(ra),)))
    ra, history = float(ra0), []
    for _ in range(max_iter):
        s, ds = (float(v) for v in f(jnp.asarray(ra, jnp.result_type(float))))
        history.append((ra, s, ds))
        if not (math.isfinite(s) and math.isfinite(ds)) or ds <= 0:
            return OnsetResult(ra, history, False)   # the growth rate must increase with Ra
        step = s / ds
        ra = ra - step
        if ra <= 0:
            return OnsetResult(ra, history, False)
        if abs(step) <= rtol * ra:
            return OnsetResult(ra, history, True)
    return OnsetResult(ra, history, False)
