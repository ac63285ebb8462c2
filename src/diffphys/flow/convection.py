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

__all__ = ["DE_VAHL_DAVIS_1983", "RB_CRITICAL_NO_SLIP", "cavity_velocities", "critical", "growth_rate_fn",
           "heated_cavity", "linear_growth_rate", "nusselt", "onset", "rayleigh_benard", "run_to_steady",
           "OnsetResult", "SteadyResult"]

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


def nusselt(solver, marker, axis=1):
    """The Nusselt numbers at the two walls across ``axis`` (1: the floor and the lid; 0: the left and the right
    wall): the conducted heat flux through each, ``(T_wall - T_cell)`` over half a cell (the flux of the solver's
    conduction), averaged along the wall, in units of the conduction state's flux ``dT / L`` (1 for a fluid at
    rest), ``L`` the distance between the walls and ``dT`` the difference of their mean temperatures."""
    if axis not in (0, 1):
        raise ValueError(f"nusselt axis must be 0 (left / right walls) or 1 (floor / lid); got {axis!r}")
    lo, hi = (2, 3) if axis == 1 else (0, 1)
    if solver.m_vals[lo] is None or solver.m_vals[hi] is None:
        walls = "the floor and the lid" if axis == 1 else "the left and the right wall"
        raise ValueError(f"the Nusselt number needs fixed marker values on {walls} (wall(marker=...))")
    h, length = solver.grid.spacing[axis], solver.grid.size[axis]
    a, b = (jnp.asarray(solver.m_vals[i], marker.dtype) for i in (lo, hi))
    first, last = (marker[:, 0], marker[:, -1]) if axis == 1 else (marker[0], marker[-1])
    scale = length / (h / 2) / (jnp.mean(a) - jnp.mean(b))
    return jnp.mean(a - first) * scale, jnp.mean(last - b) * scale


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


# de Vahl Davis (1983), Int. J. Numer. Meth. Fluids 3, 249-264, the bench mark solution (Richardson-extrapolated
# second-order finite differences; "accurate to better than 1 per cent at the highest Rayleigh number and down to
# one-tenth of that at the lowest"): air (Pr = 0.71) in a square cavity, left wall hot, right wall cold, floor and
# lid insulating, all walls no-slip. Per Rayleigh number: the largest horizontal velocity on the vertical mid-line
# and the largest vertical velocity on the horizontal mid-line (units kappa / L), the mean Nusselt number of the
# hot wall.
DE_VAHL_DAVIS_1983 = {
    1e3: dict(u_max=3.649, v_max=3.697, nu=1.118),
    1e4: dict(u_max=16.178, v_max=19.617, nu=2.243),
    1e5: dict(u_max=34.73, v_max=68.59, nu=4.519),
    1e6: dict(u_max=64.63, v_max=219.36, nu=8.800),
}


def heated_cavity(n=32, ra=1e4, pr=0.71, dt=None, dtype=None, **solver_kw):
    """The square cavity heated from the side (de Vahl Davis 1983): side 1, the left wall held at temperature 1,
    the right at 0, floor and lid insulating, all walls no-slip, gravity along -y; starts at rest from the
    conduction profile ``1 - x``. Free-fall units as :func:`rayleigh_benard` (``b = 1``, ``nu = sqrt(Pr / Ra)``,
    ``kappa = 1 / sqrt(Pr Ra)``; velocities in the benchmark's ``kappa / L`` are ``u sqrt(Pr Ra)``: the peak
    speeds are ~0.15-0.26 for 1e3 <= Ra <= 1e6). ``n`` cells per side (even: the mid-lines are face lines),
    ``dt`` default ``0.4 / n``. The marker is advected conservatively (the heat through the two walls agrees
    in the steady state), the velocity with MacCormack.

    Returns ``(solver, state0, params, params_fn)``; ``params_fn(ra)`` gives the parameters at another Rayleigh
    number (same Prandtl number).
    """
    for name, val in (("ra", ra), ("pr", pr)):
        check_positive(f"heated_cavity {name}", val)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4 or n % 2:
        raise ValueError(f"heated_cavity n must be an even integer >= 4 (the mid-lines are face lines); got {n!r}")
    dt = 0.4 / n if dt is None else dt
    solver_kw.setdefault("advection", "maccormack")
    solver_kw.setdefault("marker_advection", "conservative")
    solver_kw.setdefault("tol", 1e-10)
    solver_kw.setdefault("velocity_scale", 0.3)
    solver = FlowSolver(Grid((int(n), int(n)), size=(1.0, 1.0)),
                        Boundaries(wall(marker=1.0), wall(marker=0.0), wall(), wall()), dt, **solver_kw)

    def params_fn(ra):
        ra = jnp.asarray(ra, dtype or jnp.result_type(float))
        return FlowParams(jnp.sqrt(pr / ra), buoyancy=1.0, diffusivity=1 / jnp.sqrt(pr * ra))

    state = solver.initial_state(marker=lambda x, y: 1 - x, dtype=dtype)
    return solver, state, params_fn(ra), params_fn


