"""Ready-made set-ups: Sod and other Riemann problems, the Sedov blast, the lecture's stellar-wind bubble, the
Kelvin-Helmholtz instability on a 2D Cartesian grid."""

from __future__ import annotations

import dataclasses

import numpy as np

from .grid import RadialGrid
from .solver import EulerSolver
from .sources import StellarWind, WindParams
from .units import CodeUnits

__all__ = ["axisymmetric_wind_problem", "collapse_problem", "lagrangian_radii",
           "kelvin_helmholtz_problem", "kelvin_helmholtz_profile", "kh_linear_growth_rate", "kh_mode_amplitude",
           "riemann_problem", "RIEMANN_PROBLEMS", "sedov_problem", "WindProblem", "wind_problem", "outer_shock_radius"]

#: (left, right, x0, t_end) for Toro's test problems 1-3 (gamma = 1.4)
RIEMANN_PROBLEMS = {
    "sod": ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 0.5, 0.2),
    "123": ((1.0, -2.0, 0.4), (1.0, 2.0, 0.4), 0.5, 0.15),
    "blast": ((1.0, 0.0, 1000.0), (1.0, 0.0, 0.01), 0.5, 0.012),
}


def riemann_problem(name_or_states, n_cells=100, gamma=1.4, dtype=None, **solver_kw):
    """A planar shock tube on [0, 1] with outflow boundaries: returns ``(solver, state0, t_end, exact)``."""
    from .exact import ExactRiemann

    if isinstance(name_or_states, str):
        if name_or_states not in RIEMANN_PROBLEMS:
            raise ValueError(f"problem must be one of {', '.join(RIEMANN_PROBLEMS)}; got {name_or_states!r}")
        left, right, x0, t_end = RIEMANN_PROBLEMS[name_or_states]
    else:
        left, right, x0, t_end = name_or_states
    kw = dict(riemann="hllc", limiter="mc", integrator="rk3", cfl=0.5, left="outflow", right="outflow")
    kw.update(solver_kw)
    grid = RadialGrid(n_cells, 1.0, geometry="planar")
    solver = EulerSolver(grid, gamma, **kw)
    x = grid.centers
    w = [np.where(x < x0, a, b) for a, b in zip(left, right)]
    state0 = solver.initial_state(*w, dtype=dtype)
    return solver, state0, t_end, ExactRiemann(left, right, gamma, x0)


def sedov_problem(n_cells=400, geometry="spherical", gamma=1.4, energy=1.0, rho0=1.0, p0=1e-6, r_max=1.2,
                  n_deposit=2, dtype=None, **solver_kw):
    """Energy ``E`` deposited as thermal energy in the first ``n_deposit`` cells of a cold uniform gas."""
    kw = dict(riemann="hllc", limiter="mc", integrator="rk2", cfl=0.5, left="reflective", right="outflow")
    kw.update(solver_kw)
    grid = RadialGrid(n_cells, r_max, geometry=geometry)
    solver = EulerSolver(grid, gamma, **kw)
    vol = grid.volumes[:n_deposit].sum()
    p = np.full(n_cells, p0)
    p[:n_deposit] = (gamma - 1.0) * energy / vol
    return solver, solver.initial_state(np.full(n_cells, rho0), 0.0, p, dtype=dtype)


@dataclasses.dataclass
class WindProblem:
    solver: EulerSolver
    state0: object
    params: WindParams
    t_end: float
    rho0: float
    p0: float
    units: CodeUnits

    @property
    def luminosity(self):
        return float(self.params.luminosity)


