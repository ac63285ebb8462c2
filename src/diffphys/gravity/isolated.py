"""Self-gravity with isolated (vacuum) boundaries on a uniform grid: Hockney & Eastwood's zero-padded FFT convolution
with an *integrated* Green's function.

The potential of a density that is uniform over each cell,

    phi(x_i) = sum_j rho_j K(x_i - x_j),      laplacian(phi) = 4 pi G rho, no mass outside the grid,

is a discrete convolution: the density is zero-padded to a periodic box of ``2 n + 2`` cells per axis (so that no
image of a cell reaches another cell, nor the ghost layer of one cell on each side at which the potential is also
returned), multiplied in Fourier space by the transform of ``K`` and transformed back (Hockney & Eastwood 1988,
sec. 6-5; Eastwood & Brownrigg 1979). ``K(x)`` is the exact potential at ``x`` of a unit-density cell centred on the
origin (the "integrated Green's function", Qiang et al. 2005, instead of the point-mass ``1/r`` with an ad hoc
self-term), from the closed-form antiderivatives of the free-space Green's function of each dimension:

* 3D, ``phi = -G int rho / |x - y|``: ``F(x, y, z) = xy ln(z + r) + yz ln(x + r) + zx ln(y + r)
  - x^2/2 atan(yz / (x r)) - y^2/2 atan(zx / (y r)) - z^2/2 atan(xy / (z r))`` (the potential of a uniform
  rectangular prism: MacMillan 1930, Nagy 1966);
* 2D (infinite lines of mass along the third axis), ``phi = 2 G int rho ln|x - y|``:
  ``F(x, y) = [xy ln(x^2 + y^2) - 3 xy + x^2 atan(y / x) + y^2 atan(x / y)] / 2``;
* 1D (infinite sheets), ``phi = 2 pi G int rho |x - y|``: ``K = h |x|``, and ``h^2 / 4`` in the cell itself.

``K`` is the alternating sum of ``F`` over the cell's corners. The potential is exact (to round-off) for densities
that are uniform within cells. The field ``g = -grad(phi)`` is the centred difference of the potential over two
cells (second order); because ``K`` is even, the total self-force ``sum rho g dV`` vanishes to round-off (momentum
is conserved), as for the periodic solver.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

__all__ = ["cell_potential_kernel", "isolated_green_hat", "isolated_potential", "isolated_field",
           "isolated_potential_slabs", "field_from_potential"]


def _xlogy(a, b):
    """``a log(b)``, and 0 where ``a == 0`` (the kernel's removable singularities on the cell's planes)."""
    a = np.asarray(a, dtype=np.float64)
    safe = np.where(a == 0, 1.0, b)
    return np.where(a == 0, 0.0, a * np.log(safe))


def _sq_atan(a, num, den):
    """``a^2 atan(num / den)``, and 0 where ``a == 0``."""
    a = np.asarray(a, dtype=np.float64)
    safe = np.where(den == 0, 1.0, den)
    return np.where(a == 0, 0.0, a * a * np.arctan(np.where(den == 0, 0.0, num / safe)))


def _prism(x, y, z):
    """Antiderivative ``F`` of ``1 / r`` over a box corner at ``(x, y, z)`` (see the module docstring)."""
    r = np.sqrt(x * x + y * y + z * z)
    return (_xlogy(x * y, z + r) + _xlogy(y * z, x + r) + _xlogy(z * x, y + r)
            - 0.5 * _sq_atan(x, y * z, x * r) - 0.5 * _sq_atan(y, z * x, y * r) - 0.5 * _sq_atan(z, x * y, z * r))


def _rect(x, y):
    """Antiderivative of ``ln sqrt(x^2 + y^2)`` over a rectangle corner at ``(x, y)``."""
    r2 = x * x + y * y
    return 0.5 * (_xlogy(x * y, r2) - 3.0 * x * y + _sq_atan(x, y, x) + _sq_atan(y, x, y))


def cell_potential_kernel(offsets, dx, G=1.0):
    """The potential at the displacements ``offsets`` (a list of ``d`` broadcastable arrays, one per axis, in
    length units) from a cell of unit density, widths ``dx``, centred on the origin (numpy, float64)."""
    d = len(dx)
    offsets = [np.asarray(o, dtype=np.float64) for o in offsets]
    if d == 1:
        x, h = np.abs(offsets[0]), dx[0]
        return 2.0 * np.pi * G * np.where(x >= 0.5 * h, h * x, x * x + 0.25 * h * h)
    total = 0.0
    for corner in np.ndindex(*(2,) * d):
        sign = (-1) ** (d - sum(corner))  # + at the corner (x + h/2, ...), alternating
        pts = [o + (0.5 if c else -0.5) * h for o, c, h in zip(offsets, corner, dx)]
        total = total + sign * (_prism(*pts) if d == 3 else _rect(*pts))
    return -G * total if d == 3 else 2.0 * G * total


def padded_shape(shape):
    """The periodic box of the convolution: ``2 n + 2`` cells per axis."""
    return tuple(2 * n + 2 for n in shape)


@functools.lru_cache(maxsize=4)
def _green_hat(shape, dx, G, pad=None, rfft=True):
    pad = padded_shape(shape) if pad is None else pad
    # displacement m at position m mod p (m = i up to p / 2, i - p above; p >= 2 n + 2 covers -n - 1 .. n + 1,
    # every separation of a cell or a ghost from a cell); the kernel is even in each axis
    offs = [np.where(np.arange(p) <= p // 2, np.arange(p), np.arange(p) - p) * h for p, h in zip(pad, dx)]
    grids = np.meshgrid(*offs, indexing="ij", sparse=True)
    k = cell_potential_kernel(grids, dx, G)
    hat = np.fft.rfftn(k) if rfft else np.fft.fftn(k)
    return np.ascontiguousarray(hat.real)  # an even kernel has a real transform (the imaginary part is round-off)


def isolated_green_hat(shape, dx, G=1.0):
    """The real Fourier transform (``rfftn`` layout) of the circulant kernel on the ``2 n + 2`` box (numpy; cached)."""
    return _green_hat(tuple(int(n) for n in shape), tuple(float(h) for h in dx), float(G))


def isolated_potential(rho, dx, G=1.0, ghosts=False):
    """The potential of a cell-uniform density ``rho`` (``d`` axes) with nothing outside the grid.

    Returns ``phi`` at the cell centres, or with ``ghosts=True`` also one cell layer beyond every face of the
    grid (shape ``n + 2`` per axis, entry 0 at ``-dx``)."""
    shape = rho.shape
    pad = padded_shape(shape)
    hat = jnp.asarray(isolated_green_hat(shape, dx, G), dtype=rho.dtype)
    phi = jnp.fft.irfftn(jnp.fft.rfftn(rho, s=pad) * hat, s=pad)
    if not ghosts:
        return phi[tuple(slice(0, n) for n in shape)]
    # position -1 sits at index P - 1: roll it to the front, then take -1 .. n
    phi = jnp.roll(phi, 1, axis=tuple(range(rho.ndim)))
    return phi[tuple(slice(0, n + 2) for n in shape)]


def isolated_field(rho, dx, G=1.0):
    """``g = -grad(phi)`` per axis at the cell centres (centred differences of :func:`isolated_potential`)."""
    return field_from_potential(isolated_potential(rho, dx, G, ghosts=True), dx)


def field_from_potential(phi, dx):
    """``-grad(phi)`` per axis by centred differences, from a potential with one ghost layer on every side."""
    d = phi.ndim
    out = []
    for a in range(d):
        hi = tuple(slice(2, None) if b == a else slice(1, -1) for b in range(d))
        lo = tuple(slice(0, -2) if b == a else slice(1, -1) for b in range(d))
        out.append(-(phi[hi] - phi[lo]) * (0.5 / dx[a]))
    return out


def isolated_potential_slabs(rho, shape, dx, G, axis_name, n_dev):
    """:func:`isolated_potential` with ``ghosts=True`` inside ``jax.shard_map`` on a grid split along axis 0:
    ``rho`` is this device's block ``(n_0 / P, n_1[, n_2])`` of the global ``shape``; returns its potential with the
    ghost layer, ``(n_0 / P + 2, n_1 + 2[, n_2 + 2])``, equal to the one-device result to round-off.

    The zero-padded box is split like the slab FFTs of :mod:`diffphys.parallel.fft`: each device transforms its
    block over the local axes (padded to ``2 n + 2``, axis 1 rounded up to a multiple of ``P``), one all-to-all
    leaves it every ``x`` for its block of ``k_1``, the transform along axis 0 pads to ``2 n_0 + 2``; after the
    multiplication by its block of the kernel's transform the way back returns rows ``0 .. n_0 - 1`` by one
    all-to-all, and the two rows just outside the grid (``-1`` and ``n_0``, needed by the first and the last
    device) by a gather of two planes. Interior ghost rows come from the neighbouring devices (``lax.ppermute``).
    2D grids use a complex FFT along axis 1."""
    from jax import lax

    d = len(shape)
    if d not in (2, 3):
        raise ValueError(f"isolated_potential_slabs needs 2 or 3 axes; got shape {tuple(shape)}")
    n0 = shape[0]
    pad0 = 2 * n0 + 2
    pad1 = -(-(2 * shape[1] + 2) // n_dev) * n_dev
    pads = (pad0, pad1) + tuple(2 * n + 2 for n in shape[2:])
    rfft = d == 3
    hat_all = _green_hat(tuple(int(n) for n in shape), tuple(float(h) for h in dx), float(G), pads, rfft)
    dtype = rho.dtype
    block = pad1 // n_dev
    me = lax.axis_index(axis_name)
    hat = lax.dynamic_slice_in_dim(jnp.asarray(hat_all, dtype), me * block, block, axis=1)
    local_axes = tuple(range(1, d))
    if rfft:
        a = jnp.fft.rfftn(rho, s=pads[1:], axes=local_axes)
    else:
        a = jnp.fft.fft(rho, n=pad1, axis=1)
    a = lax.all_to_all(a, axis_name, 1, 0, tiled=True)  # (n0, pad1 / P, ...): every x, this device's k_1
    a = jnp.fft.ifft(jnp.fft.fft(a, n=pad0, axis=0) * hat, axis=0)

    def back(b):  # rows of every k_1 -> real space over the local axes, with the ghost ring of axes 1..d-1
        if rfft:
            r = jnp.fft.irfftn(b, s=pads[1:], axes=local_axes)
        else:
            r = jnp.fft.ifft(b, axis=1).real
        r = jnp.roll(r, 1, axis=local_axes)
        return r[(slice(None),) + tuple(slice(0, n + 2) for n in shape[1:])].astype(dtype)

    rows = back(lax.all_to_all(a[:n0], axis_name, 0, 1, tiled=True))  # this device's rows, (n0 / P, ...)
    edges = back(lax.all_gather(jnp.stack([a[pad0 - 1], a[n0]]), axis_name, axis=1, tiled=True))  # rows -1, n0
    below = lax.ppermute(rows[-1:], axis_name, [(i, i + 1) for i in range(n_dev - 1)])  # from device i - 1
    above = lax.ppermute(rows[:1], axis_name, [(i + 1, i) for i in range(n_dev - 1)])  # from device i + 1
    below = jnp.where(me == 0, edges[:1], below)
    above = jnp.where(me == n_dev - 1, edges[1:], above)
    return jnp.concatenate([below, rows, above], axis=0)
