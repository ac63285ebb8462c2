"""Cosmic rays as a second fluid: gas and an adiabatic cosmic-ray pressure in one dimension (radial geometries).

The two-fluid model without injection, diffusion or losses (Drury & Voelk 1981 with the diffusion switched off;
the "CR shock tube" of Pfrommer et al. 2006, MNRAS 367, 113, appendix): the cosmic rays are a relativistic gas
(``gamma_cr = 4/3``) carried by the flow, their pressure ``p_cr = K rho^gamma_cr`` with ``K`` constant along
every fluid element, through shocks too (a shock compresses them adiabatically and heats only the gas). The
conserved rows are ``(rho, rho v, E, rho K)`` with ``E = rho v^2 / 2 + p_gas / (gamma - 1) + p_cr /
(gamma_cr - 1)``; the total pressure ``p_gas + p_cr`` drives the flow and the effective sound speed is
``c^2 = (gamma p_gas + gamma_cr p_cr) / rho``. Mass, total energy and the cosmic rays' ``rho K`` change only
through the boundaries: conserved to round-off with closed ends, in every geometry (the scheme of
:mod:`diffphys.hydro.solver`, the total pressure in its ``p dA`` term).

Optionally the cosmic rays diffuse (:class:`CRParams` ``diffusion = kappa_cr``: ``d e_cr / dt = div(kappa_cr grad
e_cr)`` for the energy density ``e_cr = p_cr / (gamma_cr - 1)``, the diffusive part of the two-fluid model):
an implicit conservative substep after each hydro step, the one of thermal conduction
(:class:`~diffphys.hydro.conduction.Conduction`) with ``e_cr`` as the conducted quantity and unit heat
capacity; no flux through the ends; total energy still conserved to round-off (``rho K`` then changes: the
diffusion is not adiabatic).

:class:`ExactCRRiemann` solves the Riemann problem of this model exactly (the star pressure by bracketing, the
rarefactions by quadrature of ``c / rho`` over the two-component isentrope, the shocks from the Hugoniot of the
total energy with the cosmic rays compressed adiabatically); with no cosmic rays, or with ``gamma_cr = gamma``,
it reduces to Toro's one-fluid solution (tested).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..core.checks import check_choice, check_finite, check_positive, check_range, is_concrete
from .boundary import Boundary, Fixed, Periodic, Reflective, as_boundary, pad_rows
from .grid import RadialGrid
from .reconstruct import LIMITERS, materialize, reconstruct_rows
from .solver import _flush, _one
from .state import check_gamma

__all__ = ["CRParams", "CRState", "CosmicRaySolver", "ExactCRRiemann", "cr_shock_tube"]

INTEGRATORS = ("euler", "rk2", "rk3")


class CRState(eqx.Module):
    """Conserved rows ``u`` of shape ``(4, n_cells)``: density, momentum density, total energy density
    (kinetic + gas + cosmic rays) and ``rho K`` (``K = p_cr / rho^gamma_cr``, the cosmic rays' adiabat)."""

    u: jnp.ndarray

    @property
    def rho(self):
        return self.u[0]


class CRParams(eqx.Module):
    """Differentiable parameters of a :class:`CosmicRaySolver` run: ``diffusion``, the cosmic rays' diffusion
    coefficient ``kappa_cr`` (> 0; code units of length^2 / time; without diffusion pass ``params=None``)."""

    diffusion: jnp.ndarray

    def __init__(self, diffusion):
        check_positive("CRParams.diffusion", diffusion)
        if np.ndim(diffusion) != 0:
            raise ValueError(f"CRParams.diffusion must be a scalar; got shape {np.shape(diffusion)}")
        self.diffusion = diffusion if isinstance(diffusion, jnp.ndarray) else np.float64(diffusion)


def _flux(w, g, gc, one=None):
    """Physical flux of ``(rho, rho v, E, rho K)`` for primitive rows ``(rho, v, p_gas, p_cr)``; also ``E`` and
    ``K``. (``one``: see :func:`~diffphys.hydro.reconstruct.materialize`: the power and the energy are computed
    once, not in every consumer.)"""
    rho, v, pg, pc = w
    p = pg + pc
    e = materialize(pg / (g - 1.0) + pc / (gc - 1.0) + 0.5 * rho * v * v, one)
    k = materialize(pc / rho ** gc, one)
    mass = rho * v
    return (mass, mass * v + p, (e + p) * v, mass * k), e, k


def _speeds(wl, wr, g, gc, one=None):
    cl = jnp.sqrt((g * wl[2] + gc * wl[3]) / wl[0])
    cr = jnp.sqrt((g * wr[2] + gc * wr[3]) / wr[0])
    return (materialize(jnp.minimum(wl[1] - cl, wr[1] - cr), one),
            materialize(jnp.maximum(wl[1] + cl, wr[1] + cr), one))


def cr_rusanov(wl, wr, g, gc, one=None):
    (fl, el, kl), (fr, er, kr) = _flux(wl, g, gc, one), _flux(wr, g, gc, one)
    sl, sr = _speeds(wl, wr, g, gc, one)
    a = jnp.maximum(jnp.abs(sl), jnp.abs(sr))
    ul = (wl[0], wl[0] * wl[1], el, wl[0] * kl)
    ur = (wr[0], wr[0] * wr[1], er, wr[0] * kr)
    return tuple(0.5 * (fl[i] + fr[i]) - 0.5 * a * (ur[i] - ul[i]) for i in range(4))


def cr_hll(wl, wr, g, gc, one=None):
    (fl, el, kl), (fr, er, kr) = _flux(wl, g, gc, one), _flux(wr, g, gc, one)
    sl, sr = _speeds(wl, wr, g, gc, one)
    sl, sr = jnp.minimum(sl, 0.0), jnp.maximum(sr, 0.0)
    inv = materialize(1.0 / (sr - sl), one)
    ul = (wl[0], wl[0] * wl[1], el, wl[0] * kl)
    ur = (wr[0], wr[0] * wr[1], er, wr[0] * kr)
    return tuple((sr * fl[i] - sl * fr[i] + sl * sr * (ur[i] - ul[i])) * inv for i in range(4))


def cr_hllc(wl, wr, g, gc, one=None):
    """HLLC with the total pressure: the star states of Toro, Spruce & Speares (1994), whose energy follows from
    the jump conditions for any equation of state; ``K`` is carried by the mass flux like a passive scalar."""
    sl, sr = _speeds(wl, wr, g, gc, one)
    pl, pr = wl[2] + wl[3], wr[2] + wr[3]
    ql = wl[0] * (sl - wl[1])
    qr = wr[0] * (sr - wr[1])
    ss = materialize((pr - pl + ql * wl[1] - qr * wr[1]) / (ql - qr), one)
    out = []
    for w, s, q, p in ((wl, sl, ql, pl), (wr, sr, qr, pr)):
        f, e, k = _flux(w, g, gc, one)
        rho, v = w[0], w[1]
        fac = materialize(q / (s - ss), one)
        ustar = (fac, fac * ss, fac * (e / rho + (ss - v) * (ss + p / q)), fac * k)
        u = (rho, rho * v, e, rho * k)
        out.append((f, ustar, u, s))
    (fl, usl, ul, _), (fr, usr, ur, _) = out
    rows = []
    for i in range(4):
        left_star = fl[i] + sl * (usl[i] - ul[i])
        right_star = fr[i] + sr * (usr[i] - ur[i])
        rows.append(jnp.where(sl >= 0.0, fl[i], jnp.where(ss >= 0.0, left_star,
                                                          jnp.where(sr > 0.0, right_star, fr[i]))))
    return tuple(rows)


CR_RIEMANN = {"hllc": cr_hllc, "hll": cr_hll, "rusanov": cr_rusanov}


class CosmicRaySolver(eqx.Module):
    """A 1D radial finite-volume solver of gas plus adiabatic cosmic rays (see the module docstring);
    ``step(state, params, dt)`` and ``max_dt`` for :func:`diffphys.core.simulate`, so every gradient strategy
    applies; ``params``: ``None`` (adiabatic cosmic rays) or :class:`CRParams` (their diffusion coefficient).

    Args:
        grid: a :class:`RadialGrid` (planar, cylindrical, spherical).
        gamma: the gas's adiabatic index (> 1); gamma_cr: the cosmic rays' (default 4/3; > 1).
        riemann: ``"hllc"`` (default), ``"hll"`` or ``"rusanov"``, all with the total pressure.
        limiter: ``"mc"`` (default), ``"minmod"``, ``"vanleer"`` or ``None``: MUSCL on ``(rho, v, p_gas,
            p_cr)``; a face whose density or gas pressure would not be positive falls back to first order.
        integrator: ``"rk2"`` (default, SSP), ``"rk3"`` (SSP) or ``"euler"``. cfl: in (0, 1].
        left, right: ``"reflective"``, ``"outflow"`` or ``"periodic"`` (both; planar).
    """

    masked_steps = True  # a step of dt = 0 returns the state unchanged

    grid: RadialGrid = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    gamma_cr: float = eqx.field(static=True)
    riemann: str = eqx.field(static=True)
    limiter: str | None = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    cfl: float = eqx.field(static=True)
    left: Boundary
    right: Boundary
    areas: np.ndarray
    inv_vol: np.ndarray
    da_over_v: np.ndarray
    flux_mask: np.ndarray
    inv_width: np.ndarray

    def __init__(self, grid, gamma=5.0 / 3.0, gamma_cr=4.0 / 3.0, riemann="hllc", limiter="mc", integrator="rk2",
                 cfl=0.5, left="reflective", right="outflow"):
        if not isinstance(grid, RadialGrid):
            raise ValueError(f"grid must be a RadialGrid; got {type(grid).__name__}")
        self.grid = grid
        self.gamma = check_gamma(gamma)
        check_range("gamma_cr", gamma_cr, 1.0, lo_open=True)
        self.gamma_cr = float(gamma_cr)
        check_choice("riemann", riemann, tuple(CR_RIEMANN))
        check_choice("limiter", limiter, (*LIMITERS, None))
        check_choice("integrator", integrator, INTEGRATORS)
        check_range("cfl", cfl, 0.0, 1.0, lo_open=True)
        self.riemann, self.limiter, self.integrator, self.cfl = riemann, limiter, integrator, float(cfl)
        self.left, self.right = as_boundary(left, "left"), as_boundary(right, "right")
        for b in (self.left, self.right):
            if isinstance(b, Fixed):
                raise ValueError("CosmicRaySolver boundaries must be 'reflective', 'outflow' or 'periodic' (a Fixed "
                                 "state has no cosmic-ray pressure)")
        if isinstance(self.left, Periodic) != isinstance(self.right, Periodic):
            raise ValueError("periodic boundaries must be given on both sides (left='periodic', right='periodic')")
        if isinstance(self.left, Periodic) and grid.geometry != "planar":
            raise ValueError(f"periodic boundaries need geometry 'planar'; got {grid.geometry!r}")
        n = grid.n_cells
        self.areas = grid.areas.copy()
        self.inv_vol = 1.0 / grid.volumes
        self.da_over_v, self.inv_width = grid.da_over_v, grid.inv_width
        mask = np.ones((4, n + 1))
        for b, col in ((self.left, 0), (self.right, -1)):
            if isinstance(b, Reflective):
                mask[[0, 2, 3], col] = 0.0  # no mass, energy or cosmic rays through a wall
        self.flux_mask = mask

    # -- conversions -------------------------------------------------------------------------------
    def _primitive_rows(self, rows):
        rho, m, e, rk = rows
        v = _flush(m / rho)
        pc = (rk / rho) * rho ** self.gamma_cr
        pg = (self.gamma - 1.0) * (e - 0.5 * rho * v * v - pc / (self.gamma_cr - 1.0))
        return rho, v, pg, pc

    def primitive(self, state: CRState):
        """``(rho, v, p_gas, p_cr)`` stacked on axis 0."""
        return jnp.stack(self._primitive_rows(tuple(state.u)))

    def initial_state(self, rho, v, p_gas, p_cr, dtype=None) -> CRState:
        """A validated state from primitive arrays (scalars broadcast over the grid); ``p_cr >= 0``."""
        n = self.grid.n_cells
        arrs = []
        for name, x in (("rho", rho), ("v", v), ("p_gas", p_gas), ("p_cr", p_cr)):
            check_finite(name, x)
            if is_concrete(x):
                a = np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))
                if name in ("rho", "p_gas") and np.any(a <= 0):
                    raise ValueError(f"{name} of the initial state must be > 0 everywhere; got minimum {a.min():g}")
                if name == "p_cr" and np.any(a < 0):
                    raise ValueError(f"p_cr of the initial state must be >= 0 everywhere; got minimum {a.min():g}")
                x = a
            arrs.append(jnp.broadcast_to(jnp.asarray(x, dtype=dtype), (n,)))
        rho, v, pg, pc = arrs
        e = 0.5 * rho * v * v + pg / (self.gamma - 1.0) + pc / (self.gamma_cr - 1.0)
        return CRState(jnp.stack([rho, rho * v, e, pc / rho ** (self.gamma_cr - 1.0)]))

    def validate(self, state):
        if not isinstance(state, CRState):
            raise ValueError(f"a CosmicRaySolver needs a CRState; got {type(state).__name__}")
        if state.u.shape != (4, self.grid.n_cells):
            raise ValueError(f"CRState.u must have shape (4, {self.grid.n_cells}); got {state.u.shape}")
        if is_concrete(state.u):
            check_finite("state0", np.asarray(state.u))
            rho, _, pg, pc = (np.asarray(r) for r in self._primitive_rows(tuple(state.u)))
            for name, a, strict in (("density", rho, True), ("gas pressure", pg, True), ("CR pressure", pc, False)):
                if np.any(a <= 0) if strict else np.any(a < 0):
                    raise ValueError(f"state0 {name} must be {'>' if strict else '>='} 0 everywhere; got minimum "
                                     f"{a.min():g}")

    def totals(self, state: CRState):
        """``sum(V_i u_i)``: mass, momentum, total energy and ``rho K`` (the integrals the scheme conserves)."""
        return jnp.sum(state.u * jnp.asarray(self.grid.volumes, state.u.dtype)[None, :], axis=1)

    # -- the scheme --------------------------------------------------------------------------------
    def _rate(self, rows):
        one = _one(rows[0])
        rho, v, pg, pc = (materialize(r, one) for r in self._primitive_rows(rows))
        wl, wr = reconstruct_rows(pad_rows((rho, v, pg, pc), self.left, self.right), self.limiter, one,
                                  positive=(0, 2))
        f = CR_RIEMANN[self.riemann](wl, wr, self.gamma, self.gamma_cr, one)
        dt_ = rho.dtype
        out = []
        for k in range(4):
            af = materialize(f[k] * jnp.asarray(self.flux_mask[k] * self.areas, dt_), one)
            out.append(-(af[1:] - af[:-1]) * jnp.asarray(self.inv_vol, dt_))
        out[1] = out[1] + (pg + pc) * jnp.asarray(self.da_over_v, dt_)
        return out

    def step(self, state: CRState, params, dt) -> CRState:
        if params is not None and not isinstance(params, CRParams):
            raise ValueError(f"CosmicRaySolver params must be None or CRParams; got {type(params).__name__}")
        u = tuple(state.u)
        dt = jnp.asarray(dt, state.u.dtype)
        u1 = [a + dt * k for a, k in zip(u, self._rate(u))]
        if self.integrator == "euler":
            new = u1
        else:
            k1 = self._rate(u1)
            if self.integrator == "rk2":
                new = [0.5 * (a + b + dt * k) for a, b, k in zip(u, u1, k1)]
            else:
                u2 = [0.75 * a + 0.25 * (b + dt * k) for a, b, k in zip(u, u1, k1)]
                k2 = self._rate(u2)
                new = [a / 3.0 + 2.0 / 3.0 * (b + dt * k) for a, b, k in zip(u, u2, k2)]
        new = CRState(jnp.stack(new))
        return new if params is None else self.diffuse(new, params.diffusion, dt)

    def diffuse(self, state: CRState, kappa, dt) -> CRState:
        """The diffusion substep alone: ``e_cr`` diffused with coefficient ``kappa`` over ``dt`` by backward
        Euler (no flux through the ends; joined when periodic), the total energy updated by the same amount
        (conserved to round-off), density and momentum unchanged."""
        from .conduction import Conduction

        rho, m, e, rk = (state.u[k] for k in range(4))
        dtype = rho.dtype
        gc = self.gamma_cr
        e_cr = (rk / rho) * rho ** gc / (gc - 1.0)
        geometry = (self.grid.areas, self.grid.volumes, self.grid.dr, 2.0)  # heat capacity V * 1 / (2 - 1)
        _, de = Conduction(jnp.asarray(kappa, dtype)).substep(
            jnp.ones_like(rho), e_cr, jnp.asarray(dt, dtype), geometry, periodic=isinstance(self.left, Periodic))
        p_cr = (gc - 1.0) * (e_cr + de)
        return CRState(jnp.stack([rho, m, e + de, p_cr / rho ** (gc - 1.0)]))

    def max_dt(self, state: CRState, params):
        rho, v, pg, pc = self._primitive_rows(tuple(state.u))
        c = jnp.sqrt((self.gamma * pg + self.gamma_cr * pc) / rho)
        smax = jnp.max((jnp.abs(v) + c) * jnp.asarray(self.inv_width, rho.dtype))
        return self.cfl * self.grid.dr / smax


