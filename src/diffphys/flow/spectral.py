"""2D incompressible Navier-Stokes on a doubly periodic square, pseudo-spectral, in vorticity form.

The vorticity ``omega = dv/dx - du/dy`` obeys

    d omega / dt + u . grad omega = nu lap omega - nu_h (-lap)^p omega - alpha omega + curl F

with the velocity from the stream function, ``lap psi = -omega``, ``u = d psi / dy``, ``v = -d psi / dx``
(so ``div u = 0`` exactly), an optional hyperviscosity ``nu_h``, a linear (Rayleigh) drag ``alpha`` and a body
force ``F`` (Kolmogorov's
``F_x = A sin(k_f y)`` in :func:`kolmogorov`). The state is ``omega``'s real FFT on an ``n x n`` grid.

* Space: Fourier-Galerkin with Orszag's 2/3 rule (modes with ``|k_x|, |k_y| <= (n - 1) // 3`` are kept;
  the products ``u omega``, ``v omega`` are formed on the grid and the result truncated). The products of
  two retained fields alias only onto discarded modes, so the truncated system is the exact Galerkin
  projection: it conserves energy and enstrophy (tested to round-off on one evaluation).
* Time: the linear part ``L = -nu k^2 - nu_h k^(2p) - alpha`` is diagonal and integrated exactly by an integrating
  factor; the rest by the classical RK4 on the transformed variable ("IFRK4", Trefethen 2000, *Spectral
  Methods in MATLAB*, ch. 10; Kassam & Trefethen 2005, SIAM J. Sci. Comput. 26, 1214). Fourth order, no
  viscous step limit, a decaying mode (Taylor-Green) exact to round-off. Four evaluations of the
  nonlinear term per step, each three inverse and two forward real FFTs.

It is the setting of jax-cfd's spectral solver (Kochkov et al. 2021's forced turbulence; their
time stepping is a Crank-Nicolson / low-storage RK4 splitting) and plugs into :func:`diffphys.core.simulate`
like every other solver: fixed ``dt`` or CFL steps (``max_dt``), any gradient strategy, ``vmap`` over
:class:`SpectralParams`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.checks import check_finite, check_int, check_positive, check_range, is_concrete

__all__ = ["SpectralParams", "SpectralState", "SpectralSolver", "kolmogorov", "random_vorticity"]


class SpectralParams(eqx.Module):
    """Differentiable parameters: kinematic ``viscosity`` (>= 0), linear ``drag`` (>= 0), the amplitude
    ``forcing`` of the solver's force pattern and a ``hyperviscosity`` (>= 0, the coefficient of
    ``-(-lap)^p omega`` with the solver's ``hyper_order`` p; 0 by default)."""

    viscosity: jax.Array
    drag: jax.Array
    forcing: jax.Array
    hyperviscosity: jax.Array

    def __init__(self, viscosity, drag=0.0, forcing=0.0, hyperviscosity=0.0):
        for name, val in (("viscosity", viscosity), ("drag", drag), ("hyperviscosity", hyperviscosity)):
            if is_concrete(val):
                check_finite(name, val)
                check_positive(name, val, allow_zero=True)
        if is_concrete(forcing):
            check_finite("forcing", forcing)
        self.viscosity, self.drag, self.forcing, self.hyperviscosity = viscosity, drag, forcing, hyperviscosity


class SpectralState(eqx.Module):
    """``omega_hat``: the real 2D FFT of the vorticity, shape ``(n, n // 2 + 1)``, complex."""

    omega_hat: jax.Array


