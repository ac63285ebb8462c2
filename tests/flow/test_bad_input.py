"""Bad input: a ValueError naming the field and the allowed range, case by case; non-convergence reported."""

import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.flow import (
    BC,
    Boundaries,
    Box,
    Circle,
    FlowParams,
    FlowSolver,
    Grid,
    Mask,
    cavity,
    inflow,
    outflow,
    periodic,
    wall,
)


def test_non_positive_viscosity():
    for nu in (0.0, -0.1):
        with pytest.raises(ValueError, match="viscosity must be > 0"):
            FlowParams(nu)


def test_non_positive_spacing_or_size():
    with pytest.raises(ValueError, match="spacing must be two finite numbers > 0"):
        Grid((8, 8), spacing=(0.1, 0.0))
    with pytest.raises(ValueError, match="spacing must be two finite numbers > 0"):
        Grid((8, 8), spacing=(-0.1, 0.1))
    with pytest.raises(ValueError, match="size must be two finite numbers > 0"):
        Grid((8, 8), size=(1.0, -1.0))


def test_grid_too_small():
    with pytest.raises(ValueError, match="nx must be an integer >= 4"):
        Grid((3, 8), size=(1.0, 1.0))
    with pytest.raises(ValueError, match="ny must be an integer >= 4"):
        Grid((8, 2), size=(1.0, 1.0))


def test_multigrid_needs_a_grid_that_halves_to_a_small_dense_level():
    """250x126 halves once to 125x63 = 7875 cells, too many for the dense coarsest solve: an explicit
    pressure='mg' is refused with the reason, 'auto' falls back to Jacobi-CG; 64x32 gets the multigrid."""
    bcs = Boundaries(inflow(1.0), outflow(), wall(), wall())
    with pytest.raises(ValueError, match="pressure='mg' needs a grid that halves"):
        FlowSolver(Grid((250, 126), size=(2.0, 1.0)), bcs, 0.001, pressure="mg")
    assert FlowSolver(Grid((250, 126), size=(2.0, 1.0)), bcs, 0.001).pressure == "cg"
    solver = FlowSolver(Grid((64, 32), size=(2.0, 1.0)), bcs, 0.01)
    assert solver.pressure == "mg" and solver.coarse_inv.shape == (512, 512)


def test_dt_beyond_cfl():
    grid = Grid((16, 16), size=(1.0, 1.0))
    bcs = Boundaries(wall(), wall(), wall(), BC("wall", speed=1.0))
    with pytest.raises(ValueError, match="beyond the CFL limit"):
        FlowSolver(grid, bcs, dt=1.0)
    FlowSolver(grid, bcs, dt=0.1)  # CFL 1.6 <= 2: fine
    with pytest.raises(ValueError, match="dt must be > 0"):
        FlowSolver(grid, bcs, dt=0.0)


def test_state_beyond_cfl_and_explicit_diffusion_limit():
    solver, state, params = cavity(16, dt=0.05, diffusion="explicit")
    fast = state.__class__(state.u * 0 + 10.0, state.v, state.marker, state.p, state.t, state.info)
    with pytest.raises(ValueError, match="beyond the CFL limit for this state"):
        solver.check(fast, params)
    with pytest.raises(ValueError, match="explicit diffusion needs"):
        solver.check(state, FlowParams(1.0))
    solver.check(state, params)


def test_obstacle_covering_the_whole_inflow():
    grid = Grid((16, 8), size=(2.0, 1.0))
    bcs = Boundaries(inflow(1.0), outflow(), wall(), wall())
    with pytest.raises(ValueError, match="left inflow is fully blocked"):
        FlowSolver(grid, bcs, 0.05, obstacles=[Box((-1.0, -1.0), (0.3, 2.0))])
    m = np.zeros((16, 8), bool)
    m[0, :] = True
    with pytest.raises(ValueError, match="left inflow is fully blocked"):
        FlowSolver(grid, bcs, 0.05, obstacles=[Mask(m)])
    FlowSolver(grid, bcs, 0.05, obstacles=[Circle((0.5, 0.5), 0.2)])  # partial blockage is fine


def test_boundary_and_obstacle_specs():
    with pytest.raises(ValueError, match="BC.kind must be one of"):
        BC("sticky")
    with pytest.raises(ValueError, match="must both be periodic"):
        Boundaries(periodic(), wall(), wall(), wall())
    with pytest.raises(ValueError, match="inflow needs an outflow"):
        Boundaries(inflow(1.0), wall(), wall(), wall())
    with pytest.raises(ValueError, match="Circle.radius must be > 0"):
        Circle((0.5, 0.5), 0.0)
    with pytest.raises(ValueError, match="obstacles cover the whole domain"):
        FlowSolver(Grid((8, 8), size=(1.0, 1.0)), Boundaries(), 0.01, obstacles=[Circle((0.5, 0.5), 5.0)])
    with pytest.raises(ValueError, match="FlowSolver.advection must be one of"):
        FlowSolver(Grid((8, 8), size=(1.0, 1.0)), Boundaries(), 0.01, advection="upwind")


def test_non_converged_pressure_solve_is_reported():
    rng = np.random.default_rng(0)
    results = {}
    for maxiter in (2, None):
        solver, state, params = cavity(32, dt=0.01, pressure="cg", maxiter=maxiter)
        u = jnp.asarray(rng.standard_normal(state.u.shape))
        v = jnp.asarray(rng.standard_normal(state.v.shape))
        results[maxiter] = (solver, solver.project(*solver.enforce(u, v, 1.0)))
    solver, (u, v, _, (iters, rel, ok, div)) = results[2]
    assert not bool(ok) and int(iters) == 2 and float(rel) > solver.tol
    assert np.all(np.isfinite(np.asarray(u)))  # no NaN, just a reported status
    solver, (u, v, _, (iters, rel, ok, div)) = results[None]
    assert bool(ok) and float(rel) <= solver.tol and 2 < int(iters) <= solver.maxiter
