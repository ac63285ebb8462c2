"""Exact and self-similar reference solutions (numpy/scipy, float64).

* :class:`ExactRiemann`: the exact solution of the Riemann problem for an ideal gas (Toro, *Riemann
  Solvers and Numerical Methods for Fluid Dynamics*, ch. 4: pressure function, Newton iteration,
  sampling), with :meth:`ExactRiemann.cell_average` for comparing with finite-volume cell averages.
* :class:`Sedov`: the Sedov-Taylor point explosion in planar (``j=1``), cylindrical (``j=2``) or
  spherical (``j=3``) geometry, obtained by integrating the similarity ODEs from the strong-shock
  conditions inwards; the energy integral fixes the constant ``xi0`` in ``R = xi0 (E t^2 / rho0)^(1/(j+2))``.
  ``E`` is the energy in the computational domain ``r >= 0`` (for planar, one half-space).
* :func:`weaver_outer_shock_radius`: the adiabatic wind-blown bubble of Weaver et al. (1977).
* :func:`shear_flow_growth_rate`: the linear growth rate of a perturbation ``exp(i k x)`` of a parallel shear
  flow ``u(y)``, ``rho(y)`` at uniform pressure (the Kelvin-Helmholtz instability), from the eigenvalues of the
  linearised compressible Euler equations.
* :func:`free_fall_time`, :func:`free_fall_radius`: the pressureless collapse of a uniform sphere (every shell
  reaches the centre at ``t_ff = sqrt(3 pi / (32 G rho0))``, ``r / r0 = cos^2(xi)`` with
  ``xi + sin(xi) cos(xi) = (pi / 2) t / t_ff``; Spitzer 1978, sec. 13.3).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["heat_kernel", "barenblatt_heat_wave", "classical_evaporation_rate", "ExactRiemann", "Sedov",
           "weaver_outer_shock_radius", "shear_flow_growth_rate", "WEAVER_ADIABATIC", "WEAVER_THIN_SHELL",
           "free_fall_time", "free_fall_radius"]

#: Weaver et al. (1977) section II: fully adiabatic similarity solution (gamma = 5/3), R2 = 0.88 (L t^3/rho)^(1/5)
WEAVER_ADIABATIC = 0.88
#: Weaver et al. (1977) section III / Castor, McCray & Weaver (1975): thin (radiative) shell with an
#: energy-conserving hot interior, R2 = (125 / (154 pi))^(1/5) (L t^3/rho)^(1/5) = 0.763...
WEAVER_THIN_SHELL = (125.0 / (154.0 * math.pi)) ** 0.2


def weaver_outer_shock_radius(luminosity, rho0, t, coefficient=WEAVER_ADIABATIC):
    """Outer shock radius ``R2 = coefficient * (L t^3 / rho0)^(1/5)`` of a wind-blown bubble.

    The default is the adiabatic bubble (no cooling anywhere; the swept-up shell keeps its thermal
    energy and thickness), for which Weaver et al. (1977, sec. II) integrate the similarity equations
    and find ``0.88``. ``WEAVER_THIN_SHELL`` (0.76) is their radiative-shell case, which an adiabatic
    simulation should not be compared with.
    """
    return coefficient * (np.asarray(luminosity) * np.asarray(t) ** 3 / np.asarray(rho0)) ** 0.2


def _measure(d):
    """The radial grids' measure ``dV = w r^(d-1) dr`` over ``r >= 0``: 1 (planar half-line), 2 pi, 4 pi."""
    return {1: 1.0, 2: 2.0 * math.pi, 3: 4.0 * math.pi}[d]


def heat_kernel(r, t, energy, a, d):
    """Linear diffusion ``theta_t = a lap theta`` from a point source at ``r = 0`` at ``t = 0`` in ``d = 1, 2, 3``
    (planar, cylindrical, spherical): ``theta = Q (4 pi a t)^(-d/2) exp(-r^2 / (4 a t))`` with ``Q`` such that the
    integral over the radial grid's measure (``r >= 0``; planar: one half-line) is ``energy``."""
    q = energy * (2.0 if d == 1 else 1.0)
    r = np.asarray(r, dtype=np.float64)
    return q * (4.0 * math.pi * a * t) ** (-d / 2.0) * np.exp(-r * r / (4.0 * a * t))