class SpectralSolver(eqx.Module):
    """Pseudo-spectral vorticity solver on ``[0, length)^2`` with ``n x n`` points.

    Args:
        n: grid points per side (even, >= 8).
        length: side of the periodic square (default ``2 pi``).
        force: ``None`` or a pair ``(fx, fy)`` of ``(n, n)`` arrays: the body-force pattern, scaled by
            ``SpectralParams.forcing`` (its curl enters the vorticity equation; only retained modes act).
        cfl: Courant number of :meth:`max_dt`, ``dt = cfl dx / max(|u| + |v|)``, in (0, 1.3] (RK4 with the
            2/3-rule's largest wavenumber is stable up to ~1.35).
        hyper_order: the power ``p`` of the hyperviscous term ``-nu_h (-lap)^p omega`` (``p >= 2``; default 4,
            ``k^8``), active when ``SpectralParams.hyperviscosity > 0``; integrated exactly like the viscosity.

    Arrays are indexed ``[ix, iy]``: ``x`` along axis 0, ``y`` along axis 1 (the real-FFT axis).
    """

    #: a step of ``dt = 0`` returns the state unchanged (``core.simulate`` masks slots after ``t_end`` so)
    masked_steps = True

    n: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    cfl: float = eqx.field(static=True)
    hyper_order: int = eqx.field(static=True)
    kx: np.ndarray
    ky: np.ndarray
    k2: np.ndarray
    inv_k2: np.ndarray
    keep: np.ndarray
    weight: np.ndarray
    force_hat: np.ndarray | None
    force_max: float = eqx.field(static=True)

    def __init__(self, n: int, length: float = 2 * np.pi, force=None, cfl: float = 0.5, hyper_order: int = 4):
        n = check_int("n", n, lo=8)
        self.hyper_order = check_int("hyper_order", hyper_order, lo=2, hi=16)
        if n % 2:
            raise ValueError(f"n must be even (the real FFT's Nyquist column); got {n}")
        check_positive("length", length)
        check_range("cfl", cfl, 0.0, 1.3, lo_open=True)
        self.n, self.length, self.cfl = n, float(length), float(cfl)
        kint_x = np.fft.fftfreq(n, 1.0 / n)  # integer wavenumbers along x (axis 0)
        kint_y = np.fft.rfftfreq(n, 1.0 / n)  # and y (axis 1, non-negative)
        scale = 2 * np.pi / self.length
        self.kx = (scale * kint_x)[:, None] * np.ones((1, kint_y.size))
        self.ky = np.ones((n, 1)) * (scale * kint_y)[None, :]
        self.k2 = self.kx**2 + self.ky**2
        self.inv_k2 = np.where(self.k2 > 0, 1.0 / np.where(self.k2 > 0, self.k2, 1.0), 0.0)
        kmax = (n - 1) // 3
        self.keep = ((np.abs(kint_x)[:, None] <= kmax) & (kint_y[None, :] <= kmax)).astype(np.float64)
        # a real field's mean square from its half spectrum: columns 1 .. n/2 - 1 stand for two modes each
        w = np.full(kint_y.size, 2.0)
        w[0] = w[-1] = 1.0
        self.weight = np.ones((n, 1)) * w[None, :] / float(n) ** 4
        if force is None:
            self.force_hat, self.force_max = None, 0.0
        else:
            fx, fy = (np.asarray(f, dtype=np.float64) for f in force)
            if fx.shape != (n, n) or fy.shape != (n, n):
                raise ValueError(f"force must be two ({n}, {n}) arrays; got shapes {fx.shape} and {fy.shape}")
            check_finite("force", np.stack([fx, fy]))
            curl = 1j * self.kx * np.fft.rfft2(fy) - 1j * self.ky * np.fft.rfft2(fx)
            self.force_hat = curl * self.keep
            self.force_max = float(np.max(np.hypot(fx, fy)))

    # -- grid and fields -----------------------------------------------------------------------
    @property
    def dx(self) -> float:
        return self.length / self.n

    @property
    def coords(self):
        """``(x, y)``: the grid points, each ``(n, n)`` (``x`` along axis 0)."""
        x = np.arange(self.n) * self.dx
        return np.meshgrid(x, x, indexing="ij")

    def _c(self, a, dtype):
        return jnp.asarray(a, jnp.finfo(dtype).dtype)

    def initial_state(self, omega, dtype=None) -> SpectralState:
        """The state of a real ``(n, n)`` vorticity field (its discarded modes removed)."""
        omega = jnp.asarray(omega, dtype=dtype)
        if omega.shape != (self.n, self.n):
            raise ValueError(f"omega must have shape ({self.n}, {self.n}); got {omega.shape}")
        if is_concrete(omega):
            check_finite("omega", omega)
        if not jnp.issubdtype(omega.dtype, jnp.floating):
            omega = omega.astype(jnp.result_type(float))
        return SpectralState(jnp.fft.rfft2(omega) * self._c(self.keep, omega.dtype))

    def from_velocity(self, u, v, dtype=None) -> SpectralState:
        """The state of a velocity field (its divergent part, if any, has no vorticity and is dropped)."""
        u, v = jnp.asarray(u, dtype=dtype), jnp.asarray(v, dtype=dtype)
        w_hat = 1j * self._c(self.kx, u.dtype) * jnp.fft.rfft2(v) - 1j * self._c(self.ky, u.dtype) * jnp.fft.rfft2(u)
        return SpectralState(w_hat * self._c(self.keep, u.dtype))

    def vorticity(self, state: SpectralState):
        return jnp.fft.irfft2(state.omega_hat, s=(self.n, self.n))

    def _velocity_hat(self, w_hat):
        dt_ = jnp.finfo(w_hat.dtype).dtype
        psi = w_hat * self._c(self.inv_k2, dt_)
        return 1j * self._c(self.ky, dt_) * psi, -1j * self._c(self.kx, dt_) * psi

    def velocity(self, state: SpectralState):
        """``(u, v)`` on the grid."""
        uh, vh = self._velocity_hat(state.omega_hat)
        return jnp.fft.irfft2(uh, s=(self.n, self.n)), jnp.fft.irfft2(vh, s=(self.n, self.n))

    def _mean_square(self, a_hat):
        return jnp.sum(self._c(self.weight, a_hat.dtype) * (a_hat.real**2 + a_hat.imag**2), axis=(-2, -1))

    def energy(self, state: SpectralState):
        """Kinetic energy per unit area, ``<u^2 + v^2> / 2``."""
        return 0.5 * self._mean_square(state.omega_hat * jnp.sqrt(self._c(self.inv_k2, state.omega_hat.dtype)))

    def enstrophy(self, state: SpectralState):
        """``<omega^2> / 2``."""
        return 0.5 * self._mean_square(state.omega_hat)

    def spectrum(self, state: SpectralState):
        """Shell-summed energy spectrum: ``(k, E(k))`` for the integer shells ``k = 1, 2, ...`` that hold
        retained modes (up to ``sqrt(2) (n - 1) // 3``, the corners of the 2/3 rule's square; wavenumbers in
        units of ``2 pi / length``); ``sum E(k)`` is the energy of the modes with ``|k| >= 0.5``."""
        w = state.omega_hat
        dens = 0.5 * self._c(self.weight, w.dtype) * self._c(self.inv_k2, w.dtype) * (w.real**2 + w.imag**2)
        shell = np.rint(np.sqrt(self.k2) * self.length / (2 * np.pi)).astype(np.int32)
        kmax = int(shell[self.keep > 0].max())
        shell = np.where(self.keep > 0, shell, 0)  # discarded modes (empty) go to the unused shell 0
        e_k = jnp.zeros(dens.shape[:-2] + (kmax + 1,), dens.dtype).at[..., shell].add(dens)
        return np.arange(1, kmax + 1), e_k[..., 1:]

    # -- the equations -------------------------------------------------------------------------
    def nonlinear(self, w_hat, params: SpectralParams):
        """``-u . grad omega + curl F`` in Fourier space (conservative form ``-div(u omega)``, truncated)."""
        dt_ = jnp.finfo(w_hat.dtype).dtype
        s = (self.n, self.n)
        uh, vh = self._velocity_hat(w_hat)
        u, v, w = (jnp.fft.irfft2(a, s=s) for a in (uh, vh, w_hat))
        kx, ky = self._c(self.kx, dt_), self._c(self.ky, dt_)
        adv = 1j * kx * jnp.fft.rfft2(u * w) + 1j * ky * jnp.fft.rfft2(v * w)
        out = -adv * self._c(self.keep, dt_)
        if self.force_hat is not None:
            out = out + jnp.asarray(params.forcing, dt_) * jnp.asarray(self.force_hat, w_hat.dtype)
        return out

    def linear(self, params: SpectralParams, dtype):
        """The diagonal linear operator ``-nu k^2 - nu_h k^(2p) - alpha`` (real, shape ``(n, n // 2 + 1)``)."""
        nu, alpha, nu_h = (jnp.asarray(a, dtype) for a in (params.viscosity, params.drag, params.hyperviscosity))
        k2 = self._c(self.k2, dtype)
        return -nu * k2 - nu_h * k2**self.hyper_order - alpha

    def step(self, state: SpectralState, params: SpectralParams, dt) -> SpectralState:
        """One IFRK4 step of size ``dt`` (``dt = 0`` returns the state unchanged)."""
        w = state.omega_hat
        dt_ = jnp.finfo(w.dtype).dtype
        h = jnp.asarray(dt, dt_)
        lin = self.linear(params, dt_)
        e1 = jnp.exp(0.5 * h * lin)
        e2 = e1 * e1
        a = h * self.nonlinear(w, params)
        b = h * self.nonlinear(e1 * (w + 0.5 * a), params)
        c = h * self.nonlinear(e1 * w + 0.5 * b, params)
        d = h * self.nonlinear(e2 * w + e1 * c, params)
        return SpectralState(e2 * w + (e2 * a + 2.0 * e1 * (b + c) + d) / 6.0)

    def max_dt(self, state: SpectralState, params=None):
        """CFL step ``cfl dx / max(|u| + |v|)`` (the viscous and drag terms need no limit), and with a force
        ``sqrt(cfl dx / |F|_max)`` (the force does not carry a fluid element across a cell in one step from
        rest: a run started at rest would otherwise take one step to ``t_end``)."""
        u, v = self.velocity(state)
        dt = self.cfl * self.dx / jnp.max(jnp.abs(u) + jnp.abs(v))
        if self.force_hat is not None and params is not None:
            acc = jnp.abs(jnp.asarray(params.forcing, dt.dtype)) * self.force_max
            dt = jnp.minimum(dt, jnp.sqrt(self.cfl * self.dx / jnp.maximum(acc, jnp.finfo(dt.dtype).tiny)))
        return dt