def cr_shock_tube(left=(1.0, 0.0, 2.0 / 3.0, 4.0 / 3.0), right=(0.2, 0.0, 0.02, 0.0), n_cells=200, x0=0.5,
                  t_end=0.2, gamma=5.0 / 3.0, gamma_cr=4.0 / 3.0, dtype=None, **solver_kw):
    """A planar shock tube on ``[0, 1]`` with cosmic rays, outflow ends: states ``(rho, v, p_gas, p_cr)``; by
    default a cosmic-ray dominated high-pressure side (``p_cr = 2 p_gas``) against cold gas without cosmic rays.
    Returns ``(solver, state0, t_end, exact)``."""
    solver_kw.setdefault("left", "outflow")
    solver_kw.setdefault("right", "outflow")
    solver = CosmicRaySolver(RadialGrid(n_cells, 1.0, geometry="planar"), gamma, gamma_cr, **solver_kw)
    x = solver.grid.centers
    w = [np.where(x < x0, a, b) for a, b in zip(left, right)]
    return solver, solver.initial_state(*w, dtype=dtype), t_end, ExactCRRiemann(left, right, gamma, gamma_cr, x0)


# -- the exact Riemann solver -------------------------------------------------------------------------------


class _Side:
    """One initial state's waves: the two-component isentrope through it (rarefactions) and its Hugoniot
    (shocks, the cosmic rays compressed adiabatically)."""

    def __init__(self, rho, v, pg, pc, g, gc):
        self.rho, self.v, self.pg, self.pc, self.g, self.gc = rho, v, pg, pc, g, gc
        self.p = pg + pc
        self.ag, self.ac = pg / rho ** g, pc / rho ** gc
        self.c = self.sound(rho)

    def pressure(self, rho):  # total pressure on the isentrope
        return self.ag * rho ** self.g + self.ac * rho ** self.gc

    def sound(self, rho):
        return math.sqrt((self.g * self.ag * rho ** self.g + self.gc * self.ac * rho ** self.gc) / rho)

    def isentrope_rho(self, p):
        from scipy.optimize import brentq

        hi = self.rho
        while self.pressure(hi) < p:
            hi *= 2.0
        return brentq(lambda r: self.pressure(r) - p, 0.0, hi, xtol=1e-300, rtol=1e-15, maxiter=500)

    def riemann_integral(self, rho_a, rho_b):
        """``int_{rho_a}^{rho_b} c / rho d rho`` on the isentrope (in ``ln rho``)."""
        from scipy.integrate import quad

        val, _ = quad(lambda x: self.sound(math.exp(x)), math.log(rho_a), math.log(rho_b), epsabs=0.0,
                      epsrel=1e-13, limit=200)
        return val

    def hugoniot_rho(self, p):
        """Post-shock density for total pressure ``p > self.p``: total energy jump conditions, ``K`` kept."""
        from scipy.optimize import brentq

        g, gc = self.g, self.gc
        e0 = self.pg / ((g - 1) * self.rho) + self.pc / ((gc - 1) * self.rho)

        def h(r):
            pc = self.pc * (r / self.rho) ** gc
            pg = p - pc
            e = pg / ((g - 1) * r) + pc / ((gc - 1) * r)
            return e - e0 - 0.5 * (p + self.p) * (1 / self.rho - 1 / r)

        top = self.rho * ((min(g, gc) + 1) / (min(g, gc) - 1)) * (1 + 1e-9)
        if self.pc > 0:  # the gas pressure behind must stay positive
            top = min(top, self.rho * (p / self.pc) ** (1 / gc))
        lo = self.rho * (1 + 1e-14)
        grid = self.rho + (top - self.rho) * np.linspace(0, 1, 401)[1:] ** 2
        vals = [h(lo)] + [h(r) for r in grid]
        pts = [lo] + list(grid)
        for a, b, fa, fb in zip(pts[:-1], pts[1:], vals[:-1], vals[1:]):
            if fa > 0 >= fb:
                return brentq(h, a, b, xtol=1e-300, rtol=1e-15, maxiter=500)
        raise ValueError(f"no post-shock state for total pressure {p:g} behind ({self.rho:g}, {self.pg:g}, "
                         f"{self.pc:g})")

    def phi(self, p):
        """The velocity change across this side's wave for star pressure ``p`` (Toro's ``f_K``): positive for
        a shock, negative for a rarefaction; ``u* = u_L - phi_L`` on the left, ``u_R + phi_R`` on the right."""
        if p > self.p:
            r = self.hugoniot_rho(p)
            return math.sqrt((p - self.p) * (1 / self.rho - 1 / r))
        if p == self.p:
            return 0.0
        return -self.riemann_integral(self.isentrope_rho(p), self.rho)


