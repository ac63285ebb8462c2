"""Solver-in-the-loop workflow: conservative restriction, reference trajectories, training that fixes a
coarse solver with a wrong viscosity on held-out data, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.flow import Boundaries, FlowParams, FlowSolver, Grid
from diffphys.learn import (VelocityCNN, evaluate, make_flow_pair, reference_trajectory, restrict, smooth_vortices,
                            train_correction, velocity_state)


def test_restrict_is_conservative():
    """The coarse divergence is the mean of the fine divergences of the cells inside (the truth: the
    divergence theorem on the coarse cell), so divergence-free fields stay divergence-free."""
    pair = make_flow_pair(32, 8, 0.01)
    u, v = smooth_vortices(jax.random.PRNGKey(3), 32, kmax=3, dtype=jnp.float64)
    s = pair.fine.initial_state(u, v, dtype=jnp.float64)  # projected: divergence-free to round-off
    assert float(jnp.max(jnp.abs(pair.fine.divergence(s.u, s.v)))) < 1e-10
    uc, vc = restrict(s.u, s.v, 4)
    assert uc.shape == (8, 8)
    assert float(jnp.max(jnp.abs(pair.coarse.divergence(uc, vc)))) < 1e-10
    # a random (divergent) field: coarse divergence = block mean of the fine divergence
    ur, vr = jax.random.normal(jax.random.PRNGKey(4), (2, 32, 32), jnp.float64)
    dc = pair.coarse.divergence(*restrict(ur, vr, 4))
    df = pair.fine.divergence(ur, vr).reshape(8, 4, 8, 4).mean((1, 3))
    np.testing.assert_allclose(dc, df, atol=1e-12)
    # constants are kept
    uc, vc = restrict(jnp.full((32, 32), 0.7), jnp.full((32, 32), -0.2), 4)
    np.testing.assert_allclose(uc, 0.7)
    np.testing.assert_allclose(vc, -0.2)


def test_reference_trajectory_matches_fine_simulation():
    pair = make_flow_pair(16, 8, 0.02)
    u, v = smooth_vortices(jax.random.PRNGKey(0), 16, kmax=2, dtype=jnp.float64)
    U, V = reference_trajectory(pair, u, v, 3)
    assert U.shape == (4, 8, 8)
    sol = simulate(pair.fine, pair.fine.initial_state(u, v, dtype=jnp.float64), pair.params, num_steps=6,
                   save_every=2)
    ur, vr = restrict(sol.snapshots.u, sol.snapshots.v, 2)
    np.testing.assert_allclose(U, ur, atol=1e-12)
    np.testing.assert_allclose(V, vr, atol=1e-12)
    assert pair.coarse.dt == pytest.approx(2 * pair.fine.dt)


@pytest.mark.slow
def test_training_corrects_wrong_viscosity_on_held_out_data():
    """Known missing physics: the 'reference' is the coarse solver itself with viscosity 0.2, the solver
    being corrected uses 0.02. The needed correction is extra diffusion, local and nearly linear, which a
    3x3 CNN can represent; after a short training the held-out error must drop severalfold."""
    n = 8
    grid = Grid((n, n), size=(2 * np.pi, 2 * np.pi))
    solver = FlowSolver(grid, Boundaries.all_periodic(), 0.5 * grid.dx, velocity_scale=1.0, markers=False)
    true, wrong = FlowParams(0.2), FlowParams(0.02)

    def traj(seed, steps):
        u, v = smooth_vortices(jax.random.PRNGKey(seed), n, kmax=2, dtype=jnp.float32)
        s = simulate(solver, velocity_state(solver, u, v), true, num_steps=steps, save_every=1).snapshots
        return s.u, s.v

    train = [traj(0, 12), traj(1, 12)]
    test = traj(2, 16)  # held out: another seed, a longer horizon than the training window
    model = VelocityCNN(8, 1, key=jax.random.PRNGKey(0))
    res = train_correction(model, solver, wrong, train, k=4, iterations=150, batch=6, learning_rate=3e-3)
    assert res.history.shape == (150,) and res.num_windows == 2 * 9
    assert res.history[-10:].mean() < 0.05 * res.history[:5].mean()  # measured 0.013
    ev = evaluate(res.model, solver, wrong, *test)
    e_plain, e_corr = ev["err_plain"].mean(), ev["err_corrected"].mean()
    assert e_plain > 0.05
    assert e_corr < e_plain / 5, (e_plain, e_corr)  # measured 10x (1.33 -> 0.133)
    # the untrained model does not do this: the gain comes from training
    ev0 = evaluate(model, solver, wrong, *test)
    assert ev0["err_corrected"].mean() > 0.9 * e_plain


def test_bad_input():
    with pytest.raises(ValueError, match="n_fine must be a multiple"):
        make_flow_pair(30, 8)
    with pytest.raises(ValueError, match="viscosity"):
        make_flow_pair(16, 8, viscosity=0.0)
    with pytest.raises(ValueError, match="factor"):
        restrict(jnp.zeros((10, 10)), jnp.zeros((10, 10)), 4)
    pair = make_flow_pair(16, 8, 0.02)
    U = jnp.zeros((4, 8, 8))
    model = VelocityCNN(4, 1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="k = 4 needs at least k steps"):
        train_correction(model, pair.coarse, pair.params, [(U, U)], k=4)
    with pytest.raises(ValueError, match=r"trajectories\[0\] must be"):
        train_correction(model, pair.coarse, pair.params, [(U, jnp.zeros((4, 8, 9)))], k=2)
    with pytest.raises(ValueError, match="k "):
        train_correction(model, pair.coarse, pair.params, [(U, U)], k=0)
    with pytest.raises(ValueError, match="iterations"):
        train_correction(model, pair.coarse, pair.params, [(U, U)], k=1, iterations=-1)
    with pytest.raises(ValueError, match="horizon"):
        evaluate(model, pair.coarse, pair.params, U, U, horizon=4)