def random_vorticity(key, n: int, peak_wavenumber: float = 4.0, rms_velocity: float = 1.0, length=2 * np.pi,
                     dtype=None):
    """A random smooth vorticity field: Gaussian, energy spectrum ``E(k) ~ k^4 exp(-2 (k / k_p)^2)`` (peaked
    at ``k_p``, in units of ``2 pi / length``), scaled to the given RMS velocity ``sqrt(<u^2 + v^2>)``."""
    n = check_int("n", n, lo=8)
    check_positive("peak_wavenumber", peak_wavenumber)
    check_positive("rms_velocity", rms_velocity)
    solver = SpectralSolver(n, length)
    dtype = dtype or jnp.result_type(float)  # float32 unless float64 is enabled
    noise = jax.random.normal(key, (n, n), dtype=dtype)
    kint = np.sqrt(solver.k2) * length / (2 * np.pi)
    # |omega_k|^2 ~ k^2 E(k) / (2 pi k) per mode, so |omega_k| ~ k^(5/2) exp(-(k / k_p)^2)
    amp = kint**2.5 * np.exp(-((kint / peak_wavenumber) ** 2)) * solver.keep
    w_hat = jnp.fft.rfft2(noise) * jnp.asarray(amp, noise.dtype)
    state = SpectralState(w_hat)
    scale = rms_velocity / jnp.sqrt(2.0 * solver.energy(state))
    return (solver.vorticity(state) * scale).astype(dtype)