def wind_problem(n_cells=401, *, n_ambient=2.0, pressure_nT=3e4, m_star=40.0, v_inf_kms=2000.0,
                 mdot_per_msun_myr=2.965e-3, mdot_msun_myr=None, box_pc=3.0, t_end_yr=2.5e4, n_inject=10, cfl=0.8,
                 riemann="hllc", limiter="mc", integrator="hancock", gamma=5.0 / 3.0, dtype=None, cooling=None,
                 conduction=None):
    """The lecture's wind-blown bubble (as in jf1uids' stellar-wind example), in code units (pc, Msun, Myr).

    Ambient gas of ``n_ambient`` protons per cm^3 at ``n T = pressure_nT`` K/cm^3; a ``m_star`` Msun star
    with ``Mdot = mdot_per_msun_myr * m_star`` Msun/Myr (0.1186 Msun/Myr for 40 Msun) and ``v_inf``;
    a 3 pc spherical box of ``n_cells`` cells (closed at both ends, so budgets are exact), run to 2.5e4 yr.
    Default scheme: HLLC, MC limiter, MUSCL-Hancock (one Riemann solve per step; as accurate as SSP-RK2
    here, outer shock +1.9% at N=2000 with either, at half the cost). ``cooling``: ``None`` (adiabatic, as
    the lecture and Weaver's adiabatic solution) or a :class:`~diffphys.hydro.Cooling` in these code units;
    ``conduction``: ``None`` or a :class:`~diffphys.hydro.Conduction` in these units (e.g.
    ``Conduction.spitzer(saturation=1.0)``).
    """
    u = CodeUnits()
    grid = RadialGrid(n_cells, float(u.length(box_pc)), geometry="spherical")
    solver = EulerSolver(grid, gamma, riemann=riemann, limiter=limiter, integrator=integrator, cfl=cfl,
                         left="reflective", right="reflective", source=StellarWind(n_inject), cooling=cooling,
                         conduction=conduction)
    rho0 = float(u.density(n_ambient))
    p0 = float(u.pressure(1.0, pressure_nT))
    state0 = solver.initial_state(np.full(n_cells, rho0), 0.0, np.full(n_cells, p0), dtype=dtype)
    mdot = mdot_per_msun_myr * m_star if mdot_msun_myr is None else mdot_msun_myr
    params = WindParams(np.asarray(u.velocity(v_inf_kms), dtype=dtype), np.asarray(u.mass_loss_rate(mdot), dtype=dtype))
    return WindProblem(solver, state0, params, float(u.time_yr(t_end_yr)), rho0, p0, u)


def evaporating_cloud_problem(n_cells=600, *, radius_pc=10.0, box_pc=300.0, t_hot_k=1e6, n_hot=0.1, contrast=1000.0,
                              mu=0.6, ln_lambda=30.0, cfl=0.5, dtype=None):
    """A cold uniform cloud of ``radius_pc`` at rest in hot gas (``t_hot_k``, ``n_hot`` particles per cm^3 of mean
    mass ``mu m_p``; the cloud ``contrast`` times denser at the same pressure), with unsaturated Spitzer conduction,
    on a spherical grid of ``box_pc`` (reflective centre, outflow outside). The setting of Cowie & McKee's (1977)
    classical evaporation; with the defaults their saturation parameter is 0.004 (classical regime).
    Returns ``(solver, state0, mdot)`` with ``mdot`` their steady mass-loss rate in code units (Msun/Myr)."""
    from .conduction import Conduction
    from .exact import classical_evaporation_rate

    u = CodeUnits()
    grid = RadialGrid(n_cells, float(u.length(box_pc)), geometry="spherical")
    cond = Conduction.spitzer(u, mu=mu, ln_lambda=ln_lambda)
    solver = EulerSolver(grid, 5.0 / 3.0, integrator="hancock", cfl=cfl, left="reflective", right="outflow",
                         conduction=cond)
    rho_hot = float(u.density(n_hot, mu))
    rho = np.where(grid.centers < float(u.length(radius_pc)), contrast * rho_hot, rho_hot)
    state0 = solver.initial_state(rho, 0.0, float(u.pressure(n_hot, t_hot_k)), dtype=dtype)
    mdot = classical_evaporation_rate(t_hot_k, radius_pc * u.length_cm, mu, ln_lambda) * u.time_s / u.mass_g
    return solver, state0, float(mdot)


def axisymmetric_wind_problem(n_r=128, n_inject=6, cfl=0.4, dtype=None, devices=None, **wind_kw):
    """The lecture's wind bubble (:func:`wind_problem`) on an axisymmetric ``(R, z)`` grid: ``n_r x 2 n_r`` cells
    on ``[0, 3] x [-3, 3]`` pc, closed (the budgets are exact), the star on the axis at ``z = 0`` injecting into
    the cells within ``n_inject`` cell widths. Returns ``(solver, state0, wind)`` with ``wind`` the 1D spherical
    :class:`WindProblem` of the same cell width and injection radius (its params, ``t_end``, ambient state, units
    are the 2D run's too; ``wind_kw``, ``cooling`` and ``conduction`` included, apply to both). ``devices``: a
    ``jax.sharding.Mesh`` to split the grid along R (not with ``conduction``)."""
    from .cartesian import CartesianEulerSolver

    wind = wind_problem(n_r, n_inject=n_inject, dtype=dtype, **wind_kw)
    big = wind.solver.grid.r_max
    solver = CartesianEulerSolver((n_r, 2 * n_r), lengths=(big, 2 * big), origin=(0.0, -big), gamma=wind.solver.gamma,
                                  riemann=wind.solver.riemann, limiter=wind.solver.limiter, cfl=cfl,
                                  geometry="axisymmetric", boundary="reflective", source=StellarWind(n_inject),
                                  devices=devices, conduction=wind.solver.conduction, cooling=wind.solver.cooling)
    state0 = solver.initial_state(wind.rho0, (0.0, 0.0), wind.p0, dtype=dtype)
    return solver, state0, wind


