"""Recover a stellar wind's (v_inf, Mdot) from the final bubble profile, from three starts, with the loss landscape."""

from __future__ import annotations

import dataclasses
from pathlib import Path


# 10^4 CFL steps of a conservative scheme: the posterior / the 0.1% recovery need float64 derivatives
X64 = True


@dataclasses.dataclass
class Config:
    # N=401 as in jf1uids' notebook. (With SSP-RK2 the forward-mode Jacobian blew up here, ~1e8-1e23: the
    # linearisation of MUSCL + RK2 with the limiter's steep branches is unstable at CFL 0.8; the wind
    # problem's MUSCL-Hancock scheme keeps the tangents bounded. See docs/hydro.md.)
    n_cells: int = 401
    t_end_yr: float = 2.5e4
    v_true_kms: float = 2000.0
    mdot_true_msun_myr: float = 0.1186
    max_iter: int = 40
    grid: int = 8
    grid_cells: int = 101
    # True: derivatives through the CFL step sizes too (the verified default). False (frozen time grid)
    # was tried at N=401 on 2026-11-26 and stalls at all three starts as well: see docs/hydro.md
    dt_gradient: bool = True

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n_cells", self.n_cells, lo=32)
        check_int("grid_cells", self.grid_cells, lo=32)
        check_int("max_iter", self.max_iter, lo=1)
        check_int("grid", self.grid, lo=2)
        for name in ("t_end_yr", "v_true_kms", "mdot_true_msun_myr"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)


QUICK = {"n_cells": 64, "grid": 5, "grid_cells": 48, "max_iter": 25}

#: starting guesses (km/s, Msun/Myr): the three of jf1uids' wind-parameter notebook
STARTS = ((1500.0, 2.965e-3 * 30), (3500.0, 2.965e-3 * 60), (3300.0, 2.965e-3 * 45))


def make_residuals(n_cells, t_end_yr, v_true_kms, mdot_true_msun_myr, v_max_kms=4500.0, dt_gradient=True,
                   gradient="store"):
    """Residual function of log-parameters (relative to the truth's units) and the truth's code values.

    ``gradient`` is the run's gradient strategy (``hydro.solve``), used when ``final`` is reverse-differentiated."""
    import jax.numpy as jnp

    from ..hydro import WindParams, solve, wind_problem

    wp = wind_problem(n_cells, v_inf_kms=v_true_kms, mdot_msun_myr=mdot_true_msun_myr, t_end_yr=t_end_yr)
    u = wp.units
    scale = jnp.stack([wp.params.v_inf, wp.params.mdot])
    # slots for the adaptive loop: CFL steps at the fastest wind considered, with a safety margin
    max_steps = int(1.5 * wp.t_end * float(u.velocity(v_max_kms)) / (wp.solver.cfl * wp.solver.grid.dr)) + 50

    vol = jnp.asarray(wp.solver.grid.volumes)
    m_scale = float(wp.params.mdot) * wp.t_end
    e_scale = float(wp.params.luminosity) * wp.t_end
    u0 = wp.state0.u

    def final(theta):
        """The observable: enclosed-mass and enclosed-energy profiles of the final state (minus the
        initial ones), in units of the injected totals. theta = log(v_inf [km/s], Mdot [Msun/Myr])."""
        x = jnp.exp(theta) * jnp.stack([jnp.asarray(u.velocity(1.0)), jnp.asarray(u.mass_loss_rate(1.0))])
        sol = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=max_steps,
                    dt_gradient=dt_gradient, gradient=gradient)
        du = (sol.state.u - u0) * vol[None, :]
        out = jnp.concatenate([jnp.cumsum(du[0]) / m_scale, jnp.cumsum(du[2]) / e_scale])
        return jnp.where(sol.reached, out, jnp.nan)  # a run cut short by max_steps is a failed trial

    theta_true = jnp.log(jnp.stack([jnp.asarray(v_true_kms), jnp.asarray(mdot_true_msun_myr)]))
    return final, theta_true, scale, wp


