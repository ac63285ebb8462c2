"""Thermal conduction: Barenblatt heat waves, a cloud evaporating at Cowie & McKee's rate, a wind bubble."""

from __future__ import annotations

import dataclasses
from pathlib import Path

HEADLINE = True


@dataclasses.dataclass
class Config:
    n_cells: int = 200  # heat waves (planar, cylindrical, spherical)
    exponent: float = 2.5  # kappa ~ theta^exponent (2.5: Spitzer); 0: linear diffusion (the heat kernel)
    wind_cells: int = 800
    cloud_cells: int = 600  # the evaporating cloud (10 pc in a 300 pc box)
    t_end_yr: float = 2.5e4
    suppression: float = 1.0  # of Spitzer's conductivity
    saturation: float = 1.0  # Cowie & McKee's phi_s; 0 = no saturation

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n_cells", self.n_cells, lo=16)
        check_int("wind_cells", self.wind_cells, lo=64)
        check_int("cloud_cells", self.cloud_cells, lo=150)
        check_range("exponent", self.exponent, 0.0, 6.0)
        check_range("t_end_yr", self.t_end_yr, 0.0, lo_open=True)
        check_range("suppression", self.suppression, 0.0, lo_open=True)
        check_range("saturation", self.saturation, 0.0)


QUICK = {"n_cells": 100, "wind_cells": 401, "cloud_cells": 300}

K_B = 1.380649e-16
M_P = 1.67262192e-24


def _heat_waves(config):
    """Point-source heat waves in the three geometries from t = 0.01 to 0.04 (unit density, kappa = 1), started
    from the exact profile on a floor of 1e-6 its peak. Returns per geometry (r, snapshots, exact, times, errors)."""
    import jax
    import numpy as np

    from ..hydro import Conduction, EulerSolver, RadialGrid, barenblatt_heat_wave, heat_kernel

    gamma, n = 5.0 / 3.0, config.n_cells
    a = gamma - 1.0  # diffusivity kappa / (rho / (gamma - 1))
    times = np.array([0.01, 0.02, 0.03, 0.04])
    out = {}
    for geometry, d in (("planar", 1), ("cylindrical", 2), ("spherical", 3)):
        grid = RadialGrid(n, 1.0, geometry=geometry)
        r, vol = grid.centers, grid.volumes

        def exact(t, r=r, d=d):
            if config.exponent:
                return barenblatt_heat_wave(r, t, 1.0, a, config.exponent, d)[0]
            return heat_kernel(r, t, 1.0, a, d)

        floor = 1e-6 * exact(times[0]).max()
        solver = EulerSolver(grid, gamma, right="reflective", conduction=Conduction(1.0, config.exponent))
        state = solver.initial_state(1.0, 0.0, exact(times[0]) + floor)
        e0 = float(solver.totals(state)[2])
        steps = 2 * n // 3  # per interval: 2 n steps over the run
        dt = (times[1] - times[0]) / steps
        advance = jax.jit(lambda s, solver=solver, dt=dt, steps=steps: jax.lax.fori_loop(
            0, steps, lambda i, s: solver.conduct(s, dt), s))
        snaps = [np.asarray(solver.primitive(state)[2] / state.u[0], dtype=np.float64) - floor]
        for _ in times[1:]:
            state = advance(state)
            snaps.append(np.asarray(solver.primitive(state)[2] / state.u[0], dtype=np.float64) - floor)
        th, ref = snaps[-1], exact(times[-1])
        l1 = float(np.sum(np.abs(th - ref) * vol) / np.sum(ref * vol))
        m_num = np.sum(r * r * th * vol) / np.sum(th * vol)
        m_ref = np.sum(r * r * ref * vol) / np.sum(ref * vol)
        drift = abs(float(solver.totals(state)[2]) / e0 - 1.0)
        out[geometry] = (r, snaps, [exact(t) for t in times], times, (l1, float(np.sqrt(m_num / m_ref) - 1), drift))
    return out


