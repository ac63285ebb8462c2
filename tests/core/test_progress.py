"""simulate(progress=True): one bar per forward pass, fed from the compiled loop, never replayed by the
reverse pass's recomputation; same results as without it."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffphys.core.progress as progress_module
from diffphys.core import Store, simulate


class Osc(eqx.Module):
    masked_steps = True

    def step(self, s, p, dt=0.01):
        return s + dt * jnp.stack([s[1], -p * s[0]])

    def max_dt(self, s, p):
        return 0.01 + 0.0 * s[0]


S0 = jnp.array([1.0, 0.0])


@pytest.fixture
def bars(monkeypatch):
    log = []

    class Bar:
        def __init__(self, total=None, **kwargs):
            self.total, self.n = total, 0
            log.append(self)
            self.updates, self.closed = [], False

        def update(self, k):
            self.n += k
            self.updates.append(self.n)

        def close(self):
            self.closed = True

    monkeypatch.setattr(progress_module, "progress_bar", lambda **kw: Bar(**kw))
    return log


@pytest.mark.parametrize("gradient", ["store", "checkpoint", "recursive", Store(remat_steps=True), "forward"])
def test_one_bar_per_pass_and_none_from_the_reverse_pass(bars, gradient):
    def run(p, progress):
        return simulate(Osc(), S0, p, t_end=3.0, max_steps=400, gradient=gradient, progress=progress).state

    f = jax.jit(lambda p: run(p, True))
    np.testing.assert_array_equal(np.asarray(f(1.3)), np.asarray(jax.jit(lambda p: run(p, False))(1.3)))
    jax.block_until_ready(f(1.3))
    assert len(bars) == 2  # two calls of the compiled run, one bar each
    for b in bars:
        assert b.closed and b.n == b.total == 1000  # per mille of t_end
        assert b.updates == sorted(b.updates) and len(b.updates) >= 3  # recursive: its outermost units only
    bars.clear()
    g = jax.jit(jax.grad(lambda p: jnp.sum(run(p, True))))(1.3)
    assert float(g) == pytest.approx(float(jax.grad(lambda p: jnp.sum(run(p, False)))(1.3)), rel=1e-12)
    assert len(bars) == 1 and bars[0].closed and bars[0].n == 1000


def test_fixed_steps_with_segments_and_vmap(bars):
    def run(p):
        return simulate(Osc(), S0, p, num_steps=250, save_every=50, gradient="checkpoint", progress=True).state

    jax.block_until_ready(jax.jit(run)(1.3))
    assert len(bars) == 1 and bars[0].updates == [50, 100, 150, 200, 250] and bars[0].closed
    bars.clear()
    out = jax.jit(jax.vmap(lambda p: simulate(Osc(), S0, p, num_steps=120, progress=True).state))(jnp.array([1.0, 2.0]))
    assert out.shape == (2, 2) and bars and all(b.n == 120 and b.closed for b in bars)


def test_bad_progress_values():
    with pytest.raises(ValueError, match="progress"):
        simulate(Osc(), S0, 1.0, num_steps=3, progress="yes")

    class Adjoint:
        def simulate(self, solver, state0, params, **kwargs):
            return None

    with pytest.raises(ValueError, match="progress"):
        simulate(Osc(), S0, 1.0, num_steps=3, gradient=Adjoint(), progress=True)
