"""CIC painting and read-out with the mesh in slabs and the particles split over the same devices.

Inside ``jax.shard_map`` each device holds a slab of ``n0 / P`` planes of the mesh and ``N / P`` particles.
The particle blocks travel around the devices in a ring (``lax.ppermute``, ``P - 1`` hops): at each stop a
device paints the visiting block's corners that fall in its own slab (the others are dropped), or, for the
read-out, adds the force interpolated from its slab to the accumulator that travels with the block; after
the last hop every block is back with its owner, complete. The hops are unrolled (``P - 1`` copies of the
corner loop in the program), which keeps the slab out of a loop carry. Each device thus holds one mesh slab and two
particle blocks at a time: memory ``~ (mesh + N) / P`` per device, where letting XLA partition the painting
gathers every particle's corner indices on every device (``~ 16 N``). Work per device is ``N`` corner sets
(the ring's price); communication is ``P - 1`` hops of ``3 N / P`` numbers (read-out: ``(3 + C) N / P``).

The weights are the same products of ``(f, 1 - f)`` as :mod:`.mesh`; painting is identical to
:func:`.mesh.cic_paint` up to the order of the sums, and the read-out sums the eight weighted corners
(``cic_readout`` interpolates axis by axis): equal to round-off. Both differentiate (the transpose of a hop is
the hop back), so ``jax.vjp`` of them is what the reverse-time adjoint uses with slabs.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from .mesh import _corner_gradient

__all__ = ["paint_slabs", "readout_slabs", "paint_slabs_vjp", "readout_slabs_vjp"]


def _corners(x, shape, start, n_loc, with_fractions=False):
    """For positions ``x`` (b, 3) in cell units: per corner, the flat index in the local slab (``size`` when the
    corner lies in another slab), its CIC weight and whether it lies in the slab (and the fractions)."""
    dims = np.array(shape)
    x = jnp.mod(x, dims.astype(x.dtype))
    i0f = jnp.floor(x)
    f = x - i0f
    i0 = jnp.minimum(i0f.astype(jnp.int32), (dims - 1).astype(np.int32))
    i1 = jnp.where(i0 == (dims - 1).astype(np.int32), 0, i0 + 1)
    size = n_loc * shape[1] * shape[2]
    out = []
    for o in itertools.product((0, 1), repeat=3):
        ix = (i1 if o[0] else i0)[:, 0] - start
        iy = (i1 if o[1] else i0)[:, 1]
        iz = (i1 if o[2] else i0)[:, 2]
        inside = (ix >= 0) & (ix < n_loc)
        idx = jnp.where(inside, (ix * shape[1] + iy) * shape[2] + iz, size)
        w = f[:, 0] if o[0] else 1.0 - f[:, 0]
        for j in (1, 2):
            w = w * (f[:, j] if o[j] else 1.0 - f[:, j])
        out.append((idx, w, inside))
    return (out, f) if with_fractions else out


def _ring(n_dev):
    return [(i, (i + 1) % n_dev) for i in range(n_dev)]


def _tour(axis, n_dev, travel, stay, visit):
    """Take the ``travel`` pytree (a particle block and what accumulates with it) around the ring of devices:
    ``visit(travel, stay) -> (travel, stay)`` at home and after each of ``n_dev - 1`` hops (unrolled: a while
    loop copied the mesh slab into its carry, 2.4x the memory); ``stay`` (a slab) never moves. Returns both,
    ``travel`` one hop short of home."""
    travel, stay = visit(travel, stay)
    for _ in range(n_dev - 1):
        travel, stay = visit(lax.ppermute(travel, axis, _ring(n_dev)), stay)
    return travel, stay


def _home(acc, axis, n_dev):
    """The last hop: each block's accumulator back to its owner."""
    return lax.ppermute(acc, axis, _ring(n_dev)) if n_dev > 1 else acc


def _layout(shape, devices, axis):
    n_dev = devices.shape[axis]
    return n_dev, shape[0] // n_dev


def paint_slabs(x, shape, devices, axis="batch"):
    """Particle counts on a mesh of ``shape`` split in slabs along axis 0 over ``devices``, from positions
    ``x`` (N, 3) in cell units split along the particle axis (``N`` a multiple of the device count)."""
    shape = tuple(int(s) for s in shape)
    n_dev, n_loc = _layout(shape, devices, axis)

    def local(xb):
        start = lax.axis_index(axis) * n_loc

        def visit(blk, m):
            for idx, w, _ in _corners(blk, shape, start, n_loc):
                m = m.at[idx].add(w, mode="drop")
            return blk, m

        _, m = _tour(axis, n_dev, xb, jnp.zeros(n_loc * shape[1] * shape[2], xb.dtype), visit)
        return m.reshape((n_loc,) + shape[1:])

    return jax.shard_map(local, mesh=devices, in_specs=P(axis), out_specs=P(axis))(x)


