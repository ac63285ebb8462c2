"""Posterior sampling with gradients: NUTS (blackjax) with window adaptation of step size and mass matrix.

``sample(log_density, init, num_samples, ...)`` runs ``num_chains`` chains (vectorised with ``vmap``),
each with its own Stan-style warmup, and returns the draws with diagnostics: acceptance rate, number of
divergent transitions, split R-hat and effective sample size per parameter component.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .checks import check_finite, check_int
from .progress import progress_bar

__all__ = ["sample", "SampleResult", "split_rhat", "effective_sample_size"]


@dataclasses.dataclass
class SampleResult:
    """Draws and diagnostics from :func:`sample`.

    Attributes:
        samples: pytree like ``init`` with leading axes ``(num_chains, num_samples)``.
        acceptance_rate: mean acceptance probability per chain.
        divergences: number of divergent transitions per chain.
        rhat: split R-hat per component (pytree like ``init``); NaN with one chain.
        ess: effective sample size per component, all chains together (pytree like ``init``).
        step_size: adapted step size per chain.
    """

    samples: Any
    acceptance_rate: np.ndarray
    divergences: np.ndarray
    rhat: Any
    ess: Any
    step_size: np.ndarray

    @property
    def rhat_max(self) -> float:
        return float(np.nanmax(np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(self.rhat)])))

    def quantiles(self, q):
        """Quantiles of every component over all chains and draws (pytree like ``init``)."""
        return jax.tree_util.tree_map(lambda x: np.quantile(np.asarray(x).reshape((-1,) + x.shape[2:]), q, axis=0),
                                      self.samples)

    def flat(self):
        """All draws as a pytree with one leading axis (chains concatenated)."""
        return jax.tree_util.tree_map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:]), self.samples)


def split_rhat(x: np.ndarray) -> np.ndarray:
    """Split R-hat (Gelman et al. 2013) of draws ``x`` with shape (chains, draws, ...)."""
    x = np.asarray(x, dtype=np.float64)
    c, n = x.shape[:2]
    half = n // 2
    if c * 2 < 4 or half < 2:
        return np.full(x.shape[2:], np.nan)
    xs = np.concatenate([x[:, :half], x[:, half:2 * half]], axis=0)  # (2c, half, ...)
    chain_means = xs.mean(axis=1)
    w = xs.var(axis=1, ddof=1).mean(axis=0)
    b = half * chain_means.var(axis=0, ddof=1)
    var_plus = (half - 1) / half * w + b / half
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var_plus / w)


def effective_sample_size(x: np.ndarray) -> np.ndarray:
    """ESS of draws (chains, draws, ...) with Geyer's initial monotone sequence estimator."""
    x = np.asarray(x, dtype=np.float64)
    c, n = x.shape[:2]
    flat = x.reshape(c, n, -1)
    out = np.empty(flat.shape[2])
    for j in range(flat.shape[2]):
        y = flat[:, :, j] - flat[:, :, j].mean(axis=1, keepdims=True)
        f = np.fft.rfft(y, n=2 * n, axis=1)
        acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n
        chain_var = acov[:, 0] * n / max(n - 1, 1)
        w = chain_var.mean()
        mean_var = w * (n - 1) / n + (flat[:, :, j].mean(axis=1).var(ddof=1) if c > 1 else 0.0)
        if mean_var <= 0:
            out[j] = np.nan
            continue
        rho = 1.0 - (w - acov.mean(axis=0)) / mean_var
        rho[0] = 1.0
        s, prev = 0.0, np.inf
        for t in range(0, n - 1, 2):
            pair = rho[t] + rho[t + 1]
            if pair < 0:
                break
            pair = min(pair, prev)
            s += pair
            prev = pair
        tau = -1.0 + 2.0 * s
        out[j] = c * n / max(tau, 1.0 / np.log10(max(c * n, 10)))
    return out.reshape(x.shape[2:])


