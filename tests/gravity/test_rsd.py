"""Redshift space and power multipoles: Kaiser's (1987) linear theory, mode by mode and in the multipoles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys import gravity as g


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_zeldovich_modes_in_redshift_space_follow_kaiser():
    """A small-amplitude Zel'dovich state: every low-k Fourier mode of the redshift-space density is (1 + f mu^2)
    times the real-space one, f = dln D / dln a (the CIC window cancels in the ratio)."""
    s = g.PMSolver(box=256.0, ptcl_grid=32, mesh=64, a_start=0.1, a_stop=1.0, num_steps=2)
    cosmo = g.Cosmology(sigma8=0.02).tabulate()
    a = 0.5
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float64)
    psi1, psi2 = g.lpt_fields(g.linear_modes(noise, cosmo, s.box), s.box, s.ptcl_grid, order=1)
    disp, mom = g.lpt_displacement(psi1, psi2, cosmo, jnp.asarray(a))
    st = g.PMState(disp=disp, mom=mom, acc=jnp.zeros_like(disp), a=jnp.asarray(a))
    f = float(g.growth_rate(cosmo, a))
    for axis in (2, 0):
        d_r = jnp.fft.rfftn(s.density(st))
        d_s = jnp.fft.rfftn(g.density(s, g.redshift_space(s, st, cosmo, axis)))
        ks = g.wavevectors(s.mesh, s.box, np.float64, zero_nyquist=False)
        kmag = np.sqrt(sum(k * k for k in ks))
        mu = np.broadcast_to(ks[axis], kmag.shape) / np.where(kmag > 0, kmag, 1.0)
        low = (kmag > 0) & (kmag < 0.08)
        ratio = np.asarray(d_s)[low] / np.asarray(d_r)[low]
        m2 = mu[low] ** 2
        assert low.sum() > 50 and np.ptp(m2) > 0.9
        # least squares ratio = c + F mu^2: CIC aliasing of the lattice adds terms odd in the mode's components,
        # which cancel between the +-k pairs in the fit (single modes scatter by ~1e-2 around the line)
        A = np.stack([np.ones_like(m2), m2], 1)
        (c, F), *_ = np.linalg.lstsq(A, ratio.real, rcond=None)
        assert abs(c - 1.0) < 2e-3 and abs(F / f - 1.0) < 5e-3, (c, F, f)
        assert np.median(np.abs(ratio - (1 + f * m2))) < 3e-3


def test_power_multipoles_of_a_kaiser_field():
    """A unit-modulus field (every |delta_k| = 1, phases of a real white noise) distorted by (1 + f mu^2): in every bin
    the multipoles equal (2l + 1) < (1 + f mu^2)^2 L_l(mu) > over the bin's modes (evaluated here with numpy, full
    complex FFT grid), and in bins of many modes Kaiser's continuum P_0, P_2; odd or negative multipoles and a
    bad axis are refused."""
    n, box, f = 48, 300.0, 0.7
    noise = np.random.default_rng(0).normal(size=(n,) * 3)
    dk = np.fft.rfftn(noise)
    dk = dk / np.abs(dk)
    ks = g.wavevectors((n,) * 3, (box,) * 3, np.float64, zero_nyquist=False)
    kmag = np.sqrt(sum(k * k for k in ks))
    mu2 = np.broadcast_to(ks[1], kmag.shape) ** 2 / np.where(kmag > 0, kmag, 1.0) ** 2
    delta_r = np.fft.irfftn(dk, s=(n,) * 3, axes=(0, 1, 2))            # the normalisation cancels in the ratios
    delta_s = np.fft.irfftn(dk * (1 + f * mu2), s=(n,) * 3, axes=(0, 1, 2))
    k, (p0r,), nm = g.power_multipoles(jnp.asarray(delta_r), (box,) * 3, axis=1, ells=(0,))
    _, pl, _ = g.power_multipoles(jnp.asarray(delta_s), (box,) * 3, axis=1)
    # numpy over the full grid of modes (each once; no hermitian weights needed)
    kf = 2 * np.pi / box
    fk = [np.fft.fftfreq(n, 1.0 / n) * kf] * 3
    KX, KY, KZ = np.meshgrid(*fk, indexing="ij")
    km = np.sqrt(KX**2 + KY**2 + KZ**2)
    mu = np.where(km > 0, KY / np.where(km > 0, km, 1.0), 0.0)
    edges = kf * (0.5 + np.arange(len(k) + 1))
    b = np.digitize(km.ravel(), edges) - 1
    ok = (b >= 0) & (b < len(k))
    for ell, got in zip((0, 2, 4), pl):
        leg = np.polynomial.legendre.Legendre.basis(ell)(mu.ravel())
        want = (2 * ell + 1) * np.bincount(b[ok], ((1 + f * mu.ravel() ** 2) ** 2 * leg)[ok], len(k)) / np.bincount(
            b[ok], minlength=len(k))
        np.testing.assert_allclose(np.asarray(got) / np.asarray(p0r), want, rtol=1e-10, atol=1e-12)
    # monopole and quadrupole: Kaiser's continuum coefficients (the hexadecapole of a cubic grid's few directions
    # at these k stays far from its continuum value: 0.005-0.17 for 0.112, so it is checked only exactly above)
    many = np.asarray(nm) > 3000
    assert many.sum() >= 5
    for got, coef in zip(pl[:2], (1 + 2 * f / 3 + f**2 / 5, 4 * f / 3 + 4 * f**2 / 7)):
        np.testing.assert_allclose(np.asarray(got)[many] / np.asarray(p0r)[many], coef, rtol=0.02)
    with pytest.raises(ValueError, match="ells"):
        g.power_multipoles(jnp.asarray(delta_r), (box,) * 3, ells=(1,))
    with pytest.raises(ValueError, match="axis"):
        g.power_multipoles(jnp.asarray(delta_r), (box,) * 3, axis=3)
