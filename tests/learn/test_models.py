"""Models: periodic equivariance, deterministic init, dtype handling, small untrained output, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.learn import PeriodicCNN, VelocityCNN, periodic_pad


def test_periodic_pad_wraps():
    x = jnp.arange(16.0).reshape(4, 4)
    p = periodic_pad(x, 1)
    assert p.shape == (6, 6)
    np.testing.assert_array_equal(p[0, 1:-1], x[-1])
    np.testing.assert_array_equal(p[1:-1, 0], x[:, -1])
    assert p[0, 0] == x[-1, -1]


def test_translation_equivariance():
    """Periodic padding makes the CNN commute with periodic shifts (the truth: the torus' symmetry)."""
    net = PeriodicCNN(2, 3, 8, 2, key=jax.random.PRNGKey(0), init_scale=1.0, dtype=jnp.float64)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 12), jnp.float64)
    f = eqx.filter_jit(lambda m, x: m(x))
    shifted = f(net, jnp.roll(x, (3, -5), (1, 2)))
    np.testing.assert_allclose(shifted, jnp.roll(f(net, x), (3, -5), (1, 2)), atol=1e-13)


def test_conv_matches_explicit_stencil():
    """A single 3x3 layer equals the explicit periodic stencil sum (cross-correlation)."""
    net = PeriodicCNN(1, 1, [], key=jax.random.PRNGKey(3), init_scale=1.0, dtype=jnp.float64)
    w = np.asarray(net.layers[0].weight)[0, 0]
    b = float(np.asarray(net.layers[0].bias).ravel()[0])
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (1, 6, 7), jnp.float64))
    ref = np.full((6, 7), b)
    for a in range(3):
        for c in range(3):
            ref += w[a, c] * np.roll(x[0], (1 - a, 1 - c), (0, 1))
    np.testing.assert_allclose(np.asarray(net(jnp.asarray(x)))[0], ref, atol=1e-13)


def test_deterministic_init_and_dtype():
    a = VelocityCNN(8, 2, key=jax.random.PRNGKey(7))
    b = VelocityCNN(8, 2, key=jax.random.PRNGKey(7))
    c = VelocityCNN(8, 2, key=jax.random.PRNGKey(8))
    la, lb, lc = (jax.tree_util.tree_leaves(m) for m in (a, b, c))
    assert all(x.dtype == jnp.float32 for x in la)
    assert all(np.array_equal(x, y) for x, y in zip(la, lb))
    assert not all(np.array_equal(x, y) for x, y in zip(la, lc))
    u = jnp.ones((8, 8), jnp.float64)
    du, dv = a(u, u)
    assert du.dtype == jnp.float64 and dv.shape == (8, 8)
    du32, _ = a(u.astype(jnp.float32), u.astype(jnp.float32))
    assert du32.dtype == jnp.float32


def test_untrained_output_is_small():
    key = jax.random.PRNGKey(0)
    u, v = jax.random.normal(key, (2, 16, 16))
    zero = VelocityCNN(16, 2, key=key, init_scale=0.0)
    np.testing.assert_array_equal(zero(u, v)[0], 0.0)
    small = VelocityCNN(16, 2, key=key)
    big = VelocityCNN(16, 2, key=key, init_scale=1.0)
    s = float(jnp.max(jnp.abs(jnp.stack(small(u, v)))))
    b = float(jnp.max(jnp.abs(jnp.stack(big(u, v)))))
    assert s < 0.002 * float(jnp.max(jnp.abs(u)))
    np.testing.assert_allclose(s / b, small.net.layers[-1].weight[0, 0, 0, 0] / big.net.layers[-1].weight[0, 0, 0, 0],
                               rtol=1e-5)  # the output is linear in the last layer's scale


@pytest.mark.parametrize("kw, field", [
    (dict(kernel=2), "kernel"), (dict(activation="swish"), "activation"), (dict(init_scale=-1.0), "init_scale"),
    (dict(width=0), "width"), (dict(depth=-1), "depth"),
])
def test_bad_constructor_input(kw, field):
    args = dict(in_channels=2, out_channels=2, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=field):
        PeriodicCNN(**{**args, **kw})


def test_bad_call_input():
    m = VelocityCNN(4, 1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="same 2D shape"):
        m(jnp.zeros((8, 8)), jnp.zeros((8, 9)))
    with pytest.raises(ValueError, match="in_channels"):
        m.net(jnp.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="velocity_scale"):
        VelocityCNN(4, 1, key=jax.random.PRNGKey(0), velocity_scale=0.0)
