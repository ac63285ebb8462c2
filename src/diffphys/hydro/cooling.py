"""Optically thin radiative cooling with exact integration over a step (Townsend 2009, ApJS 181, 391).

The gas loses internal energy at the rate ``n_H^2 Lambda(T)`` per unit volume (erg cm^-3 s^-1 for
``Lambda`` in erg cm^3 s^-1), with ``n_H = X rho / m_p`` and ``T = mu m_p p / (k rho)``. ``Lambda`` is a
piecewise power law through tabulated points ``(T_k, Lambda_k)``: ``Lambda = Lambda_k (T / T_k)^alpha_k``
on ``[T_k, T_k+1]``; the last segment continues above the table; below ``T_0`` there is no cooling.

At constant density (the cooling substep of an operator split) ``dT/dt = -A Lambda(T)`` with
``A = (gamma - 1) X^2 rho / (k m_p) * mu`` (in consistent units). With
``Y(T) = int_{T_0}^{T} dT' / Lambda(T')``, known in closed form on each segment, the substep is exact:
``Y(T_new) = Y(T_old) - A dt`` (``T_new = T_0`` when the right-hand side is negative). Unlike an explicit
update it needs no time-step limit and cannot overshoot below ``T_0``, whatever ``dt``; it is
differentiable (the segment index is piecewise constant).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..core.checks import check_positive, check_range
from .units import K_B_CGS, M_P_G, CodeUnits

__all__ = ["Cooling"]


class Cooling(eqx.Module):
    """A piecewise power-law cooling function ``Lambda(T)`` and its exact cooling substep.

    Args:
        temperatures_k: increasing temperatures ``T_k`` in K (at least 2).
        lambdas_cgs: ``Lambda(T_k) > 0`` in erg cm^3 s^-1.
        units: the run's :class:`~diffphys.hydro.units.CodeUnits`.
        mu: mean particle mass in units of ``m_p`` (relates ``T`` to ``p / rho``; 0.6 ionised solar gas).
        x_h: hydrogen mass fraction (``n_H = x_h rho / m_p``).
    """

    t_k: np.ndarray
    lam_k: np.ndarray
    alpha: np.ndarray
    y_k: np.ndarray
    k_t: float = eqx.field(static=True)  # T [K] = k_t * p / rho (code units)
    c_rate: float = eqx.field(static=True)  # code energy loss per volume and time = c_rate * rho^2 * Lambda[cgs]

    def __init__(self, temperatures_k, lambdas_cgs, units: CodeUnits | None = None, mu: float = 0.6,
                 x_h: float = 0.7):
        t = np.asarray(temperatures_k, dtype=np.float64)
        lam = np.asarray(lambdas_cgs, dtype=np.float64)
        if t.ndim != 1 or t.shape != lam.shape or t.size < 2:
            raise ValueError("Cooling needs 1D temperatures_k and lambdas_cgs of the same length >= 2; got shapes "
                             f"{t.shape} and {lam.shape}")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(lam))):
            raise ValueError("Cooling temperatures_k and lambdas_cgs must be finite")
        if np.any(t <= 0) or np.any(np.diff(t) <= 0):
            raise ValueError("Cooling temperatures_k must be positive and strictly increasing")
        if np.any(lam <= 0):
            raise ValueError(f"Cooling lambdas_cgs must be > 0 everywhere; got minimum {lam.min():g}")
        check_positive("mu", mu)
        check_range("x_h", x_h, 0.0, 1.0, lo_open=True)
        u = units or CodeUnits()
        self.t_k, self.lam_k = t, lam
        a = np.log(lam[1:] / lam[:-1]) / np.log(t[1:] / t[:-1])
        self.alpha = np.concatenate([a, a[-1:]])  # per segment; the last one continues above the table
        self.y_k = np.concatenate([[0.0], np.cumsum(_segment_y(t[:-1], lam[:-1], a, t[1:]))])
        self.k_t = float(mu * M_P_G * u.velocity_cms ** 2 / K_B_CGS)
        self.c_rate = float((x_h * u.density_gcc / M_P_G) ** 2 / (u.pressure_cgs / u.time_s))

    @classmethod
    def bremsstrahlung(cls, gaunt: float = 1.2, t_min_k: float = 1e4, **kwargs):
        """Free-free emission of a fully ionised hydrogen plasma, ``Lambda = 1.4e-27 g_B sqrt(T)`` erg cm^3
        s^-1 (Rybicki & Lightman 1979, eq. 5.15b, ``n_e = n_i = n_H``), no cooling below ``t_min_k``."""
        check_positive("gaunt", gaunt)
        check_positive("t_min_k", t_min_k)
        t = np.array([t_min_k, 1e3 * t_min_k])
        return cls(t, 1.4e-27 * gaunt * np.sqrt(t), **kwargs)

    def lambda_cgs(self, temperature_k):
        """``Lambda(T)`` in erg cm^3 s^-1 (0 below the table)."""
        t = jnp.asarray(temperature_k)
        k = self._segment(t)
        lam = jnp.asarray(self.lam_k, t.dtype)[k] * (t / jnp.asarray(self.t_k, t.dtype)[k]) ** jnp.asarray(
            self.alpha, t.dtype)[k]
        return jnp.where(t >= self.t_k[0], lam, 0.0)

    def _segment(self, t):
        return jnp.clip(jnp.searchsorted(jnp.asarray(self.t_k, t.dtype), t, side="right") - 1, 0, self.t_k.size - 1)

    def _y(self, t):
        """``Y(T) = int_{T_0}^T dT' / Lambda(T')`` (T >= T_0)."""
        k = self._segment(t)
        tk, lk, ak = (jnp.asarray(a, t.dtype)[k] for a in (self.t_k, self.lam_k, self.alpha))
        return jnp.asarray(self.y_k, t.dtype)[k] + _segment_y(tk, lk, ak, t, xp=jnp)

    def _y_inverse(self, y):
        k = jnp.clip(jnp.searchsorted(jnp.asarray(self.y_k, y.dtype), y, side="right") - 1, 0, self.t_k.size - 1)
        tk, lk, ak, yk = (jnp.asarray(a, y.dtype)[k] for a in (self.t_k, self.lam_k, self.alpha, self.y_k))
        x = lk * (y - yk) / tk  # >= 0
        one = jnp.abs(1.0 - ak) < 1e-12
        safe = jnp.where(one, 2.0, 1.0 - ak)
        return jnp.where(one, tk * jnp.exp(x), tk * jnp.maximum(1.0 + safe * x, 0.0) ** (1.0 / safe))

    def temperature(self, rho, p):
        """Temperature in K from code density and pressure."""
        return self.k_t * p / rho

    def cool(self, rho, p, dt, gamma):
        """Pressure after a cooling substep of ``dt`` at constant density (exact for ``Lambda``)."""
        t_old = self.temperature(rho, p)
        active = t_old > self.t_k[0]
        t_safe = jnp.where(active, t_old, 2.0 * self.t_k[0])  # keeps the unused branch finite (and its gradient)
        a = (gamma - 1.0) * self.k_t * self.c_rate * rho  # dT/dt = -a Lambda(T)
        y = self._y(t_safe) - a * dt
        t_new = jnp.where(y > 0, self._y_inverse(jnp.maximum(y, 0.0)), self.t_k[0])
        return jnp.where(active & (dt > 0), t_new * rho / self.k_t, p)


def _segment_y(tk, lk, ak, t, xp=np):
    """``int_{tk}^{t} dT / (lk (T / tk)^ak)`` on one power-law segment."""
    one = xp.abs(1.0 - ak) < 1e-12
    safe = xp.where(one, 2.0, 1.0 - ak)
    return xp.where(one, tk / lk * xp.log(t / tk), tk / (lk * safe) * ((t / tk) ** safe - 1.0))