def _gather(flat, idx, inside):
    """Rows of the local slab at the in-slab corners, zeros elsewhere."""
    v = flat.at[jnp.where(inside, idx, 0)].get(mode="promise_in_bounds")
    return jnp.where(inside.reshape(inside.shape + (1,) * (v.ndim - 1)), v, 0.0)


def readout_slabs(meshes, x, devices, axis="batch"):
    """The CIC interpolation of ``meshes`` (``(n0, n1, n2, C)`` in slabs along axis 0 over ``devices``) at
    positions ``x`` (N, 3) in cell units split along the particle axis; returns (N, C), split likewise."""
    shape = tuple(meshes.shape[:3])
    n_dev, n_loc = _layout(shape, devices, axis)

    def local(mb, xb):
        start = lax.axis_index(axis) * n_loc
        flat = mb.reshape(-1, mb.shape[-1])

        def visit(travel, stay):
            acc, blk = travel
            for idx, w, inside in _corners(blk, shape, start, n_loc):
                acc = acc + w[:, None] * _gather(flat, idx, inside)
            return (acc, blk), stay

        (acc, _), _ = _tour(axis, n_dev, (jnp.zeros((xb.shape[0], mb.shape[-1]), mb.dtype), xb), None, visit)
        return _home(acc, axis, n_dev)

    return jax.shard_map(local, mesh=devices, in_specs=(P(axis), P(axis)), out_specs=P(axis))(meshes, x)


def paint_slabs_vjp(x, ct_mesh, devices, axis="batch"):
    """The cotangent of the positions ``x`` (N, 3, cell units, split) for :func:`paint_slabs` with mesh
    cotangent ``ct_mesh`` (in slabs): the multilinear derivative of :func:`.mesh.cic_paint_vjp`, each slab
    adding its corners' terms to an accumulator that travels with the particle block."""
    shape = tuple(ct_mesh.shape)
    n_dev, n_loc = _layout(shape, devices, axis)

    def local(cb, xb):
        start = lax.axis_index(axis) * n_loc
        flat = cb.reshape(-1)

        def visit(travel, stay):
            acc, blk = travel
            corners, f = _corners(blk, shape, start, n_loc, with_fractions=True)
            return (acc + _corner_gradient([_gather(flat, idx, ins) for idx, _, ins in corners], f), blk), stay

        (acc, _), _ = _tour(axis, n_dev, (jnp.zeros_like(xb), xb), None, visit)
        return _home(acc, axis, n_dev)

    return jax.shard_map(local, mesh=devices, in_specs=(P(axis), P(axis)), out_specs=P(axis))(ct_mesh, x)


def readout_slabs_vjp(meshes, x, ct, devices, axis="batch"):
    """``(x_bar, mesh_bar)`` for :func:`readout_slabs` with cotangent ``ct`` (N, C, split): the position part
    from each slab's corners (traveling with the block, as in :func:`paint_slabs_vjp`), the mesh part painted
    into each slab as the blocks pass (as in :func:`paint_slabs`, weights times ``ct``)."""
    shape = tuple(meshes.shape[:3])
    n_dev, n_loc = _layout(shape, devices, axis)

    def local(mb, xb, cb):
        start = lax.axis_index(axis) * n_loc
        flat = mb.reshape(-1, mb.shape[-1])

        def visit(travel, mbar):
            acc, blk, cts = travel
            corners, f = _corners(blk, shape, start, n_loc, with_fractions=True)
            svals = []
            for idx, w, inside in corners:
                svals.append(jnp.sum(_gather(flat, idx, inside) * cts, axis=-1))
                mbar = mbar.at[idx].add(w[:, None] * cts, mode="drop")
            return (acc + _corner_gradient(svals, f), blk, cts), mbar

        (acc, _, _), mbar = _tour(axis, n_dev, (jnp.zeros_like(xb), xb, cb), jnp.zeros_like(flat), visit)
        return _home(acc, axis, n_dev), mbar.reshape(mb.shape)

    fn = jax.shard_map(local, mesh=devices, in_specs=(P(axis), P(axis), P(axis)), out_specs=(P(axis), P(axis)))
    return fn(meshes, x, ct)