def barenblatt_heat_wave(r, t, energy, a, n, d):
    """The exact point-source heat wave of ``theta_t = div(a theta^n grad theta)``, ``n > 0``, in ``d = 1, 2, 3``
    (Barenblatt 1952; Pattle 1959; Zel'dovich & Raizer 1967, ch. X). With ``m = n + 1``, ``tau = a t / m`` (then
    ``theta_tau = lap theta^m``, the porous-medium equation) and ``beta = 1 / (d n + 2)``:
    ``theta = tau^(-beta d) (c - k r^2 tau^(-2 beta))_+^(1/n)``, ``k = beta n / (2 m)``; ``c`` is fixed by the
    conserved ``int theta dV = energy`` over the radial grid's measure (``r >= 0``; planar: one half-line):
    ``energy = w c^(1/n + d/2) k^(-d/2) B(d/2, 1/n + 1) / 2``.

    Returns ``(theta(r), front radius r_f)``; the second moment is ``<r^2> = r_f^2 d / (d + 2/n + 2)``."""
    if n <= 0:
        raise ValueError(f"n must be > 0 for the Barenblatt heat wave (n = 0: heat_kernel); got {n}")
    m = n + 1.0
    beta = 1.0 / (d * n + 2.0)
    k = beta * n / (2.0 * m)
    q = 1.0 / n
    b = math.gamma(d / 2.0) * math.gamma(q + 1.0) / math.gamma(d / 2.0 + q + 1.0)
    c = (2.0 * energy * k ** (d / 2.0) / (_measure(d) * b)) ** (1.0 / (q + d / 2.0))
    tau = a * t / m
    s = np.asarray(r, dtype=np.float64) * tau ** (-beta)
    return tau ** (-beta * d) * np.maximum(c - k * s * s, 0.0) ** q, math.sqrt(c / k) * tau ** beta


def classical_evaporation_rate(t_hot_k, radius_cm, mu=0.6, ln_lambda=30.0, suppression=1.0):
    """Mass-loss rate (g/s) of a cold spherical cloud of radius ``radius_cm`` evaporating into hot gas of temperature
    ``t_hot_k`` by unsaturated Spitzer conduction, in the steady subsonic limit of Cowie & McKee (1977, ApJ 211,
    135, eq. 14): ``mdot = 16 pi mu m_p kappa_h R / (25 k)`` with ``kappa_h = 1.84e-5 T_h^(5/2) / ln Lambda``
    (``2.75e4 T^(5/2) R_pc`` g/s for ``mu = 0.6``, ``ln Lambda = 30``). Valid while the saturation parameter
    ``sigma_0 = (T_h / 1.54e7 K)^2 / (n_h R_pc)`` is small."""
    kappa = suppression * 1.84e-5 * t_hot_k ** 2.5 / ln_lambda
    return 16.0 * math.pi * mu * 1.67262192369e-24 * kappa * radius_cm / (25.0 * 1.380649e-16)


def free_fall_time(rho0, G=1.0):
    """The free-fall time ``sqrt(3 pi / (32 G rho0))`` of a uniform pressureless sphere of density ``rho0``."""
    return math.sqrt(3.0 * math.pi / (32.0 * G * rho0))


