"""Ready-made scenes: Taylor-Green vortex, lid-driven cavity, flow past a cylinder (and the book's preset).

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

__all__ = ["cavity", "ghia_re100", "karman", "karman_book", "taylor_green", "taylor_green_exact"]


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
