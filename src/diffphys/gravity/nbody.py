"""The particle-mesh N-body solver: FastPM kick-drift-kick in the scale factor (Feng et al. 2016).

State: displacements from the lattice ``q`` (Mpc/h), canonical momenta ``p = a^2 E dx/dlna`` (so
``dx/da = p / (a^3 E)`` and ``dp/da = 3/2 Omega_m F / (a^2 E)``), the unit force ``F`` at the current
positions, and the scale factor ``a``. One step from ``a0`` to ``a1`` (``ah = (a0 + a1)/2``):

    p  += F(x0) [G_p(ah) - G_p(a0)] / D1(a0)        (kick)
    x  += p [D1(a1) - D1(a0)] / G_p(ah)             (drift)
    p  += F(x1) [G_p(a1) - G_p(ah)] / D1(a1)        (kick)

with ``G_p = a^2 E dD1/dlna``: these growth-based factors make every step exact for linear growth
(the 3/2 Omega_m of the force cancels against ``g_f = 3/2 Omega_m D1``). The step is exactly
invertible, which the reverse-time adjoint (:mod:`diffphys.gravity.adjoint`) exploits.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core.checks import check_int
from ..parallel.fft import check_slabs
from .cosmology import E
from .force import poisson_force_mesh, poisson_force_mesh_slabs
from .growth import LNA_MAX, LNA_MIN, D1, dD1_dlna
from .lpt import lpt_displacement, lpt_fields, lpt_fields_slabs
from .mesh import cic_paint, cic_readout
from .slabs import paint_slabs, readout_slabs
from .modes import linear_modes

__all__ = ["PMState", "PMSolver"]


class PMState(eqx.Module):
    """Particles: ``disp`` (N, 3) from the lattice, ``mom`` (N, 3), ``acc`` (N, 3) unit force, ``a`` scalar."""

    disp: jax.Array
    mom: jax.Array
    acc: jax.Array
    a: jax.Array


def _triple(name, value, kind):
    if np.ndim(value) == 0:
        value = (value,) * 3
    value = tuple(value)
    if len(value) != 3:
        raise ValueError(f"{name} must be one number or three (x, y, z); got {len(value)} values")
    if kind is int:
        return tuple(check_int(f"{name}[{i}]", v, lo=1) for i, v in enumerate(value))
    out = []
    for i, v in enumerate(value):
        v = float(v)
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name}[{i}] must be a positive finite length (Mpc/h); got {v}")
        out.append(v)
    return tuple(out)


class PMSolver(eqx.Module):
    """Static configuration of a particle-mesh simulation (all fields static: changing them recompiles).

    Args:
        box: box size in Mpc/h, one number or (Lx, Ly, Lz).
        ptcl_grid: particles per side, one int or (nx, ny, nz).
        mesh: mesh cells per side (default twice ``ptcl_grid``); each side >= the particle grid.
        a_start, a_stop, num_steps: steps uniform in a (default), or ``a_steps`` given explicitly
            (increasing, first = a_start, last = a_stop).
        deconvolve: divide the density by the CIC window (paint and read-out) before the force solve.
        gradient: ``"fd4"`` (default, FastPM's 4-point gradient applied in real space) or ``"spectral"``
            (pmwd's exact ``i k``) force differentiation (see :mod:`.force` and docs/gravity.md: fd4 has no
            lattice alias at intermediate k, needs 2 FFTs per force instead of 4, and fits images better).
        devices: ``None`` (default: the force solve is left to XLA, which runs the FFTs on the whole mesh on
            every device when the particles are sharded), or a 1D ``jax.sharding.Mesh`` (e.g.
            :func:`diffphys.parallel.device_mesh`): the mesh is split into slabs along its first axis over
            these devices and the Poisson solve uses slab-decomposed FFTs (:mod:`diffphys.parallel.fft`);
            ``mesh[0]`` and ``mesh[1]`` must be multiples of the device count. The LPT initial conditions
            run on slabs of the particle grid when its first two sides are multiples too (the particles then
            come out split across the devices), else replicated; painting and read-out run per device
            (:mod:`.slabs`: particle blocks passed around a ring) when the particle count is a multiple of
            the device count. The same results to round-off.
        device_axis: the axis name of ``devices`` (default ``"batch"``, as ``device_mesh``).
    """

    box: tuple = eqx.field(static=True)
    ptcl_grid: tuple = eqx.field(static=True)
    mesh: tuple = eqx.field(static=True)
    a_steps: tuple = eqx.field(static=True)
    deconvolve: bool = eqx.field(static=True)
    gradient: str = eqx.field(static=True)
    devices: Any = eqx.field(static=True)
    device_axis: str = eqx.field(static=True)

    def __init__(self, box, ptcl_grid, mesh=None, a_start=1.0 / 64, a_stop=1.0, num_steps=63,
                 a_steps=None, deconvolve=False, gradient="fd4", devices=None, device_axis="batch"):
        self.box = _triple("box", box, float)
        self.ptcl_grid = _triple("ptcl_grid", ptcl_grid, int)
        if mesh is None:
            mesh = tuple(2 * n for n in self.ptcl_grid)
        self.mesh = _triple("mesh", mesh, int)
        for i, (m, n) in enumerate(zip(self.mesh, self.ptcl_grid)):
            if m < n:
                raise ValueError(f"mesh[{i}] = {m} is smaller than ptcl_grid[{i}] = {n}; the mesh must have "
                                 f"at least as many cells as particles along each axis")
        if a_steps is None:
            a_start, a_stop = float(a_start), float(a_stop)
            num_steps = check_int("num_steps", num_steps, lo=1)
            a_steps = np.linspace(a_start, a_stop, num_steps + 1)
        a_steps = np.asarray(a_steps, dtype=np.float64)
        if a_steps.ndim != 1 or a_steps.size < 2:
            raise ValueError("a_steps must be a 1D sequence of at least two scale factors")
        lo, hi = float(np.exp(LNA_MIN)), float(np.exp(LNA_MAX))
        if not (a_steps[0] >= lo and a_steps[-1] <= hi):
            raise ValueError(f"scale factors must lie in [{lo:.4g}, {hi:.4g}]; got a_start={a_steps[0]:g}, "
                             f"a_stop={a_steps[-1]:g}")
        if np.any(np.diff(a_steps) <= 0):
            raise ValueError(f"a_start must be < a_stop and steps increasing; got a_start={a_steps[0]:g}, "
                             f"a_stop={a_steps[-1]:g}")
        self.a_steps = tuple(float(a) for a in a_steps)
        self.deconvolve = bool(deconvolve)
        if gradient not in ("spectral", "fd4"):
            raise ValueError(f"gradient must be 'spectral' or 'fd4'; got {gradient!r}")
        self.gradient = gradient
        if devices is not None:
            if not isinstance(devices, jax.sharding.Mesh) or device_axis not in devices.axis_names:
                raise ValueError(f"devices must be None or a jax.sharding.Mesh with an axis {device_axis!r} "
                                 f"(see diffphys.parallel.device_mesh); got {devices!r}")
            check_slabs(self.mesh, devices.shape[device_axis], halo=2 if gradient == "fd4" else 0)
        self.devices, self.device_axis = devices, device_axis

    # ---- geometry --------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        return len(self.a_steps) - 1

    @property
    def num_particles(self) -> int:
        return int(np.prod(self.ptcl_grid))

    @property
    def cell(self):
        return tuple(L / m for L, m in zip(self.box, self.mesh))

    def lattice(self, dtype=jnp.float32):
        """Unperturbed particle positions q (N, 3) in Mpc/h: the particle grid offset by half a mesh cell,
        so that (for integer mesh/particle ratios) particles sit at mesh-cell centres, where CIC painting
        is linear in small displacements (a particle on a mesh node paints |displacement|)."""
        axes = [np.arange(n) * (L / n) + 0.5 * L / m for n, L, m in zip(self.ptcl_grid, self.box, self.mesh)]
        q = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        return jnp.asarray(q, dtype)

    def positions(self, state):
        """Particle positions in Mpc/h, wrapped into the box."""
        x = self.lattice(state.disp.dtype) + state.disp
        return jnp.mod(x, jnp.asarray(self.box, x.dtype))

    def _cells(self, disp):
        return (self.lattice(disp.dtype) + disp) / jnp.asarray(self.cell, disp.dtype)

    # ---- particle-mesh pieces --------------------------------------------------------------
    @property
    def _ring(self) -> bool:
        """Whether paint and read-out run per device (``devices`` of more than one device, the particles split
        evenly; see :mod:`.slabs`)."""
        n_dev = 1 if self.devices is None else self.devices.shape[self.device_axis]
        return n_dev > 1 and self.num_particles % n_dev == 0

    def paint(self, disp):
        """Particle counts per mesh cell."""
        if self._ring:
            return paint_slabs(self._cells(disp), self.mesh, self.devices, self.device_axis)
        return cic_paint(self._cells(disp), self.mesh)

    def force_operator(self, counts):
        """Unit force meshes (mesh + (3,)) from counts: linear in ``counts``."""
        nbar = self.num_particles / float(np.prod(self.mesh))
        if self.devices is not None:
            return poisson_force_mesh_slabs(counts, self.box, self.devices, self.device_axis, self.deconvolve,
                                            self.gradient, scale=1.0 / nbar)
        return poisson_force_mesh(counts, self.box, self.deconvolve, self.gradient, scale=1.0 / nbar)

    def readout(self, meshes, disp):
        if self._ring:
            return readout_slabs(meshes, self._cells(disp), self.devices, self.device_axis)
        return cic_readout(meshes, self._cells(disp), channels=True)

    def force_and_mesh(self, disp):
        meshes = self.force_operator(self.paint(disp))
        return self.readout(meshes, disp), meshes

    def force(self, disp):
        """Unit force ``-grad(phi)``, ``laplacian(phi) = delta``, at the particles (N, 3)."""
        return self.force_and_mesh(disp)[0]

    def density(self, state):
        """Density contrast on the mesh."""
        nbar = self.num_particles / float(np.prod(self.mesh))
        return self.paint(state.disp) / nbar - 1.0

    # ---- initial conditions ----------------------------------------------------------------
    @property
    def _ic_on_slabs(self) -> bool:
        """Whether the particle grid splits into slabs over ``devices`` (else the LPT runs replicated)."""
        n = self.devices.shape[self.device_axis]
        return self.ptcl_grid[0] % n == 0 and self.ptcl_grid[1] % n == 0

    def initial_state(self, noise, cosmo, order=2):
        """LPT initial state at ``a_start`` from white noise on the particle grid (real space)."""
        if tuple(noise.shape) != self.ptcl_grid:
            raise ValueError(f"noise must have the particle-grid shape {self.ptcl_grid}; got {tuple(noise.shape)}")
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2 (LPT order); got {order!r}")
        if self.devices is not None and self._ic_on_slabs:
            psi1, psi2 = lpt_fields_slabs(noise, cosmo, self.box, self.devices, self.device_axis, order)
        else:
            psi1, psi2 = lpt_fields(linear_modes(noise, cosmo, self.box), self.box, self.ptcl_grid, order)
        a0 = jnp.asarray(self.a_steps[0], noise.dtype)
        disp, mom = lpt_displacement(psi1, psi2, cosmo, a0)
        return PMState(disp=disp, mom=mom, acc=self.force(disp), a=a0)

    # ---- time stepping ---------------------------------------------------------------------
    def _a_table(self, dtype):
        return jnp.asarray(np.asarray(self.a_steps), dtype)

    def next_a(self, a):
        t = self._a_table(a.dtype)
        i = jnp.searchsorted(t, a, side="right")
        return jnp.where(i < t.shape[0], t[jnp.minimum(i, t.shape[0] - 1)], a)

    def prev_a(self, a):
        t = self._a_table(a.dtype)
        i = jnp.searchsorted(t, a, side="left")
        return jnp.where(i > 0, t[jnp.maximum(i - 1, 0)], a)

    def step_factors(self, cosmo, a0, a1):
        """Kick (K1, K2) and drift (Dr) factors of a KDK step a0 -> a1 (scalars, differentiable in cosmo)."""
        cosmo = _tabulated(cosmo)
        ah = 0.5 * (a0 + a1)
        av = jnp.stack([a0, ah, a1])
        d = D1(cosmo, av)
        gp = av**2 * E(cosmo, av) * dD1_dlna(cosmo, av)
        k1 = (gp[1] - gp[0]) / d[0]
        dr = (d[2] - d[0]) / gp[1]
        k2 = (gp[2] - gp[1]) / d[2]
        return k1, dr, k2

    def step(self, state, params):
        """One kick-drift-kick step from ``state.a`` to the next scale factor of ``a_steps``."""
        a0 = state.a
        a1 = self.next_a(a0)
        k1, dr, k2 = self.step_factors(params, a0, a1)
        dt = state.disp.dtype
        ph = state.mom + state.acc * k1.astype(dt)
        disp = state.disp + ph * dr.astype(dt)
        acc = self.force(disp)
        mom = ph + acc * k2.astype(dt)
        return PMState(disp=disp, mom=mom, acc=acc, a=a1)

    def reverse_step(self, state, params):
        """Undo one :meth:`step` (exact in exact arithmetic)."""
        a1 = state.a
        a0 = self.prev_a(a1)
        k1, dr, k2 = self.step_factors(params, a0, a1)
        dt = state.disp.dtype
        ph = state.mom - state.acc * k2.astype(dt)
        disp = state.disp - ph * dr.astype(dt)
        acc = self.force(disp)
        mom = ph - acc * k1.astype(dt)
        return PMState(disp=disp, mom=mom, acc=acc, a=a0)

    def adjoint(self):
        """The reverse-time adjoint (memory independent of the number of steps) for ``gradient="adjoint"``."""
        from .adjoint import ReverseAdjoint

        return ReverseAdjoint()


def _tabulated(cosmo: Any):
    if getattr(cosmo, "growth", None) is None and hasattr(cosmo, "tabulate"):
        return cosmo.tabulate()
    return cosmo