def free_fall_radius(t_over_tff):
    """``r(t) / r(0)`` of every mass shell of a collapsing uniform pressureless sphere at ``t / t_ff`` in [0, 1].

    Each shell moves as a degenerate Kepler orbit: ``r = r0 cos^2(xi)``, ``t = (2 / pi) t_ff (xi + sin(xi)
    cos(xi))``; solved for ``xi`` by Newton's method (``d t / d xi = (4 / pi) t_ff cos^2 xi``) from a bracketing
    start, to round-off."""
    f = np.asarray(t_over_tff, dtype=np.float64)
    if np.any(~np.isfinite(f)) or np.any((f < 0) | (f > 1)):
        raise ValueError(f"t / t_ff must lie in [0, 1]; got {f}")
    target = 0.5 * np.pi * f
    xi = np.minimum(0.5 * target, 0.5 * np.pi * 0.999)  # xi + sin xi cos xi <= 2 xi: below the root
    lo, hi = np.zeros_like(f), np.full_like(f, 0.5 * np.pi)
    for _ in range(200):  # safeguarded Newton (bisection where a step leaves the bracket)
        g = xi + np.sin(xi) * np.cos(xi) - target
        lo, hi = np.where(g < 0, xi, lo), np.where(g >= 0, xi, hi)
        d = 2.0 * np.cos(xi) ** 2
        new = xi - g / np.where(d > 0, d, 1.0)
        xi = np.where((new > lo) & (new < hi) & (d > 1e-300), new, 0.5 * (lo + hi))
        if np.all(np.abs(g) < 1e-15):
            break
    return np.cos(xi) ** 2


def shear_flow_growth_rate(rho, u, pressure, gamma, k, length=1.0):
    """Growth rate and frequency of the fastest linear mode ``exp(i k x + s t)`` of a parallel shear flow.

    ``rho`` and ``u`` are the density and the x velocity at ``n`` equally spaced points of a periodic ``y``
    interval of ``length``; the pressure is uniform. The linearised compressible Euler equations for
    ``(rho', u', v', p') exp(i k x + s t)``,

        s rho' = -i k u rho' - rho_y v' - rho (i k u' + v'_y),     s u' = -i k u u' - u_y v' - i k p' / rho,
        s v' = -i k u v' - p'_y / rho,                             s p' = -i k u p' - gamma P (i k u' + v'_y),

    are discretised with the Fourier differentiation matrix in ``y`` (spectral accuracy for smooth
    profiles) and solved as a dense eigenvalue problem of size ``4 n``. Returns the eigenvalue with the
    largest real part, ``s = sigma + i omega`` (``sigma`` is the growth rate of the mode's amplitude)."""
    rho, u = np.asarray(rho, dtype=np.float64), np.asarray(u, dtype=np.float64)
    n = rho.size
    if rho.shape != (n,) or u.shape != (n,) or n < 8:
        raise ValueError(f"rho and u must be 1D arrays of the same length >= 8; got {rho.shape} and {u.shape}")
    if np.any(rho <= 0) or not pressure > 0 or not gamma > 1:
        raise ValueError("rho and pressure must be > 0 and gamma > 1")
    kk = 2.0 * np.pi * np.fft.fftfreq(n, length / n)
    d = np.real(np.fft.ifft(1j * kk[:, None] * np.fft.fft(np.eye(n), axis=0), axis=0))  # d/dy, periodic
    ik = 1j * k
    adv, zero = -ik * np.diag(u), np.zeros((n, n))
    a = np.block([
        [adv, -ik * np.diag(rho), -(np.diag(d @ rho) + rho[:, None] * d), zero],
        [zero, adv, -np.diag(d @ u), -ik * np.diag(1.0 / rho)],
        [zero, zero, adv, -(1.0 / rho)[:, None] * d],
        [zero, -ik * gamma * pressure * np.eye(n), -gamma * pressure * d, adv]])
    ev = np.linalg.eigvals(a)
    return complex(ev[np.argmax(ev.real)])


