"""Thermal conduction for the 1D radial Euler solver: a linearly implicit, conservative diffusion substep.

The gas's internal energy ``e = rho theta / (gamma - 1)`` (``theta = p / rho``, the squared isothermal sound
speed, is the code's temperature: ``T = k_t theta`` in K) diffuses with the heat flux

    q = -kappa(theta) d theta / dr,    kappa(theta) = kappa_0 theta^n,

``n = 0`` for a constant conductivity, ``n = 5/2`` for Spitzer's (1962) electron conduction
(:meth:`Conduction.spitzer`, ``kappa_Sp = 1.84e-5 T^(5/2) / ln Lambda`` erg s^-1 cm^-1 K^-1). Optionally the flux
saturates (Cowie & McKee 1977, ApJ 211, 135): ``q_sat = 5 phi_s rho theta^(3/2)`` and the classical flux is
limited harmonically, ``q = q_class / (1 + |q_class| / q_sat)``.

The substep (operator split after each hydro step, at constant density and velocity) is backward Euler in
``theta`` with the conductivities frozen at the start of the substep (``iterations > 1``: re-evaluated at the new
temperature, Picard iterations towards the fully implicit step). Each face ``f`` between cells ``i`` and
``i + 1`` has the conductance ``G_f = dt A_f kappa_f / dr`` (``A_f`` the face area of the geometry, ``kappa_f``
the mean of its cells' conductivities), so that

    V_i C_i (theta_i' - theta_i) = sum_f G_f (theta_nb' - theta_i'),    C_i = rho_i / (gamma - 1):

a tridiagonal M-matrix (cyclic for periodic grids, solved by Sherman-Morrison), so the new temperatures are
positive and obey the discrete maximum principle for any ``dt`` (unconditionally stable: the hydro CFL step is
not limited by conduction, even for the stiff ``T^(5/2)`` law). The rows are divided by the heat capacities and
the new temperatures are then shifted uniformly so that the heat the cells gained equals the heat that crossed the
ends: total energy is conserved to round-off whatever the solve's residual, and the mean temperature, the one
mode lost when ``G / (V C)`` exceeds ``1 / eps``, is restored (a step of any length, up to complete
equilibration, stays accurate). The energy added to a cell is its heat capacity times its temperature change (the
difference of the face fluxes ``G (theta_i' - theta_j')`` would conserve energy too, but turns round-off in
``theta'`` into large errors where ``G >> V C``). Walls and outflow ends carry no heat flux; a ``Fixed`` end holds
its ghost at the fixed temperature. First order in time (like the operator split itself); second order in space.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.lax.linalg import tridiagonal_solve

from ..core.checks import check_int, check_positive, is_concrete
from .units import K_B_CGS, M_P_G, CodeUnits

__all__ = ["Conduction", "SPITZER_CGS"]

#: Spitzer's conductivity coefficient for a fully ionised hydrogen plasma, ``kappa = SPITZER_CGS T^(5/2) /
#: ln Lambda`` erg s^-1 cm^-1 K^-1 (Spitzer 1962; Cowie & McKee 1977, eq. 1)
SPITZER_CGS = 1.84e-5


class Conduction(eqx.Module):
    """Isotropic thermal conduction, ``q = -kappa_0 theta^n d theta / dr`` in code units (``theta = p / rho``).

    Args:
        kappa: ``kappa_0 > 0`` in code units (energy per time, length and unit of ``theta``, divided by
            ``theta^n``); a differentiable leaf (a JAX array or tracer is kept as it is, so a loss can be
            differentiated with respect to the conductivity, e.g. Spitzer's ``suppression``).
        exponent: ``n >= 0`` (0: constant conductivity; 2.5: Spitzer).
        saturation: ``None`` (default: no limit) or ``phi_s > 0``: the flux is limited to
            ``q_sat = 5 phi_s rho theta^(3/2)`` (Cowie & McKee 1977 use ``phi_s`` ~ 0.3-1).
        iterations: Picard iterations of the implicit substep (>= 1; 1: linearly implicit).
    """

    kappa: jnp.ndarray  # a differentiable leaf: jax.grad / jax.jacfwd with respect to the conductivity
    exponent: float = eqx.field(static=True)
    saturation: float | None = eqx.field(static=True)
    iterations: int = eqx.field(static=True)

    def __init__(self, kappa, exponent=0.0, saturation=None, iterations=1):
        check_positive("kappa", kappa)
        if np.ndim(kappa) != 0:
            raise ValueError(f"kappa must be a scalar; got shape {np.shape(kappa)}")
        check_positive("exponent", exponent, allow_zero=True)
        if saturation is not None:
            check_positive("saturation", saturation)
        self.kappa = kappa if isinstance(kappa, jax.Array) else np.float64(kappa)
        self.exponent = float(exponent)
        self.saturation = None if saturation is None else float(saturation)
        self.iterations = check_int("iterations", iterations, lo=1)

    @classmethod
    def spitzer(cls, units: CodeUnits | None = None, mu: float = 0.6, ln_lambda: float = 30.0,
                suppression: float = 1.0, saturation=None, iterations=1):
        """Spitzer conduction ``kappa = suppression * 1.84e-5 T^(5/2) / ln_lambda`` (cgs) in the run's code units
        (``T = mu m_p p / (k rho)``; ``ln_lambda`` = 30 gives Weaver et al.'s 1977 ``6.1e-7 T^(5/2)``).
        ``suppression`` scales it (magnetic suppression, typically 0.1-1; differentiable)."""
        check_positive("mu", mu)
        check_positive("ln_lambda", ln_lambda)
        check_positive("suppression", suppression)
        u = units or CodeUnits()
        k_t = mu * M_P_G * u.velocity_cms ** 2 / K_B_CGS  # T [K] per code theta
        c = suppression * SPITZER_CGS / ln_lambda
        kappa = c * k_t ** 3.5 / (u.length_cm * u.pressure_cgs * u.velocity_cms)
        return cls(kappa, 2.5, saturation=saturation, iterations=iterations)

    # -- the substep -----------------------------------------------------------------------------
    def conductivity(self, theta):
        """``kappa(theta) = kappa_0 theta^n`` (before saturation), in ``theta``'s dtype."""
        n = self.exponent
        kappa = jnp.asarray(self.kappa, theta.dtype)
        if n == 0:
            return kappa * jnp.ones_like(theta)
        if (2 * n).is_integer() and n <= 8:  # theta^k sqrt(theta): no exp/log (Spitzer's 5/2)
            k = int(n)
            power = theta ** k if k else jnp.ones_like(theta)
            return kappa * (power * jnp.sqrt(theta) if 2 * n % 2 else power)
        return kappa * theta ** n

    def substep(self, rho, theta, dt, geometry, left=None, right=None, periodic=False):
        """New temperatures and the energy added per unit volume over ``dt``.

        Args:
            rho, theta: cell densities and temperatures ``(n,)`` (held fixed during the substep, but for
                ``theta``).
            dt: the substep.
            geometry: ``(areas (n + 1,), volumes (n,), dr, gamma)`` of the grid.
            left, right: ``None`` (no flux through that end) or a fixed ghost ``(rho, theta)``.
            periodic: both ends joined.
        Returns:
            ``(theta_new, de)`` with ``de`` the internal energy added per unit volume (sums to zero over the
            volumes for closed ends, to round-off).
        """
        areas, volumes, dr, gamma = geometry
        dtype = theta.dtype
        areas = jnp.asarray(areas, dtype)
        volumes = jnp.asarray(volumes, dtype)
        cap = volumes * rho / (gamma - 1.0)  # heat capacity of each cell: V C
        scale = dt / dr

        def conductances(th):
            """``(G_interior (n - 1,), G_left, G_right, G_wrap)``."""
            th = jnp.maximum(th, 0.0)  # (a Picard iterate rounded below 0 conducts nothing there)
            k = self.conductivity(th)
            kf = 0.5 * (k[1:] + k[:-1])
            if self.saturation is not None:
                kf = _limit(self, kf, 0.5 * (rho[1:] + rho[:-1]), 0.5 * (th[1:] + th[:-1]), (th[1:] - th[:-1]) / dr)
            g_in = scale * areas[1:-1] * kf
            zero = jnp.zeros((), dtype)

            def end(ghost, k_edge, th_edge, rho_edge, area):
                if ghost is None:
                    return zero
                rho_g, th_g = ghost
                kb = 0.5 * (k_edge + self.conductivity(jnp.asarray(th_g, dtype)))
                if self.saturation is not None:
                    kb = _limit(self, kb, 0.5 * (rho_edge + rho_g), 0.5 * (th_edge + th_g), (th_g - th_edge) / dr)
                return scale * area * kb

            g_l = end(left, k[0], th[0], rho[0], areas[0])
            g_r = end(right, k[-1], th[-1], rho[-1], areas[-1])
            g_w = zero
            if periodic:
                kw = 0.5 * (k[0] + k[-1])
                if self.saturation is not None:
                    kw = _limit(self, kw, 0.5 * (rho[0] + rho[-1]), 0.5 * (th[0] + th[-1]), (th[0] - th[-1]) / dr)
                g_w = scale * areas[0] * kw
            return g_in, g_l, g_r, g_w

        th_l = None if left is None else jnp.asarray(left[1], dtype)
        th_r = None if right is None else jnp.asarray(right[1], dtype)

        def solve(g):
            """New temperatures. Each row is divided by its cell's heat capacity (``I + L / (V C)``; exactly
            ``theta' = theta`` for ``dt = 0``, so a masked step is the identity) and the right-hand side holds
            ``theta`` itself, not the conducted heat, which keeps the mean temperature well conditioned when
            ``G >> V C``."""
            g_in, g_l, g_r, g_w = g
            zero1 = jnp.zeros((1,), dtype)
            lower = jnp.concatenate([zero1, -g_in]) / cap
            upper = jnp.concatenate([-g_in, zero1]) / cap
            diag = (jnp.concatenate([zero1, g_in]) + jnp.concatenate([g_in, zero1])).at[0].add(g_l + g_w)
            diag = 1.0 + diag.at[-1].add(g_r + g_w) / cap
            rhs = theta
            if th_l is not None:
                rhs = rhs.at[0].add(g_l * th_l / cap[0])
            if th_r is not None:
                rhs = rhs.at[-1].add(g_r * th_r / cap[-1])
            if not periodic:
                return tridiagonal_solve(lower, diag, upper, rhs[:, None])[:, 0]
            # Sherman-Morrison: A = T + u v^T for the corners a = A[0, n-1], b = A[n-1, 0]:
            # u = (s, 0, .., 0, b), v = (1, 0, .., 0, a / s), T's corner diagonals less s and a b / s
            a, b = -g_w / cap[0], -g_w / cap[-1]
            s = -diag[0]
            diag_t = diag.at[0].add(-s).at[-1].add(-a * b / s)
            u = jnp.zeros_like(theta).at[0].set(s).at[-1].set(b)
            yz = tridiagonal_solve(lower, diag_t, upper, jnp.stack([rhs, u], axis=1))
            y, z = yz[:, 0], yz[:, 1]
            vy = y[0] + a / s * y[-1]
            vz = z[0] + a / s * z[-1]
            return y - vy / (1.0 + vz) * z

        def through(g, th):  # net heat in through the ends
            g_in, g_l, g_r, g_w = g
            total = jnp.zeros((), dtype)
            if th_l is not None:
                total = total + g_l * (th_l - th[0])
            if th_r is not None:
                total = total + g_r * (th_r - th[-1])
            return total

        def corrected(g, th):
            """The temperatures shifted uniformly by the total's defect (heat gained by the cells minus the heat
            that crossed the ends). This keeps the energy to round-off whatever the
            solve's residual, and restores the mean temperature when ``G / (V C)`` exceeds ``1 / eps`` (where
            the 1 on the scaled diagonal is rounded away and only the mean is lost)."""
            # a shift s changes the heat through the ends by -(G_l + G_r) s: solved for the s that balances
            ends = (g[1] if th_l is not None else 0.0) + (g[2] if th_r is not None else 0.0)
            return th - (jnp.sum(cap * (th - theta)) - through(g, th)) / (jnp.sum(cap) + ends)

        g = conductances(theta)
        th_new = corrected(g, solve(g))
        for _ in range(self.iterations - 1):
            g = conductances(th_new)
            th_new = corrected(g, solve(g))
        # the energy each cell gained: its heat capacity times its temperature change (not the difference of the
        # face fluxes G (theta_i' - theta_j'), which would turn round-off in theta' into large errors where
        # G >> V C)
        gain = cap * (th_new - theta)
        return th_new, gain / volumes

    def __repr__(self):
        sat = "" if self.saturation is None else f", saturation={self.saturation:g}"
        kappa = f"{float(self.kappa):.6g}" if is_concrete(self.kappa) else "<traced>"
        return f"Conduction(kappa={kappa}, exponent={self.exponent:g}{sat}, iterations={self.iterations})"


def _limit(cond, k, rho, theta, grad):
    """Harmonic saturation of a face conductivity ``k`` (Cowie & McKee 1977)."""
    q_sat = 5.0 * cond.saturation * rho * theta * jnp.sqrt(theta)
    return k / (1.0 + k * jnp.abs(grad) / q_sat)
