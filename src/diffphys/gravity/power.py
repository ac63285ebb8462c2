"""Matter power spectrum: Eisenstein & Hu (1998) linear transfer function, sigma8 or A_s normalisation; Halofit
(Takahashi et al. 2012) for the nonlinear power.

``k`` in h/Mpc, ``P`` in (Mpc/h)^3. ``linear_power(cosmo, k, a)`` is ``P_lin(k, a=1) D1(a)^2``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .growth import D1, _table

__all__ = ["transfer_eh98", "linear_power", "sigma_R", "tophat_window", "halofit_power"]


def _T0_tilde(q, ks_e, alpha, beta):
    c = 14.2 / alpha + 386.0 / (1.0 + 69.9 * q**1.08)
    lg = jnp.log(jnp.e + 1.8 * beta * q)
    return lg / (lg + c * q * q)


def transfer_eh98(cosmo, k):
    """Eisenstein & Hu (1998, ApJ 496, 605) matter transfer function with baryon oscillations."""
    h = cosmo.h
    om = cosmo.Omega_m * h * h
    ob = cosmo.Omega_b * h * h
    fb = cosmo.Omega_b / cosmo.Omega_m
    fc = 1.0 - fb
    theta = cosmo.T_cmb / 2.7
    kk = k * h  # 1/Mpc

    z_eq = 2.50e4 * om * theta**-4
    k_eq = 7.46e-2 * om * theta**-2
    b1 = 0.313 * om**-0.419 * (1.0 + 0.607 * om**0.674)
    b2 = 0.238 * om**0.223
    z_d = 1291.0 * om**0.251 / (1.0 + 0.659 * om**0.828) * (1.0 + b1 * ob**b2)
    R = lambda z: 31.5 * ob * theta**-4 * (1000.0 / z)  # noqa: E731
    R_eq, R_d = R(z_eq), R(z_d)
    s = (2.0 / (3.0 * k_eq) * jnp.sqrt(6.0 / R_eq)
         * jnp.log((jnp.sqrt(1.0 + R_d) + jnp.sqrt(R_d + R_eq)) / (1.0 + jnp.sqrt(R_eq))))
    k_silk = 1.6 * ob**0.52 * om**0.73 * (1.0 + (10.4 * om) ** -0.95)
    q = kk / (13.41 * k_eq)

    a1 = (46.9 * om) ** 0.670 * (1.0 + (32.1 * om) ** -0.532)
    a2 = (12.0 * om) ** 0.424 * (1.0 + (45.0 * om) ** -0.582)
    alpha_c = a1**-fb * a2 ** (-(fb**3))
    bb1 = 0.944 / (1.0 + (458.0 * om) ** -0.708)
    bb2 = (0.395 * om) ** -0.0266
    beta_c = 1.0 / (1.0 + bb1 * (fc**bb2 - 1.0))
    ks = kk * s
    f = 1.0 / (1.0 + (ks / 5.4) ** 4)
    T_c = f * _T0_tilde(q, ks, 1.0, beta_c) + (1.0 - f) * _T0_tilde(q, ks, alpha_c, beta_c)

    y = (1.0 + z_eq) / (1.0 + z_d)
    sq = jnp.sqrt(1.0 + y)
    G = y * (-6.0 * sq + (2.0 + 3.0 * y) * jnp.log((sq + 1.0) / (sq - 1.0)))
    alpha_b = 2.07 * k_eq * s * (1.0 + R_d) ** -0.75 * G
    beta_node = 8.41 * om**0.435
    beta_b = 0.5 + fb + (3.0 - 2.0 * fb) * jnp.sqrt((17.2 * om) ** 2 + 1.0)
    ks_safe = jnp.where(ks > 0, ks, 1.0)
    s_tilde = s / (1.0 + (beta_node / ks_safe) ** 3) ** (1.0 / 3.0)
    x = kk * s_tilde
    x_safe = jnp.where(x > 0, x, 1.0)
    j0 = jnp.where(x > 1e-4, jnp.sin(x_safe) / x_safe, 1.0 - x * x / 6.0)
    T_b = (_T0_tilde(q, ks, 1.0, 1.0) / (1.0 + (ks / 5.2) ** 2)
           + alpha_b / (1.0 + (beta_b / ks_safe) ** 3) * jnp.exp(-((kk / k_silk) ** 1.4))) * j0
    T_b = jnp.where(ks > 0, T_b, 1.0)
    return fb * T_b + fc * T_c


def tophat_window(x):
    """Fourier transform of a spherical top hat, W(x) = 3 (sin x - x cos x) / x^3."""
    xs = jnp.where(x > 1e-2, x, 1.0)
    w = 3.0 * (jnp.sin(xs) - xs * jnp.cos(xs)) / xs**3
    return jnp.where(x > 1e-2, w, 1.0 - x * x / 10.0 + x**4 / 280.0)


def _quad_k(dtype):
    lnk = jnp.linspace(jnp.log(1e-5), jnp.log(1e2), 2048, dtype=dtype)
    return lnk, lnk[1] - lnk[0]


def _unnormalised(cosmo, k):
    return k**cosmo.n_s * transfer_eh98(cosmo, k) ** 2


def sigma_R(cosmo, R, a=1.0, _shape_only=False):
    """rms linear overdensity in spheres of radius R (Mpc/h) at scale factor a."""
    dtype = jnp.result_type(cosmo.Omega_m, 1.0)
    lnk, dlnk = _quad_k(dtype)
    k = jnp.exp(lnk)
    p = _unnormalised(cosmo, k) if _shape_only else linear_power(cosmo, k, a)
    integrand = k**3 * p * tophat_window(k * R) ** 2 / (2.0 * jnp.pi**2)
    return jnp.sqrt(jnp.sum(0.5 * (integrand[1:] + integrand[:-1])) * dlnk)


def _amplitude(cosmo):
    if cosmo.sigma8 is not None:
        return cosmo.sigma8**2 / sigma_R(cosmo, 8.0, _shape_only=True) ** 2
    # P = 2 pi^2 / k^3 * (4/25) (k/H0)^4 A_s (k/k_p)^(n_s-1) T^2 D_g^2 / Omega_m^2, D_g -> a early on
    c_over_h0 = 2997.92458  # Mpc/h
    k_p = 0.05 / cosmo.h
    g1 = jnp.exp(-7.0) / _table(cosmo).y[0, 0]  # D_g(1): growth normalised to a in matter domination
    return (2.0 * jnp.pi**2 * 4.0 / 25.0 * cosmo.A_s * c_over_h0**4 * k_p ** (1.0 - cosmo.n_s)
            * g1**2 / cosmo.Omega_m**2)


def linear_power(cosmo, k, a=1.0):
    """Linear matter power spectrum P(k, a) in (Mpc/h)^3 for k in h/Mpc (P(0) = 0)."""
    k = jnp.asarray(k)
    ks = jnp.where(k > 0, k, 1.0)
    p = _amplitude(cosmo) * _unnormalised(cosmo, ks)
    p = jnp.where(k > 0, p, 0.0)
    if not (isinstance(a, (int, float)) and a == 1.0):
        p = p * D1(cosmo, jnp.asarray(a)) ** 2
    return p


def _gauss_moments(cosmo, lnR, a, dtype):
    """sigma^2(R) with a Gaussian filter and its first two derivatives in ln R (linear power at ``a``)."""
    lnk, dlnk = _quad_k(dtype)
    k = jnp.exp(lnk)
    d2 = k**3 * linear_power(cosmo, k, a) / (2.0 * jnp.pi**2)
    y2 = (k * jnp.exp(lnR)) ** 2
    w = d2 * jnp.exp(-y2) * dlnk
    return jnp.sum(w), jnp.sum(w * (-2.0 * y2)), jnp.sum(w * (4.0 * y2 * y2 - 4.0 * y2))


def _nonlinear_scale(cosmo, a, dtype):
    """Halofit's k_sigma (sigma(1/k_sigma) = 1 with a Gaussian filter), n_eff and curvature C at ``a``.

    The root by 60 bisections in ln R (no derivative), then one Newton step that carries the derivatives
    (implicit function theorem)."""
    lo, hi = jnp.asarray(jnp.log(1e-4), dtype), jnp.asarray(jnp.log(1e3), dtype)

    def body(_, lh):
        lo, hi = lh
        mid = 0.5 * (lo + hi)
        big = _gauss_moments(jax.lax.stop_gradient(cosmo), mid, jax.lax.stop_gradient(a), dtype)[0] > 1.0
        return jnp.where(big, mid, lo), jnp.where(big, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 60, body, (lo, hi))
    lnR = jax.lax.stop_gradient(0.5 * (lo + hi))
    s2, d1, _ = _gauss_moments(cosmo, lnR, a, dtype)
    lnR = lnR - (s2 - 1.0) / d1
    s2, d1, d2 = _gauss_moments(cosmo, lnR, a, dtype)
    dln = d1 / s2
    d2ln = d2 / s2 - dln**2
    return jnp.exp(-lnR), -3.0 - dln, -d2ln


def halofit_power(cosmo, k, a=1.0):
    """Nonlinear matter power P(k, a) in (Mpc/h)^3 by Halofit as revised by Takahashi et al. (2012, ApJ 761, 152,
    eqs. A4-A11, with their (1 + w) terms) on the Eisenstein & Hu linear power; differentiable in the cosmology.
    Calibrated for 0 <= z <= 10, k <= 30 h/Mpc and w CDM; a scalar ``a``."""
    k = jnp.asarray(k)
    dtype = jnp.result_type(k, cosmo.Omega_m, 1.0)
    a = jnp.asarray(a, dtype)
    from .cosmology import E2

    ksig, n, c = _nonlinear_scale(cosmo, a, dtype)
    om = cosmo.Omega_m * a**-3 / E2(cosmo, a)
    ode = 1.0 - om
    w = cosmo.w0 + cosmo.wa * (1.0 - a)
    an = 10.0 ** (1.5222 + 2.8553 * n + 2.3706 * n**2 + 0.9903 * n**3 + 0.2250 * n**4 - 0.6038 * c
                  + 0.1749 * ode * (1.0 + w))
    bn = 10.0 ** (-0.5642 + 0.5864 * n + 0.5716 * n**2 - 1.5474 * c + 0.2279 * ode * (1.0 + w))
    cn = 10.0 ** (0.3698 + 2.0404 * n + 0.8161 * n**2 + 0.5869 * c)
    gn = 0.1971 - 0.0843 * n + 0.8460 * c
    alpha = jnp.abs(6.0835 + 1.3373 * n - 0.1959 * n**2 - 5.5274 * c)
    beta = 2.0379 - 0.7354 * n + 0.3157 * n**2 + 1.2490 * n**3 + 0.3980 * n**4 - 0.1682 * c
    nu = 10.0 ** (5.2105 + 3.6902 * n)
    f1, f2, f3 = om**-0.0307, om**-0.0585, om**0.0743
    ks = jnp.where(k > 0, k, 1.0)
    y = ks / ksig
    dl = ks**3 * linear_power(cosmo, ks, a) / (2.0 * jnp.pi**2)
    dq = dl * (1.0 + dl) ** beta / (1.0 + alpha * dl) * jnp.exp(-y / 4.0 - y * y / 8.0)
    dh = an * y ** (3.0 * f1) / (1.0 + bn * y**f2 + (cn * f3 * y) ** (3.0 - gn)) / (1.0 + nu / y**2)
    return jnp.where(k > 0, (dq + dh) * 2.0 * jnp.pi**2 / ks**3, 0.0)