def _wind(config, conduction):
    import jax
    import numpy as np

    from ..core.progress import show_progress
    from ..hydro import solve, wind_problem

    wp = wind_problem(config.wind_cells, t_end_yr=config.t_end_yr, conduction=conduction)
    max_steps = int(40 * config.wind_cells * wp.t_end / 0.025 + 1000)
    sol = jax.jit(lambda s, p: solve(wp.solver, s, p, t_end=wp.t_end, max_steps=max_steps,
                                     progress=show_progress()))(wp.state0, wp.params)
    if not bool(sol.reached):
        raise RuntimeError("the wind run did not reach t_end within max_steps")
    tot0 = np.asarray(wp.solver.totals(wp.state0), dtype=np.float64)
    tot1 = np.asarray(wp.solver.totals(sol.state), dtype=np.float64)
    t = float(sol.t)
    budget = (abs((tot1[0] - tot0[0]) / (float(wp.params.mdot) * t) - 1),
              abs((tot1[2] - tot0[2]) / (float(wp.params.luminosity) * t) - 1))
    w = np.asarray(wp.solver.primitive(sol.state), dtype=np.float64)
    return wp, w, budget, t


def _cloud(config):
    """Cowie & McKee's classical evaporation: the mass flux 4 pi r^2 rho v at 4 to 64 Myr over the classical rate."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..core.progress import show_progress
    from ..hydro import CodeUnits, evaporating_cloud_problem, solve

    solver, state0, mdot = evaporating_cloud_problem(config.cloud_cells)
    times = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
    sol = jax.jit(lambda s: solve(solver, s, t_end=float(times[-1]), save_at=jnp.asarray(times),
                                  max_steps=120 * config.cloud_cells, progress=show_progress()))(state0)
    if not bool(sol.reached):
        raise RuntimeError("the cloud run did not reach its end within max_steps")
    r = solver.grid.centers
    snaps = np.asarray(sol.snapshots.u, dtype=np.float64)
    flux = 4 * np.pi * r ** 2 * snaps[:, 1] / mdot
    w = np.asarray(solver.primitive(sol.state), dtype=np.float64)
    temp = 0.6 * M_P * CodeUnits().velocity_cms ** 2 / K_B * w[2] / w[0]
    return r, times, flux, temp


def run(config: Config, out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..hydro import Conduction

    waves = _heat_waves(config)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, (geometry, (r, snaps, exact, times, errs)) in zip(axes, waves.items()):
        for k, (th, ref, t) in enumerate(zip(snaps, exact, times)):
            ax.plot(r, ref, "k-", lw=0.9, label="exact" if k == 0 else None)
            ax.plot(r[::2], th[::2], ".", ms=3, color=f"C{k}", label=f"t = {t:g}")
        ax.set_xlim(0, 1)
        ax.set_xlabel("r")
        moment = r"$\langle r^2 \rangle^{1/2}$"
        ax.set_title(f"{geometry}: L1 {errs[0]:.1e}, {moment} {errs[1]:+.1e}", fontsize=10)
    axes[0].set_ylabel(r"$\theta = p / \rho$")
    axes[0].legend(fontsize=8)
    law = "Barenblatt-Pattle" if config.exponent else "heat kernel"
    fig.suptitle(f"point-source heat waves, kappa ~ theta^{config.exponent:g}, N={config.n_cells}, vs the {law} "
                 "solution (energy conserved to round-off)", y=1.02)
    save_figure(fig, out / "conduction_heat_waves.png")

    # the lecture's wind bubble without and with Spitzer conduction
    cond = Conduction.spitzer(suppression=config.suppression, saturation=config.saturation or None)
    runs = {"adiabatic": _wind(config, None), "Spitzer conduction": _wind(config, cond)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    stats = {}
    for (name, (wp, w, budget, t)), color in zip(runs.items(), ("C0", "C3")):
        u = wp.units
        rp = u.to_pc(wp.solver.grid.centers)
        temp = 0.6 * M_P * u.velocity_cms ** 2 / K_B * w[2] / w[0]
        n_cm3 = u.to_cm3(w[0])
        hot = temp > 1e6  # the X-ray emitting gas
        mass = w[0] * wp.solver.grid.volumes
        stats[name] = (float(np.sum(mass[hot]) / (float(wp.params.mdot) * t)), float(np.max(temp)), budget)
        axes[0].semilogy(rp, temp, color=color, label=name)
        axes[1].semilogy(rp, n_cm3, color=color, label=name)
        if name != "adiabatic":  # Weaver et al.'s conduction-front shape, matched at mid-bubble
            edge = rp[temp > 1e5][-1]
            inside = (rp > 0.25 * edge) & (rp < edge)
            mid = np.argmin(np.abs(rp - 0.6 * edge))
            shape = (1 - rp[inside] / edge) ** 0.4
            axes[0].semilogy(rp[inside], temp[mid] / (1 - rp[mid] / edge) ** 0.4 * shape, "k--", lw=0.8,
                             label=r"$\propto (1 - r/R)^{2/5}$ (Weaver et al. 1977)")
    for ax, label in zip(axes, ("T [K]", "n [cm$^{-3}$]")):
        ax.set_xlabel("r [pc]")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    sat = f"saturation phi_s={config.saturation:g}" if config.saturation else "no saturation"
    fig.suptitle(f"wind bubble at {config.t_end_yr:g} yr, N={config.wind_cells}: Spitzer x{config.suppression:g}, "
                 f"{sat}; mass of gas above 1e6 K / wind mass: {stats['adiabatic'][0]:.2f} -> "
                 f"{stats['Spitzer conduction'][0]:.2f} (evaporation)")
    save_figure(fig, out / "conduction_wind.png")

    # a cold cloud evaporating into 1e6 K gas
    r, times, flux, temp = _cloud(config)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for k, t in enumerate(times):
        axes[0].plot(r, flux[k], color=plt.cm.viridis(k / (len(times) - 1)), label=f"t = {t:g} Myr")
    axes[0].axhline(1.0, color="k", ls="--", lw=0.8, label="Cowie & McKee (1977), classical")
    axes[0].set_xlim(10, 80)  # outside the cloud (inside it, sound waves of the dense gas)
    axes[0].set_ylim(0, 2.0)
    axes[0].set_xlabel("r [pc]")
    axes[0].set_ylabel(r"$4 \pi r^2 \rho v$ / classical rate")
    axes[0].legend(fontsize=7)
    at = int(np.argmin(np.abs(r - 15.0)))
    rate = flux[:, at]
    slope = (rate[-2] - rate[-1]) / (times[-2] ** -0.5 - times[-1] ** -0.5)
    extrapolated = float(rate[-1] - slope * times[-1] ** -0.5)
    outside = r > 10.0
    axes[1].semilogy(r, temp, "C3-", label=f"t = {times[-1]:g} Myr")
    axes[1].semilogy(r[outside], 1e6 * (1 - 10.0 / r[outside]) ** 0.4, "k--", lw=0.8,
                     label=r"$T_h (1 - R/r)^{2/5}$ (Cowie & McKee)")
    axes[1].set_xlim(0, 80)
    axes[1].set_ylim(5e2, 2e6)
    axes[1].set_xlabel("r [pc]")
    axes[1].set_ylabel("T [K]")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"a 10 pc cloud evaporating into 1e6 K gas (N={config.cloud_cells}): rate at 15 pc {rate[-1]:.3f}x "
                 f"the classical rate at {times[-1]:g} Myr, ~ a + b/sqrt(t) -> {extrapolated:.3f}x")
    save_figure(fig, out / "conduction_cloud.png")

    worst = [max(abs(w[4][k]) for w in waves.values()) for k in range(3)]
    cs = stats["Spitzer conduction"]
    return {"heat_wave_l1": worst[0], "heat_wave_moment_rel_err": worst[1], "heat_wave_energy_drift": worst[2],
            "n_cells": config.n_cells, "wind_cells": config.wind_cells,
            "wind_mass_budget_rel_err": cs[2][0], "wind_energy_budget_rel_err": cs[2][1],
            "hot_mass_over_wind_mass": cs[0], "hot_mass_over_wind_mass_adiabatic": stats["adiabatic"][0],
            "max_temperature_k": cs[1], "max_temperature_k_adiabatic": stats["adiabatic"][1],
            "evaporation_rate_over_classical": float(rate[-1]), "evaporation_rate_extrapolated": extrapolated,
            "evaporation_rates": [float(x) for x in rate], "cloud_cells": config.cloud_cells}
