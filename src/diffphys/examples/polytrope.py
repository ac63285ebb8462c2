"""A self-gravitating n = 1 polytrope held in hydrostatic equilibrium, against the Lane-Emden solution."""

from __future__ import annotations

import dataclasses
from pathlib import Path

X64 = True  # energy drifts of 1e-6 and the convergence sweep need float64

QUICK = {"resolutions": "32,64,128", "n_cells": 128}


@dataclasses.dataclass
class Config:
    n_cells: int = 256  # the run shown in the profile figure
    resolutions: str = "32,64,128,256"  # the convergence sweep (comma-separated cell counts)
    t_end: float = 2.0  # in units of R / sqrt(G rho_c R^2); the central sound-crossing time is ~0.9
    cfl: float = 0.5
    riemann: str = "hllc"
    limiter: str = "mc"
    integrator: str = "rk2"

    def validate(self):
        from ..core.checks import check_choice, check_int, check_positive, check_range

        check_int("n_cells", self.n_cells, lo=8)
        check_positive("t_end", self.t_end)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)
        check_choice("riemann", self.riemann, ("hll", "hllc", "rusanov"))
        check_choice("limiter", self.limiter, ("minmod", "mc", "vanleer"))
        check_choice("integrator", self.integrator, ("euler", "rk2", "rk3", "hancock"))
        try:
            ns = [int(x) for x in self.resolutions.split(",")]
        except ValueError:
            raise ValueError(f"resolutions must be comma-separated integers; got {self.resolutions!r}") from None
        if len(ns) < 2 or min(ns) < 8:
            raise ValueError(f"resolutions must list at least two cell counts >= 8; got {self.resolutions!r}")


def run_one(c: Config, n: int):
    """One run of ``n`` cells: the final state and the diagnostics (G = 1, R = 1, rho_c = 1, P = K rho^2)."""
    import jax
    import numpy as np

    from ..hydro import EulerSolver, RadialGrid, SelfGravity, solve

    k = 2.0 / np.pi  # radius 1 for G = 1 (Lane-Emden n = 1: R = sqrt(pi K / 2G))
    grid = RadialGrid(n, 1.0, geometry="spherical")
    solver = EulerSolver(grid, 2.0, riemann=c.riemann, limiter=c.limiter, integrator=c.integrator, cfl=c.cfl,
                         left="reflective", right="reflective", gravity=SelfGravity(G=1.0))
    x = np.pi * grid.centers
    rho0 = np.sin(x) / x
    st0 = solver.initial_state(rho0, 0.0, k * rho0 ** 2)
    sol = jax.jit(lambda s: solve(solver, s, t_end=c.t_end, max_steps=100 * n))(st0)
    u0, u = np.asarray(st0.u), np.asarray(sol.state.u)
    vol = grid.volumes

    def total_energy(w):
        m = w[0] * vol
        inside = np.cumsum(m) - m + w[0] * solver.half_vol
        return np.sum(w[2] * vol) - np.sum(inside * m / grid.centers)

    e0 = total_energy(u0)
    return grid.centers, rho0, u, {
        "n_cells": n, "steps": int(sol.num_steps), "reached": bool(sol.reached),
        "l1_density": float(np.sum(np.abs(u[0] - rho0) * vol) / np.sum(rho0 * vol)),
        "v_max_over_cs": float(np.max(np.abs(u[1] / u[0])) / np.sqrt(2 * k)),
        "mass_rel_drift": float(np.sum(u[0] * vol) / np.sum(u0[0] * vol) - 1.0),
        "energy_rel_drift": float((total_energy(u) - e0) / abs(e0))}


def run(config: Config, out: Path) -> dict:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure

    c = config
    ns = sorted(int(x) for x in c.resolutions.split(","))
    sweep = [run_one(c, n)[3] for n in ns]
    r, rho0, u, main = run_one(c, c.n_cells)
    l1 = np.array([s["l1_density"] for s in sweep])
    order = float(np.polyfit(np.log(ns), np.log(l1), 1)[0] * -1)

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), constrained_layout=True)
    axes[0].plot(r, rho0, "k-", lw=1, label="Lane-Emden n = 1 (t = 0)")
    axes[0].plot(r, u[0], ".", ms=3, label=f"N = {c.n_cells}, t = {c.t_end:g}")
    axes[0].set_xlabel("r / R")
    axes[0].set_ylabel("density / central density")
    axes[0].legend(fontsize=8)
    axes[1].plot(r, u[1] / u[0] / np.sqrt(4 / np.pi), lw=1)
    axes[1].set_xlabel("r / R")
    axes[1].set_ylabel("velocity / central sound speed")
    axes[1].set_title(f"largest {main['v_max_over_cs']:.2%}")
    axes[2].loglog(ns, l1, "o-", label="density L1 error")
    axes[2].loglog(ns, [abs(s["energy_rel_drift"]) for s in sweep], "s-", label="|total energy drift|")
    axes[2].loglog(ns, l1[0] * (np.array(ns) / ns[0]) ** -2.0, "k:", lw=0.8, label="N^-2")
    axes[2].set_xlabel("cells")
    axes[2].set_title(f"fitted order of the L1 error {order:.2f}")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"self-gravitating n = 1 polytrope after t = {c.t_end:g} ({c.riemann} + {c.limiter} + {c.integrator})")
    save_figure(fig, out / "polytrope.png")

    metrics = {k: v for k, v in main.items() if k != "reached"}
    metrics.update(l1_order=order, reached=float(main["reached"]),
                   sweep_l1=[s["l1_density"] for s in sweep], sweep_n=ns,
                   sweep_energy_rel_drift=[s["energy_rel_drift"] for s in sweep])
    return metrics
