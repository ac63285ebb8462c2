"""Weak lensing (Born approximation): distances against closed forms and quadrature, the Born sum against an
analytic plane, the convergence power of Gaussian fields against Limber's integral, the light-cone planes of
particles, gradients against finite differences, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.gravity import lensing as L


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_comoving_distance_closed_form_and_quadrature():
    a = np.array([1.0, 0.7, 0.5, 0.1, 0.01, 0.002])
    eds = g.Cosmology(Omega_m=1.0)
    exact = 2.0 * L.C_LIGHT * (1.0 - np.sqrt(a))           # Einstein-de Sitter
    np.testing.assert_allclose(L.comoving_distance(eds, a), exact, rtol=1e-13, atol=1e-10)
    c = g.Cosmology(Omega_m=0.27, w0=-0.9, wa=0.3)
    ref = [L.C_LIGHT * quad(lambda x: 1.0 / (x * x * float(g.E(c, x))), ai, 1.0, epsabs=0, epsrel=1e-13)[0]
           for ai in a]
    np.testing.assert_allclose(L.comoving_distance(c, a), ref, rtol=1e-12, atol=1e-10)


def test_a_of_chi_inverts_and_differentiates():
    c = g.Cosmology(Omega_m=0.31)
    a = jnp.array([0.99, 0.8, 0.5, 0.2, 0.05])
    chi = L.comoving_distance(c, a)
    np.testing.assert_allclose(L.a_of_chi(c, chi), a, rtol=1e-13)
    # d a / d chi = -a^2 E / c
    d = jax.vmap(jax.grad(lambda x: L.a_of_chi(c, x)))(chi)
    np.testing.assert_allclose(d, -a**2 * g.E(c, a) / L.C_LIGHT, rtol=1e-12)
    f = lambda om: L.a_of_chi(g.Cosmology(Omega_m=om), 1500.0)  # noqa: E731
    fd = (f(0.31 + 1e-6) - f(0.31 - 1e-6)) / 2e-6
    np.testing.assert_allclose(jax.grad(f)(0.31), fd, rtol=1e-7)


def _planes(density, chi, cosmo, width, extent):
    return L.LensPlanes(density=jnp.asarray(density), chi=jnp.asarray(chi), a=L.a_of_chi(cosmo, chi),
                        width=width, extent=extent)


def test_born_sum_of_analytic_planes():
    """Planes holding cos(2 pi m x / L): the map is the kernel-weighted sum of the cosines at chi theta."""
    cosmo = g.Cosmology()
    n, box, width, m = 256, 300.0, 100.0, 3
    chi = np.array([400.0, 900.0, 1500.0, 2600.0])          # the last one beyond a z = 1 source
    amp = np.array([0.5, -1.0, 2.0, 7.0])
    xc = (np.arange(n) + 0.5) * box / n
    dens = amp[:, None, None] * np.cos(2 * np.pi * m * xc / box)[None, :, None] * np.ones((1, 1, n))
    pl = _planes(dens, chi, cosmo, width, (box, box))
    fov, npix = 3.0, 32
    zs = np.array([1.0, 2.0])
    kap = L.born_convergence(pl, cosmo, zs, fov, npix)
    t = ((np.arange(npix) + 0.5) / npix - 0.5) * np.radians(fov)
    chi_s = np.asarray(L.comoving_distance(cosmo, 1.0 / (1.0 + zs)))
    for i, cs in enumerate(chi_s):
        kern = 1.5 * 0.3 / L.C_LIGHT**2 * chi * np.maximum(cs - chi, 0) / (cs * np.asarray(pl.a)) * width
        want = sum(k * a_ * np.cos(2 * np.pi * m * (0.5 * box + t * c) / box) for k, a_, c in zip(kern, amp, chi))
        scale = np.sum(np.abs(kern * amp))
        bound = (2 * np.pi * m / n) ** 2 / 8 * scale         # linear interpolation: |f''| h^2 / 8
        np.testing.assert_allclose(kap[i], np.broadcast_to(want[:, None], (npix, npix)), atol=bound)
    assert chi_s[0] < chi[-1] < chi_s[1]
    np.testing.assert_allclose(L.born_convergence(pl, cosmo, 1.0, fov, npix), kap[0], rtol=1e-14)


def test_born_shear_of_analytic_planes():
    """A plane wave along x shears purely along gamma1 with gamma1 = kappa; along the diagonal purely along gamma2
    (gamma = (k1^2 - k2^2, 2 k1 k2) / k^2 kappa for each Fourier mode)."""
    cosmo = g.Cosmology()
    n, box, width, m = 128, 300.0, 100.0, 2
    chi = np.array([500.0, 1200.0, 2000.0])
    amp = np.array([1.0, -0.5, 1.5])
    xc = (np.arange(n) + 0.5) * box / n
    along_x = np.cos(2 * np.pi * m * xc / box)[:, None] * np.ones((1, n))
    diagonal = np.cos(2 * np.pi * m * (xc[:, None] + xc[None, :]) / box)
    for wave, (on, off) in ((along_x, (0, 1)), (diagonal, (1, 0))):
        pl = _planes(amp[:, None, None] * wave[None], chi, cosmo, width, (box, box))
        kap = L.born_convergence(pl, cosmo, np.array([1.0, 3.0]), 4.0, 24)
        gam = L.born_shear(pl, cosmo, np.array([1.0, 3.0]), 4.0, 24)
        scale = float(jnp.abs(kap).max())
        assert scale > 1e-3
        np.testing.assert_allclose(gam[on], kap, atol=1e-12 * scale)
        np.testing.assert_allclose(gam[off], 0.0, atol=1e-12 * scale)
    g1, g2 = L.born_shear(pl, cosmo, 1.0, 4.0, 24)
    assert g1.shape == g2.shape == (24, 24)


def test_kaiser_squires_inverts_the_shear_operator():
    """Shear of a random periodic zero-mean map (no Nyquist modes, whose sign is ambiguous) by the operator written
    out with a full complex FFT (numpy), inverted by kaiser_squires: the map back to round-off; odd and even sizes."""
    rng = np.random.default_rng(1)
    for n1, n2 in ((32, 32), (27, 40)):
        kt = np.fft.fft2(rng.normal(size=(n1, n2)))
        kt[0, 0] = 0.0
        if n1 % 2 == 0:
            kt[n1 // 2, :] = 0.0
        if n2 % 2 == 0:
            kt[:, n2 // 2] = 0.0
        kap = np.fft.ifft2(kt).real
        l1 = np.fft.fftfreq(n1)[:, None]
        l2 = np.fft.fftfreq(n2)[None, :]
        lsq = l1**2 + l2**2
        lsq[0, 0] = 1.0
        g1 = np.fft.ifft2(kt * (l1**2 - l2**2) / lsq)
        g2 = np.fft.ifft2(kt * 2 * l1 * l2 / lsq)
        assert np.abs(g1.imag).max() < 1e-12 and np.abs(g2.imag).max() < 1e-12
        np.testing.assert_allclose(L.kaiser_squires(g1.real, g2.real), kap, atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        L.kaiser_squires(jnp.zeros((4, 4)), jnp.zeros((4, 5)))


def test_angular_power_of_a_pure_mode():
    """A single Fourier mode of amplitude A on the field: C at its |ell| is A^2 Omega / 4 per mode pair."""
    npix, fov = 64, 4.0
    om = np.radians(fov) ** 2
    t = (np.arange(npix) + 0.5) / npix
    kap = 0.01 * np.cos(2 * np.pi * (3 * t[:, None] + 4 * t[None, :]))
    ell, cl, nm = L.angular_power(jnp.asarray(kap), fov)
    lf = 2 * np.pi / np.radians(fov)
    i = int(np.argmin(np.abs(ell / lf - 5.0)))
    # the bin holds the two modes (3, 4) and (-3, -4) of power A^2 Omega / 4 each, among nm[i] modes
    np.testing.assert_allclose(cl[i] * nm[i], 2 * 0.01**2 * om / 4, rtol=1e-10)
    others = np.delete(np.asarray(cl), i)
    assert np.nanmax(others) < 1e-12 * cl[i]
    # Parseval: the mean of kappa^2 equals the sum of C_ell over all modes / Omega
    assert np.isclose(np.sum(np.asarray(cl) * nm) / om, np.mean(kap**2), rtol=1e-10)


def test_convergence_power_of_gaussian_fields_matches_limber():
    """Linear Gaussian boxes cut into shells: the mean C_ell over 16 realisations agrees with Limber's integral
    of the linear power (times the bilinear read-out window, mode by mode) within 3 standard errors."""
    cosmo = g.Cosmology().tabulate()
    box, n, ppb, zs, fov, npix = 256.0, 128, 4, 1.0, 5.0, 64
    chi_s = float(L.comoving_distance(cosmo, 1 / (1 + zs)))
    width = box / ppb
    n_pl = int(np.ceil(chi_s / width))
    chi = (np.arange(n_pl) + 0.5) * width
    a = L.a_of_chi(cosmo, chi)
    growth = g.D1(cosmo, a)

    @jax.jit
    def power(key):
        k1, k2 = jax.random.split(key)
        delta = jnp.fft.irfftn(g.linear_modes(g.white_noise(k1, (n,) * 3, jnp.float64), cosmo, (box,) * 3),
                               s=(n,) * 3)
        slabs = delta.reshape(n, n, ppb, n // ppb).mean(-1)
        sh = jax.random.randint(k2, (n_pl, 2), 0, n)
        dens = jax.vmap(lambda j: jnp.roll(slabs[:, :, j % ppb] * growth[j], (sh[j, 0], sh[j, 1]), (0, 1)))(
            jnp.arange(n_pl))
        pl = L.LensPlanes(density=dens, chi=jnp.asarray(chi), a=a, width=width, extent=(box, box))
        return L.angular_power(L.born_convergence(pl, cosmo, zs, fov, npix), fov, ell_max=520)[1]

    ell, _, nm = L.angular_power(jnp.zeros((npix, npix)), fov, ell_max=520)
    # reference per mode: Limber with P(k) W(k)^2, W the bilinear read-out window sinc^2 per axis
    dth = np.radians(fov) / npix
    lx, ly = 2 * np.pi * np.fft.fftfreq(npix, d=dth), 2 * np.pi * np.fft.rfftfreq(npix, d=dth)
    LX, LY = np.meshgrid(lx, ly, indexing="ij")
    lm = np.hypot(LX, LY)
    lf = 2 * np.pi / np.radians(fov)
    edges = lf * (0.5 + np.arange(ell.size + 1))
    sel = (lm > edges[0]) & (lm < edges[-1])
    wts = np.where(np.arange(ly.size)[None, :] == 0, 1.0, 2.0) * np.ones_like(lm)
    xg, wg = np.polynomial.legendre.leggauss(128)
    cg = 0.5 * chi_s * (1 + xg)
    ag = np.asarray(L.a_of_chi(cosmo, cg))
    kern = 1.5 * cosmo.Omega_m / L.C_LIGHT**2 * cg * (chi_s - cg) / (chi_s * ag)
    kx, ky = LX[sel][:, None] / cg, LY[sel][:, None] / cg
    h = box / n
    win = (np.sinc(kx * h / 2 / np.pi) * np.sinc(ky * h / 2 / np.pi)) ** 2
    ref_mode = 0.5 * chi_s * np.sum(wg * kern**2 / cg**2 * np.asarray(g.linear_power(cosmo, np.hypot(kx, ky), ag))
                                    * win**2, -1)
    ref = np.bincount(np.digitize(lm[sel], edges) - 1, weights=wts[sel] * ref_mode, minlength=ell.size) / nm
    # Limber itself (no window) from the library, against an independent evaluation
    lim = np.asarray(L.limber_convergence_power(cosmo, ell, zs))
    want = 0.5 * chi_s * np.sum(wg * kern**2 / cg**2 * np.asarray(g.linear_power(cosmo, ell[:, None] / cg, ag)), -1)
    np.testing.assert_allclose(lim, want, rtol=1e-10)
    assert np.all(ref / lim > 0.85) and np.all(ref / lim < 1.05)
    ratios = np.array([np.sum(nm * np.asarray(power(jax.random.PRNGKey(s))) / ref) / np.sum(nm)
                       for s in range(16)])
    err = ratios.std(ddof=1) / np.sqrt(ratios.size)
    assert err < 0.04, ratios
    assert abs(ratios.mean() - 1.0) < 3 * err, (ratios.mean(), err)


@pytest.fixture(scope="module")
def small():
    s = g.PMSolver(box=256.0, ptcl_grid=16, mesh=32, a_start=0.2, a_stop=1.0, num_steps=8)
    return s


def test_lens_planes_of_a_uniform_lattice_are_empty_and_conserve_mass(small):
    s = small
    cosmo = g.Cosmology()
    z = jnp.zeros((3, s.num_particles, 3))
    st = g.PMState(disp=z, mom=z, acc=z, a=jnp.array([0.3, 0.6, 1.0]))
    pl = L.lens_planes(s, cosmo, st, 1.0, planes_per_box=4)
    assert float(jnp.abs(pl.density).max()) == 0.0
    # displaced particles: the four shells of one box replica hold all the mass (CIC along the line of sight)
    disp = 7.0 * jax.random.normal(jax.random.PRNGKey(0), (3, s.num_particles, 3))
    st = g.PMState(disp=disp, mom=z, acc=z, a=st.a)
    pl = L.lens_planes(s, cosmo, st, 0.05, planes_per_box=4, n_planes=4)
    nbar_cells = s.num_particles / np.prod(s.mesh) * (s.mesh[2] // 4)
    np.testing.assert_allclose(float(jnp.sum((1.0 + pl.density) * nbar_cells)), s.num_particles, rtol=1e-12)
    assert float(jnp.abs(pl.density).max()) > 0.1


def test_lens_planes_move_snapshots_to_each_shell():
    """Zel'dovich states: planes built from one snapshot at a = 0.8 equal those from the exact Zel'dovich state
    at every shell's own a to the PM force's departure from linear theory (~1e-3); left unmoved they would
    differ by the growth between the two (~20%)."""
    s = g.PMSolver(box=256.0, ptcl_grid=32, mesh=64, a_start=0.1, a_stop=1.0, num_steps=10)
    cosmo = g.Cosmology(sigma8=0.05).tabulate()
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float64)
    psi1, psi2 = g.lpt_fields(g.linear_modes(noise, cosmo, s.box), s.box, s.ptcl_grid, order=1)

    def state(a):
        d, m = g.lpt_displacement(psi1, psi2, cosmo, jnp.asarray(a))
        return g.PMState(disp=d, mom=m, acc=s.force(d), a=jnp.asarray(a))

    far = L.lens_planes(s, cosmo, jax.tree.map(lambda x: x[None], state(0.8)), 0.6)
    exact = L.lens_planes(s, cosmo, jax.tree.map(lambda *x: jnp.stack(x), *[state(float(a)) for a in far.a]), 0.6)
    scale = jnp.abs(exact.density).max(axis=(1, 2))
    rel = np.asarray(jnp.abs(far.density - exact.density).max(axis=(1, 2)) / scale)
    assert far.a[0] > 0.98 and far.a[-1] < 0.63
    assert rel.max() < 3e-3, rel
    unmoved = g.PMState(disp=state(0.8).disp[None], mom=jnp.zeros((1, s.num_particles, 3)),
                        acc=jnp.zeros((1, s.num_particles, 3)), a=jnp.array([0.8]))
    rel0 = np.asarray(jnp.abs(L.lens_planes(s, cosmo, unmoved, 0.6).density - exact.density).max(axis=(1, 2))
                      / scale)
    assert rel0[0] > 0.1 and rel0[-1] > 0.1


def test_convergence_gradients_match_finite_differences(small):
    """Reverse mode through the run, the light cone, Born convergence and shear vs central differences; forward
    mode equals reverse mode."""
    s = small
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float64)
    w = jax.random.normal(jax.random.PRNGKey(3), (24, 24))
    v = jax.random.normal(jax.random.PRNGKey(4), s.ptcl_grid)

    @jax.jit
    def loss(om, s8, eps):
        cosmo = g.Cosmology(Omega_m=om, sigma8=s8).tabulate()
        sol = simulate(s, s.initial_state(noise + eps * v, cosmo), cosmo, num_steps=s.num_steps, save_every=2,
                       gradient="checkpoint")
        planes = L.lens_planes(s, cosmo, sol.snapshots, 1.0, n_planes=10)
        kap = L.born_convergence(planes, cosmo, 1.0, 4.0, 24)
        g1, g2 = L.born_shear(planes, cosmo, 1.0, 4.0, 24)
        return 1e3 * jnp.sum(kap * w + g1 * w.T - 0.5 * g2 * w[::-1])

    x0 = (0.3, 0.8, 0.0)
    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*x0)
    # forward mode through the same maps equals reverse mode
    fwd = jax.jit(jax.jacfwd(loss, argnums=(0, 1, 2)))(*x0)
    for a, b in zip(fwd, grads):
        assert abs(float(a) - float(b)) <= 1e-10 * abs(float(b)), (float(a), float(b))
    for i, gi in enumerate(grads):
        hs = 1e-5

        def shifted(d, i=i):
            x = list(x0)
            x[i] += d
            return float(loss(*x))

        fd = (shifted(hs) - shifted(-hs)) / (2 * hs)
        assert abs(float(gi) - fd) <= 1e-6 * abs(fd), (i, float(gi), fd)


def test_bad_input(small):
    s = small
    cosmo = g.Cosmology()
    z = jnp.zeros((1, s.num_particles, 3))
    st = g.PMState(disp=z, mom=z, acc=z, a=jnp.array([1.0]))
    with pytest.raises(ValueError, match="planes_per_box"):
        L.lens_planes(s, cosmo, st, 1.0, planes_per_box=5)
    with pytest.raises(ValueError, match="z_max"):
        L.lens_planes(s, cosmo, st, 0.0)
    with pytest.raises(ValueError, match="axis"):
        L.lens_planes(s, cosmo, st, 1.0, axis=3)
    with pytest.raises(ValueError, match="snapshot axis"):
        L.lens_planes(s, cosmo, jax.tree.map(lambda x: x[0], st), 1.0)
    with pytest.raises(ValueError, match="n_planes"):
        jax.grad(lambda om: L.lens_planes(s, g.Cosmology(Omega_m=om), st, 1.0).density.sum())(0.3)
    pl = L.lens_planes(s, cosmo, st, 0.5)
    with pytest.raises(ValueError, match="field_deg"):
        L.born_convergence(pl, cosmo, 1.0, field_deg=0.0)
    with pytest.raises(ValueError, match="npix"):
        L.born_convergence(pl, cosmo, 1.0, npix=1)
    with pytest.raises(ValueError, match="z_source"):
        L.born_convergence(pl, cosmo, -0.5)
    with pytest.raises(ValueError, match="z_source"):
        L.born_convergence(pl, cosmo, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="square"):
        L.angular_power(jnp.zeros((4, 5)), 1.0)


def test_lightcone_a_steps():
    a, n_lc = L.lightcone_a_steps(1 / 32, 1.5, steps_to_lightcone=8, da=0.05)
    assert a[0] == 1 / 32 and a[-1] == 1.0 and np.all(np.diff(a) > 0)
    assert a.size == 8 + n_lc + 1
    assert a[8] <= 1 / 2.5 and a[8] > 1 / 2.5 - 0.05                       # the light cone starts at the source
    assert np.max(np.diff(a[8:])) <= 0.05 + 1e-12
    s = g.PMSolver(box=64.0, ptcl_grid=4, a_steps=a)                        # a valid solver schedule
    assert s.num_steps == 8 + n_lc
    with pytest.raises(ValueError, match="a_start"):
        L.lightcone_a_steps(0.5, 1.5)
    with pytest.raises(ValueError, match="da"):
        L.lightcone_a_steps(0.1, 1.0, da=0.0)
