"""Flow control: gradients of the control loss against central finite differences (float64), the zero-control
rollout against the plain solver, a short optimisation, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.flow import Boundaries, FlowParams, FlowSolver, Grid
from diffphys.learn import (control_loss, control_rollout, force_ms, gaussian_blob, optimize_controls, ring,
                            zero_forces)


def _setup(n=8, boundaries=None):
    solver = FlowSolver(Grid((n, n), size=(1.0, 1.0)), boundaries or Boundaries.all_periodic(), dt=0.05,
                        diffusion="explicit", velocity_scale=1.0)
    params = FlowParams(1e-3)
    m0 = gaussian_blob(solver, (0.35, 0.5), 0.12, dtype=jnp.float64)
    target = gaussian_blob(solver, (0.6, 0.45), 0.12, dtype=jnp.float64)
    return solver, params, solver.initial_state(marker=m0, dtype=jnp.float64), target


def _random_forces(solver, s0, T, key, scale):
    k1, k2 = jax.random.split(key)
    return (scale * jax.random.normal(k1, (T, *s0.u.shape), jnp.float64),
            scale * jax.random.normal(k2, (T, *s0.v.shape), jnp.float64))


@pytest.mark.parametrize("walls", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_gradient_matches_central_differences(walls):
    from diffphys.flow import wall

    bcs = Boundaries(wall(), wall(), wall(), wall()) if walls else None
    solver, params, s0, target = _setup(boundaries=bcs)
    T = 3
    forces = _random_forces(solver, s0, T, jax.random.PRNGKey(0), 1.0)
    loss = jax.jit(lambda f: control_loss(solver, params, s0, target, f, weight=1e-2))
    grad = jax.jit(jax.grad(loss))(forces)
    eps = 1e-6
    for i in range(3):
        d = _random_forces(solver, s0, T, jax.random.PRNGKey(100 + i), 1.0)
        plus = loss(jax.tree_util.tree_map(lambda f, e: f + eps * e, forces, d))
        minus = loss(jax.tree_util.tree_map(lambda f, e: f - eps * e, forces, d))
        fd = float(plus - minus) / (2 * eps)
        ad = float(sum(jnp.sum(g * e) for g, e in zip(grad, d)))
        assert abs(ad) > 1e-6  # a real signal
        assert ad == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_zero_controls_reproduce_the_plain_solver():
    solver, params, s0, target = _setup()
    s0 = solver.initial_state(u=lambda x, y: 0.3 * np.sin(2 * np.pi * y), v=lambda x, y: 0.2 * np.cos(2 * np.pi * x),
                              marker=s0.marker, dtype=jnp.float64)
    T = 4
    plain = jax.jit(lambda s: jax.lax.scan(lambda x, _: (solver.step(x, params), None), s, None, length=T)[0])
    s = plain(s0)
    final, markers = jax.jit(lambda f: control_rollout(solver, params, s0, f, project=False, checkpoint=False))(
        zero_forces(solver, s0, T))
    # equal to round-off: the two are different XLA programs (adding a zero force may change how the compiler
    # contracts a * b + c), so last-bit equality is not promised; 1e-14 on values of order 0.1-1 is a few ulps
    for a, b in ((final.u, s.u), (final.v, s.v), (final.marker, s.marker)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.asarray(markers[-1]), np.asarray(s.marker), rtol=0, atol=1e-14)
    # with the extra projection of the (already divergence-free) velocity: equal to round-off
    final_p, _ = control_rollout(solver, params, s0, zero_forces(solver, s0, T), project=True)
    np.testing.assert_allclose(np.asarray(final_p.marker), np.asarray(s.marker), atol=1e-12)


def test_projected_forcing_keeps_the_flow_divergence_free():
    solver, params, s0, _ = _setup()
    forces = _random_forces(solver, s0, 3, jax.random.PRNGKey(3), 2.0)
    final, _ = control_rollout(solver, params, s0, forces, project=True)
    assert float(jnp.max(jnp.abs(solver.divergence(final.u, final.v)))) < 1e-10
    assert float(jnp.max(jnp.abs(final.u))) > 1e-2  # the forces did move the fluid


@pytest.mark.slow
def test_short_optimisation_reaches_the_target():
    solver, params, s0, target = _setup(n=8)
    res = optimize_controls(solver, params, s0, target, 6, iterations=30, learning_rate=0.2, weight=1e-4)
    assert res.loss_initial == pytest.approx(1.0, abs=1e-12)
    assert res.history[0] == pytest.approx(1.0, abs=1e-12)
    assert res.loss_final < 0.3  # measured 0.120; a wrong-signed or garbled gradient stays near (or above) 1
    assert res.misfit_final <= res.loss_final
    assert res.force_rms > 0
    m0, mT = float(jnp.sum(s0.marker)), float(jnp.sum(res.final.marker))
    assert res.marker_mass_rel_change == pytest.approx((mT - m0) / m0)
    assert res.markers.shape == (6, 8, 8)
    np.testing.assert_allclose(res.markers[-1], np.asarray(res.final.marker))


def test_shapes():
    solver, _, _, _ = _setup(n=16)
    b = np.asarray(gaussian_blob(solver, (0.05, 0.53125), 0.1))  # y on the cell centres of row 8
    assert b.max() == pytest.approx(np.exp(-(0.03125 - 0.05) ** 2 / 0.02), rel=1e-12)  # nearest cell centre
    assert b[-1, 8] == pytest.approx(b[0, 8] * np.exp(((0.03125 - 0.05) ** 2 - (0.96875 - 1.05) ** 2) / 0.02))
    r = np.asarray(ring(solver, (0.5, 0.5), 0.25, 0.05))
    assert r[8, 8] < 1e-3 and r[12, 8] > 0.8  # hole in the middle, peak near radius 0.25


def test_bad_input_names_the_field():
    solver, params, s0, target = _setup()
    f = zero_forces(solver, s0, 2)
    with pytest.raises(ValueError, match="T"):
        zero_forces(solver, s0, 0)
    with pytest.raises(ValueError, match="T"):
        optimize_controls(solver, params, s0, target, 0)
    with pytest.raises(ValueError, match="T >= 1"):
        control_rollout(solver, params, s0, (f[0][:0], f[1][:0]))
    with pytest.raises(ValueError, match="target"):
        control_loss(solver, params, s0, target[:-1], f)
    with pytest.raises(ValueError, match="target"):
        optimize_controls(solver, params, s0, target[:, :4], 2)
    with pytest.raises(ValueError, match="fu"):
        control_loss(solver, params, s0, target, (f[0][:, :-1], f[1]))
    with pytest.raises(ValueError, match="fv"):
        control_loss(solver, params, s0, target, (f[0], f[1][..., :3]))
    with pytest.raises(ValueError, match="same number of steps"):
        control_loss(solver, params, s0, target, (f[0], f[1][:1]))
    with pytest.raises(ValueError, match="weight"):
        control_loss(solver, params, s0, target, f, weight=-1.0)
    with pytest.raises(ValueError, match="iterations"):
        optimize_controls(solver, params, s0, target, 2, iterations=-1)
    with pytest.raises(ValueError, match="learning_rate"):
        optimize_controls(solver, params, s0, target, 2, learning_rate=0.0)
    with pytest.raises(ValueError, match="forces0"):
        optimize_controls(solver, params, s0, target, 3, forces0=f)
    assert float(force_ms(f)) == 0.0