class ExactRiemann:
    """Exact solution of the 1D Riemann problem ``(rho_l, v_l, p_l) | (rho_r, v_r, p_r)`` at ``x0``."""

    def __init__(self, left, right, gamma=1.4, x0=0.5):
        self.rl, self.ul, self.pl = map(float, left)
        self.rr, self.ur, self.pr = map(float, right)
        self.g = float(gamma)
        self.x0 = float(x0)
        g = self.g
        self.cl = math.sqrt(g * self.pl / self.rl)
        self.cr = math.sqrt(g * self.pr / self.rr)
        if 2.0 / (g - 1.0) * (self.cl + self.cr) <= self.ur - self.ul:
            raise ValueError("the initial states generate a vacuum; not supported")
        self.p_star, self.u_star = self._star()

    def _f(self, p, rk, pk, ck):
        g = self.g
        if p > pk:
            a, b = 2.0 / ((g + 1.0) * rk), (g - 1.0) / (g + 1.0) * pk
            q = math.sqrt(a / (p + b))
            return (p - pk) * q, q * (1.0 - 0.5 * (p - pk) / (b + p))
        r = p / pk
        return (2.0 * ck / (g - 1.0) * (r ** ((g - 1.0) / (2.0 * g)) - 1.0),
                1.0 / (rk * ck) * r ** (-(g + 1.0) / (2.0 * g)))

    def _star(self):
        g = self.g
        du = self.ur - self.ul
        # two-rarefaction guess (always positive), then Newton
        z = (g - 1.0) / (2.0 * g)
        p = ((self.cl + self.cr - 0.5 * (g - 1.0) * du) / (self.cl / self.pl ** z + self.cr / self.pr ** z)) ** (1 / z)
        p = max(p, 1e-14)
        for _ in range(100):
            fl, dl = self._f(p, self.rl, self.pl, self.cl)
            fr, dr = self._f(p, self.rr, self.pr, self.cr)
            pn = p - (fl + fr + du) / (dl + dr)
            pn = max(pn, 1e-3 * p)
            if abs(pn - p) <= 1e-15 * 0.5 * (pn + p):
                p = pn
                break
            p = pn
        fl, _ = self._f(p, self.rl, self.pl, self.cl)
        fr, _ = self._f(p, self.rr, self.pr, self.cr)
        return p, 0.5 * (self.ul + self.ur) + 0.5 * (fr - fl)

    def sample(self, x, t):
        """Primitive ``(rho, v, p)`` at positions ``x`` (array) and time ``t > 0``."""
        g = self.g
        s = (np.asarray(x, dtype=np.float64) - self.x0) / t
        ps, us = self.p_star, self.u_star
        out = np.empty((3,) + s.shape)

        def side(sgn, rk, uk, pk, ck, mask):
            # sgn = +1 for the left side, -1 for the right side (mirror formulas of Toro sec. 4.5)
            ss = s[mask]
            if ps > pk:  # shock
                sk = uk - sgn * ck * math.sqrt((g + 1) / (2 * g) * ps / pk + (g - 1) / (2 * g))
                rs = rk * (ps / pk + (g - 1) / (g + 1)) / ((g - 1) / (g + 1) * ps / pk + 1)
                behind = (ss - sk) * sgn > 0
                rho = np.where(behind, rs, rk)
                u = np.where(behind, us, uk)
                p = np.where(behind, ps, pk)
            else:  # rarefaction
                sh = uk - sgn * ck
                cs = ck * (ps / pk) ** ((g - 1) / (2 * g))
                st = us - sgn * cs
                rs = rk * (ps / pk) ** (1 / g)
                fan_u = 2 / (g + 1) * (sgn * ck + (g - 1) / 2 * uk + ss)
                fan_c = 2 / (g + 1) * (ck + sgn * (g - 1) / 2 * (uk - ss))
                fan_rho = rk * np.abs(fan_c / ck) ** (2 / (g - 1))
                fan_p = pk * np.abs(fan_c / ck) ** (2 * g / (g - 1))
                outside = (ss - sh) * sgn <= 0
                inside = (ss - st) * sgn <= 0
                rho = np.where(outside, rk, np.where(inside, fan_rho, rs))
                u = np.where(outside, uk, np.where(inside, fan_u, us))
                p = np.where(outside, pk, np.where(inside, fan_p, ps))
            out[0][mask], out[1][mask], out[2][mask] = rho, u, p

        left = s <= us
        side(1.0, self.rl, self.ul, self.pl, self.cl, left)
        side(-1.0, self.rr, self.ur, self.pr, self.cr, ~left)
        return out

    def cell_average(self, faces, t, n_sub=64):
        """Cell averages of ``(rho, v, p)`` over cells with the given face positions (midpoint sub-samples)."""
        return cell_average(self.sample, faces, t, n_sub)