def linearize(final, target):
    """A jitted ``theta -> (residuals, Jacobian)``: forward mode, one pass for both columns."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def lin(theta):
        eye = jnp.eye(theta.shape[0], dtype=theta.dtype)
        prim, cols = jax.vmap(lambda t: jax.jvp(final, (theta,), (t,)), out_axes=(None, 0))(eye)
        return prim - target, cols.T

    return lin


def fit_with_errors(lin, theta0, max_iter=40):
    """Compile ``lin``, run :func:`levenberg_marquardt` (timed without the compilation) and return
    ``(theta, path, losses, iterations, wall_s, cov)`` with ``cov`` the Gauss-Newton covariance ``(J^T J)^-1`` at the
    optimum (residuals in units of the noise), all numpy float64."""
    import time

    import jax.numpy as jnp
    import numpy as np

    lin(theta0)  # compile
    t0 = time.perf_counter()
    theta, path, losses, iters = levenberg_marquardt(lin, theta0, max_iter=max_iter)
    wall = time.perf_counter() - t0
    jac = np.asarray(lin(jnp.asarray(theta, theta0.dtype))[1], np.float64)
    return np.asarray(theta, np.float64), path, losses, iters, wall, np.linalg.inv(jac.T @ jac)


def levenberg_marquardt(lin, theta0, max_iter=40, tol=1e-7):
    """Minimise 1/2 |r(theta)|^2 with Levenberg-Marquardt given ``lin(theta) -> (r, J)``.
    Returns (theta, path, losses, iterations)."""
    import jax.numpy as jnp
    import numpy as np

    theta = jnp.asarray(theta0)
    r, jac = lin(theta)
    loss = 0.5 * float(jnp.sum(r * r))
    lam = 1e-3
    path, losses = [np.asarray(theta)], [loss]
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (returned: the iteration count)
        jtj = jac.T @ jac
        g = jac.T @ r
        step = -jnp.linalg.solve(jtj + lam * jnp.diag(jnp.diag(jtj)), g)
        step = jnp.clip(step, -0.3, 0.3)  # trust region in log space: at most a 35% change per iteration
        r_new, jac_new = lin(theta + step)
        loss_new = 0.5 * float(jnp.sum(r_new * r_new))
        if np.isfinite(loss_new) and loss_new < loss:
            theta, r, jac, loss = theta + step, r_new, jac_new, loss_new
            lam = max(lam / 10, 1e-9)
            path.append(np.asarray(theta))
            losses.append(loss)
            if float(jnp.max(jnp.abs(step))) < tol:
                break
        else:
            lam *= 10
            if lam > 1e5:
                break
    return theta, np.array(path), np.array(losses), it


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure

    final, theta_true, _, wp = make_residuals(config.n_cells, config.t_end_yr, config.v_true_kms,
                                              config.mdot_true_msun_myr, dt_gradient=config.dt_gradient)
    target = jax.jit(final)(theta_true)
    lin = linearize(final, target)
    results = []
    for v0, m0 in STARTS:
        t0 = time.perf_counter()
        theta, path, losses, iters = levenberg_marquardt(lin, jnp.log(jnp.asarray([v0, m0])),
                                                         max_iter=config.max_iter)
        wall = time.perf_counter() - t0
        est = np.exp(np.asarray(theta, dtype=np.float64))
        results.append({"start": (v0, m0), "estimate": est.tolist(), "iterations": iters, "wall_s": wall,
                        "v_rel_err": abs(est[0] / config.v_true_kms - 1),
                        "mdot_rel_err": abs(est[1] / config.mdot_true_msun_myr - 1), "path": np.exp(path)})

    # loss landscape over a (v_inf, Mdot) grid: one vmapped call (at grid_cells resolution)
    lf, lt, _, _ = make_residuals(config.grid_cells, config.t_end_yr, config.v_true_kms, config.mdot_true_msun_myr)
    ltarget = jax.jit(lf)(lt)
    vs = np.linspace(1000.0, 4000.0, config.grid)
    ms = np.linspace(2.965e-3 * 15, 2.965e-3 * 70, config.grid)
    vv, mm = np.meshgrid(vs, ms, indexing="ij")
    thetas = jnp.log(jnp.stack([jnp.asarray(vv.ravel()), jnp.asarray(mm.ravel())], axis=1))
    t0 = time.perf_counter()
    land = jax.jit(jax.vmap(lambda th: 0.5 * jnp.sum((lf(th) - ltarget) ** 2)))(thetas)
    land = np.asarray(land, dtype=np.float64).reshape(vv.shape)
    landscape_s = time.perf_counter() - t0

    fig, ax = plt.subplots(figsize=(6.5, 5))
    cs = ax.contourf(vv, mm, np.log10(land + 1e-30), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label=f"log10 loss (N={config.grid_cells})")
    for k, res in enumerate(results):
        p = res["path"]
        ax.plot(p[:, 0], p[:, 1], "o-", color=f"C{k + 1}", ms=3, label=f"start {k + 1}: {res['iterations']} it")
    ax.plot(config.v_true_kms, config.mdot_true_msun_myr, "r*", ms=14, label="truth")
    ax.set_xlabel("v_inf [km/s]")
    ax.set_ylabel("Mdot [Msun/Myr]")
    ax.set_title(f"wind fit (Levenberg-Marquardt, N={config.n_cells})")
    ax.legend(fontsize=8)
    save_figure(fig, out / "wind_fit_landscape.png")
    return {"v_rel_err": max(r["v_rel_err"] for r in results), "mdot_rel_err": max(r["mdot_rel_err"] for r in results),
            "iterations": max(r["iterations"] for r in results), "wall_s": max(r["wall_s"] for r in results),
            "landscape_s": landscape_s, "n_cells": config.n_cells,
            "starts": [{k: v for k, v in r.items() if k != "path"} for r in results]}
