"""The incompressible Navier-Stokes stepper on a staggered grid.

One step of ``FlowSolver.step(state, params)`` (fixed ``dt``, Chorin splitting):

1. advect ``u``, ``v`` and the marker with the current velocity (semi-Lagrangian or MacCormack; the marker
   optionally by conservative finite volumes);
2. add the marker source ``params.source`` (rate per unit time, fluid cells), diffuse the marker
   (``params.diffusivity``), add the body force ``params.force``;
3. diffuse with viscosity ``params.viscosity`` (explicit or implicit, backward Euler by CG), then add the
   Boussinesq buoyancy ``params.buoyancy * marker`` along +y or along a given direction (the marker averaged
   onto the faces: a smoke density or a temperature excess; after the diffusion so that a hydrostatic balance
   is kept exactly);
4. impose the prescribed face velocities (walls, inflow, obstacles);
5. project onto divergence-free fields: solve ``-D G phi = -D u*`` (obstacles and boundaries built into
   the operator), ``u = u* - G phi``; the solve's status and the divergence left are in ``state.info``.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..core.checks import check_choice, check_int, check_positive, check_range, is_concrete
from .advect import advect, conservative
from .grid import Boundaries, Grid
from .interp import FieldGeom, laplacian, pad
from .obstacles import solid_mask
from .pressure import (
    FastSpec,
    Level,
    PressureInfo,
    apply_level,
    build_levels,
    fast_poisson_solve,
    pcg,
    vcycle,
)

__all__ = ["FlowParams", "FlowSolver", "FlowState"]

ADVECTION = ("semi-lagrangian", "maccormack")
DIFFUSION = ("explicit", "implicit", "none")
PRESSURE = ("auto", "mg", "cg", "fft")
BACKTRACE = ("euler", "rk2")


class FlowParams(eqx.Module):
    """Differentiable parameters.

    viscosity: kinematic viscosity (> 0). boundary_speed: factor on every prescribed boundary velocity
    (inflow profiles, moving walls). force: constant body force ``(fx, fy)``.
    buoyancy: Boussinesq buoyancy ``b``: the acceleration ``(0, b * marker)`` (``b = g beta`` for a temperature
    excess, ``g (rho_0 - rho) / rho_0`` per unit smoke density; positive rises), or a pair ``(bx, by)``: the
    acceleration ``(bx, by) * marker`` (gravity along ``-(bx, by)``, any direction in the plane).
    source: the marker's source rate at the cell centres (an array of the grid's shape, or a scalar), added
    every step (``+ dt * source`` in fluid cells).
    diffusivity: the marker's diffusivity ``kappa`` (a thermal diffusivity when the marker is a temperature;
    > 0), conducted by the solver's ``diffusion`` scheme after the marker's advection, with no flux into
    obstacles and the walls' marker conditions (``wall(marker=...)``: fixed value, default insulating).
    ``None`` (the default) leaves the term out of the step, as for buoyancy and source.
    """

    viscosity: jax.Array
    boundary_speed: jax.Array
    force: jax.Array
    buoyancy: jax.Array | None
    source: jax.Array | None
    diffusivity: jax.Array | None

    def __init__(self, viscosity, boundary_speed=1.0, force=(0.0, 0.0), buoyancy=None, source=None,
                 diffusivity=None):
        check_positive("FlowParams.viscosity", viscosity)
        if diffusivity is not None:
            check_positive("FlowParams.diffusivity", diffusivity)
            if np.shape(diffusivity) != ():
                raise ValueError(f"FlowParams.diffusivity must be a scalar; got shape {np.shape(diffusivity)}")
        self.diffusivity = None if diffusivity is None else jnp.asarray(diffusivity)
        self.viscosity = jnp.asarray(viscosity)
        self.boundary_speed = jnp.asarray(boundary_speed)
        self.force = jnp.asarray(force)
        if self.force.shape != (2,):
            raise ValueError(f"FlowParams.force must be a pair (fx, fy); got shape {self.force.shape}")
        self.buoyancy = None if buoyancy is None else jnp.asarray(buoyancy)
        if self.buoyancy is not None and self.buoyancy.shape not in ((), (2,)):
            raise ValueError(f"FlowParams.buoyancy must be a scalar or a pair (bx, by); got shape "
                             f"{self.buoyancy.shape}")
        if callable(source):
            raise ValueError("FlowParams.source must be an array (the grid's shape) or a scalar; sample a function "
                             "on the cell centres first: FlowSolver.cell_field(f)")
        if source is not None:
            source = jnp.asarray(source)
            if is_concrete(source) and not bool(jnp.all(jnp.isfinite(source))):
                raise ValueError("FlowParams.source contains NaN or infinity")
        self.source = source


class FlowState(eqx.Module):
    u: jax.Array  # x-velocity on x-faces
    v: jax.Array  # y-velocity on y-faces
    marker: jax.Array  # passive scalar at cell centres
    p: jax.Array  # pressure (per unit density) at cell centres from the last projection
    t: jax.Array
    info: PressureInfo


def _tangential(bc):
    if bc.kind == "periodic":
        return "wrap", None
    if bc.kind == "wall":
        return "odd", float(bc.speed)
    if bc.kind == "inflow":
        return "odd", 0.0
    return "even", None  # slip, outflow


def _normal(bc):
    return ("wrap", None) if bc.kind == "periodic" else ("even", None)


class FlowSolver(eqx.Module):
    """Static configuration: grid, boundaries, obstacles, schemes and the time step ``dt``.

    Args:
        grid: a :class:`Grid`.
        boundaries: a :class:`Boundaries` (default: walls all round).
        dt: the fixed time step.
        obstacles: Circle/Box/SDF/Mask objects (solid where the signed distance <= 0).
        advection: ``"semi-lagrangian"`` or ``"maccormack"`` (limited).
        diffusion: ``"implicit"`` (backward Euler, CG), ``"explicit"`` (forward Euler) or ``"none"``.
        pressure: ``"auto"`` (FFT/DCT where exact, else ``"mg"`` when the grid halves, else ``"cg"``),
            ``"mg"`` (multigrid-preconditioned CG), ``"cg"`` (Jacobi-preconditioned CG) or ``"fft"``.
        tol, atol: the pressure solve stops at ``||r|| <= max(tol ||b||, atol)``; maxiter bounds it.
        backtrace: ``"rk2"`` (midpoint) or ``"euler"`` departure points.
        max_cfl: largest allowed ``dt * U / min(dx, dy)`` for the velocity scale ``U``.
        velocity_scale: ``U`` for that check (default: the largest prescribed boundary speed).
        warm_start: start each CG pressure solve from the previous step's pressure.
        markers: advect the passive marker (False leaves ``state.marker`` unchanged, saving time).
        marker_advection: ``None`` (the marker as ``advection``), ``"semi-lagrangian"``, ``"maccormack"``, or
            ``"conservative"``: finite volumes (MUSCL with van Leer limited slopes, Heun's RK2), so the marker's
            total changes only through inflow and outflow faces (smoke mass, heat); explicit, in
            ``ceil(4 dt U / min(dx, dy))`` substeps for the velocity scale ``U`` (give ``velocity_scale`` when
            the flow is faster than every prescribed boundary speed, e.g. buoyant flow in a closed box).
    """

    grid: Grid = eqx.field(static=True)
    boundaries: Boundaries = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    advection: str = eqx.field(static=True)
    diffusion: str = eqx.field(static=True)
    pressure: str = eqx.field(static=True)
    tol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    maxiter: int = eqx.field(static=True)
    diffusion_tol: float = eqx.field(static=True)
    backtrace: str = eqx.field(static=True)
    max_cfl: float = eqx.field(static=True)
    warm_start: bool = eqx.field(static=True)
    markers: bool = eqx.field(static=True)
    marker_advection: str = eqx.field(static=True)
    marker_substeps: int = eqx.field(static=True)
    singular: bool = eqx.field(static=True)
    fast: FastSpec | None = eqx.field(static=True)
    ugeom: FieldGeom = eqx.field(static=True)
    vgeom: FieldGeom = eqx.field(static=True)
    mgeom: FieldGeom = eqx.field(static=True)
    u_modes: tuple = eqx.field(static=True)
    v_modes: tuple = eqx.field(static=True)
    m_modes: tuple = eqx.field(static=True)
    u_vals: tuple
    v_vals: tuple
    m_vals: tuple
    solid: jax.Array
    fluid: jax.Array
    open_u: jax.Array
    open_v: jax.Array
    fixed_u: jax.Array
    fixed_v: jax.Array
    coords: tuple  # (xu, yu, xv, yv, xc, yc)
    fine: Level
    levels: tuple
    coarse_inv: jax.Array | None

    def __init__(self, grid: Grid, boundaries: Boundaries | None = None, dt: float = None, *, obstacles=(),
                 advection="semi-lagrangian", diffusion="implicit", pressure="auto", tol=1e-5, atol=None,
                 maxiter=None, diffusion_tol=1e-7, backtrace="rk2", max_cfl=2.0, velocity_scale=None, warm_start=False,
                 markers=True, marker_advection=None):
        if not isinstance(grid, Grid):
            raise ValueError(f"grid must be a diffphys.flow.Grid; got {type(grid).__name__}")
        bcs = boundaries if boundaries is not None else Boundaries()
        if not isinstance(bcs, Boundaries):
            raise ValueError("boundaries must be a diffphys.flow.Boundaries")
        if dt is None:
            raise ValueError("FlowSolver needs a time step dt > 0")
        check_positive("FlowSolver.dt", dt)
        check_choice("FlowSolver.advection", advection, ADVECTION)
        marker_advection = advection if marker_advection is None else marker_advection
        check_choice("FlowSolver.marker_advection", marker_advection, ADVECTION + ("conservative",))
        self.marker_advection = marker_advection
        check_choice("FlowSolver.diffusion", diffusion, DIFFUSION)
        check_choice("FlowSolver.pressure", pressure, PRESSURE)
        check_choice("FlowSolver.backtrace", backtrace, BACKTRACE)
        check_range("FlowSolver.tol", tol, 0.0, 1.0, lo_open=True, hi_open=True)
        check_positive("FlowSolver.max_cfl", max_cfl)
        nx, ny = grid.shape
        dx, dy = grid.spacing
        lx, ly = grid.size
        maxiter = check_int("FlowSolver.maxiter", maxiter if maxiter is not None else 4 * (nx + ny) + 100, lo=1)
        self.grid, self.boundaries, self.dt = grid, bcs, float(dt)
        self.advection, self.diffusion, self.backtrace = advection, diffusion, backtrace
        self.tol, self.maxiter = float(tol), maxiter
        self.diffusion_tol, self.max_cfl = float(diffusion_tol), float(max_cfl)
        self.atol = float(atol) if atol is not None else 0.0
        self.warm_start = bool(warm_start)
        self.markers = bool(markers)
        px, py = bcs.periodic_x, bcs.periodic_y
        L, R, B, T = bcs.sides()

        # --- obstacles and faces
        solid = solid_mask(grid, obstacles)
        fluid = ~solid
        if not fluid.any():
            raise ValueError("obstacles cover the whole domain; no fluid cells left")
        xc, yc = grid.centers()
        for name, bc, cells in (("left", L, fluid[0, :]), ("right", R, fluid[-1, :]),
                                ("bottom", B, fluid[:, 0]), ("top", T, fluid[:, -1])):
            if bc.kind == "inflow":
                s = yc[0, :] if name in ("left", "right") else xc[:, 0]
                prof = bc.eval("profile", s)
                if not np.any(cells & (prof != 0)):
                    raise ValueError(f"the {name} inflow is fully blocked: obstacles (or a zero profile) cover "
                                     f"every inflow face; move the obstacle off the {name} side")
        if px:
            open_u = fluid & np.roll(fluid, 1, 0)
        else:
            open_u = np.zeros((nx + 1, ny), bool)
            open_u[1:-1] = fluid[1:] & fluid[:-1]
            open_u[0] = fluid[0] & (L.kind == "outflow")
            open_u[-1] = fluid[-1] & (R.kind == "outflow")
        if py:
            open_v = fluid & np.roll(fluid, 1, 1)
        else:
            open_v = np.zeros((nx, ny + 1), bool)
            open_v[:, 1:-1] = fluid[:, 1:] & fluid[:, :-1]
            open_v[:, 0] = fluid[:, 0] & (B.kind == "outflow")
            open_v[:, -1] = fluid[:, -1] & (T.kind == "outflow")
        fixed_u = np.zeros(open_u.shape)
        fixed_v = np.zeros(open_v.shape)
        if not px:
            if L.kind == "inflow":
                fixed_u[0] = L.eval("profile", yc[0]) * fluid[0]
            if R.kind == "inflow":
                fixed_u[-1] = -R.eval("profile", yc[0]) * fluid[-1]
        if not py:
            if B.kind == "inflow":
                fixed_v[:, 0] = B.eval("profile", xc[:, 0]) * fluid[:, 0]
            if T.kind == "inflow":
                fixed_v[:, -1] = -T.eval("profile", xc[:, 0]) * fluid[:, -1]
        speeds = [abs(float(b.speed)) for b in (L, R, B, T)]
        speeds += [float(np.max(np.abs(fixed_u))), float(np.max(np.abs(fixed_v)))]
        U = float(velocity_scale) if velocity_scale is not None else max(speeds)
        cfl = self.dt * U / min(dx, dy)
        if cfl > max_cfl:
            raise ValueError(f"dt = {dt:g} is beyond the CFL limit: dt * U / min(dx, dy) = {cfl:.3g} > max_cfl = "
                             f"{max_cfl:g} for velocity scale U = {U:g}; use dt <= {max_cfl * min(dx, dy) / U:.4g}")
        self.marker_substeps = max(1, math.ceil(4 * cfl - 1e-12)) if marker_advection == "conservative" else 1

        # --- ghost rules: (left, right, bottom, top)
        self.u_modes, u_vals = zip(*[_normal(L), _normal(R), _tangential(B), _tangential(T)])
        self.v_modes, v_vals = zip(*[_tangential(L), _tangential(R), _normal(B), _normal(T)])
        m_rules = []
        for name, bc in (("left", L), ("right", R), ("bottom", B), ("top", T)):
            if bc.kind == "periodic":
                m_rules.append(("wrap", None))
            elif bc.kind == "inflow" or (bc.kind in ("wall", "slip") and bc.marker is not None):
                s = yc[0, :] if name in ("left", "right") else xc[:, 0]
                m_rules.append(("odd", jnp.asarray(bc.eval("marker", s))))
            else:
                m_rules.append(("even", None))
        self.m_modes, m_vals = zip(*m_rules)
        self.u_vals, self.v_vals, self.m_vals = tuple(u_vals), tuple(v_vals), tuple(m_vals)
        self.ugeom = FieldGeom(0.0, dy / 2, dx, dy, lx, ly, px, py)
        self.vgeom = FieldGeom(dx / 2, 0.0, dx, dy, lx, ly, px, py)
        self.mgeom = FieldGeom(dx / 2, dy / 2, dx, dy, lx, ly, px, py)
        xu, yu = grid.u_faces(px)
        xv, yv = grid.v_faces(py)
        self.coords = tuple(jnp.asarray(a) for a in (xu, yu, xv, yv, xc, yc))

        # --- pressure operator (cell form)
        f = fluid.astype(float)
        ou, ov = open_u.astype(float), open_v.astype(float)
        dirich = np.zeros((nx, ny))
        if px:
            clx, crx = ou / dx**2, np.roll(ou, -1, 0) / dx**2
        else:
            clx, crx = ou[:-1].copy() / dx**2, ou[1:].copy() / dx**2
            clx[0] = 0.0
            crx[-1] = 0.0
            dirich[0] += ou[0] / dx**2
            dirich[-1] += ou[-1] / dx**2
        if py:
            cly, cry = ov / dy**2, np.roll(ov, -1, 1) / dy**2
        else:
            cly, cry = ov[:, :-1].copy() / dy**2, ov[:, 1:].copy() / dy**2
            cly[:, 0] = 0.0
            cry[:, -1] = 0.0
            dirich[:, 0] += ov[:, 0] / dy**2
            dirich[:, -1] += ov[:, -1] / dy**2
        fine = dict(clx=clx, crx=crx, cly=cly, cry=cry, diag=dirich * f + (1 - f), fluid=f)
        self.singular = not bcs.has_outflow
        kinds = []
        for per, lo, hi in ((px, L, R), (py, B, T)):
            closed = lo.kind in ("wall", "slip") and hi.kind in ("wall", "slip")
            kinds.append("periodic" if per else ("neumann" if closed else None))
        fast_ok = not solid.any() and None not in kinds
        if pressure == "fft" and not fast_ok:
            raise ValueError("pressure='fft' needs no obstacles and every axis periodic or closed by walls; "
                             "use 'mg' or 'cg'")
        levels, cinv = ([], None)
        if pressure in ("auto", "mg") and not (pressure == "auto" and fast_ok):
            levels, cinv = build_levels(fine)
            if pressure == "mg" and not levels:
                raise ValueError(f"pressure='mg' needs a grid that halves at least once (even nx, ny) down to at most "
                                 f"4096 cells (the dense coarsest solve); got {grid.shape}; use pressure='cg'")
        if pressure == "auto":
            pressure = "fft" if fast_ok else ("mg" if levels else "cg")
        self.pressure = pressure
        self.fast = FastSpec(kinds[0], kinds[1], dx, dy, (nx, ny)) if pressure == "fft" else None
        to_level = lambda c: Level(**{k: jnp.asarray(v) for k, v in c.items()})
        self.fine = to_level(fine)
        self.levels = tuple(to_level(c) for c in levels)
        self.coarse_inv = None if cinv is None else jnp.asarray(cinv)
        self.solid, self.fluid = jnp.asarray(solid), jnp.asarray(f)
        self.open_u, self.open_v = jnp.asarray(ou), jnp.asarray(ov)
        self.fixed_u, self.fixed_v = jnp.asarray(fixed_u), jnp.asarray(fixed_v)

    # ------------------------------------------------------------------ helpers
    def _rules(self, modes, vals):
        return tuple(zip(modes, vals))

    def pad_u(self, u, scale):
        return pad(u, self._rules(self.u_modes, self.u_vals), scale)

    def pad_v(self, v, scale):
        return pad(v, self._rules(self.v_modes, self.v_vals), scale)

    def enforce(self, u, v, scale):
        """Impose the prescribed face velocities (walls, inflow, obstacles)."""
        ou, ov = self.open_u.astype(u.dtype), self.open_v.astype(v.dtype)
        u = ou * u + (1 - ou) * self.fixed_u.astype(u.dtype) * scale
        v = ov * v + (1 - ov) * self.fixed_v.astype(v.dtype) * scale
        return u, v

    def divergence(self, u, v):
        dx, dy = self.grid.spacing
        du = (jnp.roll(u, -1, 0) - u) if self.boundaries.periodic_x else (u[1:] - u[:-1])
        dv = (jnp.roll(v, -1, 1) - v) if self.boundaries.periodic_y else (v[:, 1:] - v[:, :-1])
        return (du / dx + dv / dy) * self.fluid.astype(u.dtype)

    def gradient(self, phi):
        """Pressure gradient on the open faces (ghost pressure 0 beyond outflow faces)."""
        dx, dy = self.grid.spacing
        if self.boundaries.periodic_x:
            gu = (phi - jnp.roll(phi, 1, 0)) / dx
        else:
            z = jnp.zeros_like(phi[:1])
            pp = jnp.concatenate([z, phi, z], 0)
            gu = (pp[1:] - pp[:-1]) / dx
        if self.boundaries.periodic_y:
            gv = (phi - jnp.roll(phi, 1, 1)) / dy
        else:
            z = jnp.zeros_like(phi[:, :1])
            pp = jnp.concatenate([z, phi, z], 1)
            gv = (pp[:, 1:] - pp[:, :-1]) / dy
        return gu * self.open_u.astype(phi.dtype), gv * self.open_v.astype(phi.dtype)

    def poisson_matvec(self, phi):
        return apply_level(self.fine, phi)

    def _project_mean(self, a):
        if not self.singular:
            return a
        f = self.fluid.astype(a.dtype)
        return a - f * jnp.sum(a * f) / jnp.sum(f)

    def _precond(self, r):
        if self.pressure == "mg":
            return vcycle(self.levels, self.coarse_inv, r)
        return r / self.fine.diagonal().astype(r.dtype)

    def solve_pressure(self, rhs, x0=None):
        """Solve ``A phi = rhs`` (A = -D G); returns ``(phi, iterations, ||r|| / ||rhs||)``.

        Differentiable by implicit differentiation (``jax.lax.custom_linear_solve``): derivatives solve
        the same (symmetric) system again. ``x0`` is an optional starting guess (not differentiated) for
        the forward solve; the stopping rule is still ``||r|| <= max(tol ||rhs||, atol)``. The adjoint
        solves start from 0 and stop at ``tol`` relative to their own right-hand side, so a warm start
        changes gradients only within the solver tolerance.
        """
        rhs = self._project_mean(rhs)
        bnorm = lax.stop_gradient(jnp.sqrt(jnp.sum(rhs * rhs)))
        safe = jnp.where(bnorm > 0, bnorm, 1)
        if self.pressure == "fft":
            def solve(matvec, b):
                b = self._project_mean(b)
                x = fast_poisson_solve(self.fast, b)
                r = b - matvec(x)
                return x, (jnp.zeros((), jnp.int32), jnp.sqrt(jnp.sum(r * r)))

            phi, (iters, rnorm) = lax.custom_linear_solve(self.poisson_matvec, rhs, solve, symmetric=True,
                                                          has_aux=True)
            return phi, lax.stop_gradient(iters), lax.stop_gradient(rnorm / safe)
        atol = jnp.asarray(self.atol, rhs.dtype)
        x0 = None if x0 is None else lax.stop_gradient(x0)

        def solve(matvec, b):  # forward (and tangent) solves: from the previous pressure when warm
            return pcg(matvec, b, self._precond, self.tol, atol, self.maxiter, project=self._project_mean, x0=x0)

        def solve_t(matvec, b):  # transpose (adjoint) solves: the cotangent is unrelated to x0, start at 0
            return pcg(matvec, b, self._precond, self.tol, atol, self.maxiter, project=self._project_mean)

        phi, (iters, rnorm) = lax.custom_linear_solve(self.poisson_matvec, rhs, solve, transpose_solve=solve_t,
                                                      symmetric=True, has_aux=True)
        return phi, lax.stop_gradient(iters), lax.stop_gradient(rnorm / safe)

    def project(self, u, v, x0=None):
        """Divergence-free projection; returns ``(u, v, phi, (iterations, rel. residual, converged, max|div|))``."""
        div = self.divergence(u, v)
        phi, iters, rel = self.solve_pressure(-div, x0)
        gu, gv = self.gradient(phi)
        u, v = u - gu, v - gv
        div_after = lax.stop_gradient(jnp.max(jnp.abs(self.divergence(u, v))))
        tol_ok = rel <= jnp.maximum(self.tol, 10 * jnp.finfo(u.dtype).eps)
        if self.atol > 0:
            tol_ok = tol_ok | (rel * jnp.sqrt(jnp.sum(div * div)) <= self.atol)
        return u, v, phi, (iters, rel, tol_ok, div_after)

    def _diffusion_solve(self, matvec, b):
        """CG for the implicit diffusion systems ``(I - a L) x = b`` (symmetric positive definite)."""
        x, _ = pcg(matvec, b, lambda r: r, self.diffusion_tol, 0.0, 500)
        return x

    def diffuse(self, u, v, nu, scale):
        dx, dy = self.grid.spacing
        a = self.dt * nu
        ou, ov = self.open_u.astype(u.dtype), self.open_v.astype(v.dtype)
        lu = ou * laplacian(self.pad_u(u, scale), dx, dy)
        lv = ov * laplacian(self.pad_v(v, scale), dx, dy)
        if self.diffusion == "explicit":
            limit = a * 2 * (1 / dx**2 + 1 / dy**2)
            u = eqx.error_if(u, limit > 1.0, "explicit diffusion unstable: viscosity * dt * 2 (1/dx^2 + 1/dy^2) "
                             "> 1; use diffusion='implicit' or a smaller dt")
            return u + a * lu, v + a * lv

        # one flat unknown (u faces then v faces): a right-hand side whose u or v part has no tangent (a
        # symbolic zero, e.g. a flow driven only in y) must not reach custom_linear_solve's JVP as a separate leaf
        flat = lambda t: jnp.concatenate([t[0].ravel(), t[1].ravel()])
        unflat = lambda x: (x[:u.size].reshape(u.shape), x[u.size:].reshape(v.shape))

        def matvec(z):
            du, dv = unflat(z)
            du, dv = ou * du, ov * dv
            return flat((du - a * ou * laplacian(self.pad_u(du, 0.0), dx, dy),
                         dv - a * ov * laplacian(self.pad_v(dv, 0.0), dx, dy)))

        du, dv = unflat(lax.custom_linear_solve(matvec, flat((a * lu, a * lv)), self._diffusion_solve, symmetric=True))
        return u + du, v + dv

    def marker_laplacian(self, m, scale=1.0):
        """The five-point Laplacian of the marker in flux form: wall and inflow values from the marker's ghost
        rules (``scale`` multiplies those values; 0 gives the homogeneous operator), no flux across a face next
        to an obstacle, 0 in solid cells."""
        dx, dy = self.grid.spacing
        f = self.fluid.astype(m.dtype)
        px, py = self.boundaries.periodic_x, self.boundaries.periodic_y
        fx = jnp.concatenate([f[-1:] if px else f[:1], f, f[:1] if px else f[-1:]], 0)
        fy = jnp.concatenate([f[:, -1:] if py else f[:, :1], f, f[:, :1] if py else f[:, -1:]], 1)
        mp = pad(m, self._rules(self.m_modes, self.m_vals), scale)
        qx = (mp[1:, 1:-1] - mp[:-1, 1:-1]) / dx * (fx[1:] * fx[:-1])
        qy = (mp[1:-1, 1:] - mp[1:-1, :-1]) / dy * (fy[:, 1:] * fy[:, :-1])
        return f * ((qx[1:] - qx[:-1]) / dx + (qy[:, 1:] - qy[:, :-1]) / dy)

    def diffuse_marker(self, m, kappa):
        """One step of marker diffusion by the solver's ``diffusion`` scheme (backward or forward Euler)."""
        dx, dy = self.grid.spacing
        a = self.dt * kappa
        lm = self.marker_laplacian(m)
        if self.diffusion == "explicit":
            limit = a * 2 * (1 / dx**2 + 1 / dy**2)
            m = eqx.error_if(m, limit > 1.0, "explicit marker diffusion unstable: diffusivity * dt * 2 "
                             "(1/dx^2 + 1/dy^2) > 1; use diffusion='implicit' or a smaller dt")
            return m + a * lm

        matvec = lambda z: z - a * self.marker_laplacian(z, 0.0)
        return m + lax.custom_linear_solve(matvec, a * lm, self._diffusion_solve, symmetric=True)

    # ------------------------------------------------------------------ public
    def marker_on_u_faces(self, m):
        """The cell-centred marker averaged onto the x-faces (the shape of ``state.u``), as
        :meth:`marker_on_v_faces`."""
        nx, ny = self.grid.shape
        mp = pad(m, self._rules(self.m_modes, self.m_vals), 1.0)
        nfx = nx if self.boundaries.periodic_x else nx + 1
        return 0.5 * (mp[0:nfx, 1:ny + 1] + mp[1:nfx + 1, 1:ny + 1])

    def marker_on_v_faces(self, m):
        """The cell-centred marker averaged onto the y-faces (the shape of ``state.v``), boundary faces from
        the marker's ghost rules (those faces are prescribed anyway)."""
        nx, ny = self.grid.shape
        mp = pad(m, self._rules(self.m_modes, self.m_vals), 1.0)
        nfy = ny if self.boundaries.periodic_y else ny + 1
        return 0.5 * (mp[1:nx + 1, 0:nfy] + mp[1:nx + 1, 1:nfy + 1])

    def cell_field(self, f, dtype=None):
        """``f(x, y)`` sampled on the cell centres (e.g. a marker source for :class:`FlowParams`)."""
        xc, yc = self.coords[4], self.coords[5]
        return jnp.asarray(f(xc, yc), dtype or jnp.result_type(float))

    def velocity(self, u, v, scale=1.0):
        """A sampler ``(x, y) -> (u, v)`` of the bilinearly interpolated velocity."""
        from .interp import sample

        up, vp = self.pad_u(u, scale), self.pad_v(v, scale)
        return lambda x, y: (sample(up, self.ugeom, x, y), sample(vp, self.vgeom, x, y))

    def grid_velocities(self, u, v, scale=1.0):
        """Velocity at the u-faces, the v-faces and the cell centres (fixed-stencil averages)."""
        nx, ny = self.grid.shape
        nfx, nfy = u.shape[0], v.shape[1]
        up, vp = self.pad_u(u, scale), self.pad_v(v, scale)
        v_at_u = 0.25 * (vp[0:nfx, 1:ny + 1] + vp[1:nfx + 1, 1:ny + 1] + vp[0:nfx, 2:ny + 2] + vp[1:nfx + 1, 2:ny + 2])
        u_at_v = 0.25 * (up[1:nx + 1, 0:nfy] + up[2:nx + 2, 0:nfy] + up[1:nx + 1, 1:nfy + 1] + up[2:nx + 2, 1:nfy + 1])
        uc = 0.5 * (up[1:nx + 1, 1:ny + 1] + up[2:nx + 2, 1:ny + 1])
        vc = 0.5 * (vp[1:nx + 1, 1:ny + 1] + vp[1:nx + 1, 2:ny + 2])
        return (u, v_at_u), (u_at_v, v), (uc, vc)

    def step(self, state: FlowState, params: FlowParams) -> FlowState:
        dt, dtype = self.dt, state.u.dtype
        s = jnp.asarray(params.boundary_speed, dtype)
        nu = jnp.asarray(params.viscosity, dtype)
        xu, yu, xv, yv, xc, yc = (c.astype(dtype) for c in self.coords)
        vel = self.velocity(state.u, state.v, s)
        vu, vv, vc = self.grid_velocities(state.u, state.v, s)
        # the padded velocity fields ``vel`` samples (the same padding, merged by the compiler): lets the RK2
        # trace from grid points sample them by slices instead of gathers
        fields = (self.pad_u(state.u, s), self.ugeom, self.pad_v(state.v, s), self.vgeom)
        kw = dict(scheme=self.advection, method=self.backtrace, fields=fields)
        u = advect(state.u, self._rules(self.u_modes, self.u_vals), s, self.ugeom, xu, yu, vel, dt, vel0=vu, **kw)
        v = advect(state.v, self._rules(self.v_modes, self.v_vals), s, self.vgeom, xv, yv, vel, dt, vel0=vv, **kw)
        if self.markers and self.marker_advection == "conservative":
            faces = tuple(None if mode != "odd" else val for mode, val in zip(self.m_modes, self.m_vals))
            m = conservative(state.marker, self._rules(self.m_modes, self.m_vals), jnp.ones((), dtype), state.u,
                             state.v, dt, *self.grid.spacing, self.boundaries.periodic_x, self.boundaries.periodic_y,
                             self.marker_substeps, faces)
        elif self.markers:
            kw = dict(kw, scheme=self.marker_advection)
            m = advect(state.marker, self._rules(self.m_modes, self.m_vals), jnp.ones((), dtype), self.mgeom,
                       xc, yc, vel, dt, vel0=vc, **kw)
        else:
            m = state.marker
        if params.source is not None:
            if jnp.ndim(params.source) not in (0, 2) or (jnp.ndim(params.source) == 2
                                                         and tuple(jnp.shape(params.source)) != self.grid.shape):
                raise ValueError(f"FlowParams.source must be a scalar or have the grid's shape {self.grid.shape}; "
                                 f"got shape {tuple(jnp.shape(params.source))}")
            m = m + dt * self.fluid.astype(dtype) * jnp.asarray(params.source, dtype)
        if params.diffusivity is not None:
            if not self.markers or self.diffusion == "none":
                raise ValueError("FlowParams.diffusivity needs a solver that advects markers (markers=True) and has "
                                 "a diffusion scheme (diffusion='implicit' or 'explicit'); got "
                                 f"markers={self.markers}, diffusion={self.diffusion!r}")
            m = self.diffuse_marker(m, jnp.asarray(params.diffusivity, dtype))
        force = jnp.asarray(params.force, dtype)
        u, v = u + dt * force[0], v + dt * force[1]
        u, v = self.enforce(u, v, s)
        if self.diffusion != "none":
            u, v = self.diffuse(u, v, nu, s)
        if params.buoyancy is not None:
            # after the diffusion: where the buoyancy is a gradient (a marker stratified in height) the projection
            # cancels it exactly, and a fluid at rest stays at rest (diffusing it first would leave wall currents)
            b = jnp.asarray(params.buoyancy, dtype)
            if b.ndim == 0:
                v = v + dt * b * self.marker_on_v_faces(m)
            else:
                u = u + dt * b[0] * self.marker_on_u_faces(m)
                v = v + dt * b[1] * self.marker_on_v_faces(m)
        if self.diffusion != "none" or params.buoyancy is not None:
            u, v = self.enforce(u, v, s)
        x0 = state.p * dt if self.warm_start else None
        u, v, phi, (iters, rel, ok, div) = self.project(u, v, x0)
        dx, dy = self.grid.spacing
        cfl = lax.stop_gradient(dt * jnp.maximum(jnp.max(jnp.abs(u)) / dx, jnp.max(jnp.abs(v)) / dy))
        info = PressureInfo(iters, rel, ok, div, cfl)
        return FlowState(u, v, m, phi / dt, state.t + dt, info)

    def initial_state(self, u=None, v=None, marker=None, dtype=None, boundary_speed=1.0, project=True):
        """A state from optional initial fields (callables ``f(x, y)`` or arrays; default 0), with the
        boundary velocities imposed and (by default) projected to be divergence-free."""
        dtype = dtype or jnp.result_type(float)
        xu, yu, xv, yv, xc, yc = self.coords

        def field(f, x, y):
            if f is None:
                return jnp.zeros(x.shape, dtype)
            a = f(x, y) if callable(f) else f
            a = jnp.asarray(a, dtype)
            if a.shape != x.shape:
                raise ValueError(f"initial field must have shape {x.shape}; got {a.shape}")
            return a

        uu, vv, mm = field(u, xu, yu), field(v, xv, yv), field(marker, xc, yc)
        for name, a in (("u", uu), ("v", vv), ("marker", mm)):
            if is_concrete(a) and not bool(jnp.all(jnp.isfinite(a))):
                raise ValueError(f"initial {name} contains NaN or infinity")
        uu, vv = self.enforce(uu, vv, jnp.asarray(boundary_speed, dtype))
        info = PressureInfo.empty(dtype)
        p = jnp.zeros(self.grid.shape, dtype)
        if project:
            uu, vv, phi, (iters, rel, ok, div) = self.project(uu, vv)
            info = PressureInfo(iters, rel, ok, div, jnp.zeros((), dtype))
        return FlowState(uu, vv, mm, p, jnp.zeros((), dtype), info)

    def check(self, state: FlowState, params: FlowParams):
        """Eager checks of a (state, params) pair: CFL of the state's velocity, explicit-diffusion limit."""
        dx, dy = self.grid.spacing
        umax = max(float(jnp.max(jnp.abs(state.u))), float(jnp.max(jnp.abs(state.v))))
        cfl = self.dt * umax / min(dx, dy)
        if cfl > self.max_cfl:
            raise ValueError(f"dt = {self.dt:g} is beyond the CFL limit for this state: dt * max|u| / min(dx, dy) = "
                             f"{cfl:.3g} > max_cfl = {self.max_cfl:g}")
        if is_concrete(params.viscosity) and self.diffusion == "explicit":
            a = float(params.viscosity) * self.dt * 2 * (1 / dx**2 + 1 / dy**2)
            if a > 1:
                raise ValueError(f"explicit diffusion needs viscosity * dt * 2 (1/dx^2 + 1/dy^2) <= 1; got {a:.3g}; "
                                 f"use diffusion='implicit' or dt <= {self.dt / a:.4g}")
        if params.diffusivity is not None and is_concrete(params.diffusivity) and self.diffusion == "explicit":
            a = float(params.diffusivity) * self.dt * 2 * (1 / dx**2 + 1 / dy**2)
            if a > 1:
                raise ValueError(f"explicit marker diffusion needs diffusivity * dt * 2 (1/dx^2 + 1/dy^2) <= 1; got "
                                 f"{a:.3g}; use diffusion='implicit' or dt <= {self.dt / a:.4g}")
        return self
