"""Boussinesq buoyancy and marker sources in the flow solver: exact discrete budgets, hydrostatic balance,
internal-wave dispersion against linear theory, derivatives against finite differences, bad input."""

import math

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.core.sensitivity import check_grad
from diffphys.flow import (
    Boundaries,
    FlowParams,
    FlowSolver,
    Grid,
    internal_wave,
    internal_wave_frequency,
    smoke_plume,
    wall,
)


def test_uniform_smoke_in_a_periodic_box_accelerates_by_the_exact_discrete_sum():
    """Everything uniform: the projection has nothing to remove, so after n steps the marker is m0 + n dt s and
    v = dt b sum_k (m0 + k dt s) exactly (the source is added before the buoyancy uses the marker)."""
    grid = Grid((8, 6), size=(1.0, 0.75))
    solver = FlowSolver(grid, Boundaries.all_periodic(), 0.01, diffusion="none")
    st = solver.initial_state(marker=lambda x, y: 0.3 + 0 * x, dtype=jnp.float64)
    b, s, n = 2.5, 0.7, 12
    out = simulate(solver, st, FlowParams(0.01, buoyancy=b, source=s), num_steps=n).state
    dt = solver.dt
    np.testing.assert_allclose(np.asarray(out.marker), 0.3 + n * dt * s, rtol=1e-14)
    expected_v = dt * b * sum(0.3 + k * dt * s for k in range(1, n + 1))
    np.testing.assert_allclose(np.asarray(out.v), expected_v, rtol=1e-13)
    assert float(jnp.max(jnp.abs(out.u))) <= 1e-15


def test_stratified_fluid_at_rest_is_hydrostatic():
    """A marker that depends on height only: its buoyancy is a gradient, the projection balances it; the fluid
    stays at rest and the pressure satisfies dp/dy = b m on every interior face."""
    grid = Grid((12, 16), size=(1.0, 1.0))
    solver = FlowSolver(grid, Boundaries(wall(), wall(), wall(), wall()), 0.02, tol=1e-12, pressure="cg")
    st = solver.initial_state(marker=lambda x, y: 1.0 + 3.0 * y**2 - y, dtype=jnp.float64)
    b = 1.7
    out = simulate(solver, st, FlowParams(1e-3, buoyancy=b), num_steps=5).state
    assert float(jnp.max(jnp.abs(out.u))) <= 1e-11 and float(jnp.max(jnp.abs(out.v))) <= 1e-11
    dpdy = np.diff(np.asarray(out.p), axis=1) / grid.dy
    m_face = np.asarray(solver.marker_on_v_faces(out.marker))[:, 1:-1]
    np.testing.assert_allclose(dpdy, b * m_face, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.asarray(out.marker), np.asarray(st.marker), rtol=1e-12)   # nothing moved it


