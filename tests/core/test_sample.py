import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import sample, split_rhat


def test_nuts_recovers_gaussian_moments():
    mu = np.array([1.0, -2.0])
    sd = np.array([0.5, 3.0])
    logp = lambda p: -0.5 * jnp.sum(((p["x"] - mu) / sd) ** 2)  # noqa: E731
    res = sample(logp, {"x": jnp.zeros(2)}, 1000, num_warmup=300, num_chains=4, key=jax.random.PRNGKey(1))
    x = res.flat()["x"]
    assert x.shape == (4000, 2)
    ess = res.ess["x"]
    assert np.all(ess > 400)
    se_mean = sd / np.sqrt(ess)
    assert np.all(np.abs(x.mean(0) - mu) < 3 * se_mean)
    # standard error of the sd estimate ~ sd / sqrt(2 ess)
    assert np.all(np.abs(x.std(0) - sd) < 3 * sd / np.sqrt(2 * ess))
    assert res.rhat_max < 1.01
    assert np.all(res.divergences == 0)
    assert np.all((res.acceptance_rate > 0.6) & (res.acceptance_rate < 0.99))


def test_split_rhat_detects_disagreeing_chains():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 500))
    bad = good + np.array([0, 0, 0, 3.0])[:, None]
    assert split_rhat(good) < 1.02
    assert split_rhat(bad) > 1.3


def test_bad_start_is_reported():
    with pytest.raises(ValueError, match="not finite"):
        sample(lambda p: jnp.where(p > 100, 0.0, -jnp.inf), jnp.zeros(1), 10, num_warmup=10, num_chains=1)


def test_sequential_chains_give_the_vectorized_draws():
    """Chains run one after another (``lax.map``) draw exactly what the ``vmap``-ed chains draw: same keys,
    same arithmetic per chain. Also checks that a ``num_samples`` below the chunk size is honoured."""
    logp = lambda x: -0.5 * jnp.sum((x - 1.0) ** 2 / jnp.asarray([1.0, 4.0]))  # noqa: E731
    kw = dict(num_warmup=30, num_chains=3, key=jax.random.PRNGKey(3), chunk=100)
    a = sample(logp, jnp.zeros(2), 17, **kw)
    b = sample(logp, jnp.zeros(2), 17, chain_method="sequential", **kw)
    assert a.samples.shape == b.samples.shape == (3, 17, 2)
    np.testing.assert_allclose(b.samples, a.samples, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.step_size, a.step_size, rtol=1e-12)


def test_bad_chain_method():
    with pytest.raises(ValueError, match="chain_method"):
        sample(lambda x: -jnp.sum(x ** 2), jnp.zeros(1), 10, num_warmup=10, chain_method="pmap")
