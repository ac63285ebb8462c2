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

__all__ = ["StellarWind", "WindParams"]


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
