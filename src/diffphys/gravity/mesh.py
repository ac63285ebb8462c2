"""Cloud-in-cell (CIC) painting and read-out on periodic meshes of any shape and dimension.

Positions are given in *cell units* (position / cell size), so any mesh/particle-grid ratio and
non-cubic meshes work alike. Painting scatters the 2^d corner weights (one scatter per corner, with the
periodic upper neighbour computed once per axis); read-out gathers the corners and interpolates
linearly axis by axis. Both are differentiable wrt positions (the
piecewise-linear CIC weights) and wrt the masses / mesh values, and are exact adjoints of each other.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

__all__ = ["cic_paint", "cic_readout", "cic_window"]


def _base(x, shape):
    """Per-axis lower/upper cell indices (periodic), fractions, and the mesh strides."""
    dims = np.array(shape)
    x = jnp.mod(x, dims.astype(x.dtype))
    i0f = jnp.floor(x)
    f = x - i0f
    i0 = jnp.minimum(i0f.astype(jnp.int32), (dims - 1).astype(np.int32))  # x == n after round-off
    i1 = jnp.where(i0 == (dims - 1).astype(np.int32), 0, i0 + 1)
    strides = np.array([int(np.prod(shape[j + 1:])) for j in range(len(shape))], dtype=np.int32)
    return (i0 * strides, i1 * strides), f


def _flat(lohi, o):
    lo, hi = lohi
    idx = None
    for j, oj in enumerate(o):
        col = hi[:, j] if oj else lo[:, j]
        idx = col if idx is None else idx + col
    return idx


def _corner_list(d):
    return [np.array(o, dtype=np.int32) for o in itertools.product((0, 1), repeat=d)]


def _weight(f, o):
    # an explicit product of the d columns: jnp.prod over the size-d minor axis compiles to a slow reduction
    w = f[:, 0] if o[0] else 1.0 - f[:, 0]
    for j in range(1, f.shape[1]):
        w = w * (f[:, j] if o[j] else 1.0 - f[:, j])
    return w


def _paint(x, shape, mass, members=1):
    """Counts (or masses) of ``members`` meshes laid end to end, flat: particle ``i`` belongs to member
    ``i // (N / members)``, whose cells are offset by ``member * size``."""
    size = int(np.prod(shape))
    lohi, f = _base(x, shape)
    off = None if members == 1 else jnp.repeat(jnp.arange(members, dtype=jnp.int32) * size, x.shape[0] // members)
    m = jnp.zeros(members * size, x.dtype)
    for o in _corner_list(len(shape)):
        w = _weight(f, o)
        if mass is not None:
            w = w * mass
        idx = _flat(lohi, o)
        m = m.at[idx if off is None else idx + off].add(w, mode="promise_in_bounds")
    return m


@functools.lru_cache(maxsize=None)
def _painter(shape, with_mass):
    """``cic_paint`` for one mesh shape whose ``vmap`` paints all members' particles in one flat pass.

    A plain ``vmap`` batches each scatter with two-component (member, cell) indices, which XLA CPU ran at
    ~3x the single-mesh time per member (16^3 particles on 32^3 cells, 4 members: 319 vs 102 us); the batching
    rule flattens the members' particles instead and offsets their cell indices (87 us per member). The
    derivatives are those of the plain painting (``custom_jvp``: ``custom_vmap`` alone has no reverse
    mode), whose transpose is a gather per corner."""

    def plain(x, mass):
        return _paint(x, shape, mass if with_mass else None).reshape(shape)

    @custom_vmap
    def batchable(x, mass):
        return plain(x, mass)

    @batchable.def_vmap
    def _batched(axis_size, in_batched, x, mass):
        x, mass = (v if b else jnp.broadcast_to(v, (axis_size,) + v.shape) for v, b in zip((x, mass), in_batched))
        flat = _paint(x.reshape(-1, x.shape[-1]), shape, mass.reshape(-1) if with_mass else None, axis_size)
        return flat.reshape((axis_size,) + shape), True

    @jax.custom_jvp
    def paint(x, mass):
        return batchable(x, mass)

    @paint.defjvp
    def _paint_jvp(primals, tangents):
        return batchable(*primals), jax.jvp(plain, primals, tangents)[1]

    return paint


def cic_paint(x, shape, mass=None, mesh=None):
    """Paint particles at positions ``x`` (N, d), in cell units, onto a periodic mesh of ``shape``.

    ``mass`` (N,) defaults to 1 per particle; the result sums to the total mass. ``mesh`` (optional)
    is added to. Under ``jax.vmap`` all members are painted in one flat pass (see ``_painter``).
    """
    shape = tuple(int(s) for s in shape)
    d = len(shape)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"positions must have shape (N, {d}) for a {d}D mesh; got {x.shape}")
    m = _painter(shape, mass is not None)(x, jnp.zeros((), x.dtype) if mass is None else mass)
    return m if mesh is None else mesh + m