class ExactCRRiemann:
    """The exact solution of the gas + adiabatic cosmic-ray Riemann problem ``(rho, v, p_gas, p_cr)_L |
    (...)_R`` at ``x0`` (see the module docstring); ``sample(x, t)`` and ``cell_average(faces, t)`` give
    ``(rho, v, p_gas, p_cr)``."""

    def __init__(self, left, right, gamma=5.0 / 3.0, gamma_cr=4.0 / 3.0, x0=0.5):
        from scipy.optimize import brentq

        self.g, self.gc, self.x0 = check_gamma(gamma), float(gamma_cr), float(x0)
        if not self.gc > 1:
            raise ValueError(f"gamma_cr must be > 1; got {gamma_cr!r}")
        sides = []
        for name, w in (("left", left), ("right", right)):
            rho, v, pg, pc = (float(a) for a in w)
            if not (rho > 0 and pg > 0 and pc >= 0):
                raise ValueError(f"the {name} state needs rho > 0, p_gas > 0, p_cr >= 0; got {tuple(w)}")
            sides.append(_Side(rho, v, pg, pc, self.g, self.gc))
        self.L, self.R = sides
        du = self.R.v - self.L.v

        def f(p):
            return self.L.phi(p) + self.R.phi(p) + du

        lo = 1e-14 * min(self.L.p, self.R.p)
        if f(lo) >= 0:
            raise ValueError("the initial states generate a vacuum (or a near vacuum below 1e-14 of the pressures); "
                             "not supported")
        hi = max(self.L.p, self.R.p)
        while f(hi) < 0:
            hi *= 2.0
        self.p_star = brentq(f, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)
        self.u_star = 0.5 * (self.L.v + self.R.v) + 0.5 * (self.R.phi(self.p_star) - self.L.phi(self.p_star))
        self._fans = {}

    def star_states(self):
        """``(rho, p_gas, p_cr)`` left and right of the contact."""
        out = []
        for s in (self.L, self.R):
            r = s.hugoniot_rho(self.p_star) if self.p_star > s.p else s.isentrope_rho(self.p_star)
            pc = s.pc * (r / s.rho) ** s.gc
            out.append((r, self.p_star - pc, pc))
        return tuple(out)

    def _fan(self, s, sgn, r_star):
        """A table of the rarefaction fan: ``xi = u -+ c`` against the density, from the initial state to the
        star state (40001 points in ``ln rho``, the Riemann invariant by the trapezoidal rule; interpolated
        linearly: ~1e-9 relative)."""
        key = id(s)
        if key not in self._fans:
            x = np.linspace(math.log(r_star), math.log(s.rho), 40001)
            c = np.array([s.sound(math.exp(a)) for a in x])
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (c[1:] + c[:-1]) * np.diff(x))])
            integral_to_k = cum[-1] - cum  # int_{rho}^{rho_K} c / rho
            u = s.v + sgn * integral_to_k
            xi = u - sgn * c
            self._fans[key] = (xi, np.exp(x), u)
        return self._fans[key]

    def sample(self, x, t):
        """``(rho, v, p_gas, p_cr)`` at positions ``x`` and time ``t > 0``."""
        xi = (np.asarray(x, dtype=np.float64) - self.x0) / t
        out = np.empty((4,) + xi.shape)
        (rl, pgl, pcl), (rr, pgr, pcr) = self.star_states()
        us = self.u_star
        for s, sgn, (r_star, pg_star, pc_star), mask in ((self.L, 1.0, (rl, pgl, pcl), xi <= us),
                                                         (self.R, -1.0, (rr, pgr, pcr), xi > us)):
            q = xi[mask]
            rho = np.full(q.shape, r_star)
            u = np.full(q.shape, us)
            pg = np.full(q.shape, pg_star)
            pc = np.full(q.shape, pc_star)
            if self.p_star > s.p:  # shock at speed v_K -+ j / rho_K
                j = math.sqrt((self.p_star - s.p) / (1 / s.rho - 1 / r_star))
                ahead = (q - (s.v - sgn * j / s.rho)) * sgn < 0
                rho[ahead], u[ahead], pg[ahead], pc[ahead] = s.rho, s.v, s.pg, s.pc
            else:
                head = s.v - sgn * s.c
                tail = us - sgn * s.sound(r_star)
                ahead = (q - head) * sgn <= 0
                inside = ~ahead & ((q - tail) * sgn < 0)
                rho[ahead], u[ahead], pg[ahead], pc[ahead] = s.rho, s.v, s.pg, s.pc
                if inside.any():
                    fxi, frho, fu = self._fan(s, sgn, r_star)
                    order = np.argsort(fxi)
                    r_in = np.interp(q[inside], fxi[order], frho[order])
                    rho[inside] = r_in
                    u[inside] = np.interp(q[inside], fxi[order], fu[order])
                    pg[inside] = s.ag * r_in ** s.g
                    pc[inside] = s.ac * r_in ** s.gc
            out[0][mask], out[1][mask], out[2][mask], out[3][mask] = rho, u, pg, pc
        return out

    def cell_average(self, faces, t, n_sub=64):
        """Cell averages of ``(rho, v, p_gas, p_cr)`` over cells with the given faces (midpoint sub-samples)."""
        from .exact import cell_average

        return cell_average(self.sample, faces, t, n_sub)
