"""Finite-volume Euler equations on a uniform Cartesian grid in one, two or three dimensions.

The state holds the conserved variables ``(rho, m_1, ..., m_d, E)`` per cell, shape ``(d + 2, n_1, ..., n_d)``
(axis ``k`` of the grid is coordinate ``x_k``; ``indexing="ij"``). One step is the unsplit MUSCL-Hancock
scheme (van Leer 1979; Toro 2009, sec. 14.4; the multi-dimensional form of RAMSES, Teyssier 2002):

1. limited slopes of the primitive variables ``(rho, v_1, ..., v_d, p)`` along every axis (``mc``,
   ``minmod`` or ``vanleer``, as in the 1D solver);
2. a half-step predictor of each cell's primitive state from the quasi-linear equations with all the
   axes' slopes, ``W* = W - dt/2 sum_k A_k(W) dW_k / dx_k``;
3. face states ``W* +- dW_k / 2`` on the faces normal to each axis, one Riemann solve per face (HLLC,
   HLL or Rusanov, with the transverse velocities carried by the mass flux);
4. the conservative update ``u -= dt sum_k (F_k(i + 1/2) - F_k(i - 1/2)) / dx_k``.

Every update is a difference of face fluxes, so with periodic or reflective boundaries the totals of mass,
momentum (periodic) and energy change only by round-off (at a reflective wall the mass, energy and
transverse-momentum fluxes are set to their exact value, zero). The positivity safeguards are those of the
1D Hancock step: a cell whose predicted density or pressure would fall below half its average keeps its
average and flat faces, and a face whose reconstructed density or pressure falls below a quarter of the
smaller neighbouring average gets the first-order states on both sides.

The step size is ``dt = cfl / max_cells sum_k (|v_k| + c) / dx_k`` (the unsplit scheme's stability
condition with all directions together); :func:`diffphys.hydro.solve` / :func:`diffphys.core.simulate`
land the run exactly on ``t_end``. Gradients: every strategy of :mod:`diffphys.core.gradients`.

``geometry="axisymmetric"`` (two axes): axis 0 is the cylindrical radius ``R >= 0`` and axis 1 the symmetry axis
``z``; the state is the same, with ``m_1 = rho v_R`` and ``m_2 = rho v_z``. The radial fluxes are weighted by the
face areas ``2 pi R dz`` and divided by the cell volumes ``pi (R_+^2 - R_-^2) dz``, the radial momentum gets the
geometric source ``p (A_+ - A_-) / V`` with the half-step pressure, and the predictor the geometric terms
``-dt/2 rho v_R / R`` and ``-dt/2 gamma p v_R / R`` (the 1D cylindrical solver's conservative form,
:mod:`diffphys.hydro.solver`, along ``R``): mass and energy change only by round-off in a closed domain, a
problem uniform along ``z`` is the 1D cylindrical run, and a point explosion on the axis is a spherical blast.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..core.checks import check_choice, check_finite, check_grid_devices, check_range, is_concrete
from .reconstruct import LIMITERS, RECONSTRUCTIONS, euler_projection, materialize, monotone_half_slope
from .riemann import RIEMANN_ROWS, RIEMANN_SOLVERS
from .solver import THETA, _flush, _one, _stack
from .conduction import Conduction
from .cooling import Cooling
from .sources import StellarWind
from .state import check_gamma

__all__ = ["CartesianEulerSolver", "CartesianState", "CARTESIAN_BOUNDARIES", "CARTESIAN_GEOMETRIES"]

CARTESIAN_BOUNDARIES = ("periodic", "reflective", "outflow")
CARTESIAN_GEOMETRIES = ("cartesian", "axisymmetric")


class CartesianState(eqx.Module):
    """Conserved variables ``u`` of shape ``(d + 2, n_1, ..., n_d)``: density, the ``d`` momentum
    densities, total energy density."""

    u: jnp.ndarray

    @property
    def rho(self):
        return self.u[0]


def _take(x, axis, start, stop=None):
    """``x[..., start:stop, ...]`` along ``axis`` (``stop=None``: to the end)."""
    return lax.slice_in_dim(x, start, x.shape[axis] if stop is None else stop, axis=axis)


def _end(x, axis, last):
    """The first (``last=False``) or last cell layer along ``axis``, keeping the axis."""
    n = x.shape[axis]
    return _take(x, axis, n - 1, n) if last else _take(x, axis, 0, 1)


def _boundaries(boundary, ndim):
    """Normalise ``boundary`` to ``((lo, hi), ...)`` per axis, validated."""
    if isinstance(boundary, str):
        boundary = (boundary,) * ndim
    boundary = tuple(boundary)
    if len(boundary) != ndim:
        raise ValueError(f"boundary must be one name or one entry per axis ({ndim}); got {len(boundary)} entries")
    out = []
    for k, b in enumerate(boundary):
        pair = (b, b) if isinstance(b, str) else tuple(b)
        if len(pair) != 2:
            raise ValueError(f"boundary[{k}] must be a name or a (low, high) pair; got {b!r}")
        for side in pair:
            check_choice(f"boundary[{k}]", side, CARTESIAN_BOUNDARIES)
        if ("periodic" in pair) and pair != ("periodic", "periodic"):
            raise ValueError(f"boundary[{k}]: periodic must be given on both sides of an axis; got {pair}")
        out.append(pair)
    return tuple(out)


class CartesianEulerSolver(eqx.Module):
    """Static configuration of a Cartesian Euler run; ``step(state, params, dt)`` and ``max_dt``.

    Args:
        shape: cells per axis, ``(n_1, ..., n_d)`` with ``d`` in 1..3 and each ``n_k >= 4``.
        lengths: the box's edge lengths (a number: the same for every axis); cell ``i`` along axis ``k``
            has its centre at ``origin_k + (i + 1/2) lengths_k / n_k``.
        gamma: adiabatic index (> 1).
        riemann: ``"hllc"`` (default), ``"hll"`` or ``"rusanov"``.
        limiter: ``"mc"`` (default), ``"minmod"``, ``"vanleer"`` or ``None`` (first order: Godunov's
            scheme with the chosen Riemann solver).
        cfl: Courant number in (0, 1] of ``dt = cfl / max sum_k (|v_k| + c) / dx_k``.
        boundary: ``"periodic"`` (default), ``"reflective"`` or ``"outflow"``, one for all axes, or one per
            axis, each a name or a ``(low, high)`` pair (periodic on both sides of an axis or neither).
        origin: the box's lower corner (default 0).
        gravity: ``None`` or a constant acceleration vector ``(g_1, ..., g_d)``; its momentum and energy
            sources ``rho g`` and ``m . g`` are evaluated at the half step.
        devices: ``None`` (default: one device, or whatever XLA's partitioner makes of a sharded input), or a
            ``jax.sharding.Mesh`` (:func:`diffphys.parallel.device_mesh`): the grid's first axis is split into
            equal blocks across its ``device_axis`` and each step runs per device (``jax.shard_map``) with one
            cell layer exchanged with each neighbour (``lax.ppermute``) for the slopes and for the face states,
            and the CFL maximum reduced across devices. Results equal the single-device run to round-off.
        device_axis: the axis name of ``devices`` (default ``"batch"``, as ``device_mesh``).
        geometry: ``"cartesian"`` (default) or ``"axisymmetric"``: two axes ``(R, z)``, ``origin[0] >= 0``;
            with ``origin[0] == 0`` the low side of axis 0 is the symmetry axis and must be ``"reflective"``.
        source: ``None`` or a :class:`~diffphys.hydro.StellarWind`: mass ``Mdot`` and total energy
            ``Mdot v_inf^2 / 2`` per unit time (``params``, a :class:`~diffphys.hydro.WindParams`), spread per
            unit volume over the cells whose centres lie within ``n_inject`` cell widths (the smallest axis's)
            of ``source_center``; the injected mass carries the local (half-step) velocity, as in the 1D solver.
            The injected mass and energy are ``Mdot t`` and ``Mdot v_inf^2 t / 2`` to round-off.
        source_center: the wind's position (default: the box's centre; axisymmetric: on the axis, ``R = 0``,
            at the middle of the ``z`` range). The whole injection sphere must lie inside the grid.
        cooling: ``None`` or a :class:`~diffphys.hydro.Cooling`: optically thin radiative cooling applied after
            each step at constant density, integrated exactly over the step (as in the 1D solver).
        self_gravity: ``None`` or the gravitational constant ``G`` in code units: the gas's own gravity. With
            ``self_gravity_boundary="periodic"`` (default; every axis periodic) ``laplacian(phi) = 4 pi G (rho -
            mean(rho))`` is solved with FFTs (the Jeans swindle: the mean density does not pull) and ``g =
            -grad(phi)`` differentiated spectrally. The predictor's velocity feels the field of the current
            density, the momentum and energy sources ``rho g`` and ``m . g`` use the field of the half-step
            density; total momentum is conserved to round-off, total energy with the potential
            ``1/2 sum(rho phi) dV`` to the truncation error. The step size is also limited to
            ``cfl sqrt(dx / max|g|)``.
        self_gravity_boundary: ``"periodic"`` (default) or ``"isolated"``: no mass outside the grid (vacuum
            boundaries, any hydro boundary): the potential of the cell-uniform density by a zero-padded FFT
            convolution with the exact potential of a cell (:mod:`diffphys.gravity.isolated`; 3D ``-G/r``, 2D
            lines of mass ``2 G ln r``, 1D sheets), ``g`` its centred difference. Cartesian geometry. Both kinds
            split across ``devices`` on 2 and 3 axes (slab-decomposed FFTs).
        pressure_floor: ``None`` (default) or a pressure (code units): after each step, a cell whose pressure fell
            below it gets its thermal energy raised to the floor's (energy is added there: the total energy is
            conserved only while the floor does not act). For very cold, fast flows (free-fall or wind Mach numbers
            of ~30 and more), where the thermal energy is the small difference of two large ones and truncation
            errors drive it negative; a run without a floor then turns NaN.
        reconstruction: ``"primitive"`` (default: each primitive variable limited on its own) or
            ``"characteristic"``: along each axis the differences of ``(rho, v_n, p)`` projected on the waves
            ``v_n - c, v_n, v_n + c`` of the cell's state (:func:`~diffphys.hydro.reconstruct.euler_projection`),
            limited wave by wave and clipped between the neighbours; the transverse velocities (shear waves) as
            they are.
        conduction: ``None`` or a :class:`~diffphys.hydro.Conduction`: thermal conduction after each hydro step
            (before cooling), split by axis (Lie): along each axis in turn, every grid line takes the 1D solver's
            implicit substep (axisymmetric: cylindrical areas along ``R``), so each sweep is unconditionally
            stable, keeps the maximum principle and conserves energy to round-off. One device only.
    """

    #: a step of ``dt = 0`` returns the state unchanged (see :func:`diffphys.core.simulate`)
    masked_steps = True

    shape: tuple = eqx.field(static=True)
    lengths: tuple = eqx.field(static=True)
    origin: tuple = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    riemann: str = eqx.field(static=True)
    limiter: str | None = eqx.field(static=True)
    cfl: float = eqx.field(static=True)
    boundary: tuple = eqx.field(static=True)
    gravity: tuple | None = eqx.field(static=True)
    devices: Any = eqx.field(static=True)
    device_axis: str = eqx.field(static=True)
    geometry: str = eqx.field(static=True)
    source: StellarWind | None
    source_center: tuple | None = eqx.field(static=True)
    cooling: Cooling | None
    self_gravity: float | None = eqx.field(static=True)
    self_gravity_boundary: str = eqx.field(static=True)
    pressure_floor: float | None = eqx.field(static=True)
    reconstruction: str = eqx.field(static=True)
    conduction: Conduction | None

    def __init__(self, shape, lengths=1.0, gamma=1.4, riemann="hllc", limiter="mc", cfl=0.5,
                 boundary="periodic", origin=0.0, gravity=None, devices=None, device_axis="batch",
                 geometry="cartesian", source=None, source_center=None, cooling=None,
                 self_gravity=None, self_gravity_boundary="periodic", pressure_floor=None,
                 reconstruction="primitive", conduction=None):
        shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"shape must have 1, 2 or 3 axes; got {len(shape)}")
        for k, n in enumerate(shape):
            if not (isinstance(n, (int, np.integer)) and not isinstance(n, bool)) or n < 4:
                raise ValueError(f"shape[{k}] must be an integer in [4, inf]; got {n!r}")
        d = len(shape)
        self.shape = tuple(int(n) for n in shape)
        lengths = np.broadcast_to(np.asarray(lengths, dtype=np.float64), (d,))
        origin = np.broadcast_to(np.asarray(origin, dtype=np.float64), (d,))
        check_range("lengths", lengths, 0.0, lo_open=True)
        check_finite("origin", origin)
        self.lengths = tuple(float(x) for x in lengths)
        self.origin = tuple(float(x) for x in origin)
        self.gamma = check_gamma(gamma)
        check_choice("riemann", riemann, tuple(RIEMANN_SOLVERS))
        check_choice("limiter", limiter, (*LIMITERS, None))
        check_range("cfl", cfl, 0.0, 1.0, lo_open=True)
        self.riemann, self.limiter, self.cfl = riemann, limiter, float(cfl)
        check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        self.reconstruction = reconstruction
        self.boundary = _boundaries(boundary, d)
        if gravity is not None:
            g = np.asarray(gravity, dtype=np.float64)
            if g.shape != (d,):
                raise ValueError(f"gravity must be None or a vector of {d} components; got shape {g.shape}")
            check_finite("gravity", g)
            gravity = tuple(float(x) for x in g)
        self.gravity = gravity
        check_grid_devices(devices, device_axis, self.shape[0])
        self.devices, self.device_axis = devices, device_axis
        check_choice("geometry", geometry, CARTESIAN_GEOMETRIES)
        if geometry == "axisymmetric":
            if d != 2:
                raise ValueError(f"geometry 'axisymmetric' needs 2 axes (R, z); got shape {self.shape}")
            if self.origin[0] < 0:
                raise ValueError(f"geometry 'axisymmetric' needs origin[0] (the smallest radius) >= 0; got "
                                 f"{self.origin[0]:g}")
            if self.origin[0] == 0 and self.boundary[0][0] != "reflective":
                raise ValueError("geometry 'axisymmetric' with origin[0] = 0: the low side of axis 0 is the symmetry "
                                 f"axis and must be 'reflective'; got {self.boundary[0][0]!r}")
        self.geometry = geometry
        if source is not None and not isinstance(source, StellarWind):
            raise ValueError(f"source must be None or a StellarWind; got {type(source).__name__}")
        self.source, self.source_center = source, None
        if source is not None:
            lo, hi = np.asarray(self.origin), np.asarray(self.origin) + np.asarray(self.lengths)
            if source_center is None:
                source_center = 0.5 * (lo + hi)
                if geometry == "axisymmetric":
                    source_center[0] = 0.0
            c = np.broadcast_to(np.asarray(source_center, dtype=np.float64), (d,))
            check_finite("source_center", c)
            if geometry == "axisymmetric" and c[0] != 0.0:
                raise ValueError(f"an axisymmetric wind sits on the axis: source_center[0] must be 0; got {c[0]:g}")
            r_inj = source.n_inject * min(self.dx)
            lo_ok = (c - r_inj >= lo) | ((c == 0.0) & (geometry == "axisymmetric") & (np.arange(d) == 0))
            if not (np.all(lo_ok) and np.all(c + r_inj <= hi)):
                raise ValueError(f"the wind's injection sphere (radius {r_inj:g} around {tuple(c)}) must lie inside "
                                 f"the grid [{tuple(lo)}, {tuple(hi)}]")
            self.source_center = tuple(float(x) for x in c)
        if cooling is not None and not isinstance(cooling, Cooling):
            raise ValueError(f"cooling must be None or a Cooling; got {type(cooling).__name__}")
        self.cooling = cooling
        if conduction is not None:
            if not isinstance(conduction, Conduction):
                raise ValueError(f"conduction must be None or a Conduction; got {type(conduction).__name__}")
            if devices is not None:
                raise ValueError("conduction needs whole grid lines along every axis: devices must be None with "
                                 "conduction (split ensembles of runs instead, diffphys.parallel.ensemble)")
        self.conduction = conduction
        check_choice("self_gravity_boundary", self_gravity_boundary, ("periodic", "isolated"))
        self.self_gravity_boundary = self_gravity_boundary
        if self_gravity is not None:
            check_range("self_gravity", self_gravity, 0.0, lo_open=True)
            if geometry != "cartesian":
                raise ValueError(f"self_gravity needs geometry 'cartesian'; got {geometry!r}")
            if self_gravity_boundary == "periodic" and any(b != ("periodic", "periodic") for b in self.boundary):
                raise ValueError("self_gravity with self_gravity_boundary='periodic' needs periodic boundaries on "
                                 f"every axis; got boundary {self.boundary} (use self_gravity_boundary='isolated' for "
                                 "vacuum around the grid)")
            if devices is not None:
                n_dev = devices.shape[device_axis]
                if d == 1 or (self_gravity_boundary == "periodic" and self.shape[1] % n_dev):
                    raise ValueError(f"self_gravity split across devices needs 2 or 3 axes (periodic: shape[1] a "
                                     f"multiple of the number of devices ({n_dev}), for the slab FFT); got shape "
                                     f"{self.shape}")
            self_gravity = float(self_gravity)
        self.self_gravity = self_gravity
        if pressure_floor is not None:
            check_range("pressure_floor", pressure_floor, 0.0, lo_open=True)
            pressure_floor = float(pressure_floor)
        self.pressure_floor = pressure_floor

    # -- geometry ------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dx(self) -> tuple:
        """Cell widths per axis."""
        return tuple(length / n for length, n in zip(self.lengths, self.shape))

    @property
    def cell_volume(self) -> float:
        """The volume of a cell (Cartesian grids; see :meth:`cell_volumes` for every cell)."""
        return float(np.prod(self.dx))

    def _radial(self):
        """Axisymmetric grids: the radial grid's face areas ``2 pi R`` (``n_0 + 1``), ``1 / V`` and
        ``(A_+ - A_-) / V`` per unit length of ``z`` (``n_0`` each) and the cell-centre radii."""
        from .grid import RadialGrid

        g = RadialGrid(self.shape[0], r_max=self.origin[0] + self.lengths[0], r_min=self.origin[0],
                       geometry="cylindrical")
        return g.areas, 1.0 / g.volumes, (g.areas[1:] - g.areas[:-1]) / g.volumes, g.centers, g.volumes

    def source_weights(self):
        """The wind's weight per cell, ``1 / (total injection volume)`` inside the injection sphere and 0
        outside (``numpy``, ``shape``); ``None`` without a source."""
        if self.source is None:
            return None
        dist2 = sum((x - c) ** 2 for x, c in zip(self.centers(), self.source_center))
        inside = dist2 < (self.source.n_inject * min(self.dx)) ** 2
        vol = self.cell_volumes()
        return np.where(inside, 1.0 / vol[inside].sum(), 0.0)

    def gravity_field(self, rho, halo=None):
        """The self-gravity acceleration per axis at the cell centres from a density field (``self_gravity``).
        ``halo``: inside the per-device step of a split grid, ``(axis name, devices)``; ``rho`` is then this device's
        block (periodic gravity: slab-decomposed FFTs, equal to the one-device field to round-off)."""
        from ..gravity.force import poisson_force_mesh
        from ..gravity.isolated import isolated_field

        if self.self_gravity_boundary == "isolated":
            if halo is not None and halo[1] > 1:
                from ..gravity.isolated import field_from_potential, isolated_potential_slabs

                phi = isolated_potential_slabs(rho, self.shape, self.dx, self.self_gravity, *halo)
                return field_from_potential(phi, self.dx)
            return isolated_field(rho, self.dx, self.self_gravity)
        if halo is not None and halo[1] > 1:
            return self._gravity_field_slabs(rho, halo)
        f = poisson_force_mesh(rho - jnp.mean(rho), self.lengths, scale=4.0 * np.pi * self.self_gravity)
        return [f[..., k].astype(rho.dtype) for k in range(self.ndim)]

    def _gravity_field_slabs(self, rho, halo):
        """The periodic spectral field of :meth:`gravity_field` on a grid split along axis 0 (``rho``: this
        device's ``(n_0 / P, n_1[, n_2])`` block): the forward transform leaves each device all ``k_0`` and its
        block of ``k_1`` (one all-to-all; :mod:`diffphys.parallel.fft`; 2D grids use a complex FFT along axis 1),
        the multipliers ``4 pi G i k_a / k^2`` (Nyquist of the derivative zeroed, as the one-device solver) are
        applied to that block, and one inverse transform per axis brings each component back to the block."""
        from ..gravity.force import wavevectors
        from ..parallel.fft import irfftn_slabs, rfftn_slabs

        name, n_dev = halo
        d, dtype = self.ndim, rho.dtype
        total = float(np.prod(self.shape))
        delta = rho - lax.psum(jnp.sum(rho), name) / total
        rfft = d == 3  # 3D: real FFTs over axes 1, 2 (the gravity package's slabs); 2D: complex along axis 1
        k_all = wavevectors(self.shape, self.lengths, np.float64, rfft=rfft, zero_nyquist=False)
        g_all = wavevectors(self.shape, self.lengths, np.float64, rfft=rfft, zero_nyquist=True)
        block = self.shape[1] // n_dev
        start = lax.axis_index(name) * block

        def local(k):  # this device's block of axis 1
            return lax.dynamic_slice_in_dim(jnp.asarray(k, dtype), start, block, axis=1)

        ks = [jnp.asarray(k_all[0], dtype), local(k_all[1]), *[jnp.asarray(k, dtype) for k in k_all[2:]]]
        gs = [jnp.asarray(g_all[0], dtype), local(g_all[1]), *[jnp.asarray(k, dtype) for k in g_all[2:]]]
        k2 = sum(k * k for k in ks)
        inv = jnp.where(k2 > 0, 4.0 * np.pi * self.self_gravity / jnp.where(k2 > 0, k2, 1.0), 0.0)
        if rfft:
            pot = rfftn_slabs(delta, name) * inv
            return [irfftn_slabs(1j * g * pot, self.shape[2], name).astype(dtype) for g in gs]
        a = lax.all_to_all(jnp.fft.fft(delta, axis=1), name, 1, 0, tiled=True)
        pot = jnp.fft.fft(a, axis=0) * inv
        out = []
        for g in gs:
            b = lax.all_to_all(jnp.fft.ifft(1j * g * pot, axis=0), name, 0, 1, tiled=True)
            out.append(jnp.fft.ifft(b, axis=1).real.astype(dtype))
        return out

    def gravity_potential(self, rho, ghosts=False):
        """The self-gravity potential at the cell centres (``self_gravity``): periodic, of ``rho - mean(rho)``;
        isolated, of the grid's mass alone. ``ghosts=True`` adds one cell layer beyond every face (periodic: the
        wrapped cells; isolated: the potential there)."""
        if self.self_gravity_boundary == "isolated":
            from ..gravity.isolated import isolated_potential

            return isolated_potential(rho, self.dx, self.self_gravity, ghosts=ghosts)
        dk = jnp.fft.rfftn(rho - jnp.mean(rho))
        ks = np.meshgrid(*[2 * np.pi * (np.fft.rfftfreq(n, h) if a == self.ndim - 1 else np.fft.fftfreq(n, h))
                           for a, (n, h) in enumerate(zip(self.shape, self.dx))], indexing="ij", sparse=True)
        k2 = sum(k * k for k in ks)
        inv = np.where(k2 > 0, -4.0 * np.pi * self.self_gravity / np.where(k2 > 0, k2, 1.0), 0.0)
        phi = jnp.fft.irfftn(dk * jnp.asarray(inv, dk.real.dtype), s=self.shape).astype(rho.dtype)
        return jnp.pad(phi, 1, mode="wrap") if ghosts else phi

    def potential_energy(self, state: CartesianState):
        """``1/2 sum(rho phi) dV`` of the self-gravity potential (``laplacian(phi) = 4 pi G (rho - mean)`` on a
        periodic grid; the potential of the grid's mass alone with ``self_gravity_boundary="isolated"``)."""
        rho = state.u[0]
        return 0.5 * jnp.sum(rho * self.gravity_potential(rho)) * self.cell_volume

    def projection_matrix(self):
        """Axisymmetric grids: ``L[i, j]``, the length of the line of sight at impact parameter ``x_i`` (the cell
        centres' radii), perpendicular to the axis, inside radial cell ``j``: ``2 (sqrt(R_{j+1/2}^2 - x_i^2) -
        sqrt(R_{j-1/2}^2 - x_i^2))`` where real (the exact Abel projection of a field constant in each cell)."""
        if self.geometry != "axisymmetric":
            raise ValueError("projection_matrix needs geometry 'axisymmetric'")
        n = self.shape[0]
        faces = self.origin[0] + self.dx[0] * np.arange(n + 1)
        x = 0.5 * (faces[1:] + faces[:-1])
        chord = np.sqrt(np.maximum(faces[None, :] ** 2 - x[:, None] ** 2, 0.0))
        return 2.0 * (chord[:, 1:] - chord[:, :-1])

    def project(self, field):
        """The column ``int field dy`` through an axisymmetric field of ``shape`` along lines of sight perpendicular
        to the axis, at impact parameters the radial cell centres: shape ``shape`` (``x``, ``z``)."""
        return jnp.asarray(self.projection_matrix(), field.dtype) @ field

    def cell_volumes(self):
        """The volume of every cell, a ``numpy`` array of ``shape`` (axisymmetric: ``pi (R_+^2 - R_-^2) dz``)."""
        if self.geometry == "axisymmetric":
            return np.broadcast_to((self._radial()[4] * self.dx[1])[:, None], self.shape).copy()
        return np.full(self.shape, self.cell_volume)

    def centers(self):
        """Cell-centre coordinates, one ``numpy`` array of ``shape`` per axis (``indexing="ij"``)."""
        axes = [o + (np.arange(n) + 0.5) * h for o, n, h in zip(self.origin, self.shape, self.dx)]
        return tuple(np.meshgrid(*axes, indexing="ij"))

    # -- states --------------------------------------------------------------------------------
    def initial_state(self, rho, v, p, dtype=None) -> CartesianState:
        """A validated state from density, velocity components (a sequence of ``d``) and pressure; scalars
        broadcast over the grid."""
        d = self.ndim
        if d == 1 and np.ndim(v) <= 1 and not isinstance(v, (tuple, list)):
            v = (v,)
        v = tuple(v)
        if len(v) != d:
            raise ValueError(f"v must have {d} components (one per axis); got {len(v)}")
        for name, val in (("rho", rho), ("p", p), *((f"v[{k}]", x) for k, x in enumerate(v))):
            check_finite(name, val)
        for name, val in (("rho", rho), ("p", p)):
            if is_concrete(val) and np.any(np.asarray(val) <= 0):
                raise ValueError(f"{name} of the initial state must be > 0 everywhere; got minimum "
                                 f"{np.min(np.asarray(val)):g}")
        arrs = [jnp.asarray(x, dtype=dtype) for x in (rho, *v, p)]
        for name, a in zip(("rho", *(f"v[{k}]" for k in range(d)), "p"), arrs):
            if a.ndim and a.shape != self.shape:
                raise ValueError(f"{name} must be a scalar or an array of shape {self.shape}; got {a.shape}")
        rho, *v, p = (jnp.broadcast_to(a, self.shape) for a in jnp.broadcast_arrays(*arrs))
        kin = sum(x * x for x in v)
        u = jnp.stack([rho, *(rho * x for x in v), p / (self.gamma - 1.0) + 0.5 * rho * kin])
        return CartesianState(u)

    def primitive(self, state: CartesianState):
        """``(rho, v_1, ..., v_d, p)`` stacked on axis 0."""
        return jnp.stack(self._primitive_rows(tuple(state.u)))

    def totals(self, state: CartesianState):
        """Total mass, momenta and energy ``sum(u dV)`` (what the scheme conserves; axisymmetric: the radial
        momentum entry is ``sum(rho v_R dV)``, which the geometric source changes)."""
        if self.geometry == "axisymmetric":
            vol = jnp.asarray(self.cell_volumes(), state.u.dtype)
            return jnp.sum((state.u * vol).reshape(state.u.shape[0], -1), axis=1)
        return jnp.sum(state.u.reshape(state.u.shape[0], -1), axis=1) * self.cell_volume

    def validate(self, state: CartesianState, name="state0"):
        """Raise a ValueError for a wrong shape, NaN, or non-positive density or pressure (concrete states)."""
        if tuple(state.u.shape) != (self.ndim + 2, *self.shape):
            raise ValueError(f"{name}.u must have shape {(self.ndim + 2, *self.shape)}; got {tuple(state.u.shape)}")
        if not is_concrete(state.u):
            return
        u = np.asarray(state.u, dtype=np.float64)
        check_finite(name, u)
        if np.any(u[0] <= 0):
            raise ValueError(f"{name} density must be > 0 everywhere; got minimum {u[0].min():g}")
        p = (self.gamma - 1.0) * (u[-1] - 0.5 * np.sum(u[1:-1] ** 2, axis=0) / u[0])
        if np.any(p <= 0):
            raise ValueError(f"{name} pressure must be > 0 everywhere; got minimum {p.min():g}")

    # -- the scheme ----------------------------------------------------------------------------
    def _primitive_rows(self, u):
        rho, *m, e = u
        v = [_flush(mk / rho) for mk in m]
        kin = sum(mk * vk for mk, vk in zip(m, v))
        return (rho, *v, (self.gamma - 1.0) * (e - 0.5 * kin))

    def _outside(self, inner, edge_src, axis, last, var, halo):
        """The layer just outside the low (``last=False``) or high side of ``axis``: the neighbouring cells' layer
        of ``inner`` (periodic wrap, or the neighbouring device's block), or at a wall / outflow boundary the
        edge layer of ``edge_src`` mirrored (normal velocity negated) or copied."""
        kind = self.boundary[axis][int(last)]
        bc = None
        if kind != "periodic":
            edge = _end(edge_src, axis, last)
            bc = -edge if (kind == "reflective" and var == axis + 1) else edge
        if halo is None or axis != 0:
            return _end(inner, axis, not last) if bc is None else bc
        name, n_dev = halo
        # the low ghost of device i is device i-1's last layer; the high ghost is device i+1's first layer
        shift = -1 if last else 1
        perm = [(j, (j + shift) % n_dev) for j in range(n_dev)]
        recv = lax.ppermute(_end(inner, axis, not last), name, perm)
        if bc is None:
            return recv
        return jnp.where(lax.axis_index(name) == (n_dev - 1 if last else 0), bc, recv)

    def _faces(self, plus, minus, axis, halo=None):
        """Left and right states on the ``n + 1`` faces normal to ``axis`` from each cell's high-side
        (``plus``) and low-side (``minus``) face values; the outside states follow the boundaries (a wall
        mirrors the inside face state, outflow copies it)."""
        left, right = [], []
        for k, (pk, mk) in enumerate(zip(plus, minus)):
            left.append(jnp.concatenate([self._outside(pk, mk, axis, False, k, halo), pk], axis=axis))
            right.append(jnp.concatenate([mk, self._outside(mk, pk, axis, True, k, halo)], axis=axis))
        return left, right

    def _neighbours(self, x, axis, var, halo=None):
        """``x`` at the lower and upper neighbour of every cell along ``axis`` (boundary ghosts outside)."""
        n = x.shape[axis]
        lower = jnp.concatenate([self._outside(x, x, axis, False, var, halo), _take(x, axis, 0, n - 1)], axis=axis)
        upper = jnp.concatenate([_take(x, axis, 1), self._outside(x, x, axis, True, var, halo)], axis=axis)
        return lower, upper

    @property
    def _n_dev(self) -> int:
        return 1 if self.devices is None else int(self.devices.shape[self.device_axis])

    def _sharded(self, fn, out_spec, check_vma=True):
        """``fn(u, dt, halo, params)`` run per device on blocks of the first grid axis, with one-layer halos
        exchanged (``params`` replicated)."""
        from jax.sharding import PartitionSpec as P

        halo = (self.device_axis, self._n_dev)
        return jax.shard_map(lambda u, dt, params: fn(u, dt, halo, params), mesh=self.devices, check_vma=check_vma,
                             in_specs=(P(None, self.device_axis), P(), P()), out_specs=out_spec)

    def _local(self, arr, dtype, halo, extra=0):
        """A per-cell (``extra=0``) or per-face (``extra=1``) array along the first grid axis, as a ``jnp`` array of
        ``dtype``: whole on one device, this device's block (and its upper face) on a split grid."""
        arr = jnp.asarray(arr, dtype)
        if halo is None:
            return arr
        block = self.shape[0] // halo[1]
        return lax.dynamic_slice_in_dim(arr, lax.axis_index(halo[0]) * block, block + extra, axis=0)

    def conduct(self, state: CartesianState, dt) -> CartesianState:
        """The conduction substep alone (density and momenta unchanged)."""
        if self.conduction is None:
            raise ValueError("conduct() needs a CartesianEulerSolver built with conduction=Conduction(...)")
        rows = list(state.u)
        rows[-1] = self._conducted_energy(rows, jnp.asarray(dt, state.u.dtype))
        return CartesianState(_stack(rows))

    def _conducted_energy(self, rows, dt):
        """Total energy after the conduction sweeps, one axis after the other (Lie splitting)."""
        g = self.gamma
        rho, e = rows[0], rows[-1]
        kin = 0.5 * sum(mk * _flush(mk / rho) for mk in rows[1:-1])
        theta = (g - 1.0) * (e - kin) / rho
        for k, n in enumerate(self.shape):
            if self.geometry == "axisymmetric" and k == 0:  # per unit length of z: the cylinder's areas and volumes
                areas, _, _, _, volumes = self._radial()
            else:  # a line of unit cross-section
                areas, volumes = np.ones(n + 1), np.full(n, self.dx[k])
            geometry = (areas, volumes, self.dx[k], g)
            periodic = self.boundary[k] == ("periodic", "periodic")

            def line(r, t, geometry=geometry, periodic=periodic):
                return self.conduction.substep(r, t, dt, geometry, periodic=periodic)

            lines = jnp.moveaxis(rho, k, -1)
            th, de = jax.vmap(line)(lines.reshape(-1, n), jnp.moveaxis(theta, k, -1).reshape(-1, n))
            theta = jnp.moveaxis(th.reshape(lines.shape), -1, k)
            e = e + jnp.moveaxis(de.reshape(lines.shape), -1, k)
        return e

    def step(self, state: CartesianState, params=None, dt=None) -> CartesianState:
        """One MUSCL-Hancock step of size ``dt``; ``params``: the :class:`~diffphys.hydro.WindParams` of a
        ``source`` (unused without one)."""
        dt = jnp.asarray(dt, state.u.dtype)
        if self._n_dev > 1:
            from jax.sharding import PartitionSpec as P

            return CartesianState(self._sharded(self._step, P(None, self.device_axis))(state.u, dt, params))
        return CartesianState(self._step(state.u, dt, None, params))

    def _step(self, u, dt, halo, params=None):
        d, g = self.ndim, self.gamma
        u = tuple(u)
        u = (u[0], *(_flush(m) for m in u[1:-1]), u[-1])
        w = self._primitive_rows(u)
        rho, vel, p = w[0], w[1:-1], w[-1]
        one = _one(rho)
        dtype = rho.dtype
        dx = self.dx
        axi = None
        if self.geometry == "axisymmetric":  # areas (faces), 1 / V, (A+ - A-) / V, 1 / R (cells): this block's
            areas, inv_vol, da_over_v, centers, _ = self._radial()
            axi = tuple(self._local(a, dtype, halo, e)[:, None]
                        for a, e in ((areas, 1), (inv_vol, 0), (da_over_v, 0), (1.0 / centers, 0)))
        if self.self_gravity is not None:  # the field of the density at the start of the step (the predictor)
            g_now = self.gravity_field(rho, halo)
        if self.limiter is None:
            pred, half = w, [None] * d
        else:
            lim = LIMITERS[self.limiter]
            slopes = []  # slopes[a][k]: limited difference of variable k along axis a
            for a in range(d):
                dl, dr = [], []
                for k, x in enumerate(w):
                    lower, upper = self._neighbours(x, a, k, halo)
                    dl.append(x - lower)
                    dr.append(upper - x)
                sa = [materialize(lim(x, y), one) for x, y in zip(dl, dr)]
                if self.reconstruction == "characteristic":  # (rho, v_a, p) by waves; shear waves as they are
                    idx = (0, 1 + a, d + 1)
                    to_char, from_char = euler_projection((rho, vel[a], p), g, one)
                    cl, cr = ([materialize(c, one) for c in to_char(tuple(e[i] for i in idx))] for e in (dl, dr))
                    hs = from_char(tuple(materialize(0.5 * lim(x, y), one) for x, y in zip(cl, cr)))
                    for i, h in zip(idx, hs):
                        sa[i] = materialize(2.0 * monotone_half_slope(h, dl[i], dr[i]), one)
                slopes.append(sa)
            drho = jnp.zeros_like(rho)
            dv = [jnp.zeros_like(rho) for _ in range(d)]
            dp = jnp.zeros_like(rho)
            for a in range(d):
                h = 0.5 * dt / dx[a]
                s = slopes[a]
                va = vel[a]
                drho = drho - h * (va * s[0] + rho * s[1 + a])
                for k in range(d):
                    dv[k] = dv[k] - h * (va * s[1 + k])
                dv[a] = dv[a] - h * (s[-1] / rho)
                dp = dp - h * (va * s[-1] + g * p * s[1 + a])
            if axi is not None:  # the cylindrical terms -rho v_R / R and -gamma p v_R / R at the half step
                geo = 0.5 * dt * vel[0] * axi[3]
                drho = drho - geo * rho
                dp = dp - geo * g * p
            if self.gravity is not None:
                dv = [dvk + 0.5 * dt * gk for dvk, gk in zip(dv, self.gravity)]
            if self.self_gravity is not None:
                dv = [dvk + 0.5 * dt * gk for dvk, gk in zip(dv, g_now)]
            good = materialize(jnp.where((rho + drho > 0.5 * rho) & (p + dp > 0.5 * p), 1.0, 0.0).astype(dtype),
                               one) > 0
            pred = [materialize(jnp.where(good, x + dx_, x), one) for x, dx_ in zip(w, (drho, *dv, dp))]
            half = [[materialize(jnp.where(good, 0.5 * sk, 0.0), one) for sk in slopes[a]] for a in range(d)]
        rate = [jnp.zeros_like(rho) for _ in range(d + 2)]
        for a in range(d):
            if half[a] is None:
                plus = minus = list(w)
            else:
                plus = [x + hs for x, hs in zip(pred, half[a])]
                minus = [x - hs for x, hs in zip(pred, half[a])]
            wl, wr = self._faces(plus, minus, a, halo)
            if half[a] is not None:
                cl, cr = self._faces(w, w, a, halo)  # first-order states on the same faces
                lo_rho = THETA * jnp.minimum(cl[0], cr[0])
                lo_p = THETA * jnp.minimum(cl[-1], cr[-1])
                ok = (wl[0] > lo_rho) & (wl[-1] > lo_p) & (wr[0] > lo_rho) & (wr[-1] > lo_p)
                ok = materialize(jnp.where(ok, 1.0, 0.0).astype(dtype), one) > 0
                wl = [materialize(jnp.where(ok, x, c), one) for x, c in zip(wl, cl)]
                wr = [materialize(jnp.where(ok, x, c), one) for x, c in zip(wr, cr)]
            # the Riemann solver's order: (rho, v_normal, p, v_transverse...)
            others = [k for k in range(d) if k != a]
            order = [0, 1 + a, d + 1, *(1 + k for k in others)]
            f = RIEMANN_ROWS[self.riemann]([wl[i] for i in order], [wr[i] for i in order], g, one)
            for i, fk in zip(order, f):
                fk = self._wall_flux(fk, a, i, halo)
                n = fk.shape[a]
                if axi is not None and a == 0:  # area-weighted radial fluxes over the cell volumes
                    fk = materialize(fk * axi[0], one)
                    rate[i] = rate[i] - (_take(fk, a, 1) - _take(fk, a, 0, n - 1)) * axi[1]
                    continue
                fk = materialize(fk, one)
                rate[i] = rate[i] - (_take(fk, a, 1) - _take(fk, a, 0, n - 1)) * (1.0 / dx[a])
        if axi is not None:  # the geometric pressure source of the radial momentum, with the half-step pressure
            p_half = pred[-1]
            p_half = jnp.where(p_half > 0, p_half, p)
            rate[1] = rate[1] + p_half * axi[2]
        if self.source is not None:  # mass and energy per unit volume; the mass carries the half-step velocity
            if params is None:
                raise ValueError("a solver with a StellarWind source needs params (WindParams)")
            w = self._local(self.source_weights(), dtype, halo)
            mdot = params.mdot.astype(dtype)
            rate[0] = rate[0] + mdot * w
            for k in range(d):
                rate[1 + k] = rate[1 + k] + mdot * pred[1 + k] * w
            rate[-1] = rate[-1] + (0.5 * mdot * params.v_inf.astype(dtype) ** 2) * w
        if self.self_gravity is not None:
            # rho g and m . g of the half-step state. (The energy source written with the face mass fluxes and the
            # mean potential before / after the step, which conserves the energy with the potential to round-off
            # (Jiang et al. 2013), was tried: at a cold sphere's sharp edge it gives the edge cell half the work
            # that its momentum source gives its kinetic energy, and drove the pressure there negative in 4 steps.)
            rho_h, vel_h = pred[0], pred[1:-1]
            for k, gk in enumerate(self.gravity_field(rho_h, halo)):
                rate[1 + k] = rate[1 + k] + rho_h * gk
                rate[-1] = rate[-1] + rho_h * vel_h[k] * gk
        if self.gravity is not None:
            rho_h, vel_h = pred[0], pred[1:-1]
            for k, gk in enumerate(self.gravity):
                rate[1 + k] = rate[1 + k] + rho_h * gk
                rate[-1] = rate[-1] + rho_h * vel_h[k] * gk
        new = [x + dt * r for x, r in zip(u, rate)]
        if self.conduction is not None:
            new[-1] = self._conducted_energy(new, dt)
        if self.cooling is not None:  # operator split: the exact isochoric cooling substep over dt
            m = new[1:-1]
            kin = 0.5 * sum(mk * _flush(mk / new[0]) for mk in m)
            p_old = (g - 1.0) * (new[-1] - kin)
            new[-1] = new[-1] - (p_old - self.cooling.cool(new[0], p_old, dt, g)) / (g - 1.0)
        if self.pressure_floor is not None:  # raise the thermal energy where the pressure fell below the floor
            kin = 0.5 * sum(mk * _flush(mk / new[0]) for mk in new[1:-1])
            thermal = new[-1] - kin
            floor = self.pressure_floor / (g - 1.0)
            new[-1] = jnp.where(thermal < floor, kin + floor, new[-1])
        return _stack(new)

    def _wall_flux(self, f, axis, var, halo=None):
        """Set the mass, energy and transverse-momentum fluxes through reflective walls to exactly zero (on a
        split axis, only on the devices that hold the wall)."""
        if var == axis + 1:
            return f
        lo, hi = self.boundary[axis]
        if lo != "reflective" and hi != "reflective":
            return f
        n = f.shape[axis]
        mask = jnp.ones(n, f.dtype)
        split = halo is not None and axis == 0
        for kind, index, device in ((lo, 0, 0), (hi, n - 1, None if halo is None else halo[1] - 1)):
            if kind == "reflective":
                keep = jnp.where(lax.axis_index(halo[0]) == device, 0.0, 1.0).astype(f.dtype) if split else 0.0
                mask = mask.at[index].set(keep)
        shape = [1] * f.ndim
        shape[axis] = n
        return f * mask.reshape(shape)

    def max_dt(self, state: CartesianState, params=None):
        """``cfl / max_cells sum_k (|v_k| + c) / dx_k``."""
        if self._n_dev > 1:
            from jax.sharding import PartitionSpec as P

            # the gathered maximum is the same on every device (replication the checker cannot infer)
            fn = self._sharded(lambda u, _, halo, params: self._max_dt(u, halo, params), P(), check_vma=False)
            return fn(state.u, jnp.zeros((), state.u.dtype), params)
        return self._max_dt(state.u, None, params)

    def _max_dt(self, u, halo, params=None):
        w = self._primitive_rows(tuple(u))
        rho, vel, p = w[0], w[1:-1], w[-1]
        c = jnp.sqrt(self.gamma * p / rho)
        rate = jnp.max(sum((jnp.abs(vk) + c) * (1.0 / h) for vk, h in zip(vel, self.dx)))
        if self.source is not None:  # the wind's terminal speed along every axis at once (a bound)
            rate = jnp.maximum(rate, params.v_inf.astype(rate.dtype) * sum(1.0 / h for h in self.dx))
        if self.self_gravity is not None:  # free fall: no cell accelerated across its width in one step
            g2 = sum(gk * gk for gk in self.gravity_field(rho, halo))
            rate = jnp.maximum(rate, jnp.sqrt(jnp.sqrt(jnp.max(g2)) / min(self.dx)))
        if halo is not None:  # the devices' maxima gathered (lax.pmax has no derivative rule)
            rate = jnp.max(lax.all_gather(rate, halo[0]))
        return self.cfl / rate
