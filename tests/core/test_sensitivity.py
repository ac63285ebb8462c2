import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import check_grad, directional_derivative, jacobian, jvp, vjp


def f(p):
    """Analytic: f = [a^2 sin(b), exp(a b), sum(c^3)]."""
    a, b, c = p["a"], p["b"], p["c"]
    return jnp.stack([a**2 * jnp.sin(b), jnp.exp(a * b), jnp.sum(c**3)])


P = {"a": jnp.asarray(0.7), "b": jnp.asarray(-1.3), "c": jnp.array([0.5, 2.0])}


def exact_jac():
    a, b, c = 0.7, -1.3, np.array([0.5, 2.0])
    return {
        "a": np.array([2 * a * np.sin(b), b * np.exp(a * b), 0.0]),
        "b": np.array([a**2 * np.cos(b), a * np.exp(a * b), 0.0]),
        "c": np.array([[0, 0], [0, 0], 3 * c**2]),
    }


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_jacobian_matches_analytic(mode):
    jac = jacobian(f, P, mode=mode)
    ref = exact_jac()
    for k in P:
        np.testing.assert_allclose(jac[k], ref[k], rtol=1e-13, atol=1e-14)


def test_jvp_vjp_directional():
    ref = exact_jac()
    t = {"a": jnp.asarray(1.0), "b": jnp.asarray(2.0), "c": jnp.array([0.0, -1.0])}
    _, tang = jvp(f, P, t)
    expect = ref["a"] * 1.0 + ref["b"] * 2.0 + ref["c"] @ np.array([0.0, -1.0])
    np.testing.assert_allclose(tang, expect, rtol=1e-13)
    dd = directional_derivative(f, P, t)
    np.testing.assert_allclose(dd, expect / np.sqrt(1 + 4 + 1), rtol=1e-13)
    _, cot = vjp(f, P, jnp.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(cot["a"], ref["a"][0] + 2 * ref["a"][2], rtol=1e-13)
    np.testing.assert_allclose(cot["c"], 2 * ref["c"][2], rtol=1e-13)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_check_grad_passes_on_correct_derivative(mode):
    rep = check_grad(f, P, mode=mode)
    assert rep.max_rel_err < 1e-8, str(rep)
    assert len(rep.names) == 4
    assert "check_grad" in str(rep) and "['c'][1]" in str(rep)


def test_check_grad_catches_a_wrong_derivative():
    @jax.custom_jvp
    def wrong_sin(x):
        return jnp.sin(x)

    @wrong_sin.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return jnp.sin(x), 1.1 * jnp.cos(x) * t  # 10% off

    rep = check_grad(lambda p: wrong_sin(p["x"]) + p["y"] ** 2, {"x": jnp.asarray(0.3), "y": jnp.asarray(1.0)})
    assert 0.05 < rep.max_rel_err < 0.15
    assert "['x']" in rep.worst
    assert not rep.passed(1e-6)
