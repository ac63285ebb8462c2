"""Stellar-wind bubble (the lecture's 40 Msun star): exact budgets and the Weaver et al. (1977) radius."""

from __future__ import annotations

import dataclasses
from pathlib import Path

HEADLINE = True


@dataclasses.dataclass
class Config:
    n_cells: int = 2000
    v_inf_kms: float = 2000.0
    mdot_msun_myr: float = 0.1186
    n_ambient: float = 2.0
    t_end_yr: float = 2.5e4
    box_pc: float = 3.0
    cfl: float = 0.8
    riemann: str = "hllc"
    limiter: str = "mc"
    n_snapshots: int = 20
    sens_cells: int = 401
    # radiative cooling: a flat Lambda [erg cm^3/s] between 1e4 and 1e8 K (a rough stand-in for line cooling),
    # integrated exactly per step; 0 = adiabatic (the lecture). With cooling the radius is compared with
    # Weaver's radiative thin-shell solution (0.763) instead of the adiabatic one (0.88)
    cooling_lambda: float = 0.0

    def validate(self):
        from ..core.checks import check_choice, check_int, check_range

        check_int("n_cells", self.n_cells, lo=32)
        check_int("sens_cells", self.sens_cells, lo=32)
        check_int("n_snapshots", self.n_snapshots, lo=2)
        for name in ("v_inf_kms", "mdot_msun_myr", "n_ambient", "t_end_yr", "box_pc"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)
        check_range("cooling_lambda", self.cooling_lambda, 0.0, 1e-15)
        check_choice("riemann", self.riemann, ("hllc", "hll", "rusanov"))
        check_choice("limiter", self.limiter, ("mc", "minmod", "vanleer"))


QUICK = {"n_cells": 401, "sens_cells": 201, "n_snapshots": 10}


def _problem(config, n):
    from ..hydro import Cooling, wind_problem

    lam = config.cooling_lambda
    cooling = Cooling([1e4, 1e8], [lam, lam]) if lam > 0 else None
    return wind_problem(n, n_ambient=config.n_ambient, v_inf_kms=config.v_inf_kms,
                        mdot_msun_myr=config.mdot_msun_myr, box_pc=config.box_pc, t_end_yr=config.t_end_yr,
                        cfl=config.cfl, riemann=config.riemann, limiter=config.limiter, cooling=cooling)


