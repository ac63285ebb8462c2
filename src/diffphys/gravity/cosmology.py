"""Flat LambdaCDM (optionally w0/wa) background: the parameters a user may differentiate.

Units: lengths in Mpc/h, time in 1/H0, so that H0 = 1 and velocities are in units of 100 km/s.
The Hubble rate is ``E(a) = H(a)/H0 = sqrt(Omega_m a^-3 + Omega_de f_de(a))`` with
``f_de(a) = a^{-3(1+w0+wa)} exp(-3 wa (1-a))`` (radiation is neglected).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ..core.checks import check_range

__all__ = ["Cosmology", "E2", "E", "dlnE_dlna", "Omega_m_a"]


class Cosmology(eqx.Module):
    """Cosmological parameters (a pytree; every field differentiable).

    Args:
        Omega_m: total matter density today (CDM + baryons), in (0, 1].
        Omega_b: baryon density today, in [0, Omega_m).
        h: dimensionless Hubble constant, in (0.2, 2].
        n_s: primordial spectral index.
        sigma8: rms linear density in 8 Mpc/h spheres at a = 1 (normalisation). Give ``A_s`` instead
            (with ``sigma8=None``) to normalise by the primordial amplitude.
        A_s: primordial curvature amplitude at k = 0.05/Mpc (used only when ``sigma8`` is None).
        w0, wa: dark-energy equation of state ``w(a) = w0 + wa (1 - a)``.
        T_cmb: CMB temperature in K (enters the transfer function).
        growth: tabulated growth factors (see :meth:`tabulate`); None means "compute when needed".

    Differentiate through :meth:`tabulate` (call it inside the function you differentiate) so that
    gradients reach the cosmological parameters through the growth factors too.
    """

    Omega_m: Any = 0.3
    Omega_b: Any = 0.05
    h: Any = 0.7
    n_s: Any = 0.96
    sigma8: Any = 0.8
    A_s: Any = None
    w0: Any = -1.0
    wa: Any = 0.0
    T_cmb: Any = 2.7255
    growth: Any = None

    def __check_init__(self):
        check_range("Omega_m", self.Omega_m, 0.0, 1.0, lo_open=True)
        check_range("Omega_b", self.Omega_b, 0.0, 1.0, hi_open=True)
        check_range("h", self.h, 0.2, 2.0, lo_open=True)
        check_range("n_s", self.n_s, 0.5, 1.5)
        check_range("w0", self.w0, -3.0, 0.0)
        check_range("wa", self.wa, -3.0, 3.0)
        if self.sigma8 is None and self.A_s is None:
            raise ValueError("Cosmology needs sigma8 or A_s for the normalisation; both are None")
        if self.sigma8 is not None:
            check_range("sigma8", self.sigma8, 0.0, 3.0, lo_open=True)
        else:
            check_range("A_s", self.A_s, 0.0, 1e-6, lo_open=True)
        try:
            import numpy as np

            if float(np.asarray(self.Omega_b)) >= float(np.asarray(self.Omega_m)):
                raise ValueError(f"Omega_b must be < Omega_m; got Omega_b={self.Omega_b}, Omega_m={self.Omega_m}")
        except TypeError:  # traced
            pass

    @property
    def Omega_de(self):
        return 1.0 - self.Omega_m

    def tabulate(self) -> "Cosmology":
        """A copy with the growth table computed (differentiably) from the other fields."""
        from .growth import growth_table

        return eqx.tree_at(lambda c: c.growth, self, growth_table(self), is_leaf=lambda x: x is None)

    def tables(self):
        """The growth table, computed now when not stored."""
        from .growth import growth_table

        return self.growth if self.growth is not None else growth_table(self)


def _f_de(cosmo, a):
    w0, wa = cosmo.w0, cosmo.wa
    return a ** (-3.0 * (1.0 + w0 + wa)) * jnp.exp(-3.0 * wa * (1.0 - a))


def E2(cosmo, a):
    """(H(a)/H0)^2."""
    return cosmo.Omega_m * a**-3 + cosmo.Omega_de * _f_de(cosmo, a)


def E(cosmo, a):
    """H(a)/H0."""
    return jnp.sqrt(E2(cosmo, a))


def dlnE_dlna(cosmo, a):
    """d ln E / d ln a."""
    dm = -3.0 * cosmo.Omega_m * a**-3
    dde = cosmo.Omega_de * _f_de(cosmo, a) * (-3.0 * (1.0 + cosmo.w0 + cosmo.wa) + 3.0 * cosmo.wa * a)
    return 0.5 * (dm + dde) / E2(cosmo, a)


def Omega_m_a(cosmo, a):
    """Matter density parameter at scale factor a."""
    return cosmo.Omega_m * a**-3 / E2(cosmo, a)
