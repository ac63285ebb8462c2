"""The evolving state: conserved variables ``(rho, rho v, E)`` per cell, and conversions."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..core.checks import check_finite, check_range, is_concrete

__all__ = ["HydroState", "primitive_to_conserved", "conserved_to_primitive", "check_gamma"]


def check_gamma(gamma) -> float:
    check_range("gamma", gamma, 1.0, lo_open=True)
    return float(gamma)


def primitive_to_conserved(w, gamma):
    """``w = (rho, v, p)`` stacked on axis 0 -> ``(rho, rho v, E)``."""
    rho, v, p = w[0], w[1], w[2]
    return jnp.stack([rho, rho * v, p / (gamma - 1.0) + 0.5 * rho * v * v])


def conserved_to_primitive(u, gamma):
    """``u = (rho, m, E)`` stacked on axis 0 -> ``(rho, v, p)``."""
    rho, m, e = u[0], u[1], u[2]
    v = m / rho
    return jnp.stack([rho, v, (gamma - 1.0) * (e - 0.5 * m * v)])


class HydroState(eqx.Module):
    """Conserved variables ``u`` of shape ``(3, n_cells)``: density, momentum density, total energy density."""

    u: jnp.ndarray

    @classmethod
    def from_primitive(cls, rho, v, p, gamma, dtype=None):
        """Build a state from density, velocity and pressure arrays (validated when concrete)."""
        gamma = check_gamma(gamma)
        for name, val in (("rho", rho), ("v", v), ("p", p)):
            check_finite(name, val)
        if is_concrete(rho) and is_concrete(p):
            for name, val in (("rho", rho), ("p", p)):
                arr = np.asarray(val)
                if np.any(arr <= 0):
                    raise ValueError(f"{name} of the initial state must be > 0 everywhere; got minimum {arr.min():g}")
        rho, v, p = jnp.broadcast_arrays(*(jnp.asarray(x, dtype=dtype) for x in (rho, v, p)))
        if rho.ndim != 1:
            raise ValueError(f"rho, v, p must be 1D arrays over cells; got shape {rho.shape}")
        if rho.shape[0] < 4:
            raise ValueError(f"n_cells must be an integer in [4, inf]; got {rho.shape[0]}")
        return cls(primitive_to_conserved(jnp.stack([rho, v, p]), gamma))

    def primitive(self, gamma):
        """``(rho, v, p)`` stacked on axis 0."""
        return conserved_to_primitive(self.u, gamma)

    @property
    def rho(self):
        return self.u[0]