def run(config: Config, out: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure, save_gif
    from ..core.progress import show_progress
    from ..hydro import WindParams, outer_shock_radius, solve, weaver_outer_shock_radius
    from ..hydro.exact import WEAVER_ADIABATIC, WEAVER_THIN_SHELL

    wp = _problem(config, config.n_cells)
    solver, u = wp.solver, wp.units
    times = np.linspace(0, wp.t_end, config.n_snapshots + 1)[1:]
    max_steps = int(40 * config.n_cells * wp.t_end / 0.025 + 1000)
    sol = jax.jit(lambda s, p: solve(solver, s, p, t_end=wp.t_end, save_at=times, max_steps=max_steps,
                                                     progress=show_progress()))(
        wp.state0, wp.params)
    if not bool(sol.reached):
        raise RuntimeError("the wind run did not reach t_end within max_steps")
    tot0 = np.asarray(solver.totals(wp.state0), dtype=np.float64)
    tot1 = np.asarray(solver.totals(sol.state), dtype=np.float64)
    mdot, lum, t = float(wp.params.mdot), float(wp.params.luminosity), float(sol.t)
    mass_err = abs((tot1[0] - tot0[0]) / (mdot * t) - 1)
    energy_err_signed = (tot1[2] - tot0[2]) / (lum * t) - 1  # with cooling: minus the radiated fraction
    energy_err = abs(energy_err_signed)
    r = solver.grid.centers
    w = np.asarray(solver.primitive(sol.state), dtype=np.float64)
    r_num = outer_shock_radius(r, w[2], wp.p0)
    radiative = config.cooling_lambda > 0
    coef = WEAVER_THIN_SHELL if radiative else WEAVER_ADIABATIC
    kind = f"{'radiative thin shell' if radiative else 'adiabatic'} {coef:.3f}"
    r_ana = float(weaver_outer_shock_radius(lum, wp.rho0, t, coef))
    shock_err = r_num / r_ana - 1

    # profiles
    rp = u.to_pc(r)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].semilogy(rp, u.to_cm3(w[0]))
    axes[0].set_ylabel("n [cm$^{-3}$]")
    axes[1].plot(rp, u.to_km_s(w[1]))
    axes[1].set_ylabel("v [km/s]")
    axes[2].semilogy(rp, w[2] * u.pressure_cgs / 1.380649e-16)
    axes[2].set_ylabel("p/k [K cm$^{-3}$]")
    for ax in axes:
        ax.axvline(u.to_pc(r_ana), color="k", ls="--", lw=0.8, label=f"Weaver $R_2$ ({kind})")
        ax.set_xlabel("r [pc]")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"wind bubble at {config.t_end_yr:g} yr, N={config.n_cells}: outer shock {shock_err:+.2%} vs Weaver")
    save_figure(fig, out / "wind_profiles.png")

    # radius vs time
    snaps = np.asarray(sol.snapshots.u, dtype=np.float64)
    radii = []
    for k in range(len(times)):
        ws = np.asarray(solver.primitive(type(sol.state)(jnp.asarray(snaps[k]))), dtype=np.float64)
        radii.append(outer_shock_radius(r, ws[2], wp.p0))
    tt = np.linspace(0, wp.t_end, 200)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(u.to_myr(tt) * 1e3, u.to_pc(weaver_outer_shock_radius(lum, wp.rho0, tt, coef)), "k-",
            label=f"Weaver (1977), {kind}")
    ax.plot(u.to_myr(times) * 1e3, u.to_pc(radii), "o", label="simulation")
    ax.set_xlabel("t [kyr]")
    ax.set_ylabel("outer shock radius [pc]")
    ax.legend()
    save_figure(fig, out / "wind_radius.png")

    frames = []
    for k in range(len(times)):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.semilogy(rp, u.to_cm3(snaps[k, 0]))
        ax.set_ylim(1e-3, 50)
        ax.set_title(f"density, t = {u.to_myr(times[k]) * 1e3:.1f} kyr")
        ax.set_xlabel("r [pc]")
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    save_gif(frames, out / "wind.gif", fps=4)

    # sensitivity of the final density profile to each wind parameter (forward mode, d rho / d ln theta)
    ws_ = _problem(config, config.sens_cells)
    x0 = jnp.stack([ws_.params.v_inf, ws_.params.mdot])

    def final_density(x):
        return solve(ws_.solver, ws_.state0, WindParams(x[0], x[1]), t_end=ws_.t_end,
                     max_steps=int(40 * config.sens_cells * ws_.t_end / 0.025 + 1000)).state.u[0]

    jac = np.asarray(jax.jit(jax.jacfwd(final_density))(x0), dtype=np.float64) * np.asarray(x0)[None, :]
    rs = u.to_pc(ws_.solver.grid.centers)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rs, u.to_cm3(jac[:, 0]), label=r"$\partial n / \partial \ln v_\infty$")
    ax.plot(rs, u.to_cm3(jac[:, 1]), label=r"$\partial n / \partial \ln \dot M$")
    ax.set_xlabel("r [pc]")
    ax.set_ylabel("cm$^{-3}$")
    ax.set_title(f"sensitivity of the final density (N={config.sens_cells})")
    ax.legend()
    save_figure(fig, out / "wind_sensitivity.png")
    energy = {"radiated_energy_fraction": -energy_err_signed} if radiative else {"energy_budget_rel_err": energy_err}
    return {"mass_budget_rel_err": mass_err, **energy, "weaver_coefficient": coef,
            "outer_shock_rel_err": float(abs(shock_err)), "outer_shock_signed_rel_err": float(shock_err),
            "outer_shock_pc": float(u.to_pc(r_num)), "weaver_radius_pc": float(u.to_pc(r_ana)),
            "n_cells": config.n_cells, "num_steps": int(sol.num_steps)}
