"""A square cavity heated from the side against de Vahl Davis' bench mark: Nusselt number and peak velocities.

Air (Pr = 0.71) between a hot left wall and a cold right wall, floor and lid insulating (the flow solver's marker
as temperature, conducted and buoyant). Each Rayleigh number runs to its steady state at (n, dt), (n, dt / 2) and
(2n, dt / 2); the results extrapolate to dt -> 0 (first order: the time splitting) and cell size -> 0 (second
order) and are compared with de Vahl Davis (1983): the hot wall's mean Nusselt number and the largest velocities
on the two mid-lines. The sensitivity d ln Nu / d ln Ra comes from forward mode through the whole run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

X64 = True  # steady states to 1e-6 relative and extrapolations of differences of ~1e-3


@dataclasses.dataclass
class Config:
    ras: str = "1e3,1e4,1e5"  # Rayleigh numbers, each a row of de Vahl Davis' table (1e3, 1e4, 1e5, 1e6)
    n: int = 32  # cells per side of the coarse runs (the fine runs: 2n)
    dt: float = 0.0125  # time step of the coarse run (free-fall units; the others dt / 2)
    tol: float = 1e-6  # steady: relative rate of change per unit time of velocity and temperature
    t_max: float = 300.0  # give up a run after this long
    richardson: bool = True  # the runs at (n, dt / 2) and (2n, dt / 2) and the extrapolation
    sensitivity: bool = True  # d ln Nu / d ln Ra by forward mode through the coarse run

    def validate(self):
        from ..core.checks import check_int, check_range
        from ..flow.convection import DE_VAHL_DAVIS_1983

        check_int("n", self.n, lo=8, hi=512)
        if self.n % 2:
            raise ValueError(f"n must be even (the mid-lines are face lines); got {self.n}")
        check_range("dt", self.dt, 0.0, 0.1, lo_open=True)
        check_range("tol", self.tol, 0.0, 1e-2, lo_open=True)
        check_range("t_max", self.t_max, 10.0, 1e4)
        ras = parse_ras(self.ras)
        bad = [r for r in ras if r not in DE_VAHL_DAVIS_1983]
        if not ras or bad:
            raise ValueError(f"ras must be a comma-separated subset of {sorted(DE_VAHL_DAVIS_1983)} (de Vahl Davis' "
                             f"table); got {self.ras!r}")


QUICK = {"ras": "1e3,1e4", "n": 16, "dt": 0.025, "tol": 1e-5}


def parse_ras(text):
    try:
        return [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"ras must be comma-separated numbers; got {text!r}") from None


def run(config: Config, out: Path) -> dict:
    import math
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    from ..core.io import save_figure
    from ..core.progress import progress_bar
    from ..flow import convection as cv
    from ..flow.analysis import centers_velocity

    t_start = time.time()
    pr = 0.71
    ras = parse_ras(config.ras)
    keys = [(config.n, config.dt), (config.n, config.dt / 2), (2 * config.n, config.dt / 2)]
    keys = keys if config.richardson else keys[:1]
    rows, fields, slopes = {}, {}, {}
    with progress_bar(len(ras) * (len(keys) + config.sensitivity), desc="heated-cavity") as bar:
        for ra in ras:
            kappa = 1 / math.sqrt(pr * ra)
            for n, dt in keys:
                solver, st, params, pf = cv.heated_cavity(n, ra, pr, dt=dt, dtype=jnp.float64, diffusion_tol=1e-12)
                res = cv.run_to_steady(solver, st, params, tol=config.tol, t_max=config.t_max, check_every=2.0,
                                       progress=False)
                nu_hot, nu_cold = (float(v) for v in cv.nusselt(solver, res.state.marker, axis=0))
                (u, y), (v, x) = cv.cavity_velocities(solver, res.state, kappa)
                rows[ra, n, dt] = dict(nu=nu_hot, nu_cold=nu_cold, u_max=u, y=y, v_max=v, x=x,
                                       t=float(res.state.t), converged=res.converged)
                if (n, dt) == keys[-1]:
                    uc, vc = centers_velocity(solver, res.state)
                    fields[ra] = (np.asarray(res.state.marker), np.asarray(uc), np.asarray(vc))
                if (n, dt) == keys[0] and config.sensitivity:
                    steps = int(round(rows[ra, n, dt]["t"] / dt))

                    def log_nu(log_ra, solver=solver, st=st, pf=pf, steps=steps):
                        p = pf(jnp.exp(log_ra))
                        s = jax.lax.fori_loop(0, steps, lambda i, z: solver.step(z, p), st)
                        return jnp.log(cv.nusselt(solver, s.marker, axis=0)[0])

                    lr = jnp.asarray(math.log(ra), jnp.float64)
                    _, slope = jax.jit(lambda a: jax.jvp(log_nu, (a,), (jnp.ones_like(a),)))(lr)
                    slopes[ra] = float(slope)
                    bar.update(1)
                bar.update(1)

    quantities = ("nu", "u_max", "v_max")
    best = {}
    for ra in ras:
        est = {}
        for q in quantities:
            if config.richardson:
                (n, dt), (_, dt2), (n2, _) = keys
                a, b, c = rows[ra, n, dt][q], rows[ra, n, dt2][q], rows[ra, n2, dt2][q]
                r_n, r_2n = 2 * b - a, c + (b - a)        # dt -> 0, first order (same coefficient at 2n)
                est[q] = r_2n + (r_2n - r_n) / 3          # h -> 0, second order
            else:
                est[q] = rows[ra, config.n, config.dt][q]
        best[ra] = est
    ref = cv.DE_VAHL_DAVIS_1983
    err = {ra: {q: best[ra][q] / ref[ra][q] - 1 for q in quantities} for ra in ras}

    # --- figures: the fields, and the errors per level
    fig, axes = plt.subplots(1, len(ras), figsize=(4.6 * len(ras), 4.4), squeeze=False)
    for ax, ra in zip(axes[0], ras):
        temp, uc, vc = fields[ra]
        m = temp.shape[0]
        xs = (np.arange(m) + 0.5) / m
        ax.imshow(temp.T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=0, vmax=1,
                  interpolation="bilinear")
        ax.contour(xs, xs, temp.T, levels=np.linspace(0.1, 0.9, 9), colors="k", linewidths=0.5)
        ax.streamplot(xs, xs, uc.T, vc.T, color="0.25", density=0.8, linewidth=0.6, arrowsize=0.6)
        ax.set_title(f"Ra = {ra:g}: temperature, isotherms, streamlines\nNu = {best[ra]['nu']:.3f} "
                     f"(de Vahl Davis {ref[ra]['nu']:.3f})", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, out / "heated_cavity.png")

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    labels = [f"{n} cells\ndt = {dt:g}" for n, dt in keys] + (["extrapolated"] if config.richardson else [])
    names = {"nu": "mean Nusselt number, hot wall", "u_max": "u_max on x = 1/2", "v_max": "v_max on y = 1/2"}
    for ax, q in zip(axes[:3], quantities):
        for i, ra in enumerate(ras):
            ys = [rows[ra, n, dt][q] / ref[ra][q] - 1 for n, dt in keys]
            ys += [err[ra][q]] if config.richardson else []
            ax.plot(range(len(ys)), ys, "o-", color=f"C{i}", label=f"Ra = {ra:g}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylabel("relative to de Vahl Davis (1983)")
        ax.set_title(names[q], fontsize=10)
        ax.legend(fontsize=8)
    ax = axes[3]
    table = sorted(ref)
    ax.loglog(table, [ref[r]["nu"] for r in table], "ks", mfc="none", label="de Vahl Davis (1983)")
    ax.loglog(ras, [best[r]["nu"] for r in ras], "o", color="C3", label="diffphys")
    for ra, s in slopes.items():
        nu0 = rows[ra, config.n, config.dt]["nu"]
        rr = np.array([ra / 2.5, ra * 2.5])
        ax.loglog(rr, nu0 * (rr / ra) ** s, "-", color="C3", lw=1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([1, 2, 4, 8])
    ax.set_xlabel("Ra")
    ax.set_ylabel("Nu")
    ax.set_title("Nu(Ra); tangents: d ln Nu / d ln Ra by forward mode" if slopes else "Nu(Ra)", fontsize=9)
    ax.legend(fontsize=8)
    fig.subplots_adjust(wspace=0.32)
    save_figure(fig, out / "heated_cavity_errors.png")

    return {
        "nu_rel_err_max": max(abs(e["nu"]) for e in err.values()),
        "u_max_rel_err_max": max(abs(e["u_max"]) for e in err.values()),
        "v_max_rel_err_max": max(abs(e["v_max"]) for e in err.values()),
        "estimates": {f"{ra:g}": best[ra] for ra in ras},
        "rel_err": {f"{ra:g}": err[ra] for ra in ras},
        "runs": {f"{ra:g}_{n}_{dt:g}": r for (ra, n, dt), r in rows.items()},
        "hot_cold_nu_max_diff": max(abs(r["nu"] - r["nu_cold"]) for r in rows.values()),
        "all_converged": all(r["converged"] for r in rows.values()),
        "dlnnu_dlnra": {f"{ra:g}": s for ra, s in slopes.items()},
        "wall_s": time.time() - t_start,
    }
