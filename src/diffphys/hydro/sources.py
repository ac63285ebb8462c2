"""Source terms: a stellar wind injected into the innermost cells.

The wind deposits, per unit time, mass ``Mdot`` and total energy ``1/2 Mdot v_inf^2`` spread uniformly
(per unit volume) over the first ``n_inject`` cells, the model of Chevalier & Clegg (1985). The injected
mass carries the momentum of the gas it joins (momentum source ``rho_dot * v``), so injection neither
brakes nor pushes the flow and the centre stays at rest by symmetry; the injection region then drives a
wind whose terminal speed is exactly ``sqrt(2 Edot / Mdot) = v_inf`` (Bernoulli). Injecting radial momentum
``Mdot v_inf`` directly instead empties the central cell (velocity at r=0 must vanish) and fails.

Because the weights are ``V_i / sum(V_inj)`` and the energy is added as *total* energy (not as a velocity
or pressure that the scheme then converts), the injected mass after a time ``t`` is ``Mdot t`` and the
injected energy ``1/2 Mdot v_inf^2 t`` to round-off, whatever the state of the injection cells.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ..core.checks import check_finite, check_int, check_positive

__all__ = ["StellarWind", "WindParams", "SelfGravity", "G_CODE"]

#: the gravitational constant in code units (pc, Msun, Myr): 4.4985e-3 pc^3 Msun^-1 Myr^-2
G_CODE = 6.67430e-8 * 1.988409870698051e33 * (3.15576e13 ** 2) / 3.0856775814913673e18 ** 3


class WindParams(eqx.Module):
    """Differentiable wind parameters (code units): terminal velocity ``v_inf`` and mass-loss rate ``mdot``."""

    v_inf: jnp.ndarray
    mdot: jnp.ndarray

    def __init__(self, v_inf, mdot):
        check_positive("v_inf", v_inf)
        check_positive("mdot", mdot)
        self.v_inf = jnp.asarray(v_inf)
        self.mdot = jnp.asarray(mdot)

    @property
    def luminosity(self):
        """Mechanical luminosity ``L = 1/2 Mdot v_inf^2``."""
        return 0.5 * self.mdot * self.v_inf ** 2


class StellarWind(eqx.Module):
    """Static configuration of the wind source: how many inner cells receive it."""

    n_inject: int = eqx.field(static=True)

    def __init__(self, n_inject: int = 10):
        self.n_inject = check_int("n_inject", n_inject, lo=1)

    def rates(self, params, v_local):
        """Injection rates per unit time ``(mass, momentum, energy)``, shape ``(3, n)``, for unit weight;
        ``v_local`` is the fluid velocity of each cell."""
        check_finite("wind params", params)
        v, mdot = params.v_inf, params.mdot
        return jnp.stack([jnp.broadcast_to(mdot, v_local.shape), mdot * v_local,
                          jnp.broadcast_to(0.5 * mdot * v * v, v_local.shape)])

    def rate_rows(self, params, v_local):
        """:meth:`rates` as a tuple of three rows (mass, momentum, energy)."""
        v, mdot = params.v_inf, params.mdot
        return (jnp.broadcast_to(mdot, v_local.shape), mdot * v_local,
                jnp.broadcast_to(0.5 * mdot * v * v, v_local.shape))

    def max_speed(self, params):
        return params.v_inf


class SelfGravity(eqx.Module):
    """Self-gravity of the gas in spherical geometry (plus an optional central point mass).

    The field at radius ``r`` is ``g = -G M(<r) / r^2`` with ``M(<r)`` the enclosed gas mass (the
    exact solution of Poisson's equation in spherical symmetry; no solver needed) plus ``point_mass``.
    At a cell centre ``r_i``, ``M(<r_i)`` is the mass inside the cell's inner face plus the cell's density
    times the volume between that face and ``r_i``. Sources: momentum ``rho g``, energy ``rho v g``
    (total energy including the potential is then conserved to the scheme's truncation error, not to
    round-off). Evaluated at every stage of the SSP-RK integrators; MUSCL-Hancock adds ``g`` to its
    half-step predictor and evaluates the sources with the predicted density and velocity.

    Args:
        G: gravitational constant in code units (default :data:`G_CODE` for pc, Msun, Myr).
        point_mass: a central mass (code units), e.g. a star.
    """

    G: float = eqx.field(static=True)
    point_mass: float = eqx.field(static=True)

    def __init__(self, G: float = G_CODE, point_mass: float = 0.0):
        check_positive("G", G)
        check_positive("point_mass", point_mass, allow_zero=True)
        self.G, self.point_mass = float(G), float(point_mass)

    def field(self, rho, volumes, inner_half_volumes, centers):
        """``g`` at the cell centres from the cell densities."""
        m = rho * volumes
        inside = jnp.cumsum(m) - m  # mass inside each cell's inner face
        return -self.G * (inside + rho * inner_half_volumes + self.point_mass) / (centers * centers)
