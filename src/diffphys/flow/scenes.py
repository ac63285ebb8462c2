"""Ready-made scenes: Taylor-Green vortex, lid-driven cavity, flow past a cylinder (and the book's preset),
a standing internal gravity wave in a stratified Boussinesq fluid and a buoyant smoke plume (Rayleigh-Benard
convection: :mod:`diffphys.flow.convection`).

Each returns ``(solver, state0, params)``.
"""

from __future__ import annotations

import csv
import math
from importlib import resources

import numpy as np

from .grid import Boundaries, Grid, inflow, moving_wall, outflow, periodic, slip, wall
from .obstacles import Circle
from .solver import FlowParams, FlowSolver

__all__ = ["cavity", "ghia_re100", "internal_wave", "internal_wave_frequency", "karman", "karman_book",
           "smoke_plume", "taylor_green", "taylor_green_exact"]


def taylor_green_exact(x, y, t, nu, component):
    """Taylor-Green vortex on [0, 2 pi]^2: u = sin x cos y e^{-2 nu t}, v = -cos x sin y e^{-2 nu t}."""
    decay = np.exp(-2 * nu * t)
    if component == "u":
        return np.sin(x) * np.cos(y) * decay
    return -np.cos(x) * np.sin(y) * decay


def taylor_green(n=64, nu=0.05, cfl=0.5, dtype=None, **solver_kw):
    """Periodic Taylor-Green vortex on ``[0, 2 pi]^2`` with ``n x n`` cells and ``dt = cfl * dx``."""
    L = 2 * math.pi
    grid = Grid((n, n), size=(L, L))
    dt = cfl * grid.dx
    solver_kw.setdefault("advection", "maccormack")
    solver = FlowSolver(grid, Boundaries.all_periodic(), dt, velocity_scale=1.0, **solver_kw)
    state = solver.initial_state(lambda x, y: taylor_green_exact(x, y, 0.0, nu, "u"),
                                 lambda x, y: taylor_green_exact(x, y, 0.0, nu, "v"),
                                 lambda x, y: (np.floor(4 * y / L) % 2).astype(float), dtype=dtype, project=False)
    return solver, state, FlowParams(nu)


def cavity(n=128, re=100.0, dt=None, dtype=None, **solver_kw):
    """Lid-driven unit square cavity (lid speed 1 at y = 1), viscosity ``1 / re``."""
    grid = Grid((n, n), size=(1.0, 1.0))
    dt = dt if dt is not None else 0.5 * grid.dx
    solver_kw.setdefault("advection", "maccormack")
    solver = FlowSolver(grid, Boundaries(wall(), wall(), wall(), moving_wall(1.0)), dt, **solver_kw)
    state = solver.initial_state(dtype=dtype)
    return solver, state, FlowParams(1.0 / re)


def karman(re=100.0, cells_per_diameter=12, length=24.0, width=8.0, center=(6.0, None), cfl=0.5,
           sides="slip", dtype=None, perturb=0.5, **solver_kw):
    """Flow past a cylinder of diameter 1 in a channel ``length x width`` (inflow speed 1 on the left,
    outflow on the right, ``sides`` on top/bottom). The blockage ratio is ``1 / width``.

    A small antisymmetric perturbation of the initial velocity (``perturb``) triggers the shedding.
    """
    h = 1.0 / cells_per_diameter
    nx, ny = int(round(length / h)), int(round(width / h))
    grid = Grid((nx, ny), spacing=(h, h))
    cx = center[0]
    cy = center[1] if center[1] is not None else width / 2
    side = {"slip": slip, "wall": wall, "outflow": outflow, "periodic": periodic}[sides]
    bcs = Boundaries(inflow(1.0, marker=lambda s: (np.floor(s / 0.5) % 2).astype(float)), outflow(), side(), side())
    solver = FlowSolver(grid, bcs, cfl * h, obstacles=[Circle((cx, cy), 0.5)], **solver_kw)

    def v0(x, y):  # a transverse kick behind the cylinder breaks the symmetry
        return perturb * np.exp(-((x - cx - 1.5) ** 2 + (y - cy) ** 2))

    state = solver.initial_state(lambda x, y: np.ones_like(x), v0, None, dtype=dtype)
    return solver, state, FlowParams(1.0 / re)


def karman_book(resolution=(64, 32), re=None, viscosity=None, dtype=None, sides="slip", **solver_kw):
    """The scene of the book's solver-in-the-loop example, flow along +x: domain 200 (streamwise) x 100,
    cylinder of radius 10 at (50, 50), inflow speed 1, dt = 1, viscosity ``U D / Re`` (D = 20).

    ``resolution``: (64, 32) is the source grid, (256, 128) the reference grid. The book's scene has the
    same geometry with the flow along +y; only the axis names are swapped here.
    """
    if (re is None) == (viscosity is None):
        raise ValueError("karman_book needs exactly one of re= or viscosity=")
    nu = viscosity if viscosity is not None else 20.0 / re
    grid = Grid(tuple(resolution), size=(200.0, 100.0))
    side = {"slip": slip, "wall": wall, "outflow": outflow}[sides]
    bcs = Boundaries(inflow(1.0, marker=lambda s: (np.floor(s / 12.5) % 2).astype(float)), outflow(), side(), side())
    solver_kw.setdefault("velocity_scale", 1.0)
    solver = FlowSolver(grid, bcs, 1.0, obstacles=[Circle((50.0, 50.0), 10.0)], **solver_kw)
    state = solver.initial_state(lambda x, y: np.ones_like(x), None, None, dtype=dtype)
    return solver, state, FlowParams(nu)


