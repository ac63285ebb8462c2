"""Figures and animation frames for flow fields (matplotlib, Agg backend)."""

from __future__ import annotations

import numpy as np

__all__ = ["field_figure", "rgb_frame"]


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def field_figure(solver, fields, titles, cmaps=None, symmetric=None):
    """Side-by-side images of cell-centred fields ``(nx, ny)`` over the domain (solids in grey)."""
    plt = _mpl()
    lx, ly = solver.grid.size
    n = len(fields)
    width = 5.0 * n if lx <= ly * 1.5 else 6.5
    rows, cols = (1, n) if lx <= ly * 1.5 else (n, 1)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 4.2 if rows == 1 else 2.6 * n * ly / lx * 2.2 + 0.5),
                             squeeze=False)
    solid = np.asarray(solver.solid)
    for k, (f, title) in enumerate(zip(fields, titles)):
        ax = axes.flat[k]
        a = np.ma.masked_array(np.asarray(f, dtype=float), solid)
        sym = symmetric[k] if symmetric else False
        lim = float(np.percentile(np.abs(a.compressed()), 99)) or 1.0
        kw = dict(vmin=-lim, vmax=lim) if sym else {}
        im = ax.imshow(a.T, origin="lower", extent=(0, lx, 0, ly), cmap=(cmaps[k] if cmaps else "viridis"), **kw)
        ax.imshow(np.where(solid.T, 1.0, np.nan), origin="lower", extent=(0, lx, 0, ly), cmap="Greys", vmin=0, vmax=2)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def rgb_frame(field, solid, lim, cmap="RdBu_r", scale=3):
    """An RGB uint8 image (y up) of a cell-centred field with solids in grey, enlarged ``scale`` times."""
    import matplotlib

    cm = matplotlib.colormaps[cmap]
    a = np.clip((np.asarray(field, dtype=float) / lim + 1) / 2, 0, 1)
    rgb = (cm(a)[..., :3] * 255).astype(np.uint8)
    rgb[np.asarray(solid)] = 128
    img = np.transpose(rgb, (1, 0, 2))[::-1]
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
