"""The Jeans instability in a periodic self-gravitating gas (2D): seeded modes against linear theory, then collapse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

HEADLINE = True
QUICK = {"n": 64}


@dataclasses.dataclass
class Config:
    n: int = 128  # cells per side of the periodic unit square
    jeans_ratio: float = 2.5  # k_J / (2 pi): modes with |k| / 2 pi below this grow (c = 1, rho = 1)
    seed_amplitude: float = 1e-3  # each mode with |k| / 2 pi <= 3, random phases, gas at rest
    t_end: float = 1.2
    t_linear: float = 0.25  # the fundamental modes (|k| / 2 pi <= sqrt 2) against linear theory up to here
    t_early: float = 0.1  # every seeded mode against linear theory at this time (before the modes couple)
    segment: float = 0.02
    cfl: float = 0.4
    seed: int = 1

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n", self.n, lo=16)
        for name in ("jeans_ratio", "seed_amplitude", "t_end", "t_linear", "t_early", "segment"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)
        check_range("seed_amplitude", self.seed_amplitude, 0.0, 0.05, lo_open=True)
        if not self.segment * 4 <= self.t_linear <= self.t_end:
            raise ValueError(f"t_linear must lie in [4 segment, t_end]; got {self.t_linear}")
        if not self.segment <= self.t_early <= self.t_linear:
            raise ValueError(f"t_early must lie in [segment, t_linear]; got {self.t_early}")
        check_range("cfl", self.cfl, 0.0, 1.0, lo_open=True)


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure, write_json
    from ..core.progress import progress_bar
    from ..hydro import CartesianEulerSolver, solve
    from ..viz.fields import snapshot_row

    c = config
    gamma = 5.0 / 3.0
    kj = 2 * np.pi * c.jeans_ratio
    solver = CartesianEulerSolver((c.n, c.n), 1.0, gamma, cfl=c.cfl, self_gravity=kj ** 2 / (4 * np.pi))
    x, y = solver.centers()
    rng = np.random.default_rng(c.seed)
    modes = [(i, j) for i in range(-3, 4) for j in range(0, 4) if (j > 0 or i > 0) and i * i + j * j <= 9]
    drho = sum(c.seed_amplitude * np.cos(2 * np.pi * (i * x + j * y) + rng.uniform(0, 2 * np.pi)) for i, j in modes)
    dtype = jnp.zeros(()).dtype
    state = solver.initial_state(1.0 + drho, (0.0, 0.0), (1.0 + drho) ** gamma / gamma, dtype=dtype)  # c = 1
    advance = jax.jit(lambda st: solve(solver, st, t_end=c.segment, max_steps=20_000))

    def amplitudes(u):  # |rho_k| of the seeded modes
        f = np.fft.fft2(np.asarray(u[0], np.float64)) / c.n ** 2
        return np.array([2 * abs(f[i % c.n, j]) for i, j in modes])

    n_seg = int(round(c.t_end / c.segment))
    totals0 = np.asarray(solver.totals(state), np.float64)
    w0 = float(solver.potential_energy(state))
    amps, rho_max, steps = [amplitudes(state.u)], [float(np.max(state.u[0]))], 0
    snap_at = {0, int(round(c.t_linear / c.segment)), int(round(0.5 * n_seg)), n_seg}
    snaps = {0: np.asarray(state.u[0])}
    jax.block_until_ready(advance(state))  # compile
    t0 = time.perf_counter()
    with progress_bar(total=n_seg, desc=f"jeans {c.n}^2") as bar:
        for k in range(1, n_seg + 1):
            sol = advance(state)
            if not bool(sol.reached):
                raise RuntimeError(f"segment {k} did not reach its end within 20,000 steps")
            state, steps = sol.state, steps + int(sol.num_steps)
            amps.append(amplitudes(state.u))
            rho_max.append(float(np.max(state.u[0])))
            if k in snap_at:
                snaps[k] = np.asarray(state.u[0])
            bar.update(1)
    wall = time.perf_counter() - t0
    t = np.arange(n_seg + 1) * c.segment
    amps = np.asarray(amps)
    # linear theory for gas starting at rest: rho_k(t) = rho_k(0) cosh(sigma t), sigma^2 = k_J^2 - k^2 (c = 1);
    # stable modes cos(omega t), omega^2 = k^2 - k_J^2
    k2 = np.array([(2 * np.pi) ** 2 * (i * i + j * j) for i, j in modes])
    lin = t <= c.t_linear + 1e-9
    theory = np.where(k2[None, :] < kj ** 2, np.cosh(np.sqrt(np.abs(kj ** 2 - k2))[None, :] * t[:, None]),
                      np.abs(np.cos(np.sqrt(np.abs(k2 - kj ** 2))[None, :] * t[:, None])))
    ratio = amps / amps[:1]
    rel = ratio / theory - 1
    fundamental = k2 <= 2 * (2 * np.pi) ** 2 + 1e-9
    end, early = int(np.nonzero(lin)[0][-1]), int(round(c.t_early / c.segment))
    totals = np.asarray(solver.totals(state), np.float64)
    w1 = float(solver.potential_energy(state))

    keys = sorted(snaps)
    snapshot_row([np.log10(snaps[k]) for k in keys], [f"log10 density, t = {k * c.segment:.2f}" for k in keys],
                 (0, 1, 0, 1), out / "density.png", height=4.0, colorbar="each", cmap="magma")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(modes)))
    for m, (i, j) in enumerate(modes):
        lab = f"({i},{j})" if m < 8 else None
        axes[0].semilogy(t[lin], ratio[lin, m], "o", ms=3, color=colours[m], label=lab)
        axes[0].semilogy(t[lin], theory[lin, m], "-", lw=0.8, color=colours[m])
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("|rho_k(t)| / |rho_k(0)|")
    axes[0].set_title(f"seeded modes (dots) vs cosh(sigma t) / |cos(omega t)|; k_J / 2 pi = {c.jeans_ratio:g}")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].semilogy(t, rho_max)
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("max density")
    axes[1].set_title("collapse into a pressure-supported clump")
    save_figure(fig, out / "modes.png")
    write_json(out / "modes.json", {"t": t, "modes": modes, "amplitude_ratio": ratio, "theory": theory})
    # the fundamental modes grow fastest; the others are soon fed by their products (second order in the seed)
    return {"n": c.n, "num_steps": steps, "wall_s": wall, "growing_modes": int((k2 < kj ** 2).sum()),
            "seeded_modes": len(modes),
            "fundamental_rel_err_max": float(np.max(np.abs(rel[end, fundamental]))),
            "all_modes_early_rel_err_max": float(np.max(np.abs(rel[early]))),
            "max_density": float(max(rho_max)),
            "momentum_drift": float(np.max(np.abs(totals[1:3] - totals0[1:3])) / totals0[0]),
            "energy_with_potential_rel_drift": float((totals[3] + w1 - totals0[3] - w0) / abs(w1 - w0))}
