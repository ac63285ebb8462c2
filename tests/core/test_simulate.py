import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import Checkpoint, Recursive, simulate


class Osc(eqx.Module):
    """Damped nonlinear oscillator, x'' = -w^2 sin(x) - c x'; RK2 step."""

    dt: float = 0.01

    def f(self, s, p):
        x, v = s
        return jnp.stack([v, -p["w"] ** 2 * jnp.sin(x) - p["c"] * v])

    def step(self, s, p, dt=None):
        h = self.dt if dt is None else dt
        k1 = self.f(s, p)
        k2 = self.f(s + 0.5 * h * k1, p)
        return s + h * k2

    def max_dt(self, s, p):
        return 0.02 / (1.0 + jnp.abs(s[1]))


P = {"w": jnp.asarray(1.3), "c": jnp.asarray(0.1)}
S0 = jnp.array([1.0, 0.0])


def loss(p, gradient, n=1000):
    return jnp.sum(simulate(Osc(), S0, p, num_steps=n, gradient=gradient).state ** 2)


@pytest.mark.parametrize("gradient", ["checkpoint", "recursive", Checkpoint(7), Recursive(3)])
def test_strategies_same_gradient(gradient):
    g_ref = jax.grad(loss)(P, "store")
    g = jax.grad(loss)(P, gradient)
    for k in P:
        assert abs(g[k] - g_ref[k]) <= 1e-10 * abs(g_ref[k])
    # values too
    assert abs(loss(P, gradient) - loss(P, "store")) <= 1e-12


def test_forward_and_reverse_agree():
    for gradient in ["store", "checkpoint", "recursive"]:
        f = lambda w, gradient=gradient: loss({"w": w, "c": P["c"]}, gradient, 300)
        rev = jax.grad(f)(P["w"])
        fwd = jax.jacfwd(f)(P["w"])
        fd = (f(P["w"] + 1e-6) - f(P["w"] - 1e-6)) / 2e-6
        assert abs(rev - fwd) <= 1e-10 * abs(rev)
        assert abs(rev - fd) <= 1e-6 * abs(rev)


def test_fixed_steps_match_python_loop_and_snapshots():
    solver = Osc()
    sol = simulate(solver, S0, P, num_steps=25, save_every=10)
    s = S0
    ref = [s]
    for i in range(25):
        s = solver.step(s, P)
        if (i + 1) % 10 == 0:
            ref.append(s)
    np.testing.assert_allclose(sol.state, s, rtol=1e-14)
    assert sol.snapshots.shape == (3, 2)
    np.testing.assert_allclose(sol.snapshots, np.stack(ref), rtol=1e-14)
    assert list(np.asarray(sol.ts)) == [0, 10, 20]
    assert int(sol.num_steps) == 25


def test_t_end_lands_exactly_and_is_differentiable():
    solver = Osc()
    sol = simulate(solver, S0, P, t_end=1.234, max_steps=500)
    assert float(sol.t) == 1.234
    assert bool(sol.reached)
    # same thing with a Python loop
    s, t, n = S0, 0.0, 0
    while t < 1.234:
        h = float(solver.max_dt(s, P))
        last = h >= 1.234 - t
        h = 1.234 - t if last else h
        s = solver.step(s, P, h)
        t = 1.234 if last else t + h
        n += 1
    np.testing.assert_allclose(sol.state, s, rtol=1e-12)
    assert int(sol.num_steps) == n

    def f(w, gradient):
        return simulate(solver, S0, {"w": w, "c": P["c"]}, t_end=1.234, max_steps=500, gradient=gradient).state[0]

    rev = jax.grad(f)(P["w"], "store")
    for gradient in ["checkpoint", "recursive"]:
        assert abs(jax.grad(f)(P["w"], gradient) - rev) <= 1e-10 * abs(rev)
    fwd = jax.jacfwd(f)(P["w"], "store")
    fd = (f(P["w"] + 1e-6, "store") - f(P["w"] - 1e-6, "store")) / 2e-6
    assert abs(fwd - rev) <= 1e-10 * abs(rev)
    assert abs(fd - rev) <= 1e-6 * abs(rev)


def test_save_at_and_max_steps_status():
    solver = Osc()
    sol = simulate(solver, S0, P, save_at=jnp.array([0.0, 0.5, 1.0]), max_steps=200)
    np.testing.assert_allclose(sol.ts, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(sol.snapshots[0], S0)
    np.testing.assert_allclose(sol.snapshots[-1], sol.state)
    short = simulate(solver, S0, P, t_end=10.0, max_steps=5)
    assert not bool(short.reached)
    with pytest.raises(Exception, match="max_steps"):
        simulate(solver, S0, P, t_end=10.0, max_steps=5, throw=True).state.block_until_ready()


def test_vmap_over_params_and_jit():
    solver = Osc()
    ws = jnp.linspace(0.5, 2.0, 5)
    run = jax.jit(lambda w: simulate(solver, S0, {"w": w, "c": P["c"]}, num_steps=100).state)
    batched = jax.vmap(run)(ws)
    for i, w in enumerate(ws):
        np.testing.assert_allclose(batched[i], run(w), rtol=1e-13)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(), "exactly one"),
    (dict(num_steps=3, t_end=1.0), "exactly one"),
    (dict(num_steps=-1), "num_steps"),
    (dict(num_steps=2.5), "num_steps"),
    (dict(t_end=1.0), "max_steps"),
    (dict(t_end=-1.0, max_steps=3), "t_end"),
    (dict(num_steps=3, gradient="magic"), "gradient"),
    (dict(num_steps=3, gradient="adjoint"), "adjoint"),
])
def test_bad_input(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        simulate(Osc(), S0, P, **kwargs)
