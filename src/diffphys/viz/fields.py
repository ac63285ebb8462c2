"""Figures of 2D fields shared by the examples."""

from __future__ import annotations

import numpy as np

__all__ = ["snapshot_row"]


def snapshot_row(images, titles, extent, path, height=4.2, colorbar="shared", **imshow_kw):
    """Save one row of field images (each ``(nx, ny)``, x along the first axis, y up) with a shared colour bar
    (give ``vmin``, ``vmax``), or with ``colorbar="each"`` one per panel on its own scale; ``imshow_kw``
    (``cmap``, ``vmin``, ``vmax``) goes to every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.io import save_figure

    fig, axes = plt.subplots(1, len(images), figsize=(4.2 * len(images), height), squeeze=False)
    for ax, image, title in zip(axes.flat, images, titles):
        im = ax.imshow(np.asarray(image).T, origin="lower", extent=extent, **imshow_kw)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        if colorbar == "each":
            fig.colorbar(im, ax=ax, shrink=0.8)
    if colorbar != "each":
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    return save_figure(fig, path)
