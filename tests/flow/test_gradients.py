"""Gradients through the flow solver: autodiff (implicit pressure/diffusion solves) vs finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.core.sensitivity import check_grad
from diffphys.flow import (
    Boundaries,
    Circle,
    FlowParams,
    FlowSolver,
    Grid,
    inflow,
    moving_wall,
    outflow,
    slip,
    taylor_green,
    wall,
)


def _weights(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


@pytest.mark.slow
def test_check_grad_periodic_20_steps():
    solver, state0, _ = taylor_green(16, nu=0.05, cfl=0.5, advection="semi-lagrangian", dtype=jnp.float64)
    w = _weights(state0.u.shape, 0)

    def loss(p):
        prm = FlowParams(p["nu"], 1.0, p["force"])
        out = simulate(solver, state0, prm, num_steps=20, gradient="checkpoint").state
        return jnp.sum(w * out.u) + jnp.sum(out.v**2)

    p0 = {"nu": jnp.asarray(0.05), "force": jnp.asarray([0.1, -0.05])}
    rep = check_grad(loss, p0, mode="rev")
    assert rep.max_rel_err <= 1e-5, str(rep)


def _swirl(a):
    """A smooth velocity field (so departure points fall between grid nodes, where interpolation is smooth)."""
    return (lambda x, y: a * np.sin(2.1 * x + 0.3) * np.cos(1.7 * y + 0.2),
            lambda x, y: a * np.cos(1.3 * x + 0.1) * np.sin(2.3 * y + 0.4))


def _channel(pressure, diffusion="implicit"):
    grid = Grid((16, 8), size=(4.0, 2.0))
    bcs = Boundaries(inflow(lambda y: 1.0 - (y - 1.0) ** 2), outflow(), wall(), slip())
    return FlowSolver(grid, bcs, 0.05, obstacles=[Circle((1.2, 1.05), 0.3)], pressure=pressure,
                      diffusion=diffusion, tol=1e-13, maxiter=2000, diffusion_tol=1e-14)


def test_check_grad_obstacle_inflow_outflow_20_steps():
    solver = _channel("cg")
    state0 = solver.initial_state(*_swirl(0.3), dtype=jnp.float64)
    w = _weights(state0.u.shape, 1)

    def loss(p):
        prm = FlowParams(p["nu"], p["speed"])
        out = simulate(solver, state0, prm, num_steps=20, gradient="checkpoint").state
        return jnp.sum(w * out.u) + jnp.sum(out.p * 1e-2)

    p0 = {"nu": jnp.asarray(0.05), "speed": jnp.asarray(1.0)}
    rep = check_grad(loss, p0, mode="rev")
    assert rep.max_rel_err <= 1e-5, str(rep)


@pytest.mark.slow
def test_gradient_wrt_initial_velocity_matches_finite_difference():
    # (slow: gradients with respect to fields through the solver are also checked against central differences by
    # tests/learn/test_control.py, and with respect to its parameters by the obstacle test above)
    grid = Grid((8, 8), size=(1.0, 1.0))
    solver = FlowSolver(grid, Boundaries(wall(), wall(), wall(), moving_wall(1.0)), 0.02, tol=1e-13, maxiter=2000,
                        diffusion="explicit", pressure="cg")
    state0 = solver.initial_state(*_swirl(0.5), dtype=jnp.float64)
    prm = FlowParams(0.05)
    w = _weights(state0.u.shape, 2)
    d = _weights(state0.v.shape, 3)

    @jax.jit
    def f(v0):
        s0 = state0.__class__(state0.u, v0, state0.marker, state0.p, state0.t, state0.info)
        return jnp.sum(w * simulate(solver, s0, prm, num_steps=10).state.u)

    g = jax.grad(f)(state0.v)
    h = 1e-6
    fd = (f(state0.v + h * d) - f(state0.v - h * d)) / (2 * h)
    assert abs(jnp.sum(g * d) - fd) <= 1e-6 * abs(fd)


def test_pressure_solve_custom_rule_matches_dense_autodiff():
    """The implicit derivative of the pressure solve equals autodiff through a dense direct solve."""
    solver = _channel("mg")
    n = solver.grid.nx * solver.grid.ny
    eye = jnp.eye(n, dtype=jnp.float64).reshape(n, *solver.grid.shape)
    A = jax.vmap(solver.poisson_matvec)(eye).reshape(n, n).T
    b0 = _weights(solver.grid.shape, 4) * solver.fluid
    w = _weights(solver.grid.shape, 5)

    def via_solver(b):
        return jnp.sum(w * solver.solve_pressure(b)[0])

    def via_dense(b):
        return jnp.sum(w * jnp.linalg.solve(A, b.ravel()).reshape(b.shape))

    assert np.allclose(via_solver(b0), via_dense(b0), rtol=1e-10)
    g1, g2 = jax.grad(via_solver)(b0), jax.grad(via_dense)(b0)
    assert np.max(np.abs(g1 - g2)) <= 1e-9 * np.max(np.abs(g2))
    t1 = jax.jvp(via_solver, (b0,), (w,))[1]
    t2 = jax.jvp(via_dense, (b0,), (w,))[1]
    assert abs(t1 - t2) <= 1e-9 * abs(t2)


@pytest.mark.slow
def test_forward_mode_and_vmap_agree():
    solver, state0, _ = taylor_green(8, nu=0.05, advection="semi-lagrangian", diffusion="implicit",
                                     dtype=jnp.float64, diffusion_tol=1e-14)
    w = _weights(state0.u.shape, 7)

    def loss(nu):
        return jnp.sum(w * simulate(solver, state0, FlowParams(nu), num_steps=6, gradient="checkpoint").state.u)

    g_rev = jax.grad(loss)(0.05)
    assert abs(jax.jacfwd(loss)(0.05) - g_rev) <= 1e-9 * abs(g_rev)  # forward mode through the solves
    nus = jnp.array([0.03, 0.05])
    batched = jax.jit(jax.vmap(loss))(nus)
    assert abs(batched[1] - jax.jit(loss)(0.05)) <= 1e-12 * abs(batched[1])
    h = 1e-6
    fd = (batched[1] - jax.jit(loss)(0.05 - h)) / h  # one-sided: only a sanity check of the scale
    assert abs(fd - g_rev) <= 1e-3 * abs(g_rev)


def test_warm_started_pressure_solve_matches_dense_and_its_gradient():
    """A warm start (x0 = a nearby pressure) gives the dense solution, its gradient and JVP (the adjoint solve
    ignores x0), and fewer iterations than a cold start at the same ||r|| <= tol ||b||."""
    solver = _channel("cg")
    n = solver.grid.nx * solver.grid.ny
    eye = jnp.eye(n, dtype=jnp.float64).reshape(n, *solver.grid.shape)
    A = jax.vmap(solver.poisson_matvec)(eye).reshape(n, n).T
    b0 = _weights(solver.grid.shape, 8) * solver.fluid
    w = _weights(solver.grid.shape, 9)
    exact = jnp.linalg.solve(A, b0.ravel()).reshape(b0.shape)
    x0 = exact * (1 + 1e-3 * _weights(b0.shape, 10))  # a good guess (as the previous step's pressure is)

    def via_solver(b):
        return jnp.sum(w * solver.solve_pressure(b, x0)[0])

    def via_dense(b):
        return jnp.sum(w * jnp.linalg.solve(A, b.ravel()).reshape(b.shape))

    _, it_cold, _ = solver.solve_pressure(b0)
    phi, it_warm, rel = solver.solve_pressure(b0, x0)
    assert rel <= 1e-13 and int(it_warm) < int(it_cold)
    assert np.max(np.abs(phi - exact)) <= 1e-10 * np.max(np.abs(exact))
    g1, g2 = jax.grad(via_solver)(b0), jax.grad(via_dense)(b0)
    assert np.max(np.abs(g1 - g2)) <= 1e-9 * np.max(np.abs(g2))
    t1 = jax.jvp(via_solver, (b0,), (w,))[1]
    t2 = jax.jvp(via_dense, (b0,), (w,))[1]
    assert abs(t1 - t2) <= 1e-9 * abs(t2)


@pytest.mark.slow
def test_warm_start_changes_gradient_only_within_solver_tolerance():
    """Gradient through 6 steps (obstacle, inflow, outflow) with warm- and cold-started pressure solves at
    tol = 1e-8: the two agree to ~tol (the cold one is checked against finite differences above)."""
    grads = {}
    for warm in (False, True):
        grid = Grid((16, 8), size=(4.0, 2.0))
        bcs = Boundaries(inflow(lambda y: 1.0 - (y - 1.0) ** 2), outflow(), wall(), slip())
        solver = FlowSolver(grid, bcs, 0.05, obstacles=[Circle((1.2, 1.05), 0.3)], pressure="cg",
                            diffusion="explicit", tol=1e-8, maxiter=2000, warm_start=warm)
        state0 = solver.initial_state(*_swirl(0.3), dtype=jnp.float64)
        w = _weights(state0.u.shape, 11)

        def f(v0, solver=solver, state0=state0, w=w):
            s0 = state0.__class__(state0.u, v0, state0.marker, state0.p, state0.t, state0.info)
            return jnp.sum(w * simulate(solver, s0, FlowParams(0.05), num_steps=6).state.u)

        grads[warm] = jax.jit(jax.grad(f))(state0.v)
    gc, gw = grads[False], grads[True]
    assert np.max(np.abs(gw - gc)) <= 1e-6 * np.max(np.abs(gc))