def ghia_re100():
    """Ghia, Ghia & Shin (1982) Re = 100 centreline profiles: ``dict(y, u, x, v)`` (numpy arrays)."""
    text = resources.files("diffphys").joinpath("data/ghia1982_re100.csv").read_text()
    rows = [r for r in csv.reader(line for line in text.splitlines() if not line.startswith("#"))]
    data = np.array([[float(c) for c in r] for r in rows[1:]])
    return dict(y=data[:, 0], u=data[:, 1], x=data[:, 2], v=data[:, 3])


def internal_wave_frequency(n_bv, kx, kz):
    """Dispersion relation of internal gravity waves in a uniformly stratified Boussinesq fluid (no rotation,
    inviscid): ``omega = N kx / sqrt(kx^2 + kz^2)`` with ``N`` the Brunt-Vaisala frequency."""
    return n_bv * kx / math.sqrt(kx * kx + kz * kz)


def internal_wave(n=32, n_bv=2.0, amplitude=1e-3, aspect=2, cfl=None, dt=None, dtype=None, **solver_kw):
    """A standing internal gravity wave: a fluid of depth 1 between free-slip walls, periodic in x over
    ``aspect`` depths, stably stratified by the marker (a buoyancy scalar, ``b = 1``: marker ``= N^2 y``), set
    moving with the streamfunction ``psi = A sin(kx x) sin(pi y)`` (one wavelength across the box) and no
    buoyancy perturbation. Linear theory: the velocity oscillates as ``cos(omega t)`` with
    :func:`internal_wave_frequency` ``(N, 2 pi / aspect, pi)``. ``n`` cells per depth; ``dt`` defaults to
    ``T / 64`` for the wave period ``T`` (or ``cfl * dx`` for the velocity scale ``pi A``).
    """
    grid = Grid((aspect * n, n), size=(float(aspect), 1.0))
    kx, kz = 2 * math.pi / aspect, math.pi
    omega = internal_wave_frequency(n_bv, kx, kz)
    if dt is None:
        dt = cfl * grid.dx / (math.pi * amplitude) if cfl is not None else 2 * math.pi / omega / 64
    solver_kw.setdefault("advection", "maccormack")
    solver_kw.setdefault("diffusion", "none")
    solver_kw.setdefault("tol", 1e-10)
    solver = FlowSolver(grid, Boundaries(periodic(), periodic(), slip(), slip()), dt,
                        velocity_scale=math.pi * amplitude * max(1.0, kx / kz), **solver_kw)
    u0 = lambda x, y: amplitude * kz * np.sin(kx * x) * np.cos(kz * y)        # d psi / dy
    v0 = lambda x, y: -amplitude * kx * np.cos(kx * x) * np.sin(kz * y)       # -d psi / dx
    state = solver.initial_state(u0, v0, lambda x, y: n_bv**2 * y, dtype=dtype)
    return solver, state, FlowParams(1e-12, buoyancy=1.0)


def smoke_plume(n=48, x0=0.5, rate=1.0, radius=0.06, height=0.12, buoyancy=1.0, viscosity=1e-4, size=(1.0, 1.5),
                cfl=1.0, dtype=None, **solver_kw):
    """A buoyant smoke plume in a closed box (walls all round, ``size``; ``n`` cells across): smoke enters at
    ``rate`` per unit time through a Gaussian source of ``radius`` at ``(x0, height)`` and rises under the
    Boussinesq buoyancy ``(0, buoyancy * smoke)``. ``dt = cfl * dx`` for a velocity scale of 1.

    Returns ``(solver, state0, params, source_fn)``; ``source_fn(x0, rate)`` is the differentiable source field
    (pass ``FlowParams(..., source=source_fn(x0, rate))`` to move or scale it).
    """
    lx, ly = size
    grid = Grid((n, int(round(n * ly / lx))), size=(lx, ly))
    solver_kw.setdefault("advection", "maccormack")
    solver = FlowSolver(grid, Boundaries(wall(), wall(), wall(), wall()), cfl * grid.dx, velocity_scale=1.0,
                        **solver_kw)
    import jax.numpy as jnp

    xc, yc = solver.coords[4], solver.coords[5]

    def source_fn(x0, rate):
        r2 = (xc - x0) ** 2 + (yc - height) ** 2
        return rate * jnp.exp(-r2 / radius**2)

    state = solver.initial_state(dtype=dtype)
    dt_ = state.u.dtype
    params = FlowParams(viscosity, buoyancy=buoyancy, source=source_fn(jnp.asarray(x0, dt_), jnp.asarray(rate, dt_)))
    return solver, state, params, source_fn