def cic_readout(mesh, x, channels=False):
    """Interpolate ``mesh`` at positions ``x`` (N, d) in cell units by CIC.

    With ``channels=True`` the last axis of ``mesh`` holds components (shape ``(*grid, C)``) and the
    result has shape (N, C); otherwise (N,).
    """
    shape = mesh.shape[:-1] if channels else mesh.shape
    d = len(shape)
    lohi, f = _base(x, shape)
    mf = mesh.reshape(-1, mesh.shape[-1]) if channels else mesh.reshape(-1)
    vals = [mf.at[_flat(lohi, o)].get(mode="promise_in_bounds") for o in _corner_list(d)]
    # nested linear interpolation (last axis first): bit-exact for a uniform field
    for j in range(d - 1, -1, -1):
        t = f[:, j][:, None] if channels else f[:, j]
        vals = [v0 + t * (v1 - v0) for v0, v1 in zip(vals[0::2], vals[1::2])]
    return vals[0]


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


def _multilinear(S, fs):
    """Interpolate corner values ``S`` (shape ``(2,) * m + (N,)``) with fractions ``fs`` (m arrays (N,))."""
    for t in fs[::-1]:  # last axis first, as in cic_readout
        lo, hi = S[..., 0, :], S[..., 1, :]
        S = lo + t * (hi - lo)
    return S


def _corner_gradient(svals, f):
    """d/d f_j of the multilinear interpolation of per-corner values ``svals`` (list of 2^d arrays (N,), corners
    in ``_corner_list`` order): for each axis j, the difference across j interpolated over the other axes."""
    n, d = f.shape
    S = jnp.stack(svals).reshape((2,) * d + (n,))
    cols = []
    for j in range(d):
        D = jnp.take(S, 1, axis=j) - jnp.take(S, 0, axis=j)
        cols.append(_multilinear(D, [f[:, k] for k in range(d) if k != j]))
    return jnp.stack(cols, axis=-1)


def cic_paint_vjp(x, shape, ct_mesh, mass=None):
    """Hand-written VJP of :func:`cic_paint` wrt positions (and masses): ``(x_bar, mass_bar)``.

    Equal to ``jax.vjp`` of ``cic_paint`` (tested) but cheaper: one scalar gather per corner, and the
    position derivative from the multilinear structure (differences across each axis, interpolated).
    """
    shape = tuple(int(s) for s in shape)
    d = len(shape)
    lohi, f = _base(x, shape)
    cf = ct_mesh.reshape(-1)
    vals = [cf.at[_flat(lohi, o)].get(mode="promise_in_bounds") for o in _corner_list(d)]
    xbar = _corner_gradient(vals, f)
    if mass is not None:
        mbar = _multilinear(jnp.stack(vals).reshape((2,) * d + (x.shape[0],)), [f[:, j] for j in range(d)])
        return xbar * mass[:, None], mbar
    return xbar, None


def cic_readout_vjp(mesh, x, ct):
    """Hand-written VJP of :func:`cic_readout` with ``channels=True``: ``(x_bar, mesh_bar)``.

    Position part: one row gather of all 2^d corners at once (N, 2^d, C), contracted with ``ct``, then
    the multilinear derivative (about 2x faster on CPU than a gather per corner or per channel). Mesh
    part: one row scatter per corner (faster than one scatter per channel).
    """
    shape = mesh.shape[:-1]
    d = len(shape)
    nc = mesh.shape[-1]
    lohi, f = _base(x, shape)
    corners = _corner_list(d)
    idx = jnp.stack([_flat(lohi, o) for o in corners], axis=1)          # (N, 2^d)
    v = mesh.reshape(-1, nc).at[idx].get(mode="promise_in_bounds")      # (N, 2^d, C)
    svals = jnp.einsum("nkc,nc->kn", v, ct)
    mbar = jnp.zeros((int(np.prod(shape)), nc), ct.dtype)
    for k, o in enumerate(corners):
        mbar = mbar.at[idx[:, k]].add(_weight(f, o)[:, None] * ct, mode="promise_in_bounds")
    return _corner_gradient(list(svals), f), mbar.reshape(*shape, nc)