def cell_average(sample, faces, t, n_sub=64):
    """Cell averages of a solution ``sample(x, t)`` (rows on axis 0) over cells with the given face positions:
    the mean of ``n_sub`` midpoint sub-samples per cell."""
    faces = np.asarray(faces, dtype=np.float64)
    frac = (np.arange(n_sub) + 0.5) / n_sub
    x = faces[:-1, None] + (faces[1:] - faces[:-1])[:, None] * frac[None, :]
    return sample(x, t).mean(axis=-1)


class Sedov:
    """Sedov-Taylor blast wave of energy ``E`` in a cold gas of density ``rho0``; ``j`` = 1, 2, 3."""

    def __init__(self, gamma=1.4, j=3, energy=1.0, rho0=1.0):
        from scipy.integrate import solve_ivp

        if j not in (1, 2, 3):
            raise ValueError(f"j must be 1 (planar), 2 (cylindrical) or 3 (spherical); got {j!r}")
        self.g, self.j, self.energy, self.rho0 = float(gamma), int(j), float(energy), float(rho0)
        g = self.g
        delta = 2.0 / (j + 2.0)
        self.delta = delta
        k = (delta - 1.0) / delta

        def rhs(xi, y):
            gg, uu, pp = y
            d = uu - xi
            # unknowns G', U', P'; rows: continuity, momentum, entropy
            a = np.array([[d, gg, 0.0], [0.0, d, 1.0 / gg], [-g * d / gg, 0.0, d / pp]])
            b = np.array([-gg * (j - 1) * uu / xi, -k * uu, -2.0 * k])
            return np.linalg.solve(a, b)

        y1 = [(g + 1) / (g - 1), 2 / (g + 1), 2 / (g + 1)]
        sol = solve_ivp(rhs, (1.0, 1e-6), y1, method="LSODA", rtol=1e-11, atol=1e-14, dense_output=True)
        self._sol = sol
        xi = np.concatenate([np.geomspace(1e-6, 1e-2, 400), np.linspace(1e-2, 1.0, 20001)[1:]])
        gg, uu, pp = sol.sol(xi)
        sigma = {1: 1.0, 2: 2 * math.pi, 3: 4 * math.pi}[j]
        integrand = (0.5 * gg * uu ** 2 + pp / (g - 1)) * xi ** (j - 1)
        integral = np.trapezoid(integrand, xi) if hasattr(np, "trapezoid") else np.trapz(integrand, xi)
        self.xi0 = (delta ** 2 * sigma * integral) ** (-1.0 / (j + 2))

    def shock_radius(self, t):
        return self.xi0 * (self.energy * np.asarray(t) ** 2 / self.rho0) ** (1.0 / (self.j + 2))

    def profile(self, r, t):
        """``(rho, v, p)`` at radii ``r`` and time ``t`` (ambient: rho0, 0, 0 outside the shock)."""
        r = np.asarray(r, dtype=np.float64)
        big_r = self.shock_radius(t)
        rdot = self.delta * big_r / t
        xi = np.clip(r / big_r, 1e-6, 1.0)
        gg, uu, pp = self._sol.sol(xi)
        inside = r <= big_r
        rho = np.where(inside, self.rho0 * gg, self.rho0)
        v = np.where(inside, rdot * uu, 0.0)
        p = np.where(inside, self.rho0 * rdot ** 2 * pp, 0.0)
        return np.stack([rho, v, p])
