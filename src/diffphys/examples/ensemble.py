"""The stellar-wind loss landscape over a (v_inf, Mdot) grid, split across all local devices with parallel.ensemble."""

from __future__ import annotations

import dataclasses
from pathlib import Path

# same float64 reasoning as wind-fit: 10^3-10^4 CFL steps; also makes max_abs_diff_vs_vmap meaningful
X64 = True


@dataclasses.dataclass
class Config:
    n_cells: int = 101
    grid: int = 12
    t_end_yr: float = 2.5e4
    v_true_kms: float = 2000.0
    mdot_true_msun_myr: float = 0.1186
    # how each device evaluates its share: "vmap" (vectorised) or "map" (one run after another; on this
    # CPU 11x faster for the adaptive-step wind runs, see docs/parallel.md)
    method: str = "vmap"
    # also run the plain single-device jit(vmap) and compare (doubles the cost)
    compare: bool = True

    def validate(self):
        from ..core.checks import check_int, check_range

        check_int("n_cells", self.n_cells, lo=32)
        check_int("grid", self.grid, lo=2, hi=64)
        if self.method not in ("vmap", "map"):
            raise ValueError(f"method must be 'vmap' or 'map'; got {self.method!r}")
        for name in ("t_end_yr", "v_true_kms", "mdot_true_msun_myr"):
            check_range(name, getattr(self, name), 0.0, lo_open=True)


QUICK = {"n_cells": 48, "grid": 5, "t_end_yr": 1.0e4}


def run(config: Config, out: Path) -> dict:
    import time

    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..core.io import save_figure
    from ..parallel import device_mesh, ensemble_sharded, gather
    from .wind_fit import make_residuals

    final, theta_true, _, _ = make_residuals(config.n_cells, config.t_end_yr, config.v_true_kms,
                                             config.mdot_true_msun_myr)
    target = jax.jit(final)(theta_true)

    def loss(theta):
        return 0.5 * jnp.sum((final(theta) - target) ** 2)

    vs = np.linspace(1000.0, 4000.0, config.grid)
    ms = np.linspace(2.965e-3 * 15, 2.965e-3 * 70, config.grid)
    vv, mm = np.meshgrid(vs, ms, indexing="ij")
    thetas = jnp.log(jnp.stack([jnp.asarray(vv.ravel()), jnp.asarray(mm.ravel())], axis=1))
    batch = thetas.shape[0]

    mesh = device_mesh(devices=jax.local_devices())
    n_dev = int(mesh.shape["batch"])
    # first call compiles; the second is the timed one (same shapes: no recompilation)
    sharded, _ = ensemble_sharded(loss, thetas, mesh, method=config.method)
    jax.block_until_ready(sharded)
    t0 = time.perf_counter()
    sharded, _ = ensemble_sharded(loss, thetas, mesh, method=config.method)
    jax.block_until_ready(sharded)
    wall = time.perf_counter() - t0
    land = np.asarray(gather(sharded, batch), dtype=np.float64)
    # which device computed each grid point (from the shards of the padded, sharded output)
    owner = np.zeros(sharded.shape[0], dtype=int)
    ids = sorted(d.id for d in mesh.devices.flat)
    for shard in sharded.addressable_shards:
        owner[shard.index[0]] = ids.index(shard.device.id)
    owner = owner[:batch].reshape(vv.shape)

    metrics = {"devices": n_dev, "batch": int(batch), "wall_s": wall, "n_cells": config.n_cells,
               "method": config.method,
               "platform": jax.devices()[0].platform}
    if config.compare:
        plain = jax.jit(jax.vmap(loss))
        jax.block_until_ready(plain(thetas))
        t0 = time.perf_counter()
        ref = np.asarray(jax.block_until_ready(plain(thetas)), dtype=np.float64)
        metrics["vmap_wall_s"] = time.perf_counter() - t0
        metrics["max_abs_diff_vs_vmap"] = float(np.max(np.abs(land - ref)))
        metrics["max_rel_diff_vs_vmap"] = float(np.max(np.abs(land - ref) / np.maximum(np.abs(ref), 1e-300)))
        metrics["speedup_vs_vmap"] = metrics["vmap_wall_s"] / wall
    land = land.reshape(vv.shape)
    metrics["argmin_v_kms"] = float(vv.ravel()[np.argmin(land)])
    metrics["argmin_mdot_msun_myr"] = float(mm.ravel()[np.argmin(land)])

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    cs = axes[0].contourf(vv, mm, np.log10(land + 1e-30), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=axes[0], label="log10 loss")
    axes[0].plot(config.v_true_kms, config.mdot_true_msun_myr, "r*", ms=14, label="truth")
    axes[0].set_title(f"wind loss landscape, N={config.n_cells}, {batch} runs")
    axes[0].legend(fontsize=8)
    cmap = plt.get_cmap("tab10", max(n_dev, 1))
    sc = axes[1].scatter(vv.ravel(), mm.ravel(), c=owner.ravel(), cmap=cmap, vmin=-0.5, vmax=n_dev - 0.5, s=40)
    fig.colorbar(sc, ax=axes[1], ticks=range(n_dev), label="device")
    plural = "s" if n_dev > 1 else ""
    title = f"{config.method}: which device computed each point ({n_dev} {metrics['platform']} device{plural})"
    axes[1].set_title(title, fontsize=10)
    for ax in axes:
        ax.set_xlabel("v_inf [km/s]")
        ax.set_ylabel("Mdot [Msun/Myr]")
    fig.tight_layout()
    save_figure(fig, out / "ensemble_landscape.png")
    return metrics
