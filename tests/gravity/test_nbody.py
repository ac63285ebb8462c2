"""The PM solver: linear growth, momentum, reversibility, adjoint vs autodiff, finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.core.sensitivity import check_grad

COSMO = g.Cosmology(Omega_m=0.3, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8)


def small_solver(**kw):
    args = dict(box=(40.0, 50.0, 30.0), ptcl_grid=(6, 8, 5), mesh=(12, 16, 10), a_start=0.1, a_stop=1.0,
                num_steps=8)
    args.update(kw)
    return g.PMSolver(**args)


def noise_for(s, seed=0):
    return g.white_noise(jax.random.PRNGKey(seed), s.ptcl_grid, jnp.float64)


@pytest.mark.parametrize("mesh, gradient, deconvolve", [pytest.param(64, "fd4", False, marks=pytest.mark.slow),
                                                       (32, "spectral", True)])
def test_linear_growth_of_low_k_power(mesh, gradient, deconvolve):
    """Tiny-amplitude field: P(k, a) / P(k, a_start) = (D1(a) / D1(a_start))^2 in the lowest k bin within 1%.

    (With the spectral gradient on a mesh finer than the particle grid, the lattice aliases a force excess
    of about k dx / pi onto low k, so that configuration is checked with the FastPM 4-point gradient or on a
    mesh equal to the particle grid with CIC deconvolution; see docs/gravity.md.)
    """
    s = g.PMSolver(box=512.0, ptcl_grid=32, mesh=mesh, a_start=0.05, a_stop=1.0, num_steps=20,
                   gradient=gradient, deconvolve=deconvolve)
    c = g.Cosmology(sigma8=1e-4).tabulate()     # tiny amplitude: linear regime
    st0 = s.initial_state(noise_for(s), c)
    st1 = simulate(s, st0, c, num_steps=s.num_steps).state
    k, p0, n = g.power_spectrum(s.density(st0), s.box)
    _, p1, _ = g.power_spectrum(s.density(st1), s.box)
    ratio = np.asarray(p1 / p0) / (float(g.D1(c, 1.0)) / float(g.D1(c, 0.05))) ** 2
    assert abs(ratio[0] - 1) <= 1e-2, ratio[:4]
    assert np.all(np.abs(ratio[:3] - 1) <= 0.035)         # and converging towards k -> 0
    assert np.all(np.diff(np.abs(ratio[:4] - 1)) > 0)


def test_total_momentum_stays_zero():
    s = small_solver()
    c = COSMO.tabulate()
    st = s.initial_state(noise_for(s), c)
    sol = simulate(s, st, c, num_steps=s.num_steps, save_every=1)
    for i in range(s.num_steps + 1):
        mom = sol.snapshots.mom[i]
        rel = float(jnp.linalg.norm(mom.sum(0)) / jnp.sum(jnp.linalg.norm(mom, axis=1)))
        assert rel <= 1e-10, (i, rel)


@pytest.mark.parametrize("gradient", ["fd4", "spectral"])
def test_reversibility(gradient):
    s = small_solver(num_steps=12, gradient=gradient)
    c = g.Cosmology(sigma8=1.0).tabulate()  # strongly non-linear in this small box
    st0 = s.initial_state(noise_for(s), c)
    st = simulate(s, st0, c, num_steps=s.num_steps).state
    back = st
    for _ in range(s.num_steps):
        back = s.reverse_step(back, c)
    assert float(back.a) == float(st0.a)
    rel_x = float(jnp.max(jnp.abs(back.disp - st0.disp)) / jnp.sqrt(jnp.mean(st0.disp**2)))
    rel_p = float(jnp.max(jnp.abs(back.mom - st0.mom)) / jnp.sqrt(jnp.mean(st0.mom**2)))
    assert rel_x <= 1e-10 and rel_p <= 1e-10, (rel_x, rel_p)
    # and the run is really non-linear (displacements comparable to the mesh cell)
    assert float(jnp.max(jnp.abs(st.disp))) > 2 * max(s.cell)


def _loss(s, gradient, save_every=None):
    def loss(noise, cosmo):
        c = cosmo.tabulate()
        st0 = s.initial_state(noise, c)
        sol = simulate(s, st0, c, num_steps=s.num_steps, gradient=gradient, save_every=save_every)
        out = jnp.sum(g.project(s, sol.state, 2, (12, 16)) ** 2) + 1e-2 * jnp.sum(sol.state.mom ** 2)
        if save_every is not None:
            out = out + jnp.sum(sol.snapshots.disp[1] ** 2)
        return out
    return loss


def _rel_rms(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


def test_adjoint_matches_autodiff_wrt_noise_and_cosmology():
    s = small_solver(num_steps=10)
    noise = noise_for(s, 1)
    cosmo = g.Cosmology(Omega_m=0.3, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8, w0=-0.95, wa=0.1)
    v_ad, (gn_ad, gc_ad) = jax.jit(jax.value_and_grad(_loss(s, "store"), argnums=(0, 1)))(noise, cosmo)
    v_adj, (gn_adj, gc_adj) = jax.jit(jax.value_and_grad(_loss(s, "adjoint"), argnums=(0, 1)))(noise, cosmo)
    np.testing.assert_allclose(float(v_adj), float(v_ad), rtol=1e-13)
    assert _rel_rms(gn_adj, gn_ad) <= 1e-10
    names = ["Omega_m", "Omega_b", "h", "n_s", "sigma8", "w0", "wa"]
    ca = np.array([float(getattr(gc_adj, n)) for n in names])
    cb = np.array([float(getattr(gc_ad, n)) for n in names])
    assert _rel_rms(ca, cb) <= 1e-10, (ca, cb)
    assert np.all(np.abs(ca - cb) <= 1e-10 * np.abs(cb) + 1e-10 * np.abs(cb).max())


@pytest.mark.slow
def test_adjoint_snapshots_and_checkpoint_gradients():
    s = small_solver(num_steps=6)
    noise = noise_for(s, 2)
    ref = jax.grad(_loss(s, "store", save_every=2))(noise, COSMO)
    adj = jax.grad(_loss(s, "adjoint", save_every=2))(noise, COSMO)
    chk = jax.grad(_loss(s, "checkpoint"))(noise, COSMO)
    ref_nosave = jax.grad(_loss(s, "store"))(noise, COSMO)
    assert _rel_rms(adj, ref) <= 1e-10
    assert _rel_rms(chk, ref_nosave) <= 1e-12
    sol_a = simulate(s, s.initial_state(noise, COSMO.tabulate()), COSMO.tabulate(), num_steps=6,
                     gradient="adjoint", save_every=2)
    sol_s = simulate(s, s.initial_state(noise, COSMO.tabulate()), COSMO.tabulate(), num_steps=6, save_every=2)
    np.testing.assert_array_equal(np.asarray(sol_a.ts), np.asarray(sol_s.ts))
    np.testing.assert_allclose(sol_a.snapshots.disp, sol_s.snapshots.disp, rtol=1e-13, atol=1e-13)


def test_gradients_match_finite_differences_on_cosmology():
    s = small_solver(num_steps=5)
    noise = noise_for(s, 3)
    names = ("Omega_m", "Omega_b", "h", "n_s", "sigma8")

    def fn(p):
        cosmo = g.Cosmology(**p)
        c = cosmo.tabulate()
        st0 = s.initial_state(noise, c)
        st = simulate(s, st0, c, num_steps=s.num_steps).state
        return jnp.stack([jnp.sum(st.disp[:, 0] * jnp.linspace(-1, 1, s.num_particles)), jnp.sum(st.mom**2)])

    p = {n: jnp.asarray(float(getattr(COSMO, n))) for n in names}
    report = check_grad(fn, p)                 # forward mode (jacfwd) through core.simulate
    assert report.max_rel_err <= 1e-6, str(report)


@pytest.mark.slow
def test_forward_mode_matches_reverse_mode():
    s = small_solver(num_steps=4)
    noise = noise_for(s, 4)
    loss = _loss(s, "store")
    tangent = jax.random.normal(jax.random.PRNGKey(5), noise.shape, jnp.float64)
    _, jv = jax.jvp(lambda n: loss(n, COSMO), (noise,), (tangent,))
    gr = jax.grad(_loss(s, "adjoint"))(noise, COSMO)
    np.testing.assert_allclose(float(jv), float(jnp.sum(gr * tangent)), rtol=1e-10)


@pytest.mark.slow
def test_jit_equals_eager_and_vmap_over_cosmology():
    s = small_solver(num_steps=3)
    noise = noise_for(s, 6)
    loss = _loss(s, "store")
    e = loss(noise, COSMO)
    j = jax.jit(loss)(noise, COSMO)
    np.testing.assert_allclose(float(j), float(e), rtol=1e-12)
    oms = jnp.array([0.25, 0.3, 0.35])
    batch = jax.vmap(lambda om: loss(noise, eqx.tree_at(lambda c: c.Omega_m, COSMO, om)))(oms)
    np.testing.assert_allclose(float(batch[1]), float(e), rtol=1e-12)
    assert float(batch[0]) != float(batch[2])


def test_first_order_lpt_is_linear_theory():
    """1LPT momenta are f a^2 E D1 psi, the density of the painted ICs grows as D1."""
    s = small_solver()
    c = COSMO.tabulate()
    st = s.initial_state(noise_for(s), c, order=1)
    a = 0.1
    ratio = st.mom / st.disp
    expect = a**2 * float(g.E(c, a)) * float(g.growth_rate(c, a))
    np.testing.assert_allclose(np.asarray(ratio)[np.abs(np.asarray(st.disp)) > 1e-8], expect, rtol=1e-10)
    # 2LPT correction is second order: smaller than the first by ~ D1 * delta
    st2 = s.initial_state(noise_for(s), c, order=2)
    d = float(jnp.max(jnp.abs(st2.disp - st.disp)) / jnp.max(jnp.abs(st.disp)))
    assert 0 < d < 0.1


def test_float32_default_dtype_is_kept():
    s = small_solver(num_steps=2)
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float32)
    c = g.Cosmology(Omega_m=jnp.float32(0.3), Omega_b=jnp.float32(0.05), h=jnp.float32(0.7),
                    n_s=jnp.float32(0.96), sigma8=jnp.float32(0.8))
    run = jax.jit(lambda n, c: simulate(s, s.initial_state(n, c.tabulate()), c.tabulate(), num_steps=2,
                                        gradient="adjoint").state)
    st = run(noise, c)
    assert st.disp.dtype == jnp.float32 and st.mom.dtype == jnp.float32


@pytest.mark.slow
@pytest.mark.parametrize("gradient", ["spectral", "fd4"])
def test_power_spectrum_64_on_128_matches_linear_theory_at_low_k(gradient):
    """64^3 particles on a 128^3 mesh to a = 1 (float32): the low-k power of the paired runs (+noise and
    -noise, Angulo & Pontzen 2016) is within 3% of the linear evolution of the same modes in the two lowest
    bins, and there is a clear non-linear excess at high k.

    A single box is not enough at low k: the second-order term delta_2 correlates with delta_1 in one
    realisation (its ensemble mean is zero), which moves the two lowest bins by -8%..+5% here (seed 0);
    in the pair that cross term cancels exactly. Measured: spectral -1.8% / +0.8%, fd4 -1.0% / -2.4%.
    """
    s = g.PMSolver(box=256.0, ptcl_grid=64, mesh=128, a_start=1 / 64, a_stop=1.0, num_steps=63, gradient=gradient)
    cosmo = g.Cosmology(Omega_m=jnp.float32(0.3), Omega_b=jnp.float32(0.05), h=jnp.float32(0.7),
                        n_s=jnp.float32(0.96), sigma8=jnp.float32(0.8))
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float32)

    @jax.jit
    def run(noise):
        c = cosmo.tabulate()
        st = simulate(s, s.initial_state(noise, c), c, num_steps=s.num_steps).state
        sim = g.power_spectrum(s.density(st), s.box, deconvolve=True)[1]
        lin = g.modes_power(g.linear_modes(noise, c, s.box), s.box, s.ptcl_grid, g.D1(c, jnp.float32(1.0)))[1]
        return sim, lin

    (sp, lp), (sm, lm) = ([np.asarray(x) for x in run(n)] for n in (noise, -noise))
    np.testing.assert_allclose(lp, lm, rtol=1e-6)  # the pair has the same linear power
    k = g.power_spectrum(jnp.zeros(s.mesh), s.box)[0]
    ratio = (sp + sm)[: len(lp)] / (lp + lm)
    assert np.all(np.abs(ratio[:2] - 1) <= 0.03), ratio[:4]
    hi = (k[: len(lp)] > 0.4) & (k[: len(lp)] < 0.7)
    assert np.all(ratio[hi] > 1.5), ratio[hi]
