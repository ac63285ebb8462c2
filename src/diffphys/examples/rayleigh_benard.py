"""Rayleigh-Benard convection: growth rates, the onset by Newton through the solver, Nusselt numbers vs theory.

A Boussinesq fluid between a hot floor and a cold lid (the flow solver's marker as temperature, with a
diffusivity and walls at fixed temperatures). Small disturbances grow or decay at the rate of linear theory;
Newton's method on the measured growth rate, differentiated by forward mode through the whole run, finds the
critical Rayleigh number, which extrapolates to Rayleigh's 27 pi^4 / 4 (free-slip walls) and Chandrasekhar's 1707.76
(no-slip); the heat carried by steady rolls just above onset follows Malkus & Veronis (Nu - 1 = 2 eps), and a
vigorous run at Ra = 1e5 shows the plumes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

X64 = True  # Newton's iterations need growth rates to ~1e-10 and derivatives through thousands of steps

GROWTH_K = (2.2214414690791831, 4.5, 1.5, 3.2)  # wavenumbers of the dispersion curve (the first: pi / sqrt 2)


@dataclasses.dataclass
class Config:
    n: int = 16  # cells per depth (the onset also at 2n)
    dt: float = 0.01  # time step of the onset runs (also at dt / 2)
    ra: float = 2000.0  # Rayleigh number of the dispersion curve
    pr: float = 1.0  # Prandtl number
    t_growth: float = 25.0  # length of a growth-rate run (the fit uses its second half)
    nu_dt: float = 0.02  # time step of the steady-roll runs
    t_steady: float = 1000.0  # length of a steady-roll run (free-fall times)
    hot_ra: float = 1e5  # Rayleigh number of the vigorous run
    hot_n: int = 32  # its cells per depth
    hot_t: float = 60.0  # its length
    frames: int = 30
    growth_points: int = 4  # how many of GROWTH_K
    richardson: bool = True  # the onset also at (n, dt / 2) and (2n, dt / 2), extrapolated
    compare_semi_lagrangian: bool = True  # the steady rolls also with semi-Lagrangian advection

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n", self.n, lo=8)
        check_int("hot_n", self.hot_n, lo=8)
        check_int("frames", self.frames, lo=2)
        check_int("growth_points", self.growth_points, lo=1, hi=len(GROWTH_K))
        check_range("dt", self.dt, 0.0, 0.1, lo_open=True)
        check_range("nu_dt", self.nu_dt, 0.0, 0.1, lo_open=True)
        check_range("ra", self.ra, 700.0, 1e5)
        check_range("pr", self.pr, 0.01, 100.0)
        check_range("t_growth", self.t_growth, 5.0, 500.0)
        check_range("t_steady", self.t_steady, 10.0, 1e4)
        check_range("hot_ra", self.hot_ra, 2e3, 1e7)
        check_range("hot_t", self.hot_t, 1.0, 1e3)


QUICK = {"n": 8, "t_growth": 8.0, "t_steady": 60.0, "hot_n": 12, "hot_ra": 2e4, "hot_t": 20.0, "frames": 5,
         "growth_points": 2, "richardson": False, "compare_semi_lagrangian": False}


def onset_table(n, dt, t_growth, walls, progress=None, richardson=True):
    """The discrete critical Rayleigh number at (n, dt), (n, dt / 2) and (2n, dt / 2) by Newton's method, and
    its extrapolation to dt -> 0 (first order: the time splitting) and cell size -> 0 (second order); without
    ``richardson`` only at (n, dt), which it then also returns as the estimate."""
    import jax.numpy as jnp

    from ..flow import convection as cv

    rows = {}
    for m, d in ((n, dt), (n, dt / 2), (2 * n, dt / 2)) if richardson else ((n, dt),):
        solver, st, _, pf = cv.rayleigh_benard(m, walls=walls, dt=d, dtype=jnp.float64, diffusion_tol=1e-12)
        res = cv.onset(cv.growth_rate_fn(solver, st, pf, t_growth), 1.02 * cv.critical(walls)[0])
        rows[m, d] = res
        if progress is not None:
            progress.update(1)
    if not richardson:
        return rows, rows[n, dt].ra_c
    r_n = 2 * rows[n, dt / 2].ra_c - rows[n, dt].ra_c
    r_2n = rows[2 * n, dt / 2].ra_c + (rows[n, dt / 2].ra_c - rows[n, dt].ra_c)
    return rows, r_2n + (r_2n - r_n) / 3


def run(config: Config, out: Path) -> dict:
    import math
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure, save_gif
    from ..core.progress import progress_bar
    from ..flow import convection as cv

    t_start = time.time()
    ra_c_slip, k_c = cv.critical("slip")
    levels = 3 if config.richardson else 1
    advections = ("maccormack", "semi-lagrangian") if config.compare_semi_lagrangian else ("maccormack",)
    ks = sorted(GROWTH_K[:config.growth_points])
    with progress_bar(len(ks) + 2 * levels + 2 + 2 * len(advections), desc="rayleigh-benard") as bar:
        # --- 1. growth rates against linear theory (free-slip walls)
        growth = []
        for k in ks:
            solver, st, _, pf = cv.rayleigh_benard(config.n, ra=config.ra, pr=config.pr, k=k, dt=config.dt,
                                                   dtype=jnp.float64)
            sigma = float(jax.jit(cv.growth_rate_fn(solver, st, pf, config.t_growth))(config.ra))
            exact = cv.linear_growth_rate(config.ra, config.pr, k)
            damping = (math.sqrt(config.pr / config.ra) + 1 / math.sqrt(config.pr * config.ra)) * (k * k + math.pi**2)
            growth.append(dict(k=k, sigma=sigma, exact=exact, err=(sigma - exact) / damping))
            bar.update(1)

        # --- 2. the onset: Newton on d sigma / d Ra, extrapolated
        onsets = {walls: onset_table(config.n, config.dt, config.t_growth, walls, bar, config.richardson)
                  for walls in ("slip", "wall")}

        # --- 3. steady rolls just above the discrete onset (same cells and step): the Nusselt number
        solver, st, _, pf = cv.rayleigh_benard(config.n, dt=config.nu_dt, dtype=jnp.float64, diffusion_tol=1e-12)
        ra_c_nu = cv.onset(cv.growth_rate_fn(solver, st, pf, config.t_growth), 1.02 * ra_c_slip).ra_c
        bar.update(1)
        steps = int(round(config.t_steady / config.nu_dt))
        nus = []
        for adv in advections:
            solver, st, _, _ = cv.rayleigh_benard(config.n, dt=config.nu_dt, amplitude=0.05, dtype=jnp.float64,
                                                  advection=adv)

            def final_nu(ra, solver=solver, st=st):
                s = jax.lax.fori_loop(0, steps, lambda i, s: solver.step(s, pf(ra)), st)
                return jnp.stack(cv.nusselt(solver, s.marker))

            final_nu = jax.jit(final_nu)
            for eps in (0.05, 0.1):
                nb, nt = (float(v) for v in final_nu(ra_c_nu * (1 + eps)))
                nus.append(dict(advection=adv, eps=eps, nu=nb, nu_top=nt))
                bar.update(1)

        # --- 4. a vigorous run (no-slip walls): plumes and the Nusselt number in time
        solver, st, params, _ = cv.rayleigh_benard(config.hot_n, ra=config.hot_ra, walls="wall", amplitude=0.01,
                                                   dt=0.25 / config.hot_n, dtype=jnp.float64)
        hot_steps = int(round(config.hot_t / solver.dt))
        frames = min(config.frames, hot_steps)
        per = hot_steps // frames

        def chunk(s, _):
            s = jax.lax.fori_loop(0, per, lambda i, x: solver.step(x, params), s)
            return s, (s.marker, jnp.stack(cv.nusselt(solver, s.marker)), s.t)

        _, (snaps, nu_t, times) = jax.jit(lambda s: jax.lax.scan(chunk, s, None, length=frames))(st)
        bar.update(1)

    snaps, nu_t, times = np.asarray(snaps), np.asarray(nu_t), np.asarray(times)
    mac = [r for r in nus if r["advection"] == "maccormack"]
    ratios = [(r["nu"] - 1) / (2 * r["eps"]) for r in mac]
    slope0 = 2 * ratios[0] - ratios[1]  # (Nu - 1) / (2 eps) extrapolated linearly to eps = 0

    # --- figures
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    ax = axes[0]
    kk = np.linspace(0.8, 5.5, 200)
    ax.plot(kk, [cv.linear_growth_rate(config.ra, config.pr, k) for k in kk], "k-", lw=1,
            label="linear theory (free-slip)")
    ax.plot([g["k"] for g in growth], [g["sigma"] for g in growth], "o", color="C3",
            label=f"measured, {config.n} cells per depth")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel("wavenumber k (depth 1)")
    ax.set_ylabel("growth rate (free-fall units)")
    ax.set_title(f"growth of cos(kx) sin(pi y) at Ra = {config.ra:g}, Pr = {config.pr:g}")
    ax.legend(fontsize=8)
    ax = axes[1]
    for (walls, (rows, extrap)), color in zip(onsets.items(), ("C0", "C2")):
        truth = cv.critical(walls)[0]
        ax.plot(range(levels), [rows[key].ra_c / truth - 1 for key in rows], "o-", color=color,
                label=f"{'free-slip' if walls == 'slip' else 'no-slip'}: "
                      f"{'extrapolated ' if config.richardson else ''}{extrap:.2f} ({extrap / truth - 1:+.1e})")
    ax.axhline(0, color="k", lw=0.8)
    keys = list(onsets["slip"][0])
    ax.set_xticks(range(levels), [f"{m} cells\ndt = {d:g}" for m, d in keys])
    ax.set_ylabel("Ra_c / theory - 1")
    ax.set_title("onset by Newton on d sigma / d Ra through the run")
    ax.legend(fontsize=8)
    ax = axes[2]
    ee = np.linspace(0, 0.22, 50)
    ax.plot(ee, 2 * ee, "k-", lw=1, label="Malkus & Veronis: 2 eps")
    ax.plot(ee, 2 * ee / (1 + ee), "k--", lw=1, label="Lorenz truncation: 2 eps / (1 + eps)")
    for adv, mk in zip(advections, "os"):
        rs = [r for r in nus if r["advection"] == adv]
        ax.plot([r["eps"] for r in rs], [r["nu"] - 1 for r in rs], mk, label=f"steady rolls, {adv} advection")
    ax.set_xlabel("eps = Ra / Ra_c - 1")
    ax.set_ylabel("Nu - 1")
    ax.set_title(f"heat transport near onset ({config.n} cells per depth)")
    ax.legend(fontsize=7)
    fig.subplots_adjust(wspace=0.3)
    save_figure(fig, out / "rayleigh_benard_onset.png")

    lx = solver.grid.size[0]
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.6), gridspec_kw=dict(width_ratios=(2, 1.2)))
    axes[0].imshow(snaps[-1].T, origin="lower", extent=(0, lx, 0, 1), cmap="RdBu_r", vmin=0, vmax=1)
    axes[0].set_title(f"temperature at t = {times[-1]:.0f}, Ra = {config.hot_ra:g}, no-slip walls "
                      f"({solver.grid.shape[0]} x {solver.grid.shape[1]})")
    axes[1].plot(times, nu_t[:, 0], label="floor")
    axes[1].plot(times, nu_t[:, 1], "--", label="lid")
    axes[1].set_xlabel("t (free-fall units)")
    axes[1].set_ylabel("Nusselt number")
    axes[1].legend(fontsize=8)
    axes[1].set_title("heat through the walls")
    save_figure(fig, out / "rayleigh_benard_hot.png")
    save_gif([(np.clip(s.T[::-1], 0, 1) * 255).astype(np.uint8) for s in snaps], out / "rayleigh_benard.gif")

    sl = [r for r in nus if r["advection"] == "semi-lagrangian"]
    return {
        "growth_max_err": max(abs(g["err"]) for g in growth),
        "growth": {f"{g['k']:.3f}": [g["sigma"], g["exact"]] for g in growth},
        "ra_c_slip": onsets["slip"][1], "ra_c_slip_theory": ra_c_slip,
        "ra_c_slip_rel_err": onsets["slip"][1] / ra_c_slip - 1,
        "ra_c_noslip": onsets["wall"][1], "ra_c_noslip_table": cv.RB_CRITICAL_NO_SLIP[0],
        "ra_c_noslip_rel_err": onsets["wall"][1] / cv.RB_CRITICAL_NO_SLIP[0] - 1,
        "ra_c_discrete": {f"{w}_{m}_{d:g}": r.ra_c for w, (rows, _) in onsets.items() for (m, d), r in rows.items()},
        "newton_iterations_max": max(len(r.history) for rows, _ in onsets.values() for r in rows.values()),
        "newton_converged": all(r.converged for rows, _ in onsets.values() for r in rows.values()),
        "nu_eps": {f"{r['eps']:g}": r["nu"] for r in mac},
        "nu_slope_at_onset": slope0,
        "nu_top_bottom_max_diff": max(abs(r["nu"] - r["nu_top"]) for r in mac),
        "nu_semi_lagrangian_over_maccormack": [(s["nu"] - 1) / (m["nu"] - 1) for s, m in zip(sl, mac)],
        "hot_nu_final": float(nu_t[-1, 0]), "hot_nu_mean_last_half": float(np.mean(nu_t[frames // 2:, 0])),
        "wall_s": time.time() - t_start,
    }
