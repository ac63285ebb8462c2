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

__all__ = ["paint_slabs", "readout_slabs"]


def _corners(x, shape, start, n_loc):
    """For positions ``x`` (b, 3) in cell units: per corner, the flat index in the local slab (``size`` when the
    corner lies in another slab) and its CIC weight."""
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
    return out


def _ring(n_dev):
    return [(i, (i + 1) % n_dev) for i in range(n_dev)]


def paint_slabs(x, shape, devices, axis="batch"):
    """Particle counts on a mesh of ``shape`` split in slabs along axis 0 over ``devices``, from positions
    ``x`` (N, 3) in cell units split along the particle axis (``N`` a multiple of the device count)."""
    shape = tuple(int(s) for s in shape)
    n_dev = devices.shape[axis]
    n_loc = shape[0] // n_dev

    def local(xb):
        start = lax.axis_index(axis) * n_loc
        size = n_loc * shape[1] * shape[2]

        def paint(m, blk):
            for idx, w, _ in _corners(blk, shape, start, n_loc):
                m = m.at[idx].add(w, mode="drop")
            return m

        m, blk = paint(jnp.zeros(size, xb.dtype), xb), xb
        for _ in range(n_dev - 1):  # unrolled: a while loop would copy the slab into its carry
            blk = lax.ppermute(blk, axis, _ring(n_dev))
            m = paint(m, blk)
        return m.reshape((n_loc,) + shape[1:])

    return jax.shard_map(local, mesh=devices, in_specs=P(axis), out_specs=P(axis))(x)


def readout_slabs(meshes, x, devices, axis="batch"):
    """The CIC interpolation of ``meshes`` (``(n0, n1, n2, C)`` in slabs along axis 0 over ``devices``) at
    positions ``x`` (N, 3) in cell units split along the particle axis; returns (N, C), split likewise."""
    shape = tuple(meshes.shape[:3])
    n_dev = devices.shape[axis]
    n_loc = shape[0] // n_dev

    def local(mb, xb):
        start = lax.axis_index(axis) * n_loc
        flat = mb.reshape(-1, mb.shape[-1])

        def read(acc, blk):
            for idx, w, inside in _corners(blk, shape, start, n_loc):
                v = flat.at[jnp.where(inside, idx, 0)].get(mode="promise_in_bounds")
                acc = acc + jnp.where(inside, w, 0.0)[:, None] * v
            return acc

        acc, blk = read(jnp.zeros((xb.shape[0], mb.shape[-1]), mb.dtype), xb), xb
        for _ in range(n_dev - 1):  # unrolled: a while loop copied the force slab into its carry (2.4x memory)
            acc, blk = lax.ppermute((acc, blk), axis, _ring(n_dev))
            acc = read(acc, blk)
        if n_dev > 1:
            acc = lax.ppermute(acc, axis, _ring(n_dev))  # the last hop: each block's sum back to its owner
        return acc

    return jax.shard_map(local, mesh=devices, in_specs=(P(axis), P(axis)), out_specs=P(axis))(meshes, x)
