"""Code units for astrophysical runs: length pc, time Myr, mass Msun (velocity pc/Myr ~ 0.978 km/s).

Helpers convert from the units a user thinks in (pc, Myr, yr, Msun, km/s, particles per cm^3, K) to code
units. Any argument may also be an ``astropy`` Quantity (when astropy is installed); it is converted
through its own unit.

>>> u = CodeUnits()
>>> v = u.velocity(2000.0)            # km/s -> code
>>> rho = u.density(2.0)              # particles/cm^3 (mean mass mu m_p) -> code
>>> p = u.pressure(2.0, 7500.0)       # n [cm^-3], T [K] -> code pressure n k T
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_finite, check_positive

__all__ = ["CodeUnits", "PC_CM", "MYR_S", "YR_S", "MSUN_G", "M_P_G", "K_B_CGS", "KM_CM"]

PC_CM = 3.0856775814913673e18
YR_S = 3.15576e7  # Julian year
MYR_S = 1e6 * YR_S
MSUN_G = 1.988409870698051e33
M_P_G = 1.67262192369e-24
K_B_CGS = 1.380649e-16
KM_CM = 1e5


def _value(x, astropy_unit: str):
    """Plain numbers pass through; astropy Quantities are converted to ``astropy_unit`` first."""
    if hasattr(x, "unit") and hasattr(x, "to_value"):
        from astropy import units as au

        return np.asarray(x.to_value(au.Unit(astropy_unit)))
    return x


class CodeUnits:
    """Conversions between cgs/astronomical units and code units (pc, Msun, Myr by default)."""

    def __init__(self, length_cm=PC_CM, mass_g=MSUN_G, time_s=MYR_S):
        self.length_cm, self.mass_g, self.time_s = float(length_cm), float(mass_g), float(time_s)
        self.velocity_cms = self.length_cm / self.time_s
        self.density_gcc = self.mass_g / self.length_cm ** 3
        self.pressure_cgs = self.mass_g / (self.length_cm * self.time_s ** 2)
        self.energy_erg = self.mass_g * self.velocity_cms ** 2

    # -- to code units ---------------------------------------------------------------------------
    def length(self, pc):
        return np.asarray(_value(pc, "pc")) * PC_CM / self.length_cm

    def time(self, myr):
        return np.asarray(_value(myr, "Myr")) * MYR_S / self.time_s

    def time_yr(self, yr):
        return np.asarray(_value(yr, "yr")) * YR_S / self.time_s

    def mass(self, msun):
        return np.asarray(_value(msun, "Msun")) * MSUN_G / self.mass_g

    def velocity(self, km_s):
        return np.asarray(_value(km_s, "km/s")) * KM_CM / self.velocity_cms

    def mass_loss_rate(self, msun_per_myr):
        return np.asarray(_value(msun_per_myr, "Msun/Myr")) * (MSUN_G / MYR_S) / (self.mass_g / self.time_s)

    def density(self, n_cm3, mu=1.0):
        """Mass density of ``n`` particles per cm^3 of mean mass ``mu m_p``."""
        n = np.asarray(_value(n_cm3, "cm^-3"))
        check_finite("n", n)
        check_positive("n", n)
        return n * mu * M_P_G / self.density_gcc

    def pressure(self, n_cm3, temperature_k):
        """Thermal pressure ``n k T`` for ``n`` per cm^3 and ``T`` in K."""
        n = np.asarray(_value(n_cm3, "cm^-3"))
        t = np.asarray(_value(temperature_k, "K"))
        check_positive("temperature", t)
        return n * t * K_B_CGS / self.pressure_cgs

    # -- from code units -------------------------------------------------------------------------
    def to_pc(self, r):
        return np.asarray(r) * self.length_cm / PC_CM

    def to_myr(self, t):
        return np.asarray(t) * self.time_s / MYR_S

    def to_km_s(self, v):
        return np.asarray(v) * self.velocity_cms / KM_CM

    def to_msun_per_myr(self, mdot):
        return np.asarray(mdot) * (self.mass_g / self.time_s) / (MSUN_G / MYR_S)

    def to_cm3(self, rho, mu=1.0):
        return np.asarray(rho) * self.density_gcc / (mu * M_P_G)