def test_tilted_stratification_at_rest_is_hydrostatic():
    """Gravity along any direction (buoyancy a pair): a marker that depends only on the distance along it is
    again a gradient, balanced by the pressure; the fluid stays at rest and grad p = b m on the interior faces.
    The same marker with gravity at another angle does move the fluid (the check can fail)."""
    grid = Grid((14, 12), size=(1.0, 0.8))
    solver = FlowSolver(grid, Boundaries(wall(), wall(), wall(), wall()), 0.02, tol=1e-12, pressure="cg")
    gx, gy = 0.6, 0.8
    st = solver.initial_state(marker=lambda x, y: 1.0 + 3.0 * (gx * x + gy * y) ** 2 - (gx * x + gy * y),
                              dtype=jnp.float64)
    b = 1.7
    out = simulate(solver, st, FlowParams(1e-3, buoyancy=(b * gx, b * gy)), num_steps=5).state
    assert float(jnp.max(jnp.abs(out.u))) <= 1e-11 and float(jnp.max(jnp.abs(out.v))) <= 1e-11
    p = np.asarray(out.p)
    np.testing.assert_allclose(np.diff(p, axis=0) / grid.dx,
                               b * gx * np.asarray(solver.marker_on_u_faces(out.marker))[1:-1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.diff(p, axis=1) / grid.dy,
                               b * gy * np.asarray(solver.marker_on_v_faces(out.marker))[:, 1:-1], rtol=1e-9,
                               atol=1e-9)
    moved = simulate(solver, st, FlowParams(1e-3, buoyancy=(b * gy, b * gx)), num_steps=5).state
    assert float(jnp.max(jnp.abs(moved.u))) > 1e-3


def _wave_frequency(n, aspect=2):
    solver, state, params = internal_wave(n, aspect=aspect, dtype=jnp.float64)
    omega = internal_wave_frequency(2.0, 2 * math.pi / aspect, math.pi)
    steps = int(round(3 * 2 * math.pi / omega / solver.dt))
    mid = solver.grid.shape[1] // 2
    _, vs = jax.jit(lambda s: jax.lax.scan(lambda x, _: (lambda y: (y, y.v[0, mid]))(solver.step(x, params)), s, None,
                                           length=steps))(state)
    t = solver.dt * np.arange(steps + 1)
    vs = np.concatenate([[float(state.v[0, mid])], np.asarray(vs)])
    i = np.nonzero(np.sign(vs[:-1]) != np.sign(vs[1:]))[0]
    crossings = t[i] - vs[i] * (t[i + 1] - t[i]) / (vs[i + 1] - vs[i])
    assert len(crossings) == 6                                  # three periods of cos(omega t)
    amplitude = float(np.max(np.abs(vs[-steps // 3:])) / abs(vs[0]))
    return math.pi / float(np.mean(np.diff(crossings))) / omega - 1, amplitude


def test_internal_wave_frequency_converges_to_the_dispersion_relation():
    """A standing internal gravity wave in a stratified box (N = 2, wave vector at 45 degrees): the measured
    frequency against omega = N kx / |k| (linear Boussinesq theory), at 16 and 32 cells per depth."""
    err16, amp16 = _wave_frequency(16)
    err32, amp32 = _wave_frequency(32)
    assert abs(err16) <= 1e-2 and abs(err32) <= 2e-3, (err16, err32)
    assert abs(err32) * 3 <= abs(err16)                          # converging (measured: 5.2e-3 -> 9e-4)
    assert 0.97 <= amp16 <= 1.03 and 0.99 <= amp32 <= 1.01      # MacCormack keeps the wave's amplitude


def test_plume_gradients_match_finite_differences():
    """Derivatives of a smoke image wrt the source position, its log rate and the buoyancy through 6 steps of
    the plume (implicit diffusion, FFT pressure): reverse mode against central differences, forward = reverse."""
    solver, state0, params, source_fn = smoke_plume(16, dtype=jnp.float64, tol=1e-12, diffusion_tol=1e-14)
    w = jnp.asarray(np.random.default_rng(0).standard_normal(solver.grid.shape))

    def loss(p):
        prm = FlowParams(1e-3, buoyancy=p["b"], source=source_fn(p["x0"], jnp.exp(p["log_rate"])))
        out = simulate(solver, state0, prm, num_steps=6, gradient="checkpoint").state
        return jnp.sum(w * out.marker) + 10.0 * jnp.sum(out.v ** 2)

    p0 = {"x0": jnp.asarray(0.45), "log_rate": jnp.asarray(0.2), "b": jnp.asarray(1.3)}
    rep = check_grad(loss, p0, mode="rev")
    assert rep.max_rel_err <= 1e-6, str(rep)
    fwd = jax.flatten_util.ravel_pytree(jax.jit(jax.jacfwd(loss))(p0))[0]      # the same (sorted) order
    np.testing.assert_allclose(np.asarray(fwd), rep.autodiff[0], rtol=1e-10)


def test_buoyancy_and_source_bad_input():
    with pytest.raises(ValueError, match="scalar or a pair"):
        FlowParams(0.01, buoyancy=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="cell_field"):
        FlowParams(0.01, source=lambda x, y: x)
    with pytest.raises(ValueError, match="NaN"):
        FlowParams(0.01, source=np.full((4, 4), np.nan))
    solver, state0, _, _ = smoke_plume(16, dtype=jnp.float64)
    with pytest.raises(ValueError, match="grid's shape"):
        solver.step(state0, FlowParams(0.01, source=np.ones((5, 5))))
    src = solver.cell_field(lambda x, y: x + 10 * y)
    dx, dy = solver.grid.spacing
    assert src.shape == solver.grid.shape
    np.testing.assert_allclose(float(src[3, 5]), 3.5 * dx + 10 * 5.5 * dy, rtol=1e-14)   # cell centres
