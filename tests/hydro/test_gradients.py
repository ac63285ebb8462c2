"""Gradients: autodiff against central finite differences; reverse mode equals forward mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import Store
from diffphys.core.sensitivity import check_grad
from diffphys.hydro import EulerSolver, RadialGrid, WindParams, solve, wind_problem


def smooth_loss(params):
    # a smooth spherical pressure pulse; params scale the amplitude and the adiabatic background
    g = RadialGrid(40, 1.0, geometry="spherical")
    s = EulerSolver(g, 1.4, limiter="vanleer", integrator="rk3", cfl=0.5, left="reflective", right="reflective")
    r = jnp.asarray(g.centers)
    rho = 1.0 + params["a"] * jnp.exp(-((r - 0.5) / 0.1) ** 2)
    p = params["p0"] * rho ** 1.4
    st = type(s.initial_state(1.0, 0.0, 1.0)).from_primitive(rho, jnp.zeros_like(r), p, 1.4)
    # fixed number of steps at a fixed dt: a smooth function of the parameters
    from diffphys.core import simulate
    out = simulate(s, st, None, num_steps=30, dt=jnp.asarray(0.004))
    return jnp.sum(out.state.u[0] * jnp.asarray(g.volumes) * r ** 2) + jnp.sum(out.state.u[2] * r)


def test_check_grad_smooth_problem():
    params = {"a": jnp.asarray(0.1), "p0": jnp.asarray(1.0)}
    report = check_grad(smooth_loss, params)
    assert report.max_rel_err <= 1e-6, str(report)


def wind_objective(wp, gradient="store"):
    ref = jnp.asarray(wp.state0.u[0]) * 1.0

    def f(x):
        params = WindParams(x[0], x[1])
        sol = solve(wp.solver, wp.state0, params, t_end=wp.t_end, max_steps=2000, gradient=gradient)
        return jnp.stack([jnp.mean((sol.state.u[0] - ref) ** 2), jnp.mean(sol.state.u[2])])

    return f


def test_reverse_equals_forward_on_wind():
    wp = wind_problem(64, t_end_yr=3e3)
    f = wind_objective(wp)
    x = jnp.stack([wp.params.v_inf, wp.params.mdot])
    jr = np.asarray(jax.jacrev(f)(x))
    jf = np.asarray(jax.jacfwd(f)(x))
    assert np.all(np.isfinite(jr))
    np.testing.assert_allclose(jr, jf, rtol=1e-10, atol=0)


@pytest.mark.slow
def test_checkpointed_gradient_equals_stored():
    # hydro.solve's "store" and "checkpoint" recompute each step before its transpose; plain autodiff
    # through the scan (core.Store()) is the reference
    wp = wind_problem(48, t_end_yr=2e3)
    x = jnp.stack([wp.params.v_inf, wp.params.mdot])
    g0 = jax.grad(lambda x: wind_objective(wp, Store())(x)[0])(x)
    for gradient in ("store", "checkpoint"):
        g = jax.grad(lambda x, g=gradient: wind_objective(wp, g)(x)[0])(x)
        np.testing.assert_allclose(np.asarray(g), np.asarray(g0), rtol=1e-12)


def test_frozen_time_grid_reverse_equals_forward():
    # dt_gradient=False: both modes differentiate the same scheme on the frozen CFL time grid
    wp = wind_problem(32, t_end_yr=1e3, integrator="hancock")
    x = jnp.stack([wp.params.v_inf, wp.params.mdot])

    def f(x):
        sol = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=2000,
                    gradient="checkpoint", dt_gradient=False)
        return jnp.stack([jnp.mean(sol.state.u[0] ** 2), jnp.mean(sol.state.u[2])])

    jr = np.asarray(jax.jacrev(f)(x))
    jf = np.asarray(jax.jacfwd(f)(x))
    assert np.all(np.isfinite(jr)) and np.all(jr != 0)
    np.testing.assert_allclose(jr, jf, rtol=1e-10, atol=0)


def test_wind_fit_jacobian_matches_finite_differences_n401():
    # the wind-fit observable at N=401 from the first start: the forward-mode Jacobian (through the CFL
    # steps) against central differences. With SSP-RK2 its columns came out 1e5x too large (an unstable
    # linearisation of the limiter's steep branches); the wind problem's MUSCL-Hancock scheme is exact here.
    from diffphys.examples.wind_fit import STARTS, make_residuals

    final, _, _, _ = make_residuals(401, 2.5e4, 2000.0, 0.1186)
    th = jnp.log(jnp.asarray(STARTS[0]))
    jac = np.asarray(jax.jit(jax.jacfwd(final))(th))
    f = jax.jit(final)
    for k in range(2):
        e = np.zeros(2)
        e[k] = 1e-4
        fd = (np.asarray(f(th + e)) - np.asarray(f(th - e))) / 2e-4
        assert np.linalg.norm(jac[:, k] - fd) <= 1e-2 * np.linalg.norm(fd)


@pytest.mark.slow
def test_wind_grad_by_forward_sensitivity_equals_reverse_sweep():
    # jax.grad with gradient="forward" (forward-mode tangents inside jax.grad) against the reverse sweep (slow: the
    # rule itself is checked against the reverse sweep in tests/core/test_forward_sensitivity.py, and wind-posterior
    # --quick samples with it by default)
    from diffphys.hydro import WindParams, solve, wind_problem

    wp = wind_problem(64, t_end_yr=2000.0)
    ref = solve(wp.solver, wp.state0, wp.params, t_end=wp.t_end, max_steps=5000).state.u[0] * 1.01

    def loss(x, gradient):
        s = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=5000, gradient=gradient,
                  dt_gradient=False)
        return jnp.mean((s.state.u[0] - ref) ** 2)

    x0 = jnp.stack([wp.params.v_inf, wp.params.mdot])
    g_rev = jax.jit(jax.grad(lambda x: loss(x, "checkpoint")))(x0)
    g_fwd = jax.jit(jax.grad(lambda x: loss(x, "forward")))(x0)
    np.testing.assert_allclose(np.asarray(g_fwd), np.asarray(g_rev), rtol=1e-10)
    assert np.all(np.abs(np.asarray(g_rev)) > 0)