def sample(log_density: Callable, init, num_samples: int, *, num_warmup: int = 500, num_chains: int = 4,
           key=None, jitter: float = 0.1, target_accept: float = 0.8, progress: bool | None = None,
           chunk: int = 100, chain_method: str = "vectorized") -> SampleResult:
    """Sample from ``exp(log_density(params))`` with NUTS.

    Args:
        log_density: unnormalised log posterior of a params pytree (differentiable; unconstrained
            parameters, e.g. logs of positive quantities).
        init: a params pytree to start from; each chain starts at ``init + jitter * N(0, 1)``.
        num_samples: draws kept per chain after warmup.
        num_warmup: window-adaptation steps (step size and diagonal mass matrix) per chain.
        num_chains: independent chains, run in parallel with ``vmap``.
        key: a ``jax.random`` key (default ``PRNGKey(0)``).
        chain_method: ``"vectorized"`` (``vmap`` over chains: best for cheap densities) or ``"sequential"``
            (``lax.map``: one chain after another in the same compiled program). Prefer ``"sequential"``
            when the density runs a simulation with data-dependent loops or branches: under ``vmap``
            every chain waits for the longest tree and a ``lax.cond`` runs both of its branches (the
            wind posterior example on a 2-core CPU: 804 s vectorized vs 245 s sequential).
    """
    import blackjax

    num_samples = check_int("num_samples", num_samples, lo=1)
    num_warmup = check_int("num_warmup", num_warmup, lo=10)
    num_chains = check_int("num_chains", num_chains, lo=1)
    if chain_method not in ("vectorized", "sequential"):
        raise ValueError(f"chain_method must be 'vectorized' or 'sequential'; got {chain_method!r}")
    chunk = min(check_int("chunk", chunk, lo=1), num_samples)
    over_chains = jax.vmap if chain_method == "vectorized" else (
        lambda f: lambda *args: jax.lax.map(lambda a: f(*a), args))
    check_finite("init", init)
    key = jax.random.PRNGKey(0) if key is None else key
    flat0, unravel = ravel_pytree(init)
    logp = lambda x: log_density(unravel(x))  # noqa: E731
    k_init, k_warm, k_draw = jax.random.split(key, 3)
    starts = flat0 + jitter * jax.random.normal(k_init, (num_chains,) + flat0.shape, flat0.dtype)
    if not np.all(np.isfinite(np.asarray(jax.vmap(logp)(starts)))):
        raise ValueError("log_density is not finite at the starting points; choose another init or a smaller jitter")

    @jax.jit
    @over_chains
    def warm(k, x0):
        adapt = blackjax.window_adaptation(blackjax.nuts, logp, target_acceptance_rate=target_accept)
        (state, parameters), _ = adapt.run(k, x0, num_steps=num_warmup)
        return state, parameters

    @jax.jit
    @over_chains
    def draw(k, state, parameters):
        kernel = blackjax.nuts(logp, **parameters)

        def one(s, kk):
            s, info = kernel.step(kk, s)
            return s, (s.position, info.acceptance_rate, info.is_divergent)

        return jax.lax.scan(one, state, jax.random.split(k, chunk))

    with progress_bar(total=num_warmup + num_samples, desc="NUTS", enabled=progress) as bar:
        state, parameters = warm(jax.random.split(k_warm, num_chains), starts)
        bar.update(num_warmup)
        positions, accept, diverg = [], [], []
        n_chunks = -(-num_samples // chunk)
        for i, k in enumerate(jax.random.split(k_draw, n_chunks)):
            state, (pos, acc, div) = draw(jax.random.split(k, num_chains), state, parameters)
            positions.append(np.asarray(pos))
            accept.append(np.asarray(acc))
            diverg.append(np.asarray(div))
            bar.update(min(chunk, num_samples - i * chunk))
    pos = np.concatenate(positions, axis=1)[:, :num_samples]
    acc = np.concatenate(accept, axis=1)[:, :num_samples]
    div = np.concatenate(diverg, axis=1)[:, :num_samples]
    samples = jax.vmap(jax.vmap(unravel))(jnp.asarray(pos))
    rhat = unravel(jnp.asarray(split_rhat(pos)))
    ess = unravel(jnp.asarray(effective_sample_size(pos)))
    return SampleResult(samples=jax.tree_util.tree_map(np.asarray, samples), acceptance_rate=acc.mean(axis=1),
                        divergences=div.sum(axis=1), rhat=jax.tree_util.tree_map(np.asarray, rhat),
                        ess=jax.tree_util.tree_map(np.asarray, ess),
                        step_size=np.asarray(parameters["step_size"]))
