"""Initial conditions: white noise and the linear density modes it is scaled to."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .force import wavevectors
from .power import linear_power

__all__ = ["white_noise", "linear_modes"]


def white_noise(key, shape, dtype=jnp.float32):
    """Unit-variance Gaussian white noise in real space on the particle grid ``shape``."""
    return jax.random.normal(key, tuple(shape), dtype)


def linear_modes(noise, cosmo, box):
    """Fourier modes (rfft layout) of the linear density contrast at a = 1 drawn by ``noise``.

    ``delta_k = rfftn(noise) * sqrt(P(k) / V_cell)`` with ``V_cell`` the volume per grid point, so that
    the discrete field has the continuous power spectrum ``P``.
    """
    shape = noise.shape
    dtype = noise.dtype
    ks = [jnp.asarray(k) for k in wavevectors(shape, box, np.dtype(dtype), zero_nyquist=False)]
    kmag = jnp.sqrt(sum(k * k for k in ks))
    return jnp.fft.rfftn(noise) * _amplitude(cosmo, kmag, box, shape, dtype)


def _amplitude(cosmo, kmag, box, shape, dtype):
    """``sqrt(P(k) / V_cell)`` at wavenumbers ``kmag``, 0 at k = 0."""
    vcell = float(np.prod(box) / np.prod(shape))
    pk = linear_power(cosmo, kmag)
    # k = 0 carries no power; keep sqrt away from 0 so forward- and reverse-mode derivatives stay finite
    return jnp.where(kmag > 0, jnp.sqrt(jnp.where(kmag > 0, pk, 1.0) / vcell), 0.0).astype(dtype)
