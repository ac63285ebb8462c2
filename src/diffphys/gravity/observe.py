"""Observables: density mesh, binned power spectrum and its Legendre multipoles, redshift-space positions, 2D
projections onto any mesh."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .force import wavevectors
from .mesh import cic_paint, cic_window

__all__ = ["density", "power_spectrum", "power_multipoles", "redshift_space", "modes_power", "project", "AXES"]

AXES = {"x": 0, "y": 1, "z": 2}


def density(solver, state, mesh=None):
    """Density contrast of ``state`` on the solver's mesh (or on ``mesh`` cells per side)."""
    if mesh is None:
        return solver.density(state)
    mesh = tuple(int(m) for m in mesh)
    x = solver.positions(state) / jnp.asarray([L / m for L, m in zip(solver.box, mesh)], state.disp.dtype)
    nbar = solver.num_particles / float(np.prod(mesh))
    return cic_paint(x, mesh) / nbar - 1.0


def power_spectrum(delta, box, nbins=None, kmax=None, deconvolve=False):
    """Binned power spectrum of a density-contrast mesh: ``(k, P, nmodes)``.

    Bins are linear in |k|, of width the fundamental frequency ``kf`` of the longest side and centred on
    multiples of it (so that meshes of any resolution on the same box share their low-k bins), up to
    ``kmax`` (default the smallest Nyquist); or ``nbins`` equal bins from 0. ``k`` is the mean |k| of the
    modes in each bin; empty bins give NaN.
    """
    k, (p,), nmodes = _binned_power(delta, box, nbins, kmax, deconvolve, ells=(0,), axis=2)
    return k, p, nmodes


def power_multipoles(delta, box, axis=2, ells=(0, 2, 4), nbins=None, kmax=None, deconvolve=False):
    """Legendre multipoles of the power spectrum about the line of sight ``axis`` (plane parallel):
    ``(k, P_ells, nmodes)`` with ``P_ells[i] = (2 l + 1) < |delta_k|^2 L_l(mu) >`` over the modes of each bin
    (``mu = k_axis / |k|``), binned as :func:`power_spectrum`. In linear theory a redshift-space field
    (:func:`redshift_space`) has Kaiser's (1987) ``P_0 = (1 + 2f/3 + f^2/5) P``, ``P_2 = (4f/3 + 4f^2/7) P``,
    ``P_4 = 8f^2/35 P``."""
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2; got {axis!r}")
    ells = tuple(int(e) for e in ells)
    if any(e < 0 or e % 2 for e in ells):
        raise ValueError(f"ells must be even non-negative multipoles; got {ells}")
    return _binned_power(delta, box, nbins, kmax, deconvolve, ells, axis)