def _peak(a, x0, h):
    """The maximum of the parabola through the largest sample of ``a`` (spacing ``h``, first at ``x0``) and its
    two neighbours, and where it is (the sample itself at an end)."""
    a = np.asarray(a, float)
    i = int(np.argmax(a))
    if 0 < i < len(a) - 1:
        curv = a[i - 1] - 2 * a[i] + a[i + 1]
        if curv < 0:
            d = (a[i - 1] - a[i + 1]) / (2 * curv)
            return float(a[i] - 0.25 * (a[i - 1] - a[i + 1]) * d), float(x0 + (i + d) * h)
    return float(a[i]), float(x0 + i * h)


def cavity_velocities(solver, state, unit=1.0):
    """The de Vahl Davis (1983) peak velocities of a cavity state: ``(u_max, y)`` of the horizontal velocity on
    the vertical mid-line ``x = Lx / 2`` and ``(v_max, x)`` of the vertical velocity on the horizontal mid-line,
    each the vertex of the parabola through the largest face value and its neighbours, divided by ``unit``
    (``kappa`` for the benchmark's ``kappa / L``). Needs an even number of cells on both axes (host side)."""
    nx, ny = solver.grid.shape
    if nx % 2 or ny % 2:
        raise ValueError(f"cavity_velocities needs an even number of cells on both axes; got {solver.grid.shape}")
    if solver.boundaries.periodic_x or solver.boundaries.periodic_y:
        raise ValueError("cavity_velocities needs walls on all four sides (no periodic axis)")
    hx, hy = solver.grid.spacing
    unit = float(unit)
    u_max, y = _peak(np.asarray(state.u)[nx // 2] / unit, hy / 2, hy)
    v_max, x = _peak(np.asarray(state.v)[:, ny // 2] / unit, hx / 2, hx)
    return (u_max, y), (v_max, x)


class SteadyResult(NamedTuple):
    """The result of :func:`run_to_steady`: the final state, whether it met the tolerance, and per check the
    time and the largest rate of change of the velocity and the marker."""

    state: object
    converged: bool
    history: list


def run_to_steady(solver, state, params, tol=1e-6, velocity_tol=1e-4, t_max=500.0, check_every=1.0,
                  progress=None):
    """Step ``state`` until the rates of change of the marker and of the velocity, measured over ``check_every``
    (time units, one compiled chunk of steps) and relative to each field's largest magnitude, are below ``tol``
    and ``velocity_tol`` (per unit time), or until ``t_max``. The velocity's default is looser: MacCormack's
    limiter can leave a steady flow chattering at a few 1e-5 (its clipping switches on and off; semi-Lagrangian
    advection settles to round-off) while the marker settles to ~1e-8. A progress bar (by default on an
    interactive terminal only) shows the time and the rates."""
    check_positive("run_to_steady tol", tol)
    check_positive("run_to_steady velocity_tol", velocity_tol)
    check_positive("run_to_steady t_max", t_max)
    check_positive("run_to_steady check_every", check_every)
    from ..core.progress import progress_bar

    k = max(1, int(round(check_every / solver.dt)))
    span = k * solver.dt
    tiny = jnp.finfo(state.u.dtype).tiny

    @jax.jit
    def chunk(s):
        s1 = lax.fori_loop(0, k, lambda i, x: solver.step(x, params), s)
        du = jnp.maximum(jnp.max(jnp.abs(s1.u - s.u)), jnp.max(jnp.abs(s1.v - s.v)))
        vel = jnp.maximum(jnp.max(jnp.abs(s1.u)), jnp.max(jnp.abs(s1.v)))
        dm, mag = jnp.max(jnp.abs(s1.marker - s.marker)), jnp.max(jnp.abs(s1.marker))
        return s1, jnp.stack([du / jnp.maximum(vel, tiny), dm / jnp.maximum(mag, tiny)]) / span

    history, converged = [], False
    with progress_bar(total=None, desc="steady state", enabled=progress, unit="chunk") as bar:
        while float(state.t) < t_max - 1e-9 * t_max:
            state, rate = chunk(state)
            ru, rm = (float(r) for r in rate)
            history.append((float(state.t), ru, rm))
            bar.update(1)
            bar.set_postfix_str(f"t={float(state.t):.1f} velocity rate={ru:.1e} marker rate={rm:.1e}")
            if not (math.isfinite(ru) and math.isfinite(rm)):
                raise FloatingPointError(f"the run blew up at t = {float(state.t):.4g} (non-finite state)")
            if rm <= tol and ru <= velocity_tol:
                converged = True
                break
    return SteadyResult(state, converged, history)