def kolmogorov(n: int = 256, *, viscosity: float = 1e-3, drag: float = 0.1, forcing_wavenumber: int = 4,
               amplitude: float = 1.0, seed: int = 0, rms_velocity: float = 1.0, cfl: float = 0.5,
               hyperviscosity: float = 0.0, hyper_order: int = 4, dtype=None):
    """Forced two-dimensional turbulence on ``[0, 2 pi)^2`` (Kolmogorov flow; Boffetta & Ecke 2012, Kochkov
    et al. 2021): body force ``F_x = amplitude sin(k_f y)``, drag, viscosity ``1e-3`` (Reynolds number
    ~1000), a random initial vorticity peaked at ``k_f``. Returns ``(solver, state0, params)``; ``dtype``
    ``None``: float32, or float64 where JAX has it enabled."""
    k_f = check_int("forcing_wavenumber", forcing_wavenumber, lo=1)
    if not k_f <= (n - 1) // 3:
        raise ValueError(f"forcing_wavenumber must be <= (n - 1) // 3 = {(n - 1) // 3} (a retained mode); got {k_f}")
    x = np.arange(n) * 2 * np.pi / n
    fx = np.sin(k_f * x)[None, :] * np.ones((n, 1))  # sin(k_f y), y along axis 1
    solver = SpectralSolver(n, 2 * np.pi, force=(fx, np.zeros((n, n))), cfl=cfl, hyper_order=hyper_order)
    omega0 = random_vorticity(jax.random.PRNGKey(seed), n, float(k_f), rms_velocity, dtype=dtype)
    state0 = solver.initial_state(omega0, dtype=dtype)
    dt_ = jnp.finfo(state0.omega_hat.dtype).dtype
    params = SpectralParams(*(jnp.asarray(a, dt_) for a in (viscosity, drag, amplitude, hyperviscosity)))
    return solver, state0, params
