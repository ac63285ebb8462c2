"""Masked post-t_end slots (``masked_steps = True``) and per-step rematerialisation in Checkpoint:
same values and derivatives as the default lax.cond loop and plain autodiff."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import Checkpoint, Recursive, Store, simulate


class Osc(eqx.Module):
    """Damped nonlinear oscillator with an adaptive step (as in test_simulate)."""

    def f(self, s, p):
        x, v = s
        return jnp.stack([v, -p["w"] ** 2 * jnp.sin(x) - p["c"] * v])

    def step(self, s, p, dt=0.01):
        k1 = self.f(s, p)
        return s + dt * self.f(s + 0.5 * dt * k1, p)

    def max_dt(self, s, p):
        return 0.02 / (1.0 + jnp.abs(s[1]))


P = {"w": jnp.asarray(1.3), "c": jnp.asarray(0.1)}
S0 = jnp.array([1.0, 0.0])


class MaskedOsc(Osc):
    masked_steps = True


def run(solver, p, gradient, t_end=3.0, max_steps=400, save_at=None):
    return simulate(solver, S0, p, t_end=t_end, max_steps=max_steps, gradient=gradient, save_at=save_at)


@pytest.mark.parametrize("gradient", ["store", "checkpoint", "recursive", Checkpoint(7, remat_steps=True),
                                      Recursive(3), Store(remat_steps=True)])
def test_masked_loop_equals_cond_loop(gradient):
    ref = run(Osc(), P, "store")
    sol = run(MaskedOsc(), P, gradient)
    assert int(sol.num_steps) == int(ref.num_steps) < 400  # the run ends well before max_steps
    np.testing.assert_array_equal(np.asarray(sol.state), np.asarray(ref.state))
    assert float(sol.t) == float(ref.t) == 3.0 and bool(sol.reached)

    def loss(p, solver, g):
        return jnp.sum(run(solver, p, g).state ** 2)

    g_ref = jax.grad(loss)(P, Osc(), "store")
    g = jax.grad(loss)(P, MaskedOsc(), gradient)
    g_fwd = jax.jacfwd(loss)(P, MaskedOsc(), gradient)
    for k in P:
        assert abs(g[k] - g_ref[k]) <= 1e-10 * abs(g_ref[k])
        assert abs(g_fwd[k] - g_ref[k]) <= 1e-10 * abs(g_ref[k])


def test_masked_loop_not_reached_and_save_at():
    # too few slots: stops at max_steps like the cond loop (checkpoint rounds the slots up to whole chunks)
    for gradient, n in (("store", 37), ("checkpoint", 42)):
        a, b = run(Osc(), P, gradient, max_steps=37), run(MaskedOsc(), P, gradient, max_steps=37)
        assert int(a.num_steps) == int(b.num_steps) == n and not bool(b.reached)
        np.testing.assert_array_equal(np.asarray(a.state), np.asarray(b.state))
    ts = jnp.asarray([0.5, 1.0, 2.5])
    a, b = run(Osc(), P, "store", save_at=ts), run(MaskedOsc(), P, "store", save_at=ts)
    np.testing.assert_array_equal(np.asarray(a.snapshots), np.asarray(b.snapshots))
    np.testing.assert_array_equal(np.asarray(a.ts), np.asarray(b.ts))


@pytest.mark.parametrize("strategy", [Checkpoint(remat_steps=True), Store(remat_steps=True)])
def test_remat_steps_same_gradient_fixed_steps(strategy):
    def loss(p, gradient):
        return jnp.sum(simulate(Osc(), S0, p, num_steps=500, gradient=gradient).state ** 2)

    g_ref = jax.grad(loss)(P, "store")
    g = jax.grad(loss)(P, strategy)
    for k in P:
        assert abs(g[k] - g_ref[k]) <= 1e-10 * abs(g_ref[k])


@pytest.mark.parametrize("cls", [Checkpoint, Store])
def test_remat_steps_bad_input(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__} remat_steps"):
        cls(remat_steps=1)
    assert "remat_steps=True" in repr(cls(remat_steps=True))
