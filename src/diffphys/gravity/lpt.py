"""Lagrangian perturbation theory (1LPT/2LPT) displacements and momenta on the particle grid.

``x = q - D1 grad(phi1) + D2 grad(phi2)`` with ``laplacian(phi1) = delta_lin(a=1)`` and
``laplacian(phi2) = sum_{i<j} (phi1_ii phi1_jj - phi1_ij^2)``; ``D2 ~ -3/7 D1^2`` (Scoccimarro 1998).
Momenta ``p = a^2 E dx/dlna`` (the canonical momentum of :mod:`diffphys.gravity.nbody`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from ..parallel.fft import check_slabs, irfftn_slabs, rfftn_slabs
from .cosmology import E
from .force import gradient_kernels, inverse_laplacian, wavevectors
from .growth import D1, D2, dD1_dlna, dD2_dlna
from .modes import _amplitude

__all__ = ["lpt_fields", "lpt_fields_slabs", "lpt_displacement"]


def _source2(d):
    """The 2LPT source ``sum_{i<j} (phi1_ii phi1_jj - phi1_ij^2)`` from the second derivatives ``d[i, j]``."""
    return (d[0, 0] * d[1, 1] - d[0, 1] ** 2 + d[0, 0] * d[2, 2] - d[0, 2] ** 2
            + d[1, 1] * d[2, 2] - d[1, 2] ** 2)


def lpt_fields(modes, box, shape, order=2):
    """Real-space fields ``psi1 = -grad(phi1)`` and ``psi2 = grad(phi2)`` (each (N, 3)) from linear modes."""
    dtype = jnp.real(modes).dtype
    inv = jnp.asarray(inverse_laplacian(shape, box, np.dtype(dtype)))     # -1/k^2
    gk = [jnp.asarray(g) for g in gradient_kernels(shape, box, np.dtype(dtype))]
    phi1 = modes * inv                                                    # phi1_k = -delta_k/k^2
    irf = lambda f: jnp.fft.irfftn(f, s=shape)  # noqa: E731
    psi1 = jnp.stack([irf(-1j * g * phi1).reshape(-1) for g in gk], axis=-1)
    if order == 1:
        return psi1, jnp.zeros_like(psi1)
    # second derivatives phi1_ij = irfft(-k_i k_j phi1_k)
    d = {}
    for i in range(3):
        for j in range(i, 3):
            d[i, j] = irf(-gk[i] * gk[j] * phi1)
    phi2 = jnp.fft.rfftn(_source2(d)) * inv
    psi2 = jnp.stack([irf(1j * g * phi2).reshape(-1) for g in gk], axis=-1)
    return psi1, psi2


def lpt_fields_slabs(noise, cosmo, box, devices, axis="batch", order=2):
    """:func:`linear_modes` and :func:`lpt_fields` from white ``noise`` on the particle grid, with the grid
    split into slabs along its first axis over the 1D device mesh ``devices`` (slab FFTs, see
    :mod:`diffphys.parallel.fft`). Returns ``psi1, psi2`` (each (N, 3), in the particle order of the grid)
    sharded along the particle axis: each device computes and keeps the particles of its slab. Equal to
    the one-device fields to round-off. Needs ``noise.shape[0]`` and ``[1]`` to be multiples of the device
    count."""
    shape = tuple(noise.shape)
    check_slabs(shape, devices.shape[axis])
    dt = np.dtype(noise.dtype)
    kx, ky, kz = wavevectors(shape, box, dt, zero_nyquist=False)       # for |k| and 1/k^2
    gx, gy, gz = gradient_kernels(shape, box, dt)                      # i k_j (zero at Nyquist)
    spec_y = P(None, axis, None)

    def local(slab, ky_b, gy_b, cosmo):
        n2 = shape[2]
        k2 = kx * kx + ky_b * ky_b + kz * kz
        modes = rfftn_slabs(slab, axis) * _amplitude(cosmo, jnp.sqrt(k2), box, shape, slab.dtype)
        inv = jnp.where(k2 > 0, -1.0 / jnp.where(k2 > 0, k2, 1.0), 0.0)
        gk = (gx, gy_b, gz)
        phi1 = modes * inv
        irf = lambda f: irfftn_slabs(f, n2, axis)  # noqa: E731
        psi1 = jnp.stack([irf(-1j * g * phi1).reshape(-1) for g in gk], axis=-1)
        if order == 1:
            return psi1, jnp.zeros_like(psi1)
        d = {(i, j): irf(-gk[i] * gk[j] * phi1) for i in range(3) for j in range(i, 3)}
        phi2 = rfftn_slabs(_source2(d), axis) * inv
        psi2 = jnp.stack([irf(1j * g * phi2).reshape(-1) for g in gk], axis=-1)
        return psi1, psi2

    fn = jax.shard_map(local, mesh=devices, in_specs=(P(axis), spec_y, spec_y, P()), out_specs=(P(axis), P(axis)))
    return fn(noise, jnp.asarray(ky), jnp.asarray(gy), cosmo)


def lpt_displacement(psi1, psi2, cosmo, a):
    """Displacement and momentum at scale factor ``a`` from the LPT fields."""
    a = jnp.asarray(a, psi1.dtype)
    disp = D1(cosmo, a) * psi1 + D2(cosmo, a) * psi2
    mom = a * a * E(cosmo, a) * (dD1_dlna(cosmo, a) * psi1 + dD2_dlna(cosmo, a) * psi2)
    return disp.astype(psi1.dtype), mom.astype(psi1.dtype)
