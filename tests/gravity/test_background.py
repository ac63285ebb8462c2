"""Background, growth and linear power against independent truths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from diffphys import gravity as g


def test_growth_einstein_de_sitter_is_exact():
    c = g.Cosmology(Omega_m=1.0, Omega_b=0.05)
    a = jnp.array([0.01, 0.1, 0.37, 1.0, 1.5])
    np.testing.assert_allclose(g.D1(c, a), a, rtol=1e-8)
    np.testing.assert_allclose(g.dD1_dlna(c, a), a, rtol=1e-8)
    np.testing.assert_allclose(g.D2(c, a), -3.0 / 7.0 * a**2, rtol=1e-8)
    np.testing.assert_allclose(g.dD2_dlna(c, a), -6.0 / 7.0 * a**2, rtol=1e-8)


@pytest.mark.parametrize("Om", [0.2, 0.3, 0.45])
def test_growth_lcdm_matches_heath_integral(Om):
    """For w = -1, D1 ~ E(a) int_0^a da' / (a' E(a'))^3 (Heath 1977), normalised at a = 1."""
    c = g.Cosmology(Omega_m=Om)

    def heath(a):
        Ea = lambda x: np.sqrt(Om * x**-3 + 1 - Om)  # noqa: E731
        return Ea(a) * quad(lambda x: 1.0 / (x * Ea(x)) ** 3, 0, a, epsabs=0, epsrel=1e-12)[0]

    for a in (0.02, 0.1, 0.5, 0.8, 1.7):
        np.testing.assert_allclose(float(g.D1(c, a)), heath(a) / heath(1.0), rtol=2e-7)


def test_growth_rate_matches_heath_derivative():
    """f = dlnD/dlna from the Heath integral by differentiating under the integral sign."""
    Om = 0.3
    c = g.Cosmology(Omega_m=Om)
    Ea = lambda x: np.sqrt(Om * x**-3 + 1 - Om)  # noqa: E731
    for a in (0.3, 0.6, 1.0):
        integral = quad(lambda x: 1.0 / (x * Ea(x)) ** 3, 0, a, epsabs=0, epsrel=1e-12)[0]
        dlnE = -1.5 * Om * a**-3 / Ea(a) ** 2
        f = dlnE + 1.0 / (a * Ea(a)) ** 3 * a / integral
        np.testing.assert_allclose(float(g.growth_rate(c, a)), f, rtol=1e-7)
        # and the common approximation Omega_m(a)^0.55 to within 1%
        np.testing.assert_allclose(f, float(g.Omega_m_a(c, a)) ** 0.55, rtol=1e-2)


def test_second_order_growth_bouchet_approximation():
    """D2 ~ -3/7 D1^2 Om(a)^(-1/143) (Bouchet et al. 1995), accurate to better than 1% for LCDM."""
    c = g.Cosmology(Omega_m=0.3)
    for a in (0.1, 0.5, 1.0):
        approx = -3.0 / 7.0 * float(g.D1(c, a)) ** 2 * float(g.Omega_m_a(c, a)) ** (-1.0 / 143)
        np.testing.assert_allclose(float(g.D2(c, a)), approx, rtol=5e-3)


def test_hubble_rate_w0wa():
    c = g.Cosmology(Omega_m=0.3, w0=-0.9, wa=0.2)
    a = 0.5
    # direct integral of the dark energy continuity equation: rho_de ~ exp(3 int_a^1 (1 + w)/a' da')
    w = lambda x: -0.9 + 0.2 * (1 - x)  # noqa: E731
    rho = np.exp(3 * quad(lambda x: (1 + w(x)) / x, a, 1)[0])
    np.testing.assert_allclose(float(g.E2(c, a)), 0.3 / a**3 + 0.7 * rho, rtol=1e-10)
    # dlnE/dlna by finite differences
    eps = 1e-6
    fd = (np.log(float(g.E(c, a * np.exp(eps)))) - np.log(float(g.E(c, a * np.exp(-eps))))) / (2 * eps)
    np.testing.assert_allclose(float(g.dlnE_dlna(c, a)), fd, rtol=1e-7)


def test_sigma8_normalisation_and_A_s_against_planck():
    c = g.Cosmology(Omega_m=0.3, sigma8=0.8)
    np.testing.assert_allclose(float(g.sigma_R(c, 8.0)), 0.8, rtol=1e-10)
    # Planck 2018 (TT,TE,EE+lowE+lensing): ln(1e10 A_s) = 3.044, sigma8 = 0.811 (EH98 is a few-% fit)
    p18 = g.Cosmology(Omega_m=0.3111, Omega_b=0.0490, h=0.6766, n_s=0.9665, sigma8=None,
                      A_s=np.exp(3.044) * 1e-10)
    np.testing.assert_allclose(float(g.sigma_R(p18, 8.0)), 0.811, rtol=0.03)


def test_transfer_function_limits_and_baryon_wiggles():
    c = g.Cosmology(Omega_m=0.3, Omega_b=0.05, h=0.7)
    k = jnp.logspace(-5, 1, 400)
    T = np.asarray(g.transfer_eh98(c, k))
    assert abs(T[0] - 1) < 1e-3                      # T -> 1 on large scales
    assert np.all(np.diff(T) < 1e-12)                 # monotonically decreasing
    # small-scale slope: T ~ ln(k)/k^2
    assert T[-1] / T[-40] < (k[-40] / k[-1]) ** 1.5
    # baryon acoustic oscillations: the ratio to a baryon-free transfer oscillates around 100/Mpc... scale
    c0 = g.Cosmology(Omega_m=0.3, Omega_b=1e-6, h=0.7)
    kk = jnp.linspace(0.05, 0.3, 500)
    r = np.asarray(g.transfer_eh98(c, kk) / g.transfer_eh98(c0, kk))
    d = np.diff(r)
    assert np.sum(np.sign(d[1:]) != np.sign(d[:-1])) >= 4   # wiggles


def test_linear_power_scales_with_growth_and_gradients_finite():
    c = g.Cosmology()
    k = jnp.array([0.0, 0.01, 0.1, 1.0])
    p1 = g.linear_power(c, k)
    pa = g.linear_power(c, k, 0.5)
    assert float(p1[0]) == 0.0
    np.testing.assert_allclose(pa[1:] / p1[1:], float(g.D1(c, 0.5)) ** 2, rtol=1e-12)
    grad = jax.jit(jax.grad(lambda om, s8: jnp.sum(g.linear_power(g.Cosmology(Omega_m=om, sigma8=s8), k)),
                    argnums=(0, 1)))(0.3, 0.8)
    assert all(np.isfinite(float(x)) for x in grad)
    np.testing.assert_allclose(float(grad[1]), 2 * float(jnp.sum(p1)) / 0.8, rtol=1e-10)