def _binned_power(delta, box, nbins, kmax, deconvolve, ells, axis):
    shape = delta.shape
    box = tuple(float(b) for b in box)
    vol = float(np.prod(box))
    dk = jnp.fft.rfftn(delta) * (vol / delta.size)
    if deconvolve:
        dk = dk / jnp.asarray(cic_window(shape), dk.real.dtype)
    p3 = (jnp.abs(dk) ** 2) / vol
    ks = wavevectors(shape, box, np.float64, zero_nyquist=False)
    kmag = np.sqrt(sum(k * k for k in ks))
    w = _rfft_weights(shape[-1])
    kf = 2 * np.pi / max(box)
    knyq = min(np.pi * n / L for n, L in zip(shape, box))
    bins = _bins(kmag, w, kf, knyq if kmax is None else kmax, nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(kmag > 0, np.broadcast_to(ks[axis], kmag.shape) / np.where(kmag > 0, kmag, 1.0), 0.0).ravel()
    out = [_bin_mean(p3, bins, (2 * ell + 1) * np.polynomial.legendre.Legendre.basis(ell)(mu)) for ell in ells]
    return bins[3], out, bins[2]


def _rfft_weights(n):
    """Hermitian weights of the last rfft axis of length ``n``: interior modes stand for themselves and their
    conjugates (2), the zero and (even n) Nyquist planes for themselves (1)."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def _bins(kmag, w, kf, kmax, nbins):
    """Linear bins of |k| (width ``kf`` centred on its multiples, or ``nbins`` from 0 to ``kmax``) for modes of
    magnitudes ``kmag`` and hermitian weights ``w``: ``(idx, weights, nmodes, mean |k|)``; idx = nb off the bins."""
    if nbins:
        nb = int(nbins)
        edges = np.linspace(0.0, kmax, nb + 1)
    else:  # bins of width kf centred on multiples of kf: the same low-k bins for any mesh on the box
        nb = max(1, int(np.floor(kmax / kf - 0.5)))
        edges = kf * (0.5 + np.arange(nb + 1))
    idx = np.digitize(kmag.ravel(), edges) - 1
    valid = (idx >= 0) & (idx < nb) & (kmag.ravel() > 0)
    idx = np.where(valid, idx, nb)
    wv = np.broadcast_to(w, kmag.shape).ravel() * valid
    nmodes = np.bincount(idx, weights=wv, minlength=nb + 1)[:nb]
    with np.errstate(invalid="ignore", divide="ignore"):
        kc = np.bincount(idx, weights=wv * kmag.ravel(), minlength=nb + 1)[:nb] / nmodes
    return idx, wv, nmodes, kc


def _bin_mean(values, bins, extra=1.0):
    """Weighted mean of ``values * extra`` over each bin of :func:`_bins` (NaN for empty bins), differentiable."""
    idx, wv, nmodes, _ = bins
    nb = nmodes.size
    s = jnp.zeros(nb + 1, values.dtype).at[idx].add(jnp.asarray(wv * extra, values.dtype) * values.ravel())[:nb]
    return jnp.where(jnp.asarray(nmodes) > 0, s / jnp.asarray(np.maximum(nmodes, 1), values.dtype), jnp.nan)


def redshift_space(solver, state, cosmo, axis=2):
    """The state with its particles moved to redshift space along ``axis`` (distant observer): ``s = x + v_axis /
    (a H)``, which with the momenta ``p = a^2 E dx/dlna`` is ``x + p_axis / (a^2 E(a))`` (Mpc/h). Paint it with
    :func:`density` or the solver's ``density``; differentiable in the state and the cosmology."""
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2; got {axis!r}")
    from .cosmology import E

    a = state.a
    shift = state.mom[..., axis] / (a**2 * E(cosmo, a)).astype(state.mom.dtype)
    return type(state)(disp=state.disp.at[..., axis].add(shift), mom=state.mom, acc=state.acc, a=state.a)


def modes_power(modes, box, shape, a_factor=1.0, **kw):
    """Binned power of Fourier modes in rfft layout (e.g. :func:`linear_modes`) times ``a_factor^2``."""
    delta = jnp.fft.irfftn(modes, s=tuple(shape)) * a_factor
    return power_spectrum(delta, box, **kw)


def project(solver, state, axis=2, shape=None, box=None):
    """Mass (particles per pixel) projected along ``axis`` onto a 2D periodic mesh by CIC.

    ``shape`` is the 2D mesh (default: the solver mesh's remaining two sides), covering the box's
    remaining two sides in their natural order (axis 2 -> (x, y), axis 0 -> (y, z), axis 1 -> (x, z)).
    """
    if isinstance(axis, str):
        if axis not in AXES:
            raise ValueError(f"axis must be 0, 1, 2 or 'x', 'y', 'z'; got {axis!r}")
        axis = AXES[axis]
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1, 2 or 'x', 'y', 'z'; got {axis!r}")
    keep = [j for j in range(3) if j != axis]
    if shape is None:
        shape = tuple(solver.mesh[j] for j in keep)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"projection shape must be two positive ints; got {shape}")
    L = [solver.box[j] for j in keep]
    x = solver.positions(state)[:, keep] / jnp.asarray([l / s for l, s in zip(L, shape)], state.disp.dtype)
    return cic_paint(x, shape)
