"""Cosmic-ray shock tube: gas plus cosmic rays (adiabatic, or diffusing) against the exact two-fluid Riemann solution.

A cosmic-ray dominated high-pressure side (p_cr = 2 p_gas, gamma_cr = 4/3, gas gamma = 5/3) expands into cold gas,
without and with cosmic rays ahead of the shock; profiles of density, velocity, gas and cosmic-ray pressure
against the exact solution, L1 errors over resolutions with the fitted order, and the derivative of the final
density profile with respect to the cosmic-ray pressure by forward mode through the run; the same tube with
diffusing cosmic rays (an illustration: the exact solution is the adiabatic one).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass
class Config:
    n_cells: int = 200  # the profiles' resolution
    resolutions: str = "100,200,400,800"  # the convergence study
    riemann: str = "hllc"
    limiter: str = "mc"
    integrator: str = "rk2"
    cfl: float = 0.5
    p_cr_left: float = 4.0 / 3.0
    p_gas_left: float = 2.0 / 3.0
    p_cr_right: float = 0.05  # the second problem's cosmic rays ahead of the shock (the first has none)
    t_end: float = 0.2
    diffusion: str = "0.002,0.01"  # kappa_cr of the diffusing runs (comma-separated; empty: none)

    def validate(self):
        from ..core.checks import check_choice, check_int, check_range
        from ..hydro.cosmic_rays import CR_RIEMANN, INTEGRATORS
        from ..hydro.reconstruct import LIMITERS

        check_int("n_cells", self.n_cells, lo=8, hi=100_000)
        ns = parse_resolutions(self.resolutions)
        if len(ns) < 2 or any(n < 8 for n in ns):
            raise ValueError(f"resolutions must be at least two integers >= 8; got {self.resolutions!r}")
        check_choice("riemann", self.riemann, tuple(CR_RIEMANN))
        check_choice("limiter", self.limiter, (*LIMITERS, "none"))
        check_choice("integrator", self.integrator, INTEGRATORS)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)
        check_range("p_gas_left", self.p_gas_left, 0.0, lo_open=True)
        check_range("p_cr_left", self.p_cr_left, 0.0)
        check_range("p_cr_right", self.p_cr_right, 0.0)
        check_range("t_end", self.t_end, 0.0, 0.3, lo_open=True)
        for k in parse_diffusion(self.diffusion):
            check_range("diffusion", k, 0.0, 10.0, lo_open=True)


QUICK = {"n_cells": 100, "resolutions": "100,200,400", "diffusion": "0.01"}

RIGHT = (0.2, 0.0, 0.02)  # density, velocity, gas pressure of the low-pressure side
RHO_LEFT = 1.0


def parse_diffusion(text):
    try:
        return [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"diffusion must be comma-separated numbers; got {text!r}") from None


def parse_resolutions(text):
    try:
        return sorted(int(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        raise ValueError(f"resolutions must be comma-separated integers; got {text!r}") from None


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..core.progress import progress_bar
    from ..hydro import solve
    from ..hydro.cosmic_rays import CRParams, cr_shock_tube

    t_start = time.time()
    limiter = None if config.limiter == "none" else config.limiter
    kw = dict(riemann=config.riemann, limiter=limiter, integrator=config.integrator, cfl=config.cfl)
    left = (RHO_LEFT, 0.0, config.p_gas_left, config.p_cr_left)
    problems = {"no CR ahead": RIGHT + (0.0,), "CR ahead": RIGHT + (config.p_cr_right,)}
    ns = parse_resolutions(config.resolutions)
    dtype = jnp.result_type(float)

    def run_one(right, n):
        solver, st, t_end, ex = cr_shock_tube(left, right, n_cells=n, t_end=config.t_end, dtype=dtype, **kw)
        w = np.asarray(solver.primitive(solve(solver, st, None, t_end=t_end).state))
        return solver, w, ex

    errors, profiles = {}, {}
    kappas = parse_diffusion(config.diffusion)
    with progress_bar(len(problems) * (len(ns) + 1) + 1 + len(kappas), desc="cr-shock-tube") as bar:
        for name, right in problems.items():
            errors[name] = []
            for n in ns:
                solver, w, ex = run_one(right, n)
                ref = ex.cell_average(solver.grid.faces, config.t_end)
                errors[name].append(np.mean(np.abs(w - ref), axis=1))
                bar.update(1)
            solver, w, ex = run_one(right, config.n_cells)
            profiles[name] = (solver.grid.centers, w, ex, np.mean(np.abs(w - ex.cell_average(
                solver.grid.faces, config.t_end)), axis=1))
            bar.update(1)

        # d rho(x, t_end) / d p_cr,left by forward mode through the run (first problem)
        solver, st0, t_end, _ = cr_shock_tube(left, problems["no CR ahead"], n_cells=config.n_cells,
                                              t_end=config.t_end, dtype=dtype, **kw)
        x = solver.grid.centers
        mask = jnp.asarray(x < 0.5, dtype)

        def final_rho(pc):
            st = solver.initial_state(jnp.where(mask > 0, RHO_LEFT, RIGHT[0]), 0.0,
                                      jnp.where(mask > 0, config.p_gas_left, RIGHT[2]), pc * mask, dtype=dtype)
            return solve(solver, st, None, t_end=t_end, gradient="forward").state.u[0]

        _, drho = jax.jit(lambda pc: jax.jvp(final_rho, (pc,), (jnp.ones_like(pc),)))(
            jnp.asarray(config.p_cr_left, dtype))
        bar.update(1)

        # diffusing cosmic rays (second problem)
        diffusing = {}
        for kappa in kappas:
            solver, st, t_end, _ = cr_shock_tube(left, problems["CR ahead"], n_cells=config.n_cells,
                                                 t_end=config.t_end, dtype=dtype, **kw)
            out_k = solve(solver, st, CRParams(kappa), t_end=t_end).state
            diffusing[kappa] = np.asarray(solver.primitive(out_k))
            bar.update(1)

    orders = {name: [float(v) for v in np.polyfit(np.log(ns), -np.log(np.stack(e)), 1)[0]]
              for name, e in errors.items()}

    labels = ("density", "velocity", "gas pressure", "cosmic-ray pressure")
    fig, axes = plt.subplots(2, 4, figsize=(17, 7))
    xs = np.linspace(0, 1, 4001)
    for row, (name, (xc, w, ex, _)) in enumerate(profiles.items()):
        ref = ex.sample(xs, config.t_end)
        for k in range(4):
            ax = axes[row, k]
            ax.plot(xs, ref[k], "k-", lw=1, label="exact")
            ax.plot(xc, w[k], "o", ms=2.5, color="C3", label=f"N = {config.n_cells}")
            ax.set_title(f"{labels[k]} ({name})", fontsize=9)
        axes[row, 0].legend(fontsize=8)
    fig.suptitle(f"cosmic-ray shock tube at t = {config.t_end:g} (gamma = 5/3, gamma_cr = 4/3)")
    save_figure(fig, out / "cr_shock_tube.png")

    fig, axes = plt.subplots(1, 3 if kappas else 2, figsize=(18 if kappas else 12, 4.2))
    for name, e in errors.items():
        e = np.stack(e)
        for k, mk in zip(range(4), "os^v"):
            axes[0].loglog(ns, e[:, k], mk + ("-" if name == "no CR ahead" else "--"),
                           label=f"{labels[k]}, {name} (order {orders[name][k]:.2f})")
    axes[0].loglog(ns, e[0, 0] * (ns[0] / np.asarray(ns, float)), "k:", lw=0.8, label="first order")
    axes[0].set_xlabel("cells")
    axes[0].set_ylabel("L1 error")
    axes[0].legend(fontsize=6)
    axes[0].set_title("convergence to the exact solution", fontsize=10)
    xc = profiles["no CR ahead"][0]
    axes[1].plot(xc, np.asarray(drho), color="C0")
    axes[1].axhline(0, color="0.6", lw=0.6)
    axes[1].set_xlabel("x")
    axes[1].set_ylabel("d rho(x, t_end) / d p_cr,left")
    axes[1].set_title("d rho(x, t_end) / d p_cr,left (forward mode)", fontsize=10)
    if kappas:
        xc2, w2, _, _ = profiles["CR ahead"]
        axes[2].plot(xc2, w2[3], "k-", lw=1, label="adiabatic (kappa_cr = 0)")
        for i, (kappa, w) in enumerate(diffusing.items()):
            axes[2].plot(xc2, w[3], "-", color=f"C{i}", label=f"kappa_cr = {kappa:g}")
        axes[2].set_xlabel("x")
        axes[2].set_ylabel("cosmic-ray pressure")
        axes[2].set_title("diffusing cosmic rays (CR ahead problem)", fontsize=10)
        axes[2].legend(fontsize=8)
    save_figure(fig, out / "cr_shock_tube_convergence.png")

    first = profiles["no CR ahead"][3]
    return {
        "n_cells": config.n_cells,
        "l1_density": float(first[0]), "l1_velocity": float(first[1]),
        "l1_p_gas": float(first[2]), "l1_p_cr": float(first[3]),
        "l1_density_cr_ahead": float(profiles["CR ahead"][3][0]),
        "order_density": orders["no CR ahead"][0], "order_p_cr": orders["no CR ahead"][3],
        "order_min": min(min(o) for o in orders.values()),
        "resolutions": ns,
        "l1": {name: [[float(v) for v in row] for row in e] for name, e in errors.items()},
        "p_star": profiles["no CR ahead"][2].p_star,
        "wall_s": time.time() - t_start,
    }
