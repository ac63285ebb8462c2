"""The stellar-wind bubble on an axisymmetric (R, z) grid: the same bubble as the 1D spherical run and Weaver's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

HEADLINE = True
QUICK = {"n_r": 64, "n_inject": 3}


@dataclasses.dataclass
class Config:
    n_r: int = 128  # cells along R (3 pc); 2 n_r along z (-3..3 pc)
    n_inject: int = 6  # the wind enters the cells within this many cell widths of the star
    v_inf_kms: float = 2000.0
    mdot_msun_myr: float = 0.1186
    n_ambient: float = 2.0
    t_end_yr: float = 2.5e4
    cfl: float = 0.4

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n_r", self.n_r, lo=16)
        check_int("n_inject", self.n_inject, lo=1)
        if self.n_inject > self.n_r // 4:
            raise ValueError(f"n_inject must be <= n_r / 4 ({self.n_r // 4}); got {self.n_inject}")
        for name in ("v_inf_kms", "mdot_msun_myr", "n_ambient", "t_end_yr"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure
    from ..hydro import axisymmetric_wind_problem, outer_shock_radius, solve, weaver_outer_shock_radius

    c = config
    solver, state0, wind = axisymmetric_wind_problem(
        c.n_r, c.n_inject, c.cfl, v_inf_kms=c.v_inf_kms, mdot_msun_myr=c.mdot_msun_myr, n_ambient=c.n_ambient,
        t_end_yr=c.t_end_yr)
    # the CFL speed is at least the wind's v_inf along both axes: >= 2 t_end v_inf / (cfl dx) steps (64: 5,455)
    max_steps = int(4 / c.cfl * wind.t_end * float(wind.params.v_inf) * c.n_r / wind.solver.grid.r_max) + 1000
    run2d = jax.jit(lambda st, p: solve(solver, st, p, t_end=wind.t_end, max_steps=max_steps))
    jax.block_until_ready(run2d(state0, wind.params))  # compile (and wait: dispatch is asynchronous)
    t0 = time.perf_counter()
    sol = jax.block_until_ready(run2d(state0, wind.params))
    wall = time.perf_counter() - t0
    if not bool(sol.reached):
        raise RuntimeError(f"the run did not reach t_end within {max_steps} steps")
    sol1 = solve(wind.solver, wind.state0, wind.params, t_end=wind.t_end, max_steps=4 * max_steps)

    w = np.asarray(solver.primitive(sol.state), np.float64)
    w1 = np.asarray(wind.solver.primitive(sol1.state), np.float64)
    r, z = solver.centers()
    n = c.n_r
    i = np.arange(n)
    rays = {"equator": (r[:, n], w[:, :, n]), "axis": (z[0, n:], w[:, 0, n:]),
            "diagonal": (np.hypot(r[:, 0], z[0, n + i]), w[:, i, n + i])}
    radius = {k: outer_shock_radius(x, q[3], wind.p0, 2.0) for k, (x, q) in rays.items()}
    r1 = outer_shock_radius(wind.solver.grid.centers, w1[2], wind.p0, 2.0)
    weaver = weaver_outer_shock_radius(float(wind.params.luminosity), wind.rho0, wind.t_end)
    vol = solver.cell_volumes()  # totals summed in float64 (a float32 sum alone loses ~1e-4 of the injected mass)
    tot0, tot1 = (np.sum(np.asarray(s.u, np.float64) * vol, axis=(1, 2)) for s in (state0, sol.state))
    mdot, v_inf, t = float(wind.params.mdot), float(wind.params.v_inf), float(sol.t)
    mass_err = (tot1[0] - tot0[0]) / (mdot * t) - 1
    energy_err = (tot1[3] - tot0[3]) / (0.5 * mdot * v_inf ** 2 * t) - 1

    # the (R, z) plane mirrored about the axis: the whole bubble, with Weaver's and the 1D run's radii
    u = wind.units
    big = float(u.length(1.0)) ** -1  # code length -> pc
    rho_cc = np.log10(w[0] / wind.rho0 * c.n_ambient)
    img = np.concatenate([rho_cc[::-1], rho_cc], axis=0).T
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    ext = r[-1, 0] + 0.5 * solver.dx[0]
    im = axes[0].imshow(img, origin="lower", extent=(-ext * big, ext * big, -ext * big, ext * big), cmap="viridis")
    fig.colorbar(im, ax=axes[0], label="log10 n [cm^-3]")
    th = np.linspace(0, 2 * np.pi, 400)
    for rad, style, label in ((weaver, "w--", "Weaver et al. (1977), adiabatic"), (r1, "r:", "1D spherical run")):
        axes[0].plot(rad * big * np.cos(th), rad * big * np.sin(th), style, lw=1, label=label)
    axes[0].set_xlabel("R [pc] (mirrored about the axis)")
    axes[0].set_ylabel("z [pc]")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title(f"density at {c.t_end_yr:.3g} yr, {n} x {2 * n} cells")
    for k, (x, q) in rays.items():
        axes[1].semilogy(x * big, q[3] / wind.p0, label=f"2D, {k}: R_s {radius[k] / weaver - 1:+.1%}")
    axes[1].semilogy(wind.solver.grid.centers * big, w1[2] / wind.p0, "k--", lw=1,
                     label=f"1D: R_s {r1 / weaver - 1:+.1%}")
    axes[1].axvline(weaver * big, color="grey", ls=":", label="Weaver")
    axes[1].set_xlabel("distance from the star [pc]")
    axes[1].set_ylabel("p / p_ambient")
    axes[1].set_title(f"budgets: mass {mass_err:.1e}, energy {energy_err:.1e}")
    axes[1].legend(fontsize=8)
    save_figure(fig, out / "bubble.png")
    metrics = {f"outer_shock_rel_err_{k}": radius[k] / weaver - 1 for k in radius}
    metrics.update(outer_shock_rel_err_1d=r1 / weaver - 1, equator_vs_1d_rel=radius["equator"] / r1 - 1,
                   mass_budget_rel_err=mass_err, energy_budget_rel_err=energy_err, num_steps=int(sol.num_steps),
                   cells=n * 2 * n, wall_s=wall)
    return metrics
