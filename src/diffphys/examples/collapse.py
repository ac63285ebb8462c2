"""A cold uniform gas sphere collapsing under its own gravity (3D, vacuum boundaries) against the exact free fall."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

HEADLINE = True
QUICK = {"n": 24}


@dataclasses.dataclass
class Config:
    n: int = 48  # cells per side of the box [-1/2, 1/2]^3 (outflow hydro boundaries, vacuum gravity boundaries)
    radius: float = 0.25  # the sphere's radius (density 1, G = 1: t_ff = sqrt(3 pi / 32) = 0.543)
    ambient: float = 1e-3  # the surrounding gas's density, relative to the sphere's, at the same pressure
    pressure: float = 1e-3  # the sphere's thermal energy is then 1% of its binding energy
    t_final: float = 0.9  # in units of t_ff
    n_save: int = 18  # snapshots between 0 and t_final
    t_check: float = 0.7  # the core density against free fall up to here (t / t_ff)
    cfl: float = 0.4

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n", self.n, lo=12)
        check_int("n_save", self.n_save, lo=4)
        check_range("radius", self.radius, 0.0, 0.45, lo_open=True)
        check_range("ambient", self.ambient, 0.0, 0.1, lo_open=True)
        check_range("pressure", self.pressure, 0.0, lo_open=True)
        check_range("t_final", self.t_final, 0.0, 0.98, lo_open=True)
        check_range("t_check", self.t_check, 0.0, self.t_final, lo_open=True)
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure, write_json
    from ..hydro import collapse_problem, free_fall_radius, lagrangian_radii, solve
    from ..viz.fields import snapshot_row

    c = config
    dtype = jnp.zeros(()).dtype
    solver, state0, tff, mass = collapse_problem(c.n, radius=c.radius, ambient=c.ambient, pressure=c.pressure,
                                                 cfl=c.cfl, dtype=dtype)
    fractions = np.linspace(0.0, c.t_final, c.n_save + 1)[1:]
    # max_steps bounds each segment between snapshots; the slots after a segment's end run as steps of zero in
    # chunks of ~sqrt(max_steps), so a tight bound keeps that waste small (~10-40 steps per segment here)
    max_seg = 40 * max(1, c.n // 16) ** 2
    run_ = jax.jit(lambda st: solve(solver, st, t_end=c.t_final * tff, max_steps=max_seg, save_at=fractions * tff,
                                    progress=True))
    compiled = run_.lower(state0).compile()  # timed below without the compilation
    t0 = time.perf_counter()
    sol = compiled(state0)
    jax.block_until_ready(sol.state.u)
    wall = time.perf_counter() - t0
    if not bool(sol.reached):
        raise RuntimeError(f"a segment of the collapse did not reach its end within {max_seg} steps")

    r = np.sqrt(sum(x * x for x in solver.centers()))
    snaps = np.asarray(sol.snapshots.u, np.float64)
    rho = snaps[:, 0]
    ff = free_fall_radius(fractions)
    dx = solver.dx[0]  # the core: r < 0.4 R(t), and at least the 8 central cells
    core = [float(rho[k][r < max(0.4 * c.radius * a, 0.9 * dx)].mean()) for k, a in enumerate(ff)]
    core_err = np.asarray(core) * ff ** 3 - 1.0  # exact: rho0 / (r / r0)^3
    lag_f = [0.1, 0.25, 0.5, 0.75, 0.9]
    lag0 = lagrangian_radii(solver, np.asarray(state0.u[0]), lag_f, mass)
    lag = np.array([lagrangian_radii(solver, rho[k], lag_f, mass) for k in range(len(fractions))])
    # energies: kinetic, thermal, gravitational (the potential of the grid's mass with vacuum around it)
    vol = solver.cell_volume

    def energies(u):
        kin = 0.5 * np.sum(u[1:4] ** 2, axis=0) / u[0]
        pe = float(solver.potential_energy(type(state0)(jnp.asarray(u, dtype))))
        return float(kin.sum() * vol), float((u[4] - kin).sum() * vol), pe

    e = np.array([energies(np.asarray(state0.u, np.float64))] + [energies(u) for u in snaps])
    t_all = np.concatenate([[0.0], fractions])
    check = fractions <= c.t_check + 1e-9

    mid = c.n // 2
    picks = [int(np.argmin(np.abs(fractions - f))) for f in (0.5, 0.7, c.t_final)]
    half = 0.5
    snapshot_row([np.log10(np.asarray(state0.u[0])[:, :, mid])] + [np.log10(rho[k][:, :, mid]) for k in picks],
                 ["log10 density, t = 0"] + [f"t = {fractions[k]:.2f} t_ff" for k in picks],
                 (-half, half, -half, half), out / "density.png", height=3.6, colorbar="each", cmap="magma")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    tt = np.linspace(0.0, c.t_final, 200)
    for j, f in enumerate(lag_f):
        line, = axes[0].plot(t_all, np.concatenate([[1.0], lag[:, j] / lag0[j]]), "o", ms=3, label=f"{f:.0%} of M")
    axes[0].plot(tt, free_fall_radius(tt), "k-", lw=1, label="free fall (every shell)")
    axes[0].set_xlabel("t / t_ff")
    axes[0].set_ylabel("Lagrangian radius / initial")
    axes[0].set_title("Lagrangian radii of the sphere's mass")
    axes[0].legend(fontsize=8)
    axes[1].semilogy(fractions, core, "o", ms=4, label=f"mean density, r < 0.4 R(t), {c.n}^3")
    axes[1].semilogy(tt, free_fall_radius(tt) ** -3, "k-", lw=1, label="free fall: rho0 (r0 / r)^3")
    axes[1].set_xlabel("t / t_ff")
    axes[1].set_ylabel("core density")
    axes[1].set_title("the uniform core")
    axes[1].legend(fontsize=8)
    for k, lab in enumerate(("kinetic", "thermal", "gravitational")):
        axes[2].plot(t_all, e[:, k], label=lab)
    axes[2].plot(t_all, e.sum(axis=1), "k--", label="total")
    axes[2].set_xlabel("t / t_ff")
    axes[2].set_ylabel("energy")
    axes[2].set_title("energies (the ambient gas crosses the outflow faces)")
    axes[2].legend(fontsize=8)
    save_figure(fig, out / "collapse.png")
    write_json(out / "collapse.json", {"t_over_tff": fractions, "core_density": core, "lagrangian_fractions": lag_f,
                                       "lagrangian_radii": lag, "initial_radii": lag0, "energies": e})
    totals = np.asarray(solver.totals(sol.state), np.float64)
    return {"n": c.n, "num_steps": int(sol.num_steps), "wall_s": wall, "t_ff": tff,
            "core_density_rel_err_max": float(np.max(np.abs(core_err[check]))),
            "core_density_rel_err_final": float(core_err[-1]),
            "half_mass_radius_rel_err_max": float(np.max(np.abs(lag[check, 2] / lag0[2] / ff[check] - 1))),
            "density_contrast_final": float(core[-1]),
            "momentum_over_mass": float(np.max(np.abs(totals[1:4])) / totals[0]),
            "energy_total_rel_change": float((e[-1].sum() - e[0].sum()) / abs(e[0, 2]))}
