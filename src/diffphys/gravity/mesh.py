"""Cloud-in-cell (CIC) painting and read-out on periodic meshes of any shape and dimension.

Positions are given in *cell units* (position / cell size), so any mesh/particle-grid ratio and
non-cubic meshes work alike. Painting is a scatter-add of the 2^d corner weights, read-out the
matching gather; both are differentiable wrt positions (the piecewise-linear CIC weights) and wrt
the masses / mesh values, and are exact adjoints of each other.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

__all__ = ["cic_paint", "cic_readout", "cic_window"]


def _corners(x, shape):
    """Flat indices (N, 2^d) and weights (N, 2^d) of the CIC corners of positions x (N, d)."""
    d = len(shape)
    i0 = jnp.floor(x)
    f = x - i0
    i0 = i0.astype(jnp.int32)
    offsets = np.array(list(itertools.product((0, 1), repeat=d)), dtype=np.int32)  # (2^d, d)
    idx = i0[:, None, :] + offsets[None]                                            # (N, 2^d, d)
    dims = np.array(shape, dtype=np.int32)
    idx = jnp.mod(idx, dims)
    strides = np.array([int(np.prod(shape[j + 1:])) for j in range(d)], dtype=np.int32)
    flat = jnp.sum(idx * strides, axis=-1)
    w = jnp.prod(jnp.where(offsets[None] == 1, f[:, None, :], 1.0 - f[:, None, :]), axis=-1)
    return flat, w


def cic_paint(x, shape, mass=None, mesh=None):
    """Paint particles at positions ``x`` (N, d), in cell units, onto a periodic mesh of ``shape``.

    ``mass`` (N,) defaults to 1 per particle; the result sums to the total mass. ``mesh`` (optional)
    is added to.
    """
    shape = tuple(int(s) for s in shape)
    flat, w = _corners(x, shape)
    if mass is not None:
        w = w * mass[:, None]
    size = int(np.prod(shape))
    base = jnp.zeros((size,), x.dtype) if mesh is None else mesh.reshape(size)
    return base.at[flat.reshape(-1)].add(w.reshape(-1)).reshape(shape)


def cic_readout(mesh, x, channels=False):
    """Interpolate ``mesh`` at positions ``x`` (N, d) in cell units by CIC.

    With ``channels=True`` the last axis of ``mesh`` holds components (shape ``(*grid, C)``) and the
    result has shape (N, C); otherwise (N,).
    """
    shape = mesh.shape[:-1] if channels else mesh.shape
    flat, w = _corners(x, shape)
    size = int(np.prod(shape))
    if channels:
        vals = mesh.reshape(size, mesh.shape[-1])[flat]       # (N, 2^d, C)
        return jnp.einsum("nc,ncj->nj", w, vals)
    return jnp.sum(mesh.reshape(size)[flat] * w, axis=-1)


def cic_window(shape):
    """The CIC assignment window W(k) = prod_j sinc^2(k_j dx_j / 2) on the rfft grid of ``shape`` (numpy)."""
    ws = []
    for j, n in enumerate(shape):
        fr = np.fft.rfftfreq(n) if j == len(shape) - 1 else np.fft.fftfreq(n)
        ws.append(np.sinc(fr) ** 2)
    out = ws[0]
    for w in ws[1:]:
        out = np.multiply.outer(out, w)
    return out
