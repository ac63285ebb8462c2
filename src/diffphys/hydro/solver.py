"""The radial finite-volume Euler solver.

For cell ``i`` with volume ``V_i`` between faces of area ``A_{i-1/2}``, ``A_{i+1/2}`` the scheme advances

    d(V_i rho_i)/dt = -(A F_rho)|_{i-1/2}^{i+1/2}
    d(V_i m_i)/dt   = -(A F_m)|_{i-1/2}^{i+1/2} + p_i (A_{i+1/2} - A_{i-1/2})
    d(V_i E_i)/dt   = -(A F_E)|_{i-1/2}^{i+1/2}

(plus sources). Mass and energy updates are pure flux differences, so their totals change only by the
boundary fluxes (zero at reflective walls) and the sources: conserved to round-off. The geometric
pressure term ``p dA`` sits only in the momentum equation and balances a uniform pressure exactly.
Any of the Riemann solvers (HLLC included) is used unchanged in every geometry.

Time integration: forward Euler (``"euler"``), SSP-RK2 (Heun) or SSP-RK3 (Shu-Osher). The step size
from :meth:`EulerSolver.max_dt` is ``cfl * dr / max(|v| + c)`` (and the wind speed when a wind blows);
:func:`diffphys.core.simulate` shortens the last step so the run lands exactly on ``t_end``.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import lax
import numpy as np

from ..core.checks import check_choice, check_finite, check_range, is_concrete
from ..core.gradients import Checkpoint, ForwardSensitivity, Store
from ..core.simulate import simulate
from .boundary import Boundary, Fixed, Periodic, Reflective, as_boundary, pad_rows
from .conduction import Conduction
from .cooling import Cooling
from .grid import RadialGrid
from .reconstruct import (LIMITERS, RECONSTRUCTIONS, characteristic_slopes, euler_projection, materialize,
                          reconstruct_rows)
from .riemann import RIEMANN_ROWS, RIEMANN_SOLVERS
from .sources import SelfGravity, StellarWind
from .state import HydroState, check_gamma, conserved_to_primitive

__all__ = ["EulerSolver", "solve", "validate_state"]

INTEGRATORS = ("euler", "rk2", "rk3", "hancock")
THETA = 0.25  # Hancock face-state floor, relative to the smaller neighbouring cell average


def _flush(v):
    """Set velocities below ``sqrt(tiny) / eps`` (7e-139 in float64) to zero.

    Upwind diffusion leaks ever smaller velocities ahead of a shock into gas at rest; their products
    (limiter tests, kinetic energy) then reach the subnormal range, where x86 arithmetic is ~100x
    slower: a wind run became 30x slower. Values this small are far below the round-off of anything
    physical, so flushing them changes no result.
    """
    fi = jnp.finfo(v.dtype)
    return jnp.where(jnp.abs(v) < float(np.sqrt(fi.tiny)) / fi.eps, 0.0, v)


def _stack(rows):
    """``jnp.stack(rows)`` built by in-place row updates: XLA CPU compiles a fused ``stack`` of computed
    rows into one loop with a branch per element, which does not vectorise; three row updates do."""
    out = jnp.zeros((len(rows),) + rows[0].shape, rows[0].dtype)
    for k, r in enumerate(rows):
        out = lax.dynamic_update_index_in_dim(out, r, k, 0)
    return out


def _one(rho):
    """1.0 exactly at run time, unknown to the compiler on a CPU and without derivative (for ``materialize``).

    An ``optimization_barrier`` on a constant scalar: the compiler cannot fold it, and it depends on no
    input, so it stays a scalar under every ``vmap`` (over parameters, states or tangents). A ``one``
    derived from the state became a batched vector under ``vmap``, and XLA rewrites ``x / broadcast(v)``
    as ``x * broadcast(1 / v)``, which undid every ``materialize``: a vmapped wind step cost 14x a single
    one, a vmapped gradient 23x. A row of ones fixed ``vmap`` over parameters but broke ``vmap`` over
    tangents (the forward-mode Jacobian of ``wind-fit``: 5.7x slower) the same way."""
    one = jnp.ones((), rho.dtype)
    # a CPU device only (resolved when the step is lowered; XLA then folds ``x / 1.0`` away elsewhere): on a
    # GPU every kernel is a launch, a division splits a fusion in two, and recomputing a cheap value costs
    # less than a launch (wind N=401 on an H200: forward 0.28 -> 0.15 s, gradient 1.23 -> 0.74 s without).
    # The switch is on this input-free scalar, not on the divisions: a differentiated platform switch around
    # each division lost the CPU branch in parts of the reverse pass (CPU gradient 4x slower)
    return lax.stop_gradient(lax.platform_dependent(one, cpu=lax.optimization_barrier, default=lambda o: o))


class EulerSolver(eqx.Module):
    """Static configuration of a 1D radial Euler run; ``step(state, params, dt)`` and ``max_dt``.

    Args:
        grid: a :class:`RadialGrid`.
        gamma: adiabatic index (> 1).
        riemann: ``"hllc"`` (default), ``"hll"`` or ``"rusanov"``.
        limiter: ``"mc"`` (default), ``"minmod"``, ``"vanleer"`` or ``None`` (first order).
        integrator: ``"rk2"`` (default), ``"rk3"``, ``"euler"`` or ``"hancock"`` (MUSCL-Hancock:
            second order in one stage, one Riemann solve per step).
        cfl: Courant number in (0, 1].
        left, right: boundaries (``"reflective"``, ``"outflow"`` or :class:`Fixed`); the default left
            boundary is reflective (the origin) and the right one outflow.
        source: ``None`` or a :class:`StellarWind`; its parameters come in ``params``.
        gravity: ``None`` or a :class:`SelfGravity` (spherical grids): the gas's
            own gravity from its enclosed mass, plus an optional central point mass.
        cooling: ``None`` or a :class:`~diffphys.hydro.cooling.Cooling`: optically thin radiative cooling,
            applied after each hydro step at constant density and integrated exactly over the step
            (operator split; no time-step limit).
        conduction: ``None`` or a :class:`~diffphys.hydro.conduction.Conduction`: thermal conduction, a
            linearly implicit conservative substep after each hydro step (before cooling; unconditionally
            stable, so no time-step limit; total energy conserved to round-off with closed ends).
        reconstruction: ``"primitive"`` (default: ``rho``, ``v``, ``p`` limited each on its own) or
            ``"characteristic"`` (the differences projected on the three waves of the cell's state,
            :func:`~diffphys.hydro.reconstruct.euler_projection`, limited wave by wave, then clipped between the
            neighbouring averages), for every integrator.
    """

    #: a step of ``dt = 0`` returns the state unchanged: ``core.simulate`` runs the slots after ``t_end``
    #: with ``dt = 0`` instead of a ``lax.cond`` per slot (cheaper reverse pass)
    masked_steps = True

    grid: RadialGrid = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    riemann: str = eqx.field(static=True)
    limiter: str | None = eqx.field(static=True)
    integrator: str = eqx.field(static=True)
    cfl: float = eqx.field(static=True)
    reconstruction: str = eqx.field(static=True)
    left: Boundary
    right: Boundary
    source: StellarWind | None
    cooling: Cooling | None
    conduction: Conduction | None
    gravity: SelfGravity | None
    areas: np.ndarray
    inv_vol: np.ndarray
    da_over_v: np.ndarray
    flux_mask: np.ndarray
    inv_width: np.ndarray
    src_weight: np.ndarray | None
    r_pad: np.ndarray
    half_vol: np.ndarray

    def __init__(self, grid, gamma=1.4, riemann="hllc", limiter="mc", integrator="rk2", cfl=0.8,
                 left="reflective", right="outflow", source=None, cooling=None, gravity=None,
                 reconstruction="primitive", conduction=None):
        if not isinstance(grid, RadialGrid):
            raise ValueError(f"grid must be a RadialGrid; got {type(grid).__name__}")
        self.grid = grid
        self.gamma = check_gamma(gamma)
        check_choice("riemann", riemann, tuple(RIEMANN_SOLVERS))
        check_choice("limiter", limiter, (*LIMITERS, None))
        check_choice("integrator", integrator, INTEGRATORS)
        check_range("cfl", cfl, 0.0, 1.0, lo_open=True)
        self.riemann, self.limiter, self.integrator, self.cfl = riemann, limiter, integrator, float(cfl)
        check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
        self.reconstruction = reconstruction
        self.left = as_boundary(left, "left")
        self.right = as_boundary(right, "right")
        if isinstance(self.left, Periodic) != isinstance(self.right, Periodic):
            raise ValueError("periodic boundaries must be given on both sides (left='periodic', right='periodic')")
        if isinstance(self.left, Periodic) and grid.geometry != "planar":
            raise ValueError(f"periodic boundaries need geometry 'planar'; got {grid.geometry!r}")
        if source is not None and not isinstance(source, StellarWind):
            raise ValueError(f"source must be None or a StellarWind; got {type(source).__name__}")
        self.source = source
        if cooling is not None and not isinstance(cooling, Cooling):
            raise ValueError(f"cooling must be None or a Cooling; got {type(cooling).__name__}")
        self.cooling = cooling
        if conduction is not None and not isinstance(conduction, Conduction):
            raise ValueError(f"conduction must be None or a Conduction; got {type(conduction).__name__}")
        self.conduction = conduction
        if gravity is not None:
            if not isinstance(gravity, SelfGravity):
                raise ValueError(f"gravity must be None or a SelfGravity; got {type(gravity).__name__}")
            if grid.geometry != "spherical":
                raise ValueError(f"SelfGravity needs geometry 'spherical'; got {grid.geometry!r}")
            if gravity.point_mass > 0 and grid.r_min == 0:
                raise ValueError("SelfGravity with a point_mass needs a grid with r_min > 0 (the field of a point "
                                 "mass is singular at the origin)")
        self.gravity = gravity
        self.half_vol = grid.volume_within(grid.centers) - grid.volume_within(grid.faces[:-1])
        n = grid.n_cells
        self.areas = grid.areas.copy()
        self.inv_vol = 1.0 / grid.volumes
        self.inv_width = grid.inv_width  # dr / CFL width of each cell (see RadialGrid)
        self.da_over_v = grid.da_over_v
        # centres of the padded cells 1..n+2 (one ghost per side; mirrored about a wall at r_min)
        self.r_pad = np.concatenate([[grid.centers[0] - grid.dr], grid.centers, [grid.centers[-1] + grid.dr]])
        mask = np.ones((3, n + 1))
        if isinstance(self.left, Reflective):
            mask[[0, 2], 0] = 0.0
        if isinstance(self.right, Reflective):
            mask[[0, 2], -1] = 0.0
        self.flux_mask = mask
        if source is not None:
            if source.n_inject >= n:
                raise ValueError(f"StellarWind n_inject must be < n_cells ({n}); got {source.n_inject}")
            w = np.zeros(n)
            w[: source.n_inject] = 1.0 / grid.volumes[: source.n_inject].sum()
            self.src_weight = w
        else:
            self.src_weight = None

    # -- the semi-discrete right-hand side -------------------------------------------------------
    def rate(self, u, params):
        """``du/dt`` for conserved variables ``u`` of shape ``(3, n)``."""
        return _stack(self._rate_rows((u[0], u[1], u[2]), params))

    def _primitive_rows(self, rows):
        rho, m, e = rows
        v = _flush(m / rho)
        return rho, v, (self.gamma - 1.0) * (e - 0.5 * rho * v * v)

    def _rate_rows(self, rows, params):
        """``du/dt`` as three rows from three conserved rows (the layout XLA compiles best on CPU)."""
        rho, v, p = self._primitive_rows(rows)
        one = _one(rho)
        wl, wr = reconstruct_rows(pad_rows((rho, v, p), self.left, self.right), self.limiter, one,
                                  project=self._projection)
        return self._divergence(RIEMANN_ROWS[self.riemann](wl, wr, self.gamma, one), p, v, params, rho.dtype, one,
                                rho)

    @property
    def _projection(self):
        if self.reconstruction == "primitive":
            return None
        return lambda w, one: euler_projection(w, self.gamma, one)

    def _divergence(self, f, p, v, params, dt_, one=None, rho=None):
        """``du/dt`` (three rows) from face fluxes ``f`` (3 rows of ``n + 1``), the cell pressure of the
        geometric term and the cell velocity carried by injected mass."""
        inv_vol = jnp.asarray(self.inv_vol, dt_)
        rows = []
        for k in range(3):
            # each face flux is used by both neighbouring cells: computed once (see ``materialize``)
            af = materialize(f[k] * jnp.asarray(self.flux_mask[k] * self.areas, dt_), one)
            rows.append(-(af[1:] - af[:-1]) * inv_vol)
        rows[1] = rows[1] + p * jnp.asarray(self.da_over_v, dt_)
        if self.source is not None:
            w = jnp.asarray(self.src_weight, dt_)
            src = self.source.rate_rows(params, v)
            rows = [rows[k] + src[k].astype(dt_) * w for k in range(3)]
        if self.gravity is not None:
            g = self._gravity_field(rho)
            rows[1] = rows[1] + rho * g
            rows[2] = rows[2] + rho * v * g
        return tuple(rows)

    def _gravity_field(self, rho):
        dt_ = rho.dtype
        return self.gravity.field(rho, jnp.asarray(self.grid.volumes, dt_), jnp.asarray(self.half_vol, dt_),
                                  jnp.asarray(self.grid.centers, dt_))

    def _hancock(self, u, params, dt):
        """One MUSCL-Hancock step on rows: limited slopes, a half-step predictor of the primitive
        variables from the quasi-linear equations (with the geometric terms), one Riemann solve per
        face, and a conservative update with the half-step pressure in the ``p dA`` term."""
        g = self.gamma
        rho, v, p = self._primitive_rows(u)
        rows = pad_rows((rho, v, p), self.left, self.right)  # each (n + 4,)
        one = _one(rho)
        if self.limiter is None:
            wl, wr = reconstruct_rows(rows, None)
            rate = self._divergence(RIEMANN_ROWS[self.riemann](wl, wr, g), p, v, params, rho.dtype, None, rho)
            return tuple(a + dt * k for a, k in zip(u, rate))
        c = [r[1:-1] for r in rows]  # padded cells 1 .. n+2
        s = [materialize(x, one) for x in characteristic_slopes(rows, self.limiter, self._projection, one)]
        rc, vc, pc = c
        sr, sv, sp = s
        h = 0.5 * dt / self.grid.dr
        drho = -h * (vc * sr + rc * sv)
        dv = -h * (vc * sv + sp / rc)
        dp = -h * (vc * sp + g * pc * sv)
        if self.gravity is not None:  # the half-step velocity feels gravity too (ghosts: mirrored / edge field)
            gc = self._gravity_field(rho)
            dv = dv + 0.5 * dt * jnp.concatenate([-gc[:1], gc, gc[-1:]])
        if self.grid.alpha:
            geo = 0.5 * dt * vc * jnp.asarray(self.grid.alpha / self.r_pad, rho.dtype)
            drho = drho - geo * rc
            dp = dp - geo * g * pc
        # a cell whose predicted density or pressure would not be positive (a shock converging on the
        # origin) keeps its cell average and flat faces: first order there
        good = materialize(jnp.where((rc + drho > 0.5 * rc) & (pc + dp > 0.5 * pc), 1.0, 0.0).astype(rho.dtype),
                           one) > 0
        pred = [materialize(jnp.where(good, a + d, a), one) for a, d in zip(c, (drho, dv, dp))]
        hs = [materialize(jnp.where(good, 0.5 * sk, 0.0), one) for sk in s]
        wl = [pred[k][:-1] + hs[k][:-1] for k in range(3)]  # right faces of padded cells 1..n+1
        wr = [pred[k][1:] - hs[k][1:] for k in range(3)]  # left faces of padded cells 2..n+2
        # a face whose predicted density or pressure falls below THETA x the smaller of its two cell
        # averages gets the first-order states on both sides. The half-step predictor can undershoot
        # the neighbours: at the wind's contact a low-density cell's neighbour predicted 5.7e-6 at the
        # shared face for cell averages 1.2e-4 and 3.4e-3, the face sound speed became 4x the CFL
        # speed, and HLL's diffusion emptied the low-density cell (negative density with HLL/Rusanov + MC)
        lo_rho = THETA * jnp.minimum(rows[0][1:-2], rows[0][2:-1])
        lo_p = THETA * jnp.minimum(rows[2][1:-2], rows[2][2:-1])
        ok = (wl[0] > lo_rho) & (wl[2] > lo_p) & (wr[0] > lo_rho) & (wr[2] > lo_p)
        ok = materialize(jnp.where(ok, 1.0, 0.0).astype(rho.dtype), one) > 0
        wl = tuple(materialize(jnp.where(ok, a, r[1:-2]), one) for a, r in zip(wl, rows))
        wr = tuple(materialize(jnp.where(ok, a, r[2:-1]), one) for a, r in zip(wr, rows))
        f = RIEMANN_ROWS[self.riemann](wl, wr, g, one)
        p_half = pred[2][1:-1]
        p_half = jnp.where(p_half > 0, p_half, p)
        # sources at the half step: the predicted velocity (wind momentum, gravity work) and density (gravity)
        rate = self._divergence(f, p_half, pred[1][1:-1], params, rho.dtype, one, pred[0][1:-1])
        return tuple(a + dt * k for a, k in zip(u, rate))

    def step(self, state: HydroState, params, dt) -> HydroState:
        dt = jnp.asarray(dt, state.u.dtype)
        new = self._hydro_step(state, params, dt)
        if self.conduction is not None:
            new = self.conduct(new, dt)
        if self.cooling is None:
            return new
        rho, m, e = new.u[0], new.u[1], new.u[2]
        kin = 0.5 * m * _flush(m / rho)
        p = (self.gamma - 1.0) * (e - kin)
        p_new = self.cooling.cool(rho, p, dt, self.gamma)
        return HydroState(_stack([rho, m, e - (p - p_new) / (self.gamma - 1.0)]))

    def conduct(self, state: HydroState, dt) -> HydroState:
        """The conduction substep alone (density and momentum unchanged; see
        :class:`~diffphys.hydro.conduction.Conduction`)."""
        if self.conduction is None:
            raise ValueError("conduct() needs an EulerSolver built with conduction=Conduction(...)")
        rho, m, e = state.u[0], state.u[1], state.u[2]
        dt = jnp.asarray(dt, e.dtype)
        theta = (self.gamma - 1.0) * (e - 0.5 * m * _flush(m / rho)) / rho

        def ghost(b):
            return (b.rho, b.p / b.rho) if isinstance(b, Fixed) else None

        geometry = (self.grid.areas, self.grid.volumes, self.grid.dr, self.gamma)
        _, de = self.conduction.substep(rho, theta, dt, geometry, ghost(self.left), ghost(self.right),
                                        periodic=isinstance(self.left, Periodic))
        return HydroState(_stack([rho, m, e + de]))

    def _hydro_step(self, state, params, dt):
        u = state.u
        u = (u[0], _flush(u[1]), u[2])
        if self.integrator == "hancock":
            return HydroState(_stack(self._hancock(u, params, dt)))
        # stage states are materialised: otherwise every kernel of the next stage re-derives them
        one = _one(u[0])
        u1 = tuple(materialize(a + dt * k, one) for a, k in zip(u, self._rate_rows(u, params)))
        if self.integrator == "euler":
            return HydroState(_stack(u1))
        k1 = self._rate_rows(u1, params)
        if self.integrator == "rk2":
            return HydroState(_stack([0.5 * (a + b + dt * k) for a, b, k in zip(u, u1, k1)]))
        u2 = tuple(materialize(0.75 * a + 0.25 * (b + dt * k), one) for a, b, k in zip(u, u1, k1))
        k2 = self._rate_rows(u2, params)
        return HydroState(_stack([a / 3.0 + 2.0 / 3.0 * (b + dt * k) for a, b, k in zip(u, u2, k2)]))

    def max_dt(self, state: HydroState, params):
        rho, m, e = state.u[0], state.u[1], state.u[2]
        v = m / rho
        p = (self.gamma - 1.0) * (e - 0.5 * m * v)
        speed = jnp.abs(v) + jnp.sqrt(self.gamma * p / rho)
        smax = jnp.max(speed * jnp.asarray(self.inv_width, speed.dtype))
        if self.source is not None:
            smax = jnp.maximum(smax, self.source.max_speed(params).astype(smax.dtype))
        dt = self.cfl * self.grid.dr / smax
        if self.gravity is not None:  # free-fall limit: a cell is not accelerated across its width in one step
            g = self._gravity_field(rho)
            dt = jnp.minimum(dt, self.cfl * jnp.sqrt(self.grid.dr / jnp.max(jnp.abs(g))))
        return dt

    # -- helpers ---------------------------------------------------------------------------------
    def initial_state(self, rho, v, p, dtype=None) -> HydroState:
        """A validated state from primitive arrays (scalars broadcast over the grid)."""
        n = self.grid.n_cells
        rho, v, p = (np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)) if is_concrete(x) and np.ndim(x) == 0
                     else x for x in (rho, v, p))
        return HydroState.from_primitive(rho, v, p, self.gamma, dtype=dtype)

    def primitive(self, state: HydroState):
        return conserved_to_primitive(state.u, self.gamma)

    def totals(self, state: HydroState):
        """Total mass, momentum and energy ``sum(V_i u_i)`` (the integrals the scheme conserves)."""
        return jnp.sum(state.u * jnp.asarray(self.grid.volumes, state.u.dtype)[None, :], axis=1)


def validate_state(state: HydroState, gamma: float, name="state0"):
    """Raise a ValueError for NaN, non-positive density or non-positive pressure (concrete states only)."""
    if not is_concrete(state.u):
        return
    u = np.asarray(state.u, dtype=np.float64)
    check_finite(name, u)
    rho = u[0]
    if np.any(rho <= 0):
        raise ValueError(f"{name} density must be > 0 everywhere; got minimum {rho.min():g}")
    p = (gamma - 1.0) * (u[2] - 0.5 * u[1] ** 2 / rho)
    if np.any(p <= 0):
        raise ValueError(f"{name} pressure must be > 0 everywhere; got minimum {p.min():g}")


def solve(solver, state0, params=None, *, t_end, max_steps=100_000, save_at=None,
          gradient="store", throw=False, dt_gradient=True, progress=False):
    """Validate the inputs and run :func:`diffphys.core.simulate` to ``t_end`` with CFL steps.

    ``solver``: an :class:`EulerSolver` with a :class:`HydroState`, or a
    :class:`~diffphys.hydro.cartesian.CartesianEulerSolver` with a ``CartesianState``.

    ``dt_gradient=False`` wraps the CFL step sizes in ``stop_gradient``: derivatives are then those of
    the scheme on the frozen time grid of the run (no sensitivity of the step size to the state).

    ``gradient``: ``"store"`` (default; ``core.Store(remat_steps=True)``: every step's state is kept and
    the step recomputed before its transpose: 24 bytes per cell and step in float64), ``"checkpoint"``
    (``core.Checkpoint(remat_steps=True)``: ~2 sqrt(N) states, one more forward run), ``"forward"`` (forward
    -mode tangents inside ``jax.grad``, for a few parameters) or any strategy of :mod:`diffphys.core.gradients`.
    ``progress=True`` shows a progress bar of the run's time (see :func:`diffphys.core.simulate`)."""
    if is_concrete(t_end):
        check_finite("t_end", t_end)
        if not float(np.asarray(t_end)) > 0:
            raise ValueError(f"t_end must be > 0 (allowed range (0, inf)); got {float(np.asarray(t_end)):g}")
    if hasattr(solver, "validate"):  # a CartesianEulerSolver checks the shape too
        solver.validate(state0)
    else:
        validate_state(state0, solver.gamma)
    if params is not None:
        check_finite("params", params)
    if getattr(solver, "source", None) is not None and params is None:
        raise ValueError("a solver with a StellarWind source needs params=WindParams(v_inf, mdot)")
    if isinstance(gradient, str) and gradient in ("store", "checkpoint", "forward"):
        # per-step rematerialisation: a step's ~100 cheap intermediates are recomputed right before its
        # transpose instead of going through memory (wind N=401: "store" 2.09 s, 2.5 GB -> 0.73 s, 0.1 GB;
        # "checkpoint" 1.5-2x faster); "forward" (jax.grad by forward-mode tangents) keeps the checkpoint
        # layout for the other inputs' reverse pass
        layout = Store(remat_steps=True) if gradient == "store" else Checkpoint(remat_steps=True)
        gradient = ForwardSensitivity(Checkpoint(remat_steps=True)) if gradient == "forward" else layout
    return simulate(solver, state0, params, t_end=t_end, max_steps=max_steps, save_at=save_at,
                    gradient=gradient, throw=throw, dt_gradient=dt_gradient, progress=progress)
