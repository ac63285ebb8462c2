"""Weak gravitational lensing of a particle-mesh simulation in the Born approximation.

The observer sits at the origin of the periodically replicated box and looks along one axis (default z).
The past light cone is cut into shells of comoving thickness ``width`` (a whole fraction of the box side, so
that a shell is a slab of mesh cells). Each shell takes the particles of the saved snapshot nearest in
scale factor, moved to the shell's own ``a`` by the kick and drift of a FastPM step (exact for linear
growth); its particles are projected onto a 2D lens plane (CIC along the line of sight as well, so a plane
is a smooth function of the positions). The
convergence of sources at comoving distance ``chi_s`` is then the Born sum over planes (flat sky, Bartelmann
& Schneider 2001, eq. 6.16 on a grid of planes as in e.g. Vale & White 2003)::

    kappa(theta) = 3/2 Omega_m (H0/c)^2  sum_j  width  chi_j (chi_s - chi_j) / (chi_s a_j)  delta_j(chi_j theta)

with ``delta_j`` the overdensity averaged over shell j. Its statistical truth is Limber's integral
(:func:`limber_convergence_power`)::

    C_l = 9/4 Omega_m^2 (H0/c)^4  int_0^chi_s dchi  (chi_s - chi)^2 / (chi_s^2 a^2)  P(l/chi, a(chi))

Units as the rest of :mod:`diffphys.gravity`: Mpc/h, H0 = 1, so ``c = 2997.92458`` Mpc/h. Every function
is differentiable in the particles and in the cosmological parameters.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.checks import check_int, check_range, is_concrete
from .cosmology import E
from .growth import LNA_MIN
from .mesh import cic_paint, cic_readout
from .observe import _bin_mean, _bins, _rfft_weights
from .power import halofit_power, linear_power

__all__ = ["C_LIGHT", "comoving_distance", "a_of_chi", "LensPlanes", "lens_planes", "born_convergence", "born_shear",
           "kaiser_squires", "angular_power", "limber_convergence_power", "lensing_kernel", "lightcone_a_steps"]

C_LIGHT = 2997.92458  # c / H0 in Mpc/h

_GL = np.polynomial.legendre.leggauss(64)


def _tabulated(cosmo):
    if getattr(cosmo, "growth", None) is None and hasattr(cosmo, "tabulate"):
        return cosmo.tabulate()
    return cosmo


def comoving_distance(cosmo, a):
    """Line-of-sight comoving distance to scale factor ``a`` in Mpc/h: ``c/H0 int_a^1 da / (a^2 E(a))``.

    64-point Gauss-Legendre quadrature in ln a for every ``a`` (round-off accurate for a >= 1e-3), so the
    result is differentiable in ``a`` and in the cosmology.
    """
    a = jnp.asarray(a, jnp.result_type(a, cosmo.Omega_m, 1.0))
    x, w = (jnp.asarray(v, a.dtype) for v in _GL)
    lna = jnp.log(a)[..., None]
    u = 0.5 * lna * (1.0 - x)                      # x = -1 -> ln a, x = 1 -> 0
    au = jnp.exp(u)
    f = 1.0 / (au * E(cosmo, au))                   # d chi / d ln a in units of c/H0
    return C_LIGHT * 0.5 * (-lna[..., 0]) * jnp.sum(w * f, axis=-1)


def a_of_chi(cosmo, chi):
    """Scale factor at comoving distance ``chi`` (Mpc/h): the inverse of :func:`comoving_distance`.

    A table in ln a gives the start, three Newton steps on ``chi(a)`` give round-off accuracy; the derivative
    follows the implicit function (Newton's last step carries it).
    """
    chi = jnp.asarray(chi, jnp.result_type(chi, cosmo.Omega_m, 1.0))
    lo = max(LNA_MIN, math.log(1e-3))
    lna_t = jnp.linspace(lo, 0.0, 257, dtype=chi.dtype)
    chi_t = comoving_distance(cosmo, jnp.exp(lna_t))          # decreasing in a
    lna = jnp.interp(chi, chi_t[::-1], lna_t[::-1])
    a = jnp.exp(lna)
    for _ in range(3):
        a = jax.lax.stop_gradient(a)
        dchi_da = -C_LIGHT / (a * a * E(cosmo, a))
        a = a - (comoving_distance(cosmo, a) - chi) / dchi_da
    return a


def lensing_kernel(cosmo, chi, a, chi_s):
    """Born lensing weight ``3/2 Omega_m (H0/c)^2 chi (chi_s - chi) / (chi_s a)`` (0 beyond the source)."""
    return 1.5 * cosmo.Omega_m / C_LIGHT**2 * chi * jnp.maximum(chi_s - chi, 0.0) / (chi_s * a)


class LensPlanes(eqx.Module):
    """Lens planes: ``density`` (n_planes, nx, ny) is the overdensity averaged over each shell, on a periodic
    grid covering ``extent`` (Mpc/h, the box's two transverse sides); shell j is centred on comoving distance
    ``chi[j]`` at scale factor ``a[j]`` and is ``width`` Mpc/h thick."""

    density: jax.Array
    chi: jax.Array
    a: jax.Array
    width: float = eqx.field(static=True)
    extent: tuple = eqx.field(static=True)


def _slab_weight(zc, start, n_cells, period):
    """Fraction of a unit CIC cloud centred at ``zc`` (cell units) inside cells [start, start + n_cells),
    periodic with ``period`` cells: the CIC mass a particle paints into the slab."""
    zz = jnp.mod(zc - start, period)

    def overlap(c):
        return jnp.clip(jnp.minimum(c + 0.5, n_cells) - jnp.maximum(c - 0.5, 0.0), 0.0, 1.0)

    return overlap(zz) + overlap(zz - period)


def lens_planes(solver, cosmo, states, z_max, planes_per_box=4, axis=2, key=None, n_planes=None):
    """Lens planes out to redshift ``z_max`` from snapshots of a :class:`~diffphys.gravity.PMSolver` run.

    Args:
        solver: the PM solver of the run.
        cosmo: its cosmology (the drift and the distances).
        states: a :class:`PMState` with a leading snapshot axis (e.g. ``simulate(..., save_every=k).snapshots``,
            whose snapshot 0 is the initial state); each shell uses the snapshot nearest in ``a``, moved to the
            shell's scale factor.
        z_max: the farthest source redshift to be used (shells cover ``0 < chi < chi(z_max)``).
        planes_per_box: shells per box side along the line of sight (must divide ``solver.mesh[axis]``).
        axis: the line of sight (0, 1, 2).
        key: optional PRNG key: each plane is shifted by a random whole number of cells and randomly flipped
            in both transverse directions, so that the replicas of the box along the line of sight are not
            aligned (a statistically equivalent field).
        n_planes: the number of shells (default: enough to reach ``z_max`` in ``cosmo``; give it when the
            cosmology is traced, e.g. under ``jax.grad`` with respect to ``Omega_m``: shells beyond a source
            do not lens it, so more than needed is harmless).
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2; got {axis!r}")
    ppb = check_int("planes_per_box", planes_per_box, lo=1)
    m_los = solver.mesh[axis]
    if m_los % ppb:
        raise ValueError(f"planes_per_box = {ppb} must divide the mesh's {m_los} cells along the line of sight")
    check_range("z_max", z_max, 0.0, 1.0 / math.exp(LNA_MIN) - 1.0, lo_open=True)
    if states.disp.ndim != 3:
        raise ValueError("states must carry a leading snapshot axis: disp of shape (n_snapshots, N, 3)")
    cosmo = _tabulated(cosmo)
    dtype = states.disp.dtype
    width = solver.box[axis] / ppb
    n_cells = m_los // ppb
    if n_planes is None:
        if not is_concrete((cosmo.Omega_m, cosmo.w0, cosmo.wa, z_max)):
            raise ValueError("lens_planes: give n_planes when the cosmology or z_max is traced (e.g. under "
                             "jax.grad with respect to Omega_m); the number of shells must be static")
        with jax.ensure_compile_time_eval():      # concrete inputs: evaluate now, also inside jit
            n_planes = int(math.ceil(float(comoving_distance(cosmo, 1.0 / (1.0 + z_max))) / width))
    n_planes = check_int("n_planes", n_planes, lo=1)
    chi = (jnp.arange(n_planes, dtype=dtype) + 0.5) * width
    a = a_of_chi(cosmo, chi).astype(dtype)
    keep = [j for j in range(3) if j != axis]
    shape2 = tuple(solver.mesh[j] for j in keep)
    cell = jnp.asarray(solver.cell, dtype)
    lattice = solver.lattice(dtype)
    nbar = solver.num_particles / float(np.prod(solver.mesh))
    snaps_a = states.a.astype(dtype)
    if key is not None:
        k1, k2 = jax.random.split(key)
        # integer draws only, so that float32 and float64 runs cut the same light cone
        shifts = jax.random.randint(k1, (n_planes, 2), 0, jnp.asarray(shape2, jnp.int32), dtype=jnp.int32)
        flips = jax.random.randint(k2, (n_planes, 2), 0, 2, dtype=jnp.int32) == 1
    else:
        shifts = jnp.zeros((n_planes, 2), jnp.int32)
        flips = jnp.zeros((n_planes, 2), bool)

    def plane(args):
        j, aj, sh, fl = args
        k = jnp.argmin(jnp.abs(snaps_a - aj))
        ak = snaps_a[k]
        # the first half of a kick-drift-kick step from the snapshot to the shell (exact for linear growth)
        k1, dr, _ = solver.step_factors(cosmo, ak, aj)
        ph = states.mom[k] + states.acc[k] * k1.astype(dtype)
        x = (lattice + states.disp[k] + ph * dr.astype(dtype)) / cell
        w = _slab_weight(x[:, axis], (j % ppb) * n_cells, n_cells, m_los)
        counts = cic_paint(x[:, keep], shape2, mass=w)
        delta = counts / (nbar * n_cells) - 1.0
        delta = jnp.where(fl[0], jnp.flip(delta, 0), delta)
        delta = jnp.where(fl[1], jnp.flip(delta, 1), delta)
        return jnp.roll(delta, (sh[0], sh[1]), axis=(0, 1))

    dens = jax.lax.map(plane, (jnp.arange(n_planes), a, shifts, flips))
    return LensPlanes(density=dens, chi=chi, a=a, width=float(width),
                      extent=tuple(solver.box[j] for j in keep))


def lightcone_a_steps(a_start, z_max, steps_to_lightcone=10, da=0.025):
    """Scale factors for a :class:`~diffphys.gravity.PMSolver` whose snapshots feed :func:`lens_planes`:
    ``steps_to_lightcone`` steps uniform in a from ``a_start`` to the light cone's far end (the farthest source's
    a less half a step, so that its shells have a snapshot near them), then steps of about ``da`` to a = 1.
    Returns ``(a_steps, n_lightcone)``: run ``steps_to_lightcone`` steps, then ``n_lightcone`` with ``save_every=1``.
    """
    check_int("steps_to_lightcone", steps_to_lightcone, lo=1)
    check_range("da", da, 0.0, 0.5, lo_open=True)
    a_far = 1.0 / (1.0 + float(z_max))
    if not 0.0 < a_start < a_far:
        raise ValueError(f"a_start = {a_start} must lie before the farthest source (a = {a_far:.4g}, z = {z_max})")
    a_lc = max(a_start * 1.01, a_far - 0.5 * da)
    n_lc = max(1, int(np.ceil((1.0 - a_lc) / da)))
    a_steps = np.concatenate([np.linspace(a_start, a_lc, steps_to_lightcone + 1), np.linspace(a_lc, 1.0, n_lc + 1)[1:]])
    return a_steps, n_lc


def _angles(field_deg, npix, dtype):
    fov = math.radians(field_deg)
    t = ((jnp.arange(npix, dtype=dtype) + 0.5) / npix - 0.5) * fov
    return jnp.stack(jnp.meshgrid(t, t, indexing="ij"), axis=-1)  # (npix, npix, 2) radians


def born_convergence(planes: LensPlanes, cosmo, z_source, field_deg=5.0, npix=128, center=None):
    """Convergence maps in the Born approximation: (npix, npix) for one source redshift, or
    (n_sources, npix, npix) for a 1D array of them.

    Args:
        planes: :func:`lens_planes` (or a hand-built :class:`LensPlanes`).
        z_source: source redshift(s); shells beyond a source do not lens it.
        field_deg: side of the square field of view in degrees (flat sky).
        npix: pixels per side; pixel centres sample each plane bilinearly (periodically) at ``chi theta``.
        center: transverse comoving position (Mpc/h) of the line of sight through the field's centre
            (default the middle of the box's face).
    """
    return _born(planes, cosmo, z_source, field_deg, npix, center, shear=False)


def born_shear(planes: LensPlanes, cosmo, z_source, field_deg=5.0, npix=128, center=None):
    """Shear maps ``(gamma1, gamma2)`` in the Born approximation, each shaped as :func:`born_convergence`'s map.

    ``gamma1 = (psi_11 - psi_22) / 2``, ``gamma2 = psi_12`` of the lensing potential (``kappa = laplacian psi / 2``),
    axis 1 along the map's first index. Each plane's shear fields are computed on the periodic plane by FFT
    (``(k1^2 - k2^2) / k^2`` and ``2 k1 k2 / k^2`` times its density; dimensionless, so the same in angle), then
    sampled and summed like the convergence: no edge effects from the finite field, unlike Kaiser-Squires on
    the map.
    """
    g = _born(planes, cosmo, z_source, field_deg, npix, center, shear=True)
    return g[0], g[1]


def _born(planes, cosmo, z_source, field_deg, npix, center, shear):
    check_range("field_deg", field_deg, 0.0, 30.0, lo_open=True)
    npix = check_int("npix", npix, lo=2)
    zs = jnp.asarray(z_source)
    if zs.ndim > 1:
        raise ValueError(f"z_source must be a number or a 1D array; got shape {zs.shape}")
    check_range("z_source", zs, 0.0, 1.0 / math.exp(LNA_MIN) - 1.0, lo_open=True)
    dtype = planes.density.dtype
    cosmo = _tabulated(cosmo)
    theta = _angles(field_deg, npix, dtype).reshape(-1, 2)
    nx, ny = planes.density.shape[1:]
    ext = jnp.asarray(planes.extent, dtype)
    c0 = 0.5 * ext if center is None else jnp.asarray(center, dtype)
    cells = ext / jnp.asarray([nx, ny], dtype)
    if shear:
        k1 = np.fft.fftfreq(nx)[:, None]
        k2 = np.fft.rfftfreq(ny)[None, :]
        k1, k2 = k1 * (nx / planes.extent[0]), k2 * (ny / planes.extent[1])   # physical, up to 2 pi
        ksq = k1**2 + k2**2
        ksq[0, 0] = 1.0
        ops = jnp.asarray(np.stack([(k1**2 - k2**2) / ksq, 2 * k1 * k2 / ksq]), dtype)

    def sample(args):
        dens, chi = args
        x = (c0 + theta * chi) / cells - 0.5      # cell centres at (i + 1/2) cells; CIC read-out uses nodes
        if not shear:
            return cic_readout(dens, x)
        fields = jnp.fft.irfft2(jnp.fft.rfft2(dens)[None] * ops, s=(nx, ny))       # (2, nx, ny)
        return cic_readout(jnp.moveaxis(fields, 0, -1), x, channels=True).T      # (2, npix^2)

    vals = jax.lax.map(sample, (planes.density, planes.chi))      # (n_planes, [2,] npix^2)
    chi_s = comoving_distance(cosmo, 1.0 / (1.0 + jnp.atleast_1d(zs).astype(dtype)))
    kern = (lensing_kernel(cosmo, planes.chi[None, :], planes.a[None, :], chi_s[:, None]) * planes.width).astype(dtype)
    if shear:
        maps = jnp.einsum("sp,pcn->csn", kern, vals).reshape(2, -1, npix, npix)
        return maps[:, 0] if zs.ndim == 0 else maps
    maps = (kern @ vals).reshape(-1, npix, npix)
    return maps[0] if zs.ndim == 0 else maps


def kaiser_squires(gamma1, gamma2):
    """Convergence from shear maps of square pixels on a flat, periodic field (Kaiser & Squires 1993): the inverse of
    the Fourier operator ``gamma = ((l1^2 - l2^2), 2 l1 l2) / l^2 kappa``. The map's mean (l = 0) is unconstrained
    by shear and set to 0. On a field cut from the sky the periodic FFT makes errors near the edges."""
    gamma1, gamma2 = jnp.asarray(gamma1), jnp.asarray(gamma2)
    if gamma1.shape != gamma2.shape or gamma1.ndim < 2:
        raise ValueError(f"gamma1 and gamma2 must be maps of the same shape; got {gamma1.shape}, {gamma2.shape}")
    n1, n2 = gamma1.shape[-2:]
    l1 = np.fft.fftfreq(n1)[:, None]          # cycles per pixel: square pixels
    l2 = np.fft.rfftfreq(n2)[None, :]
    lsq = l1**2 + l2**2
    lsq[0, 0] = 1.0
    dt = gamma1.dtype
    kt = (jnp.fft.rfft2(gamma1) * jnp.asarray((l1**2 - l2**2) / lsq, dt)
          + jnp.fft.rfft2(gamma2) * jnp.asarray(2 * l1 * l2 / lsq, dt))
    return jnp.fft.irfft2(kt, s=(n1, n2))


def angular_power(kappa, field_deg, nbins=None, ell_max=None):
    """Flat-sky angular power spectrum of a square map: ``(ell, C_ell, n_modes)``.

    ``C_ell = |FT kappa|^2 / Omega`` (``Omega`` the field's solid angle), binned in |ell| with bins of width
    the fundamental ``2 pi / field`` centred on its multiples (or ``nbins`` equal bins up to ``ell_max``,
    default the map's Nyquist). ``ell`` is the mean |ell| of the modes in a bin; empty bins give NaN.
    """
    kappa = jnp.asarray(kappa)
    if kappa.ndim != 2 or kappa.shape[0] != kappa.shape[1]:
        raise ValueError(f"kappa must be a square 2D map; got shape {kappa.shape}")
    n = kappa.shape[0]
    check_range("field_deg", field_deg, 0.0, 360.0, lo_open=True)
    fov = math.radians(field_deg)
    dtheta = fov / n
    ft = jnp.fft.rfft2(kappa) * dtheta**2
    p2 = jnp.abs(ft) ** 2 / fov**2
    lx = 2 * np.pi * np.fft.fftfreq(n, d=dtheta)
    ly = 2 * np.pi * np.fft.rfftfreq(n, d=dtheta)
    lmag = np.sqrt(lx[:, None] ** 2 + ly[None, :] ** 2)
    bins = _bins(lmag, _rfft_weights(n), 2 * np.pi / fov, np.pi / dtheta if ell_max is None else float(ell_max), nbins)
    return bins[3], _bin_mean(p2, bins), bins[2]


def limber_convergence_power(cosmo, ell, z_source, power="linear", n=128):
    """Limber's convergence power ``C_ell`` for sources at ``z_source`` (one redshift).

    ``power``: ``"linear"`` (:func:`~diffphys.gravity.linear_power`), ``"halofit"``
    (:func:`~diffphys.gravity.halofit_power`, Takahashi et al. 2012) or a function ``power(k, a)`` of the 3D
    matter power in (Mpc/h)^3 (``k`` shaped (..., n), ``a`` shaped (n,)); the line-of-sight integral uses
    ``n``-point Gauss-Legendre quadrature in chi.
    """
    cosmo = _tabulated(cosmo)
    ell = jnp.asarray(ell, jnp.result_type(ell, cosmo.Omega_m, 1.0))
    chi_s = comoving_distance(cosmo, 1.0 / (1.0 + jnp.asarray(z_source, ell.dtype)))
    x, w = (jnp.asarray(v, ell.dtype) for v in np.polynomial.legendre.leggauss(int(n)))
    chi = 0.5 * chi_s * (1.0 + x)
    a = a_of_chi(cosmo, chi)
    kern = lensing_kernel(cosmo, chi, a, chi_s)
    k = ell[..., None] / chi
    if power == "linear":
        p = linear_power(cosmo, k, a)
    elif power == "halofit":
        kf = k.reshape(-1, chi.shape[0])
        p = jax.vmap(lambda kk, aa: halofit_power(cosmo, kk, aa), in_axes=(1, 0), out_axes=1)(kf, a).reshape(k.shape)
    elif callable(power):
        p = power(k, a)
    else:
        raise ValueError(f"power must be 'linear', 'halofit' or a function power(k, a); got {power!r}")
    return 0.5 * chi_s * jnp.sum(w * kern**2 / chi**2 * p, axis=-1)
