"""Unrolled loss: gradients vs finite differences through the flow solver, checkpointing, jit/vmap,
the untrained correction, a toy problem with known missing physics, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from diffphys.core import simulate
from jax.flatten_util import ravel_pytree
from diffphys.flow import Boundaries, FlowParams, FlowSolver, Grid
from diffphys.learn import (PeriodicCNN, VelocityCNN, flow_correction, rollout, smooth_vortices, unrolled_loss,
                            velocity_state)


def tiny_flow(n=8, nu=0.05):
    grid = Grid((n, n), size=(2 * np.pi, 2 * np.pi))
    solver = FlowSolver(grid, Boundaries.all_periodic(), 0.5 * grid.dx, velocity_scale=1.0, markers=False,
                        diffusion="explicit")  # explicit: stable here (nu dt 4 / dx^2 <= 0.4), compiles faster
    u, v = smooth_vortices(jax.random.PRNGKey(0), n, kmax=2, dtype=jnp.float64)
    return solver, FlowParams(nu), velocity_state(solver, u, v)


obs = lambda s: (s.u, s.v)  # noqa: E731


def _targets(solver, params, state0, k, nu_true=0.15):
    """Targets: the same solver with another viscosity (so the loss is not at a minimum)."""
    sol = simulate(solver, state0, FlowParams(nu_true), num_steps=k, save_every=1)
    return sol.snapshots.u[1:], sol.snapshots.v[1:]


def test_grad_matches_finite_differences():
    solver, params, state0 = tiny_flow()
    k = 3
    targets = _targets(solver, params, state0, k)
    model = VelocityCNN([3], key=jax.random.PRNGKey(1), init_scale=0.3, dtype=jnp.float64)
    pm, static = eqx.partition(model, eqx.is_inexact_array)
    step = lambda s: solver.step(s, params)  # noqa: E731

    def loss(p):
        return unrolled_loss(step, flow_correction, eqx.combine(p, static), state0, targets, k, observe=obs)

    loss_j = jax.jit(loss)
    assert float(loss_j(pm)) > 0
    # directional derivatives: reverse-mode gradient . d against central differences along d, for random
    # directions and for single weights of the first and the last layer
    g, unravel = ravel_pytree(jax.jit(jax.grad(loss))(pm))
    rng = np.random.default_rng(0)
    dirs = [rng.normal(size=g.size) for _ in range(3)] + [np.eye(g.size)[i] for i in (0, 20, g.size - 1)]
    x0, _ = ravel_pytree(pm)
    h = 1e-5
    for d in dirs:
        d = jnp.asarray(d / np.linalg.norm(d))
        fd = (loss_j(unravel(x0 + h * d)) - loss_j(unravel(x0 - h * d))) / (2 * h)
        ad = float(jnp.dot(g, d))
        assert abs(ad - float(fd)) <= 1e-6 * max(abs(ad), 1e-3 * float(jnp.linalg.norm(g))), (ad, float(fd))
    # reverse mode with jax.checkpoint per step: the same gradient
    lc = lambda p: unrolled_loss(step, flow_correction, eqx.combine(p, static), state0, targets, k,  # noqa: E731
                                 observe=obs, checkpoint=True)
    g1, g2 = unravel(g), jax.jit(jax.grad(lc))(pm)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.slow
def test_untrained_correction_matches_plain_rollout():
    solver, params, state0 = tiny_flow(16)
    k = 10
    step = lambda s: solver.step(s, params)  # noqa: E731
    plain = simulate(solver, state0, params, num_steps=k, save_every=1).snapshots
    zero = VelocityCNN(8, 2, key=jax.random.PRNGKey(2), init_scale=0.0)
    _, (u0, v0) = rollout(step, flow_correction, zero, state0, k, observe=obs)
    np.testing.assert_allclose(u0, plain.u[1:], rtol=0, atol=1e-13)
    np.testing.assert_allclose(v0, plain.v[1:], rtol=0, atol=1e-13)
    default = VelocityCNN(8, 2, key=jax.random.PRNGKey(2))  # init_scale 1e-3
    _, (u1, v1) = rollout(step, flow_correction, default, state0, k, observe=obs)
    rel = np.sqrt(np.sum((u1 - plain.u[1:]) ** 2 + (v1 - plain.v[1:]) ** 2) /
                  np.sum(plain.u[1:] ** 2 + plain.v[1:] ** 2))
    assert rel < 3e-3
    # the loss of the plain solver against its own trajectory is zero
    loss = unrolled_loss(step, None, None, state0, (plain.u[1:], plain.v[1:]), k, observe=obs)
    assert float(loss) < 1e-28


@pytest.mark.slow
def test_jit_and_vmap_agree_with_eager():
    solver, params, state0 = tiny_flow()
    k = 2
    tu, tv = _targets(solver, params, state0, k)
    model = VelocityCNN([4], key=jax.random.PRNGKey(1), init_scale=0.1, dtype=jnp.float64)
    step = lambda s: solver.step(s, params)  # noqa: E731
    f = lambda m, s, t: unrolled_loss(step, flow_correction, m, s, t, k, observe=obs)  # noqa: E731
    eager = f(model, state0, (tu, tv))
    np.testing.assert_allclose(eqx.filter_jit(f)(model, state0, (tu, tv)), eager, rtol=1e-12)
    half_state = velocity_state(solver, 0.5 * state0.u, 0.5 * state0.v)
    states = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), state0, half_state)
    batched = jax.vmap(f, in_axes=(None, 0, None))(model, states, (tu, tv))
    np.testing.assert_allclose(batched[0], eager, rtol=1e-12)
    half = f(model, half_state, (tu, tv))
    np.testing.assert_allclose(batched[1], half, rtol=1e-12)


# ---------------------------------------------------------------- a toy with known missing physics

def _heat_step(a):
    return lambda u: u + a * (jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1))


class Circulant(eqx.Module):
    """A linear periodic correction ``c * u`` (circular convolution with a full-width kernel)."""

    kernel: jax.Array

    def __call__(self, u):
        return jnp.real(jnp.fft.ifft(jnp.fft.fft(self.kernel) * jnp.fft.fft(u)))


def test_training_fixes_known_missing_physics():
    """1D periodic heat equation: the 'coarse solver' diffuses with a_c = 0.05 instead of a_t = 0.2.
    The exact fix, (I + C)(I + a_c L) = I + a_t L, is a circulant, so a linear circulant model trained
    on unrolled windows of one trajectory must drive the error on held-out initial data close to 0."""
    n, k, horizon = 32, 4, 16
    true_step, coarse_step = _heat_step(0.2), _heat_step(0.05)
    correct = lambda m, u: u + m(u)  # noqa: E731
    x = np.arange(n) / n

    def traj(u0, steps):
        out = [u0]
        for _ in range(steps):
            out.append(true_step(out[-1]))
        return jnp.stack(out)

    rng = np.random.default_rng(0)
    train_u = jnp.asarray(rng.normal(size=n))
    train = traj(train_u, 40)
    test_u = jnp.asarray(np.sin(2 * np.pi * 3 * x) + 0.5 * np.cos(2 * np.pi * 7 * x + 0.3))  # held out
    test = traj(test_u, horizon)
    model = Circulant(jnp.zeros(n))

    def batch_loss(m):
        return jnp.mean(jnp.stack([unrolled_loss(coarse_step, correct, m, train[s], train[s + 1:], k)
                                   for s in range(0, 36, 3)]))

    opt = optax.adam(1e-2)
    state = opt.init(model)

    @jax.jit
    def update(m, st):
        val, g = jax.value_and_grad(batch_loss)(m)
        up, st = opt.update(g, st)
        return optax.apply_updates(m, up), st, val

    for _ in range(600):
        model, state, _ = update(model, state)

    def err(m, corr):
        _, pred = rollout(coarse_step, corr, m, test[0], horizon)
        return float(jnp.linalg.norm(pred - test[1:]) / jnp.linalg.norm(test[1:]))

    e_plain, e_corr = err(None, None), err(model, correct)
    assert e_plain > 0.1
    assert e_corr < e_plain / 500, (e_plain, e_corr)  # measured 4.6e3x (float64)


# ---------------------------------------------------------------- bad input

def test_bad_input():
    solver, params, state0 = tiny_flow()
    step = lambda s: solver.step(s, params)  # noqa: E731
    tu = jnp.zeros((3, 8, 8))
    for k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k "):
            unrolled_loss(step, None, None, state0, (tu, tu), k, observe=obs)
        with pytest.raises(ValueError, match="k "):
            rollout(step, None, None, state0, k)
    with pytest.raises(ValueError, match="targets hold 3 steps but k = 4"):
        unrolled_loss(step, None, None, state0, (tu, tu), 4, observe=obs)
    with pytest.raises(ValueError, match="targets leaf 1 must have shape"):
        unrolled_loss(step, None, None, state0, (tu, jnp.zeros((3, 8, 9))), 2, observe=obs)
    with pytest.raises(ValueError, match="targets must have the structure"):
        unrolled_loss(step, None, None, state0, tu, 2, observe=obs)
    with pytest.raises(ValueError, match="kernel must be odd"):
        PeriodicCNN(2, 2, key=jax.random.PRNGKey(0), kernel=4)
