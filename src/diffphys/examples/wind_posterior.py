"""Posterior of a stellar wind's (v_inf, Mdot) from a noisy bubble profile: NUTS over the log parameters."""

from __future__ import annotations

import dataclasses
from pathlib import Path


# 10^4 CFL steps of a conservative scheme: the posterior / the 0.1% recovery need float64 derivatives
X64 = True


@dataclasses.dataclass
class Config:
    n_cells: int = 48
    t_end_yr: float = 2.5e4
    v_true_kms: float = 2000.0
    mdot_true_msun_myr: float = 0.1186
    noise: float = 0.02
    num_warmup: int = 300
    num_samples: int = 400
    seed: int = 0
    # derivatives on the frozen CFL time grid (stop_gradient on the step sizes)
    dt_gradient: bool = False
    # NUTS's gradients of the log density: "forward" (forward-mode tangents inside jax.grad: two
    # parameters, cheaper than a reverse sweep) or a reverse layout ("store", "checkpoint")
    gradient: str = "forward"
    # chains one after another ("sequential", lax.map) or in lock-step ("vectorized", vmap): see core.sample
    chain_method: str = "sequential"

    def validate(self):
        from ..core.checks import check_choice, check_int, check_range

        check_int("n_cells", self.n_cells, lo=16)
        check_int("num_warmup", self.num_warmup, lo=10)
        check_int("num_samples", self.num_samples, lo=10)
        for name in ("t_end_yr", "v_true_kms", "mdot_true_msun_myr", "noise"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)
        check_choice("gradient", self.gradient, ("forward", "store", "checkpoint"))
        check_choice("chain_method", self.chain_method, ("sequential", "vectorized"))


QUICK = {"n_cells": 16, "t_end_yr": 5e3, "num_warmup": 60, "num_samples": 60}


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..core.sample import sample
    from .wind_fit import make_residuals

    final, theta_true, _, _ = make_residuals(config.n_cells, config.t_end_yr, config.v_true_kms,
                                             config.mdot_true_msun_myr, v_max_kms=1.6 * config.v_true_kms,
                                             dt_gradient=config.dt_gradient, gradient=config.gradient)
    clean = jax.jit(final)(theta_true)
    key = jax.random.PRNGKey(config.seed)
    data = clean + config.noise * jax.random.normal(key, clean.shape, clean.dtype)
    prior_mu = theta_true + jnp.asarray([0.3, -0.3])  # a broad prior, deliberately off-centre
    prior_sd = 1.0

    def log_density(theta):
        resid = (final(theta) - data) / config.noise
        return -0.5 * jnp.sum(resid ** 2) - 0.5 * jnp.sum(((theta - prior_mu) / prior_sd) ** 2)

    # The data fix L = Mdot v^2 / 2 far better than Mdot alone: the posterior in (log v, log Mdot) is a
    # thin ridge (correlation ~ -0.999). NUTS with a diagonal mass matrix would need ~1000 gradients per
    # draw, so we precondition with the Laplace approximation: theta = theta_map + chol(C) z, with C the
    # inverse Gauss-Newton Hessian at the maximum a posteriori point (found by Levenberg-Marquardt).
    # This is NUTS over (log v_inf, log Mdot) with a fixed dense mass matrix; the samples are exact.
    from .wind_fit import levenberg_marquardt, linearize

    lin = linearize(final, data)
    theta_map, _, _, _ = levenberg_marquardt(lin, theta_true + jnp.asarray([0.05, -0.05]), max_iter=30)
    _, jac = lin(theta_map)
    prec = jac.T @ jac / config.noise ** 2 + jnp.eye(2) / prior_sd ** 2
    chol = jnp.linalg.cholesky(jnp.linalg.inv(prec))

    def log_density_z(z):
        return log_density(theta_map + chol @ z)

    res = sample(log_density_z, jnp.zeros(2, dtype=theta_map.dtype), config.num_samples,
                 num_warmup=config.num_warmup, num_chains=4, key=jax.random.PRNGKey(config.seed + 1), jitter=1.0,
                 chain_method=config.chain_method)
    z = np.asarray(res.samples, dtype=np.float64).reshape(-1, 2)
    s = np.asarray(theta_map)[None, :] + z @ np.asarray(chol).T
    v_s, m_s = np.exp(s[:, 0]), np.exp(s[:, 1])
    v_lo, v_hi = np.quantile(v_s, [0.05, 0.95])
    m_lo, m_hi = np.quantile(m_s, [0.05, 0.95])
    # R-hat of the log parameters (per chain), from the transformed draws
    from ..core.sample import split_rhat

    zc = np.asarray(res.samples, dtype=np.float64)  # (chains, draws, 2)
    th = np.asarray(theta_map)[None, None, :] + zc @ np.asarray(chol).T
    rhat = np.asarray(split_rhat(th), dtype=np.float64)

    fig, axes = plt.subplots(2, 2, figsize=(7, 6.5))
    axes[0, 0].hist(v_s, bins=40, color="C0")
    axes[0, 0].axvline(config.v_true_kms, color="r")
    axes[0, 0].axvspan(v_lo, v_hi, color="C0", alpha=0.15)
    axes[1, 1].hist(m_s, bins=40, color="C0")
    axes[1, 1].axvline(config.mdot_true_msun_myr, color="r")
    axes[1, 1].axvspan(m_lo, m_hi, color="C0", alpha=0.15)
    axes[1, 0].plot(v_s, m_s, ".", ms=2, alpha=0.4)
    axes[1, 0].plot(config.v_true_kms, config.mdot_true_msun_myr, "r*", ms=12)
    axes[1, 0].set_xlabel("v_inf [km/s]")
    axes[1, 0].set_ylabel("Mdot [Msun/Myr]")
    axes[1, 1].set_xlabel("Mdot [Msun/Myr]")
    axes[0, 1].axis("off")
    axes[0, 1].text(0.0, 0.5, f"4 chains x {config.num_samples} draws\nR-hat max {rhat.max():.4f}\n"
                    f"90% CI v: [{v_lo:.0f}, {v_hi:.0f}] km/s\n90% CI Mdot: [{m_lo:.4f}, {m_hi:.4f}]\n"
                    f"divergences {int(np.sum(res.divergences))}", fontsize=9)
    fig.suptitle("wind posterior (NUTS over log v_inf, log Mdot)")
    save_figure(fig, out / "wind_posterior_corner.png")
    return {"v_in_90ci": bool(v_lo <= config.v_true_kms <= v_hi),
            "mdot_in_90ci": bool(m_lo <= config.mdot_true_msun_myr <= m_hi),
            "rhat_max": float(rhat.max()), "v_90ci": [float(v_lo), float(v_hi)],
            "mdot_90ci": [float(m_lo), float(m_hi)],
            "divergences": int(np.sum(res.divergences)), "acceptance_rate": float(np.mean(res.acceptance_rate))}