def collapse_problem(n=40, radius=0.25, rho0=1.0, ambient=1e-3, pressure=1e-3, G=1.0, gamma=5.0 / 3.0, cfl=0.4,
                     dtype=None, pressure_floor=None):
    """A cold uniform sphere collapsing under its own gravity with vacuum (isolated) gravity boundaries.

    ``n^3`` cells on ``[-1/2, 1/2]^3`` with outflow boundaries; the sphere of density ``rho0`` and ``radius`` sits
    at the centre in gas of density ``ambient * rho0`` at the same ``pressure``. With the defaults the sphere's
    thermal energy is 1% of its gravitational binding energy, so its shells follow the pressureless free fall
    (:func:`~diffphys.hydro.exact.free_fall_radius`) until close to ``t_ff`` (free-fall Mach number ~12; much colder
    gas, Mach ~40, drives the pressure at the sphere's edge negative unless a ``pressure_floor`` is given: the
    solver has no dual-energy formalism).
    Returns ``(solver, state0, t_ff, mass)`` with ``mass`` the sphere's mass on the grid (its cells' sum)."""
    from .cartesian import CartesianEulerSolver
    from .exact import free_fall_time

    for name, v in (("radius", radius), ("rho0", rho0), ("ambient", ambient), ("pressure", pressure), ("G", G)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be > 0 (allowed range (0, inf)); got {v!r}")
    if not radius < 0.5:
        raise ValueError(f"radius must be < 0.5 (the sphere inside the unit box); got {radius!r}")
    solver = CartesianEulerSolver((n, n, n), 1.0, gamma, origin=-0.5, boundary="outflow", cfl=cfl, self_gravity=G,
                                  self_gravity_boundary="isolated", pressure_floor=pressure_floor)
    r = np.sqrt(sum(c * c for c in solver.centers()))
    inside = r < radius
    rho = np.where(inside, rho0, ambient * rho0)
    state0 = solver.initial_state(rho, (0.0, 0.0, 0.0), pressure, dtype=dtype)
    return solver, state0, free_fall_time(rho0, G), float(inside.sum() * rho0 * solver.cell_volume)


def lagrangian_radii(solver, rho, fractions, mass, center=None):
    """Radii around ``center`` (default: the box's centre) enclosing the given ``fractions`` of ``mass`` (numpy).

    Each cell's mass is spread evenly over the distances within half a cell width (the smallest axis's) of its
    centre's distance, so the enclosed mass is a continuous, piecewise-linear function of the radius (the plain
    cumulative sum over cell centres jumps from shell to shell of cells); it is inverted by interpolation."""
    xs = solver.centers()
    if center is None:
        center = [o + 0.5 * L for o, L in zip(solver.origin, solver.lengths)]
    r = np.sqrt(sum((x - c) ** 2 for x, c in zip(xs, center))).ravel()
    m = np.asarray(rho, dtype=np.float64).ravel() * solver.cell_volume
    h = min(solver.dx)
    # the enclosed mass's slope is sum(m / h) over the cells whose ramps [r - h/2, r + h/2] cover the radius
    at = np.concatenate([r - 0.5 * h, r + 0.5 * h])
    slope = np.concatenate([m / h, -m / h])
    order = np.argsort(at, kind="stable")
    at, slope = at[order], np.cumsum(slope[order])
    enclosed = np.concatenate([[0.0], np.cumsum(slope[:-1] * np.diff(at))])
    return np.interp(np.asarray(fractions, dtype=np.float64) * mass, enclosed, at)


def outer_shock_radius(r, p, p_ambient, factor=2.0):
    """Outermost radius where the pressure crosses ``factor * p_ambient`` (linear interpolation)."""
    r, p = np.asarray(r), np.asarray(p)
    thr = factor * p_ambient
    above = np.nonzero(p > thr)[0]
    if len(above) == 0:
        return float(r[0])
    i = above[-1]
    if i + 1 >= len(r):
        return float(r[-1])
    return float(r[i] + (p[i] - thr) / (p[i] - p[i + 1]) * (r[i + 1] - r[i]))


def kelvin_helmholtz_problem(n=256, amplitude=0.01, smoothing=0.025, gamma=5.0 / 3.0, dtype=None, **solver_kw):
    """The smooth Kelvin-Helmholtz test of McNally, Lyra & Passy (2012, ApJS 201, 18), sec. 3: a periodic unit
    square, a dense (rho = 2) stream moving at -1/2 between y = 1/4 and 3/4 in light gas (rho = 1) moving at +1/2,
    the interfaces smoothed exponentially over ``smoothing``, pressure 5/2, and a seed ``v_y = amplitude
    sin(4 pi x)``. Returns ``(solver, state0)``; the run usually goes to t = 1.5-2."""
    from .cartesian import CartesianEulerSolver

    kw = dict(riemann="hllc", limiter="mc", cfl=0.5, boundary="periodic")
    kw.update(solver_kw)
    solver = CartesianEulerSolver((n, n), 1.0, gamma, **kw)
    x, y = solver.centers()
    rho, vx = kelvin_helmholtz_profile(y, smoothing)
    vy = amplitude * np.sin(4.0 * np.pi * x)
    return solver, solver.initial_state(rho, (vx, vy), 2.5, dtype=dtype)


def kelvin_helmholtz_profile(y, smoothing=0.025):
    """Density and x velocity of McNally et al.'s (2012) smoothed double shear layer at heights ``y`` in [0, 1)."""
    y = np.asarray(y, dtype=np.float64)
    rho1, rho2, u1, u2 = 1.0, 2.0, 0.5, -0.5
    rm, um = 0.5 * (rho1 - rho2), 0.5 * (u1 - u2)
    rho, vx = np.empty_like(y), np.empty_like(y)
    bands = ((y < 0.25, (y - 0.25), -1.0, rho1, u1), ((y >= 0.25) & (y < 0.5), (0.25 - y), 1.0, rho2, u2),
             ((y >= 0.5) & (y < 0.75), (y - 0.75), 1.0, rho2, u2), (y >= 0.75, (0.75 - y), -1.0, rho1, u1))
    for mask, dist, sign, r0, v0 in bands:
        e = np.exp(dist[mask] / smoothing)
        rho[mask] = r0 + sign * rm * e
        vx[mask] = v0 + sign * um * e
    return rho, vx


def kh_linear_growth_rate(smoothing=0.025, gamma=5.0 / 3.0, n=256):
    """The linear growth rate of the seeded ``k = 4 pi`` mode of :func:`kelvin_helmholtz_problem` (the fastest
    eigenmode of the linearised equations, :func:`~diffphys.hydro.exact.shear_flow_growth_rate`, on ``n``
    points in y): 2.832 for the defaults."""
    from .exact import shear_flow_growth_rate

    y = (np.arange(n) + 0.5) / n
    rho, vx = kelvin_helmholtz_profile(y, smoothing)
    return shear_flow_growth_rate(rho, vx, 2.5, gamma, 4.0 * np.pi).real


def kh_mode_amplitude(solver, state):
    """The amplitude of the seeded ``v_y`` mode, McNally et al. (2012) eqs. 12-15: the sine and cosine
    projections of ``v_y`` on ``exp(-4 pi |y - 1/4|)`` (``|1 - y - 1/4|`` in the upper half), normalised so that
    the initial state gives the seed amplitude. Works under ``jit`` (returns a scalar array)."""
    import jax.numpy as jnp

    x, y = solver.centers()
    dist = np.where(y < 0.5, np.abs(y - 0.25), np.abs(1.0 - y - 0.25))
    d = np.exp(-4.0 * np.pi * dist)
    vy = state.u[2] / state.u[0]
    dt_ = vy.dtype
    s = jnp.sum(vy * jnp.asarray(np.sin(4 * np.pi * x) * d, dt_)) / float(d.sum())
    c = jnp.sum(vy * jnp.asarray(np.cos(4 * np.pi * x) * d, dt_)) / float(d.sum())
    return 2.0 * jnp.sqrt(s * s + c * c)
