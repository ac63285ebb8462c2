"""Ideal magnetohydrodynamics: :class:`MHDSolver` in one dimension (planar, all three vector components: "1.5D"),
:class:`MHDGridSolver` on 2D and 3D grids with constrained transport.

Units absorb ``1 / sqrt(4 pi)`` (or ``1 / sqrt(mu_0)``) into ``B``: magnetic pressure ``|B|^2 / 2``. The state
holds the conserved variables ``u = (rho, rho v_x, rho v_y, rho v_z, E, B_y, B_z)`` per cell, ``E = p / (gamma - 1)
+ rho |v|^2 / 2 + |B|^2 / 2``, and the normal field ``B_x``, which ``div B = 0`` keeps constant in one dimension
(a differentiable scalar of the state: a run is differentiable with respect to it too). The fluxes are

    F = (rho v_x, rho v_x^2 + p_T - B_x^2, rho v_x v_y - B_x B_y, rho v_x v_z - B_x B_z,
         (E + p_T) v_x - B_x (v . B), B_y v_x - B_x v_y, B_z v_x - B_x v_z),   p_T = p + |B|^2 / 2.

The scheme is the finite-volume one of :class:`diffphys.hydro.EulerSolver` (MUSCL on primitive variables with the
same limiters and first-order fallback at faces whose reconstructed density or pressure is not positive, SSP-RK2 /
RK3, CFL steps from the fast magnetosonic speed; optionally the slopes limited in characteristic variables,
:func:`characteristic_projection`) with three Riemann solvers:

* :func:`hlld_rows`: Miyoshi & Kusano (2005), J. Comput. Phys. 208, 315: five waves (two fast, two rotational,
  the contact); it resolves isolated contacts and rotational discontinuities exactly and reduces to HLLC when
  ``B = 0``.
* :func:`hll_rows`: two waves (Davis' speed estimates with the fast speed).
* :func:`rusanov_rows`: local Lax-Friedrichs.

References in :mod:`diffphys.hydro.mhd` for tests and examples: :func:`mhd_eigensystem` (the linear waves of a
uniform state from the flux Jacobian) and :func:`fast_shock` (a fast shock from the Rankine-Hugoniot conditions).
Set-ups: :func:`brio_wu_problem`, :func:`orszag_tang_problem`.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..core.checks import check_choice, check_finite, check_grid_devices, check_int, check_range, is_concrete
from .reconstruct import LIMITERS, RECONSTRUCTIONS, materialize, reconstruct_rows
from .solver import _one
from .state import check_gamma

__all__ = ["MHDSolver", "MHDState", "MHD_RIEMANN_SOLVERS", "hll_rows", "hlld_rows", "rusanov_rows", "mhd_flux",
           "fast_speed", "to_conserved", "to_primitive", "mhd_eigensystem", "fast_shock", "brio_wu_problem",
           "PRIMITIVE_NAMES", "CONSERVED_NAMES", "MHDGridSolver", "MHDGridState", "orszag_tang_problem",
           "PRIMITIVE_NAMES_GRID", "CONSERVED_NAMES_GRID", "primitive_eigenvectors",
           "characteristic_projection", "RECONSTRUCTIONS"]

PRIMITIVE_NAMES = ("rho", "v_x", "v_y", "v_z", "p", "B_y", "B_z")
CONSERVED_NAMES = ("rho", "m_x", "m_y", "m_z", "E", "B_y", "B_z")


def _energy(w, bx, gamma):
    rho, vx, vy, vz, p, by, bz = w
    return p / (gamma - 1.0) + 0.5 * rho * (vx * vx + vy * vy + vz * vz) + 0.5 * (bx * bx + by * by + bz * bz)


def to_conserved(w, bx, gamma):
    """Seven primitive rows ``(rho, v_x, v_y, v_z, p, B_y, B_z)`` -> seven conserved rows."""
    rho, vx, vy, vz, p, by, bz = w
    return (rho, rho * vx, rho * vy, rho * vz, _energy(w, bx, gamma), by, bz)


def to_primitive(u, bx, gamma):
    """Seven conserved rows -> seven primitive rows."""
    rho, mx, my, mz, e, by, bz = u
    vx, vy, vz = mx / rho, my / rho, mz / rho
    p = (gamma - 1.0) * (e - 0.5 * (mx * vx + my * vy + mz * vz) - 0.5 * (bx * bx + by * by + bz * bz))
    return (rho, vx, vy, vz, p, by, bz)


def fast_speed(w, bx, gamma):
    """The fast magnetosonic speed along x of primitive rows ``w``."""
    rho, p, by, bz = w[0], w[4], w[5], w[6]
    a2 = gamma * p / rho
    b2 = (bx * bx + by * by + bz * bz) / rho
    s = a2 + b2
    disc = jnp.maximum(s * s - 4.0 * a2 * bx * bx / rho, 0.0)
    return jnp.sqrt(0.5 * (s + jnp.sqrt(disc)))


def mhd_flux(w, bx, gamma):
    """The physical flux (seven rows) and the conserved state (seven rows) of primitive rows ``w``."""
    rho, vx, vy, vz, p, by, bz = w
    u = to_conserved(w, bx, gamma)
    e = u[4]
    pt = p + 0.5 * (bx * bx + by * by + bz * bz)
    vb = vx * bx + vy * by + vz * bz
    f = (rho * vx, rho * vx * vx + pt - bx * bx, rho * vx * vy - bx * by, rho * vx * vz - bx * bz,
         (e + pt) * vx - bx * vb, by * vx - bx * vy, bz * vx - bx * vz)
    return f, u


def rusanov_rows(wl, wr, bx, gamma, one=None):
    fl, ul = mhd_flux(wl, bx, gamma)
    fr, ur = mhd_flux(wr, bx, gamma)
    a = jnp.maximum(jnp.abs(wl[1]) + fast_speed(wl, bx, gamma), jnp.abs(wr[1]) + fast_speed(wr, bx, gamma))
    return tuple(0.5 * (fl[k] + fr[k]) - 0.5 * a * (ur[k] - ul[k]) for k in range(7))


def hll_rows(wl, wr, bx, gamma, one=None):
    fl, ul = mhd_flux(wl, bx, gamma)
    fr, ur = mhd_flux(wr, bx, gamma)
    cl, cr = fast_speed(wl, bx, gamma), fast_speed(wr, bx, gamma)
    sl = jnp.minimum(jnp.minimum(wl[1] - cl, wr[1] - cr), 0.0)
    sr = jnp.maximum(jnp.maximum(wl[1] + cl, wr[1] + cr), 0.0)
    inv = 1.0 / (sr - sl)
    return tuple((sr * fl[k] - sl * fr[k] + sl * sr * (ur[k] - ul[k])) * inv for k in range(7))


def hlld_rows(wl, wr, bx, gamma, one=None):
    """The HLLD flux of Miyoshi & Kusano (2005) between primitive rows ``wl`` and ``wr`` (seven each).

    ``one``: see :func:`diffphys.hydro.reconstruct.materialize`; the wave speeds and the intermediate states are
    computed once into buffers instead of being re-derived inside each of the seven flux kernels (the same values;
    without it XLA's CPU compiler took minutes over the forward-mode derivative of a run)."""

    def m(x):
        return materialize(x, one)

    fl, ul = mhd_flux(wl, bx, gamma)
    fr, ur = mhd_flux(wr, bx, gamma)
    fl, ul, fr, ur = (tuple(m(a) for a in t) for t in (fl, ul, fr, ur))
    rl, vxl, vyl, vzl, pl, byl, bzl = wl
    rr, vxr, vyr, vzr, pr, byr, bzr = wr
    bx = jnp.asarray(bx, rl.dtype)
    bx2 = bx * bx
    ptl = pl + 0.5 * (bx2 + byl * byl + bzl * bzl)
    ptr = pr + 0.5 * (bx2 + byr * byr + bzr * bzr)
    cmax = jnp.maximum(fast_speed(wl, bx, gamma), fast_speed(wr, bx, gamma))
    sl = m(jnp.minimum(vxl, vxr) - cmax)  # MK05 eq. (67)
    sr = m(jnp.maximum(vxl, vxr) + cmax)
    ql, qr = rl * (sl - vxl), rr * (sr - vxr)  # mass fluxes through the outer waves (ql < 0 < qr)
    den = qr - ql
    sm = m((qr * vxr - ql * vxl - ptr + ptl) / den)  # contact speed, eq. (38)
    pts = m((qr * ptl - ql * ptr + ql * qr * (vxr - vxl)) / den)  # total pressure of the star states, eq. (41)

    def star(vx, vy, vz, by, bz, e, pt, s, q):
        """The star state (eqs. 43-48) between the outer wave ``s`` and the contact."""
        rs = q / (s - sm)
        d = q * (s - sm) - bx2
        # degenerate (a rotational wave coincides with the fast one: d -> 0, then B_t = 0 or B_x = 0
        # with the transverse field and velocity unchanged across the fast wave)
        small = jnp.abs(d) <= 1e-12 * (q * (s - sm) + bx2)
        d_safe = jnp.where(small, 1.0, d)
        fv = jnp.where(small, 0.0, bx * (sm - vx) / d_safe)
        fb = jnp.where(small, 1.0, (q * (s - vx) - bx2) / d_safe)
        vys, vzs = vy - by * fv, vz - bz * fv
        bys, bzs = by * fb, bz * fb
        vb, vbs = vx * bx + vy * by + vz * bz, sm * bx + vys * bys + vzs * bzs
        es = ((s - vx) * e - pt * vx + pts * sm + bx * (vb - vbs)) / (s - sm)
        return tuple(m(a) for a in (rs, vys, vzs, bys, bzs, es))

    rsl, vysl, vzsl, bysl, bzsl, esl = star(vxl, vyl, vzl, byl, bzl, ul[4], ptl, sl, ql)
    rsr, vysr, vzsr, bysr, bzsr, esr = star(vxr, vyr, vzr, byr, bzr, ur[4], ptr, sr, qr)
    sql, sqr = m(jnp.sqrt(rsl)), m(jnp.sqrt(rsr))
    ssl = sm - jnp.abs(bx) / sql  # rotational waves, eq. (51)
    ssr = sm + jnp.abs(bx) / sqr
    sgn = jnp.sign(bx)
    inv = 1.0 / (sql + sqr)
    vyss = (sql * vysl + sqr * vysr + (bysr - bysl) * sgn) * inv  # double-star states, eqs. (59-62)
    vzss = (sql * vzsl + sqr * vzsr + (bzsr - bzsl) * sgn) * inv
    byss = (sql * bysr + sqr * bysl + sql * sqr * (vysr - vysl) * sgn) * inv
    bzss = (sql * bzsr + sqr * bzsl + sql * sqr * (vzsr - vzsl) * sgn) * inv
    vyss, vzss, byss, bzss = (m(a) for a in (vyss, vzss, byss, bzss))
    vbss = sm * bx + vyss * byss + vzss * bzss
    essl = esl - sql * (sm * bx + vysl * bysl + vzsl * bzsl - vbss) * sgn  # eq. (63)
    essr = esr + sqr * (sm * bx + vysr * bysr + vzsr * bzsr - vbss) * sgn
    essl, essr = m(essl), m(essr)

    def cons(r, vy, vz, e, by, bz):
        return (r, r * sm, r * vy, r * vz, e, by, bz)

    usl = cons(rsl, vysl, vzsl, esl, bysl, bzsl)
    usr = cons(rsr, vysr, vzsr, esr, bysr, bzsr)
    ussl = cons(rsl, vyss, vzss, essl, byss, bzss)
    ussr = cons(rsr, vyss, vzss, essr, byss, bzss)
    out = []
    for k in range(7):
        fsl = fl[k] + sl * (usl[k] - ul[k])  # eq. (64)
        fsr = fr[k] + sr * (usr[k] - ur[k])
        fssl = fsl + ssl * (ussl[k] - usl[k])  # eq. (65)
        fssr = fsr + ssr * (ussr[k] - usr[k])
        f = jnp.where(sm >= 0.0, jnp.where(ssl >= 0.0, jnp.where(sl >= 0.0, fl[k], fsl), fssl),
                      jnp.where(ssr <= 0.0, jnp.where(sr <= 0.0, fr[k], fsr), fssr))
        out.append(f)
    return tuple(out)


MHD_RIEMANN_SOLVERS = {"hlld": hlld_rows, "hll": hll_rows, "rusanov": rusanov_rows}
MHD_BOUNDARIES = ("outflow", "periodic")
MHD_INTEGRATORS = ("euler", "rk2", "rk3")


def _ssp_rk(u0, rate, dt, integrator):
    """One forward-Euler, SSP-RK2 (Heun) or SSP-RK3 (Shu-Osher) step of rows ``u0`` with ``rate(rows) -> rows``."""
    u1 = tuple(a + dt * k for a, k in zip(u0, rate(u0)))
    if integrator == "rk2":
        u1 = tuple(0.5 * (a + b + dt * k) for a, b, k in zip(u0, u1, rate(u1)))
    elif integrator == "rk3":
        u2 = tuple(0.75 * a + 0.25 * (b + dt * k) for a, b, k in zip(u0, u1, rate(u1)))
        u1 = tuple(a / 3.0 + 2.0 / 3.0 * (b + dt * k) for a, b, k in zip(u0, u2, rate(u2)))
    return u1


class MHDState(eqx.Module):
    """Conserved variables ``u`` of shape ``(7, n)`` (:data:`CONSERVED_NAMES`) and the normal field ``bx``."""

    u: jnp.ndarray
    bx: jnp.ndarray

    @property
    def rho(self):
        return self.u[0]


def _check_state_values(name, u, bx, gamma):
    if not (is_concrete(u) and is_concrete(bx)):
        return
    check_finite(f"{name}.bx", bx)
    check_finite(f"{name}.u", u)
    w = np.stack(to_primitive(tuple(np.asarray(u, np.float64)), float(np.asarray(bx)), gamma))  # numpy, float64
    for k, field in ((0, "density"), (4, "pressure")):
        if np.any(w[k] <= 0):
            raise ValueError(f"{name} {field} must be > 0 everywhere (allowed range (0, inf)); got minimum "
                             f"{w[k].min():g}")


class MHDSolver(eqx.Module):
    """A uniform planar grid of ``n_cells`` on ``[x_min, x_max]`` for ideal MHD; ``step(state, params, dt)``,
    ``max_dt(state, params)`` for :func:`diffphys.core.simulate` (``params`` is unused: pass ``None``).

    Args:
        n_cells: number of cells (>= 4).
        x_min, x_max: the domain.
        gamma: adiabatic index (> 1).
        riemann: ``"hlld"`` (default), ``"hll"`` or ``"rusanov"``.
        limiter: ``"mc"`` (default), ``"minmod"``, ``"vanleer"`` or ``None`` (first order).
        integrator: ``"rk2"`` (default), ``"rk3"`` or ``"euler"``.
        cfl: Courant number in (0, 1] on the fast magnetosonic speed.
        boundary: ``"outflow"`` (zero gradient, default) or ``"periodic"``.
        reconstruction: ``"primitive"`` (default: each primitive variable limited on its own) or
            ``"characteristic"`` (the differences projected on the seven waves of the cell's state,
            :func:`characteristic_projection`, limited wave by wave, then clipped between the neighbours: fewer
            oscillations behind shocks, at ~1.4x the cost of a step).
    """

    masked_steps = True

    n_cells: int = eqx.field(static=True)
    x_min: float = eqx.field(static=True)
    x_max: float = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    riemann: str = eqx.field(static=True)
    limiter: str | None = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    cfl: float = eqx.field(static=True)
    boundary: str = eqx.field(static=True)
    reconstruction: str = eqx.field(static=True)

    def __init__(self, n_cells, x_min=0.0, x_max=1.0, gamma=5.0 / 3.0, riemann="hlld", limiter="mc",
                 integrator="rk2", cfl=0.8, boundary="outflow", reconstruction="primitive"):
        self.n_cells = check_int("n_cells", n_cells, lo=4)
        check_finite("x_min", x_min)
        check_range("x_max", x_max, float(x_min), lo_open=True)
        self.x_min, self.x_max = float(x_min), float(x_max)
        self.gamma = check_gamma(gamma)
        check_choice("riemann", riemann, tuple(MHD_RIEMANN_SOLVERS))
        check_choice("limiter", limiter, (*LIMITERS, None))
        check_choice("integrator", integrator, MHD_INTEGRATORS)
        check_range("cfl", cfl, 0.0, 1.0, lo_open=True)
        check_choice("boundary", boundary, MHD_BOUNDARIES)
        check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        self.riemann, self.limiter, self.integrator = riemann, limiter, integrator
        self.cfl, self.boundary, self.reconstruction = float(cfl), boundary, reconstruction

    @property
    def dx(self):
        return (self.x_max - self.x_min) / self.n_cells

    @property
    def centers(self):
        return self.x_min + self.dx * (np.arange(self.n_cells) + 0.5)

    @property
    def faces(self):
        return self.x_min + self.dx * np.arange(self.n_cells + 1)

    # -- states ----------------------------------------------------------------------------------
    def initial_state(self, rho, v_x, v_y, v_z, p, b_x, b_y, b_z, dtype=None) -> MHDState:
        """A validated state from primitive values (arrays over the cells or scalars; ``b_x`` a scalar)."""
        n = self.n_cells
        prims = dict(rho=rho, v_x=v_x, v_y=v_y, v_z=v_z, p=p, B_y=b_y, B_z=b_z)
        for name, val in (*prims.items(), ("b_x", b_x)):
            check_finite(name, val)
        if np.ndim(b_x) != 0:
            raise ValueError(f"b_x must be a scalar (div B = 0 keeps it uniform in 1D); got shape {np.shape(b_x)}")
        for name in ("rho", "p"):
            if is_concrete(prims[name]) and np.any(np.asarray(prims[name]) <= 0):
                raise ValueError(f"{name} of the initial state must be > 0 everywhere (allowed range (0, inf)); "
                                 f"got minimum {np.min(np.asarray(prims[name])):g}")
        w = [jnp.broadcast_to(jnp.asarray(v, dtype=dtype), (n,)) for v in prims.values()]
        w = jnp.broadcast_arrays(*w)
        if w[0].shape != (n,):
            raise ValueError(f"primitive arrays must have shape ({n},); got {w[0].shape}")
        bx = jnp.asarray(b_x, dtype=w[0].dtype)
        return MHDState(jnp.stack(to_conserved(w, bx, self.gamma)), bx)

    def validate(self, state: MHDState, name="state0"):
        if not isinstance(state, MHDState):
            raise ValueError(f"{name} must be an MHDState; got {type(state).__name__}")
        if state.u.shape != (7, self.n_cells):
            raise ValueError(f"{name}.u must have shape (7, {self.n_cells}); got {state.u.shape}")
        _check_state_values(name, state.u, state.bx, self.gamma)

    def primitive(self, state: MHDState):
        """``(7, n)`` primitive variables :data:`PRIMITIVE_NAMES`."""
        return jnp.stack(to_primitive(tuple(state.u), state.bx, self.gamma))

    def totals(self, state: MHDState):
        """``sum(dx u_i)`` for the seven conserved variables."""
        return jnp.sum(state.u, axis=1) * self.dx

    # -- the scheme ------------------------------------------------------------------------------
    def _pad(self, rows):
        if self.boundary == "periodic":
            return tuple(jnp.concatenate([r[-2:], r, r[:2]]) for r in rows)
        return tuple(jnp.concatenate([r[:1], r[:1], r, r[-1:], r[-1:]]) for r in rows)

    def rate(self, u, bx):
        """``du/dt`` (seven rows) from conserved rows ``u``."""
        one = _one(u[0])  # materialised intermediates (see ``hlld_rows``)
        w = self._pad(tuple(materialize(a, one) for a in to_primitive(u, bx, self.gamma)))  # each (n + 4,)
        project = None
        if self.reconstruction == "characteristic":
            project = lambda wc, one_: characteristic_projection(wc, bx, self.gamma, one_)  # noqa: E731
        wl, wr = reconstruct_rows(w, self.limiter, one, positive=(0, 4), project=project)  # faces 0..n
        f = MHD_RIEMANN_SOLVERS[self.riemann](wl, wr, bx, self.gamma, one)
        inv_dx = 1.0 / self.dx
        return tuple(-(fk[1:] - fk[:-1]) * inv_dx for fk in (materialize(a, one) for a in f))

    def step(self, state: MHDState, params, dt) -> MHDState:
        u1 = _ssp_rk(tuple(state.u), lambda u: self.rate(u, state.bx), jnp.asarray(dt, state.u.dtype),
                     self.integrator)
        return MHDState(jnp.stack(u1), state.bx)

    def max_dt(self, state: MHDState, params=None):
        w = to_primitive(tuple(state.u), state.bx, self.gamma)
        return self.cfl * self.dx / jnp.max(jnp.abs(w[1]) + fast_speed(w, state.bx, self.gamma))


# -- characteristic variables ----------------------------------------------------------------------
def _sqrt_pos(x):
    """``sqrt(max(x, 0))`` with a finite derivative at 0 (zero there)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def primitive_eigenvectors(w, bx, gamma):
    """Right eigenvectors of the 1D ideal-MHD equations in primitive variables, normalised after Roe & Balsara
    (1996), SIAM J. Appl. Math. 56, 57, so that they stay linearly independent and bounded at every degeneracy
    (``B_x = 0``, ``B_t = 0``, ``c_f = c_s``).

    ``w``: the seven primitive rows :data:`PRIMITIVE_NAMES` (arrays of one shape); ``bx``: the normal field
    (a scalar or a row). Returns ``(speeds, right)``: the seven wave speeds ``v_x - c_f, v_x - c_a, v_x - c_s, v_x,
    v_x + c_s, v_x + c_a, v_x + c_f`` and ``right[k][j]``, component ``j`` of the eigenvector of wave ``k`` (``None``
    where it is zero for every state). The primitive Jacobian ``A`` (``w_t + A w_x = 0``) satisfies
    ``A r_k = lambda_k r_k``; the left eigenvectors are those of :func:`characteristic_projection`.
    """
    rho, vx, _, _, p, by, bz = w
    a2 = gamma * p / rho
    ca2 = bx * bx / rho
    bt2 = (by * by + bz * bz) / rho
    tot = a2 + ca2 + bt2
    disc = _sqrt_pos(tot * tot - 4.0 * a2 * ca2)
    cf2 = 0.5 * (tot + disc)
    cs2 = a2 * ca2 / cf2  # = (tot - disc) / 2 without the cancellation
    split = cf2 - cs2
    some = split > 0
    safe = jnp.where(some, split, 1.0)
    af = _sqrt_pos(jnp.where(some, (a2 - cs2) / safe, 1.0))  # alpha_f, alpha_s of Roe & Balsara
    as_ = _sqrt_pos(jnp.where(some, (cf2 - a2) / safe, 0.0))
    bt = by * by + bz * bz
    has_bt = bt > 0
    inv_bt = jnp.where(has_bt, 1.0 / jnp.sqrt(jnp.where(has_bt, bt, 1.0)), 0.0)
    half = np.sqrt(0.5)
    hy = jnp.where(has_bt, by * inv_bt, half)  # the transverse field's direction (any unit vector when B_t = 0)
    hz = jnp.where(has_bt, bz * inv_bt, half)
    sgn = jnp.where(bx >= 0, 1.0, -1.0)
    a, cf, cs, sr = jnp.sqrt(a2), jnp.sqrt(cf2), _sqrt_pos(cs2), jnp.sqrt(rho)
    ca = jnp.abs(bx) / sr
    cff, css = cf * af, cs * as_
    qf, qs = sgn * cff, sgn * css
    af_, as_r = a * af * sr, a * as_ * sr
    pf, ps = rho * a2 * af, rho * a2 * as_
    rf, rs = rho * af, rho * as_
    right = [
        (rf, -cff, qs * hy, qs * hz, pf, as_r * hy, as_r * hz),  # v_x - c_f
        (None, None, -hz, hy, None, -sgn * sr * hz, sgn * sr * hy),  # v_x - c_a
        (rs, -css, -qf * hy, -qf * hz, ps, -af_ * hy, -af_ * hz),  # v_x - c_s
        (jnp.ones_like(rho), None, None, None, None, None, None),  # entropy
        (rs, css, qf * hy, qf * hz, ps, -af_ * hy, -af_ * hz),  # v_x + c_s
        (None, None, -hz, hy, None, sgn * sr * hz, -sgn * sr * hy),  # v_x + c_a
        (rf, cff, -qs * hy, -qs * hz, pf, as_r * hy, as_r * hz),  # v_x + c_f
    ]
    speeds = (vx - cf, vx - ca, vx - cs, vx, vx + cs, vx + ca, vx + cf)
    return speeds, right


def characteristic_projection(w, bx, gamma, one=None):
    """``(to_char, from_char)`` for the cells' primitive rows ``w`` (see :func:`primitive_eigenvectors`): maps of a
    tuple of seven primitive difference rows to the seven wave amplitudes and back (``from_char(to_char(d)) = d``).

    The left eigenvectors need no inverse: with ``M = diag(0, 1, 1, 1, 1 / (rho a)^2, 1 / rho, 1 / rho)`` (which
    symmetrises the primitive system) the right eigenvectors are ``M``-orthogonal, so ``l_k = M r_k / (r_k . M r_k)``
    (``r . M r`` is ``2 a^2`` for the fast and slow waves and 2 for the Alfven waves), and the entropy wave's is
    ``(1, 0, 0, 0, -1 / a^2, 0, 0)``. ``one``: see :func:`diffphys.hydro.reconstruct.materialize` (each matrix
    entry is then computed once per cell rather than inside every consumer: ~5x faster reverse mode on a CPU).
    """
    _, right = primitive_eigenvectors(w, bx, gamma)
    right = [tuple(None if c is None else materialize(c, one) for c in r) for r in right]
    rho, p = w[0], w[4]
    inv_a2 = rho / (gamma * p)
    weight = (None, 1.0, 1.0, 1.0, inv_a2 / (rho * rho), 1.0 / rho, 1.0 / rho)
    norm = (0.5 * inv_a2, 0.5, 0.5 * inv_a2, None, 0.5 * inv_a2, 0.5, 0.5 * inv_a2)
    left = []
    for k, r in enumerate(right):
        if k == 3:
            left.append((1.0, None, None, None, materialize(-inv_a2, one), None, None))
            continue
        left.append(tuple(None if (c is None or m is None) else materialize(c * m * norm[k], one)
                          for c, m in zip(r, weight)))

    def apply(mat, d, transpose):
        out = []
        for i in range(7):
            acc = None
            for j in range(7):
                c = mat[j][i] if transpose else mat[i][j]
                if c is not None:
                    term = c * d[j]
                    acc = term if acc is None else acc + term
            out.append(acc)
        return tuple(out)

    return (lambda d: apply(left, d, False)), (lambda c: apply(right, c, True))


# -- references ------------------------------------------------------------------------------------
def mhd_eigensystem(w0, bx, gamma):
    """Linear waves of the uniform primitive state ``w0`` (seven numbers) with normal field ``bx``.

    Returns ``(speeds, vectors)``: the seven eigenvalues of the flux Jacobian ``dF/du`` (ascending:
    ``v_x - c_f, v_x - c_a, v_x - c_s, v_x, v_x + c_s, v_x + c_a, v_x + c_f``) and the matching right
    eigenvectors as columns, in conserved variables. A perturbation ``eps * r_k sin(k (x - lambda_k t))`` of the
    uniform state is an exact solution of the linearised equations: the reference of the linear-wave tests.
    The Jacobian comes from complex-step differentiation of :func:`mhd_flux` in numpy (exact to round-off,
    independent of the finite-volume scheme and of JAX).
    """
    gamma, bx = float(gamma), float(bx)
    u0 = np.asarray(to_conserved(tuple(np.asarray(w0, dtype=np.float64)), bx, gamma))
    h = 1e-30
    jac = np.empty((7, 7))
    for j in range(7):
        u = u0.astype(np.complex128)
        u[j] += 1j * h
        jac[:, j] = np.imag(np.asarray(mhd_flux(to_primitive(tuple(u), bx, gamma), bx, gamma)[0])) / h
    lam, vec = np.linalg.eig(jac)
    order = np.argsort(lam.real)
    return lam.real[order], vec.real[:, order]


def fast_shock(upstream, bx, gamma, mach=2.0):
    """A planar fast shock from the Rankine-Hugoniot conditions (coplanar: ``v_z = B_z = 0``).

    ``upstream``: primitive ``(rho, p, B_y)`` of gas at rest; ``mach``: the shock speed in units of the upstream
    fast speed. Returns ``(speed, downstream)``: the shock moves in ``+x`` into the gas at rest with ``speed`` and
    leaves behind the primitive state ``downstream`` (seven numbers). Solved with Newton's method in the shock
    frame on the five jump conditions (mass, normal and transverse momentum, energy, tangential electric field),
    started from the hydrodynamic jump.
    """
    import scipy.optimize  # noqa: PLC0415

    rho1, p1, by1 = map(float, upstream)
    bx, g = float(bx), float(gamma)
    a2, b2 = g * p1 / rho1, (bx * bx + by1 * by1) / rho1
    cf1 = np.sqrt(0.5 * (a2 + b2 + np.sqrt((a2 + b2) ** 2 - 4 * a2 * bx * bx / rho1)))
    s = mach * cf1
    u1 = -s  # shock frame: the upstream gas (at x > shock) streams in with -s

    def fluxes(rho, u, v, p, by):
        pt = p + 0.5 * (bx * bx + by * by)
        e = p / (g - 1) + 0.5 * rho * (u * u + v * v) + 0.5 * (bx * bx + by * by)
        return np.array([rho * u, rho * u * u + pt - bx * bx, rho * u * v - bx * by,
                         (e + pt) * u - bx * (u * bx + v * by), by * u - bx * v])

    target = fluxes(rho1, u1, 0.0, p1, by1)
    m2 = (s / np.sqrt(a2)) ** 2  # hydrodynamic guess
    r = (g + 1) * m2 / ((g - 1) * m2 + 2)
    guess = np.array([rho1 * r, u1 / r, 0.0, p1 * (2 * g * m2 - (g - 1)) / (g + 1), by1 * r])
    sol, info, ok, msg = scipy.optimize.fsolve(lambda x: (fluxes(*x) - target) / (np.abs(target) + 1e-300), guess,
                                               full_output=True, xtol=1e-14)
    if ok != 1 or np.max(np.abs(fluxes(*sol) - target) / (np.abs(target) + 1e-300)) > 1e-10:
        raise ValueError(f"no fast shock found for mach={mach} ({msg})")
    rho2, u2, v2, p2, by2 = sol
    return s, np.array([rho2, u2 + s, v2, 0.0, p2, by2, 0.0])


def brio_wu_problem(n_cells=800, dtype=None, **solver_kw):
    """The shock tube of Brio & Wu (1988): ``gamma = 2``, ``B_x = 0.75``; left ``(rho, p, B_y) = (1, 1, 1)``,
    right ``(0.125, 0.1, -1)``, at rest, interface at 0.5 on [0, 1], to ``t = 0.1``.
    Returns ``(solver, state0, t_end)``."""
    kw = dict(gamma=2.0, riemann="hlld", limiter="mc", integrator="rk2", cfl=0.8)
    kw.update(solver_kw)
    solver = MHDSolver(n_cells, **kw)
    left = solver.centers < 0.5
    rho = np.where(left, 1.0, 0.125)
    p = np.where(left, 1.0, 0.1)
    by = np.where(left, 1.0, -1.0)
    return solver, solver.initial_state(rho, 0.0, 0.0, 0.0, p, 0.75, by, 0.0, dtype=dtype), 0.1


# -- two and three dimensions ----------------------------------------------------------------------
class MHDGridState(eqx.Module):
    """Conserved variables ``u`` of shape ``(8, *shape)``: :data:`CONSERVED_NAMES_GRID`, all three field components
    cell-centred."""

    u: jnp.ndarray

    @property
    def rho(self):
        return self.u[0]


CONSERVED_NAMES_GRID = ("rho", "m_x", "m_y", "m_z", "E", "B_x", "B_y", "B_z")
PRIMITIVE_NAMES_GRID = ("rho", "v_x", "v_y", "v_z", "p", "B_x", "B_y", "B_z")


def _to_primitive_grid(u, gamma):
    rho, mx, my, mz, e, bx, by, bz = u
    w = to_primitive((rho, mx, my, mz, e, by, bz), bx, gamma)
    return (*w[:5], bx, w[5], w[6])


def _to_conserved_grid(w, gamma):
    rho, vx, vy, vz, p, bx, by, bz = w
    u = to_conserved((rho, vx, vy, vz, p, by, bz), bx, gamma)
    return (*u[:5], bx, u[5], u[6])


def _along(a):
    """For a face normal to axis ``a``: the eight-row indices of the 1D solver's seven primitive rows ``(rho, v_n,
    v_t1, v_t2, p, B_t1, B_t2)`` (the transverse axes in cyclic order ``b = a + 1``, ``c = a + 2``), which are also
    where its seven fluxes go, and the row of the normal field."""
    b, c = (a + 1) % 3, (a + 2) % 3
    return (0, 1 + a, 1 + b, 1 + c, 4, 5 + b, 5 + c), 5 + a


def _sl(x, axis, s):
    idx = [slice(None)] * x.ndim
    idx[axis] = s
    return x[tuple(idx)]


class MHDGridSolver(eqx.Module):
    """Ideal MHD on a uniform 2D or 3D grid (velocity and field with all three components; in 2D nothing depends
    on ``z``).

    The 1D solver's scheme applied unsplit along every axis (MUSCL on primitive variables, the same Riemann solvers
    with the face's normal field ``(B_n,L + B_n,R) / 2``, SSP-RK), with constrained transport for the cell-centred
    field in the flux form of Toth (2000), J. Comput. Phys. 161, 605: the transverse induction fluxes are replaced
    by averages of the electric field on the cell edges (``E_z`` at the corners in 2D; ``E_x``, ``E_y``, ``E_z``
    on the edges along each axis in 3D), which keeps the divergence at the cell corners (:meth:`divergence`) at its
    initial value to round-off. Each edge field is Gardiner & Stone's (2005) upwind "CT-contact" average of the four
    face values around the edge (not Toth's plain mean), so that a problem uniform along all but one axis is
    computed exactly as by the 1D solver.

    Args:
        shape: ``(nx, ny)`` or ``(nx, ny, nz)``, each >= 4.
        lengths: the domain's edge lengths (from the origin); default 1 each.
        gamma, riemann, limiter, integrator, cfl: as :class:`MHDSolver` (the CFL number applies to the sum over the
            axes of ``(|v| + c_f) / dx``).
        boundary: ``"periodic"`` (default) or ``"outflow"``, or one per axis.
        reconstruction: as :class:`MHDSolver` (``"characteristic"``: the waves of each cell along the face's normal,
            with the cell's normal field; the normal field itself is limited as a primitive variable).
        devices: ``None`` (default: one device) or a ``jax.sharding.Mesh`` (:func:`diffphys.parallel.device_mesh`):
            the grid's first axis is split into equal blocks across its ``device_axis``; each right-hand side is
            evaluated per device (``jax.shard_map``) after two cell layers are exchanged with each neighbour
            (``lax.ppermute``), which is all the stencil (reconstruction, fluxes, edge fields) reads. Results equal
            the single-device run to round-off.
        device_axis: the axis name of ``devices`` (default ``"batch"``).
    """

    masked_steps = True

    shape: tuple = eqx.field(static=True)
    lengths: tuple = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    riemann: str = eqx.field(static=True)
    limiter: str | None = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    cfl: float = eqx.field(static=True)
    boundary: tuple = eqx.field(static=True)
    reconstruction: str = eqx.field(static=True)
    devices: Any = eqx.field(static=True)
    device_axis: str = eqx.field(static=True)

    def __init__(self, shape, lengths=None, gamma=5.0 / 3.0, riemann="hlld", limiter="mc", integrator="rk2",
                 cfl=0.8, boundary="periodic", reconstruction="primitive", devices=None, device_axis="batch"):
        if np.ndim(shape) != 1 or len(shape) not in (2, 3):
            raise ValueError(f"shape must be (nx, ny) or (nx, ny, nz); got {shape!r}")
        self.shape = tuple(check_int(f"shape[{k}]", n, lo=4) for k, n in enumerate(shape))
        lengths = (1.0,) * len(shape) if lengths is None else lengths
        if np.ndim(lengths) != 1 or len(lengths) != len(shape):
            raise ValueError(f"lengths must give one length per axis ({len(shape)}); got {lengths!r}")
        for k, length in enumerate(lengths):
            check_range(f"lengths[{k}]", length, 0.0, lo_open=True)
        self.lengths = tuple(float(v) for v in lengths)
        self.gamma = check_gamma(gamma)
        check_choice("riemann", riemann, tuple(MHD_RIEMANN_SOLVERS))
        check_choice("limiter", limiter, (*LIMITERS, None))
        check_choice("integrator", integrator, MHD_INTEGRATORS)
        check_range("cfl", cfl, 0.0, 1.0, lo_open=True)
        bnd = (boundary,) * len(shape) if isinstance(boundary, str) else tuple(boundary)
        if len(bnd) != len(shape):
            raise ValueError(f"boundary must be one name or one per axis; got {boundary!r}")
        for b in bnd:
            check_choice("boundary", b, MHD_BOUNDARIES)
        check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        self.riemann, self.limiter, self.integrator = riemann, limiter, integrator
        self.cfl, self.boundary, self.reconstruction = float(cfl), bnd, reconstruction
        check_grid_devices(devices, device_axis, self.shape[0])
        self.devices, self.device_axis = devices, device_axis

    @property
    def _n_dev(self):
        return 1 if self.devices is None else int(self.devices.shape[self.device_axis])

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def spacing(self):
        return tuple(length / n for length, n in zip(self.lengths, self.shape))

    def centers(self):
        """Cell-centre coordinates, one ``shape`` array per axis."""
        axes = [(np.arange(n) + 0.5) * d for n, d in zip(self.shape, self.spacing)]
        return np.meshgrid(*axes, indexing="ij")

    def initial_state(self, rho, v, p, b, dtype=None) -> MHDGridState:
        """A validated state from density, velocity ``(v_x, v_y, v_z)``, pressure and field ``(B_x, B_y, B_z)``
        (arrays over the grid or scalars)."""
        if len(v) != 3 or len(b) != 3:
            raise ValueError("v and b must have three components each (v_x, v_y, v_z), (B_x, B_y, B_z)")
        named = {"rho": rho, "v_x": v[0], "v_y": v[1], "v_z": v[2], "p": p, "B_x": b[0], "B_y": b[1], "B_z": b[2]}
        for name, val in named.items():
            check_finite(name, val)
        for name in ("rho", "p"):
            if is_concrete(named[name]) and np.any(np.asarray(named[name]) <= 0):
                raise ValueError(f"{name} of the initial state must be > 0 everywhere (allowed range (0, inf)); "
                                 f"got minimum {np.min(np.asarray(named[name])):g}")
        w = jnp.broadcast_arrays(*(jnp.broadcast_to(jnp.asarray(val, dtype=dtype), self.shape)
                                   for val in named.values()))
        return MHDGridState(jnp.stack(_to_conserved_grid(tuple(w), self.gamma)))

    def validate(self, state, name="state0"):
        if not isinstance(state, MHDGridState):
            raise ValueError(f"{name} must be an MHDGridState; got {type(state).__name__}")
        if state.u.shape != (8, *self.shape):
            raise ValueError(f"{name}.u must have shape {(8, *self.shape)}; got {state.u.shape}")
        if is_concrete(state.u):
            check_finite(f"{name}.u", state.u)
            w = np.stack(_to_primitive_grid(tuple(np.asarray(state.u, np.float64)), self.gamma))  # numpy, float64
            for k, field in ((0, "density"), (4, "pressure")):
                if np.any(w[k] <= 0):
                    raise ValueError(f"{name} {field} must be > 0 everywhere (allowed range (0, inf)); got minimum "
                                     f"{w[k].min():g}")

    def primitive(self, state):
        """``(8, *shape)`` primitive variables :data:`PRIMITIVE_NAMES_GRID`."""
        return jnp.stack(_to_primitive_grid(tuple(state.u), self.gamma))

    def totals(self, state):
        return jnp.sum(state.u, axis=tuple(range(1, self.ndim + 1))) * float(np.prod(self.spacing))

    def divergence(self, state):
        """The divergence of the cell-centred field that the scheme conserves, at the cell corners: along each axis
        the difference of ``B`` across the corner averaged over the ``2^(d-1)`` cell pairs around it (Toth 2000,
        eq. 27 in 2D). One value per interior corner; on a periodic axis the corners wrap around (``n`` of them)."""
        out = 0.0
        fields = [state.u[5 + a] for a in range(self.ndim)]
        for axis in range(self.ndim):
            if self.boundary[axis] == "periodic":
                fields = [jnp.concatenate([f, _sl(f, axis, slice(0, 1))], axis=axis) for f in fields]
        for a, f in enumerate(fields):
            d = _sl(f, a, slice(1, None)) - _sl(f, a, slice(None, -1))
            for other in range(self.ndim):
                if other != a:
                    d = 0.5 * (_sl(d, other, slice(1, None)) + _sl(d, other, slice(None, -1)))
            out = out + d / self.spacing[a]
        return out

    # -- the scheme ------------------------------------------------------------------------------
    def _pad(self, rows, halo=None):
        """Two ghost cells on each side of every axis (``halo``: ``(axis name, devices)`` inside the per-device
        right-hand side of a split grid: along the first axis the neighbouring devices' layers, the boundary's
        ghosts only on the first and last device)."""
        out = []
        for r in rows:
            for axis, b in enumerate(self.boundary):
                if axis == 0 and halo is not None:
                    name, n_dev = halo
                    lo = lax.ppermute(r[-2:], name, [(j, (j + 1) % n_dev) for j in range(n_dev)])  # from i - 1
                    hi = lax.ppermute(r[:2], name, [(j, (j - 1) % n_dev) for j in range(n_dev)])  # from i + 1
                    if b != "periodic":
                        index = lax.axis_index(name)
                        lo = jnp.where(index == 0, jnp.concatenate([r[:1], r[:1]]), lo)
                        hi = jnp.where(index == n_dev - 1, jnp.concatenate([r[-1:], r[-1:]]), hi)
                    r = jnp.concatenate([lo, r, hi])
                    continue
                width = [(0, 0)] * self.ndim
                width[axis] = (2, 2)
                r = jnp.pad(r, width, mode="wrap" if b == "periodic" else "edge")
            out.append(r)
        return tuple(out)

    def _fluxes(self, w, a, one):
        """Face fluxes normal to axis ``a`` (eight rows; the normal field's is zero) from padded primitive rows:
        faces ``0..n`` along ``a``, the other axes' cells ``-1..n`` (one ghost on each side)."""
        order, normal = _along(a)

        def along(r):  # the other axes trimmed to one ghost, axis a last
            for other in range(self.ndim):
                if other != a:
                    r = _sl(r, other, slice(1, -1))
            return jnp.moveaxis(r, a, -1)

        rows = [along(w[k]) for k in (*order, normal)]
        wl, wr = reconstruct_rows(rows, self.limiter, one, positive=(0, 4),
                                  project=self._projection if self.reconstruction == "characteristic" else None)
        bn = materialize(0.5 * (wl[7] + wr[7]), one)
        f = MHD_RIEMANN_SOLVERS[self.riemann](tuple(wl[:7]), tuple(wr[:7]), bn, self.gamma, one)
        out = [None] * 8
        for k, dest in enumerate(order):
            out[dest] = jnp.moveaxis(f[k], -1, a)
        out[normal] = jnp.zeros_like(out[0])  # the normal field has no flux along its own axis
        return out

    def _projection(self, wc, one):
        """Characteristic maps of eight rows (the seven 1D variables along the normal, then ``B_n``, kept as is)."""
        to_char, from_char = characteristic_projection(wc[:7], wc[7], self.gamma, one)
        return (lambda d: (*to_char(d[:7]), d[7])), (lambda c: (*from_char(c[:7]), c[7]))

    def _edge_emf(self, w, flux, a, b):
        """The electric field along the third axis ``c`` (``(a, b, c)`` cyclic) on the edges, faces along ``a`` and
        ``b`` and cells ``0..n-1`` along ``c`` (2D: ``E_z`` at the corners), from the face fluxes (``E_c =
        -F_a[B_b] = F_b[B_a]``) by the upwind "CT-contact" average of Gardiner & Stone (2005), J. Comput. Phys.
        205, 509, eqs. (41)-(51): the mean of the four face values plus their slopes towards the edge, each taken
        from the side the mass flux comes from. On a flow uniform along ``b`` it is the ``a`` face's Riemann value."""

        def inner(x):  # cells 0..n-1 along every axis but a and b
            for other in range(self.ndim):
                if other not in (a, b):
                    x = _sl(x, other, slice(1, -1))
            return x

        def cells(x):  # cells -1..n along every axis (one ghost), then as inner
            for other in range(self.ndim):
                x = _sl(x, other, slice(1, -1))
            return inner(x)

        # cell-centred E_c = v_b B_a - v_a B_b
        ec = cells(w[1 + b] * w[5 + a] - w[1 + a] * w[5 + b])
        exf, eyf = inner(-flux[a][5 + b]), inner(flux[b][5 + a])  # faces along a / along b
        ma, mb = inner(flux[a][0]), inner(flux[b][0])

        def lo(x, axis):
            return _sl(x, axis, slice(None, -1))

        def hi(x, axis):
            return _sl(x, axis, slice(1, None))

        ec_ll, ec_rl, ec_lu, ec_ru = lo(lo(ec, a), b), hi(lo(ec, b), a), lo(hi(ec, b), a), hi(hi(ec, a), b)
        ex_l, ex_u = lo(exf, b), hi(exf, b)  # the a face through the edge, below / above it along b
        ey_l, ey_r = lo(eyf, a), hi(eyf, a)  # the b face through the edge, before / after it along a
        mx_l, mx_u = lo(ma, b), hi(ma, b)
        my_l, my_r = lo(mb, a), hi(mb, a)

        def upwind(flux_, pos, neg):
            return jnp.where(flux_ > 0, pos, jnp.where(flux_ < 0, neg, 0.5 * (pos + neg)))

        dy_up = upwind(mx_u, ec_lu - ey_l, ec_ru - ey_r)
        dy_lo = upwind(mx_l, ey_l - ec_ll, ey_r - ec_rl)
        dx_ri = upwind(my_r, ec_rl - ex_l, ec_ru - ex_u)
        dx_le = upwind(my_l, ex_l - ec_ll, ex_u - ec_lu)
        return 0.25 * (ex_l + ex_u + ey_l + ey_r) + 0.25 * (dy_lo - dy_up) + 0.25 * (dx_le - dx_ri)

    def rate(self, u):
        """``du/dt`` (eight rows) of conserved rows ``u`` (per device on a split grid)."""
        if self._n_dev == 1:
            return self._rate(tuple(u), None)
        from jax.sharding import PartitionSpec as P

        spec = P(None, self.device_axis)
        halo = (self.device_axis, self._n_dev)
        local = jax.shard_map(lambda x: jnp.stack(self._rate(tuple(x), halo)), mesh=self.devices, in_specs=(spec,),
                              out_specs=spec)
        return tuple(local(jnp.stack(u)))

    def _rate(self, u, halo):
        one = _one(u[0])
        nd = self.ndim
        w = self._pad(tuple(materialize(x, one) for x in _to_primitive_grid(u, self.gamma)), halo)
        flux = [self._fluxes(w, a, one) for a in range(nd)]
        # constrained transport: the edge fields first (each from the original fluxes), then the transverse
        # induction fluxes from them; ``done`` marks fluxes already cut to the interior cells
        pairs = [(0, 1)] if nd == 2 else [(1, 2), (2, 0), (0, 1)]  # (a, b) of E_c, (a, b, c) cyclic
        emf = {pair: materialize(self._edge_emf(w, flux, *pair), one) for pair in pairs}
        done = set()
        for a, b in pairs:
            e = emf[(a, b)]
            flux[a][5 + b] = -0.5 * (_sl(e, b, slice(None, -1)) + _sl(e, b, slice(1, None)))
            flux[b][5 + a] = 0.5 * (_sl(e, a, slice(None, -1)) + _sl(e, a, slice(1, None)))
            done |= {(a, 5 + b), (b, 5 + a)}
        out = []
        for k in range(8):
            total = 0.0
            for a in range(nd):
                g = flux[a][k]
                if (a, k) not in done:
                    for other in range(nd):
                        if other != a:
                            g = _sl(g, other, slice(1, -1))
                g = materialize(g, one)
                total = total - (_sl(g, a, slice(1, None)) - _sl(g, a, slice(None, -1))) / self.spacing[a]
            out.append(total)
        return tuple(out)

    def step(self, state, params, dt):
        return MHDGridState(jnp.stack(_ssp_rk(tuple(state.u), self.rate, jnp.asarray(dt, state.u.dtype),
                                              self.integrator)))

    def max_dt(self, state, params=None):
        w = _to_primitive_grid(tuple(state.u), self.gamma)
        rate = 0.0
        for a, d in enumerate(self.spacing):
            order, normal = _along(a)
            wa = tuple(w[k] for k in order)
            rate = rate + (jnp.abs(wa[1]) + fast_speed(wa, w[normal], self.gamma)) / d
        return self.cfl / jnp.max(rate)


def orszag_tang_problem(n=256, dtype=None, **solver_kw):
    """The Orszag-Tang vortex on the periodic unit square (the set-up of Gardiner & Stone 2005): ``gamma = 5/3``,
    ``rho = 25 / (36 pi)``, ``p = 5 / (12 pi)``, ``v = (-sin 2 pi y, sin 2 pi x)``, ``B = (-sin 2 pi y, sin 4 pi x)
    / sqrt(4 pi)``; usually shown at ``t = 0.5``. Returns ``(solver, state0)``."""
    solver = MHDGridSolver((n, n), **{"gamma": 5.0 / 3.0, **solver_kw})
    x, y = solver.centers()
    b0 = 1.0 / np.sqrt(4 * np.pi)
    state0 = solver.initial_state(25.0 / (36.0 * np.pi), (-np.sin(2 * np.pi * y), np.sin(2 * np.pi * x), 0.0),
                                  5.0 / (12.0 * np.pi), (-b0 * np.sin(2 * np.pi * y), b0 * np.sin(4 * np.pi * x), 0.0),
                                  dtype=dtype)
    return solver, state0
