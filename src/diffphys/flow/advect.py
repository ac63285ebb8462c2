"""Advection of staggered velocity components and cell-centred markers.

``semi_lagrangian`` traces each grid point back along the velocity (Euler or midpoint/RK2 trace) and
samples the field there bilinearly. ``maccormack`` adds the back-and-forth error correction of Selle et
al. (2008) and clamps the result to the values of the forward stencil (the limiter), so no new extrema
appear.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .interp import pad, sample, sample_near, sample_shifted

__all__ = ["advect", "conservative", "maccormack", "semi_lagrangian", "trace"]


def trace(velocity, x, y, dt, method="rk2", vel0=None):
    """Departure points of ``(x, y)`` over ``dt`` in the velocity ``velocity(x, y) -> (u, v)``;
    ``vel0`` optionally gives the velocity at ``(x, y)`` itself (grid points: no interpolation needed)."""
    u, v = velocity(x, y) if vel0 is None else vel0
    if method == "euler":
        return x - dt * u, y - dt * v
    um, vm = velocity(x - 0.5 * dt * u, y - 0.5 * dt * v)
    return x - dt * um, y - dt * vm


def _rk2_near(geom, shape, fields, u0, v0, dt):
    """The half-step displacements of an RK2 trace from the field's own points and the velocities at the
    midpoints, by slices (valid where every half-step displacement is within half a spacing: the caller
    checks); None if the grids do not allow it (then the caller gathers)."""
    up, ugeom, vp, vgeom = fields
    hx, hy = geom.hx, geom.hy
    sxm, sym = -0.5 * dt * u0 / hx, -0.5 * dt * v0 / hy
    um = sample_near(up, ugeom, geom, shape, sxm, sym, 0.5)
    vm = sample_near(vp, vgeom, geom, shape, sxm, sym, 0.5)
    if um is None or vm is None:
        return None
    return sxm, sym, um, vm


def semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method="rk2", minmax=False, vel0=None, fields=None):
    """``vel0`` given means ``(x, y)`` are the field's own points (shape of ``a``) with velocity ``vel0``;
    ``fields = (padded u, its geometry, padded v, its geometry)`` (the fields ``velocity`` samples) lets
    an RK2 trace from those points run without gathers when the displacements allow it."""
    ap = pad(a, rules, scale)
    own = vel0 is not None and vel0[0].shape == a.shape
    if method == "rk2" and own and fields is not None:
        near = _rk2_near(geom, a.shape, fields, vel0[0], vel0[1], dt)
        if near is not None:
            # midpoint velocities by fixed-stencil slices (valid when every half-step displacement is
            # within half a spacing), then the departure sample by shifted slices (every full-step
            # displacement within one spacing); each check at run time, the gathering trace otherwise
            sxm, sym, um, vm = near
            sx, sy = -dt * um / geom.hx, -dt * vm / geom.hy
            ok = ((jnp.max(jnp.abs(sxm)) <= 0.5) & (jnp.max(jnp.abs(sym)) <= 0.5)
                  & (jnp.max(jnp.abs(sx)) <= 1) & (jnp.max(jnp.abs(sy)) <= 1))
            return _fast_or_gathered(ok, ap, sx, sy, velocity, x, y, dt, method, vel0, geom, minmax)
    if method != "euler" or not own:
        xb, yb = trace(velocity, x, y, dt, method, vel0)
        return sample(ap, geom, xb, yb, minmax=minmax)
    # Euler trace from grid points: when every departure point is within one spacing (CFL <= 1), the
    # bilinear stencil is a neighbour cell and the sample is shifted slices (fast, fuses); else gather.
    sx, sy = -dt * vel0[0] / geom.hx, -dt * vel0[1] / geom.hy
    ok = (jnp.max(jnp.abs(sx)) <= 1) & (jnp.max(jnp.abs(sy)) <= 1)
    return _fast_or_gathered(ok, ap, sx, sy, velocity, x, y, dt, method, vel0, geom, minmax)


@jax.custom_batching.custom_vmap
def _for_all_members(ok):
    """``ok`` itself; under ``vmap`` the one boolean "ok for every member", so that the ``lax.cond`` below
    stays a branch (a batched predicate turns it into a select that computes both branches)."""
    return ok


@_for_all_members.def_vmap
def _for_all_members_vmap(axis_size, in_batched, ok):
    del axis_size, in_batched
    return jnp.all(ok), False


def _fast_or_gathered(ok, ap, sx, sy, velocity, x, y, dt, method, vel0, geom, minmax):
    """On a CPU, the shifted-slice sample where ``ok``, else the gathering trace and sample; elsewhere the
    gathering trace and sample. The gathering branch is rematerialised: a differentiated ``lax.cond`` keeps
    the residuals of both branches (zeros for the one not taken), and the gather's are many (cavity 64^2,
    gradient through 10 steps: 105 -> 60 ms)."""

    def gathered(ap, x, y):
        xb, yb = trace(velocity, x, y, dt, method, vel0)
        return sample(ap, geom, xb, yb, minmax=minmax)

    # the run-time choice pays on a CPU only: on a GPU a gather is one kernel and the branch costs more than it
    # saves (Taylor-Green 256^2 default step on an H200: 0.58 ms with the branch, 0.46 ms gathering). The
    # platform switch sits on the predicate (no derivative): elsewhere it is a constant False and XLA keeps
    # only the gathering branch; around the differentiated branches it doubled the tracing time
    ok = _per_platform((_for_all_members(ok),), cpu=lambda o: o, default=lambda o: jnp.zeros_like(o))
    return lax.cond(ok, lambda ap, x, y: sample_shifted(ap, sx, sy, minmax=minmax), jax.checkpoint(gathered),
                    ap, x, y)


def _per_platform(args, cpu, default):
    """``cpu(*args)`` when lowered for a CPU, ``default(*args)`` otherwise (resolved at lowering)."""
    return lax.platform_dependent(*args, cpu=cpu, default=default)


def maccormack(a, rules, scale, geom, x, y, velocity, dt, method="rk2", vel0=None, fields=None):
    fwd, lo, hi = semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method, minmax=True, vel0=vel0,
                                  fields=fields)
    back = semi_lagrangian(fwd, rules, scale, geom, x, y, velocity, -dt, method, vel0=vel0, fields=fields)
    return jnp.clip(fwd + 0.5 * (a - back), lo, hi)


def advect(a, rules, scale, geom, x, y, velocity, dt, scheme="semi-lagrangian", method="rk2", vel0=None,
           fields=None):
    if scheme == "semi-lagrangian":
        return semi_lagrangian(a, rules, scale, geom, x, y, velocity, dt, method, vel0=vel0, fields=fields)
    return maccormack(a, rules, scale, geom, x, y, velocity, dt, method, vel0=vel0, fields=fields)


def _pad2(a, axis, lo, hi):
    """Two ghost layers along ``axis`` by the rules ``lo``, ``hi`` (``(mode, values)`` as for :func:`pad`,
    the values' Dirichlet data already scaled)."""
    n = a.shape[axis]
    sl = lambda i, j: lax.slice_in_dim(a, i, j, axis=axis)  # noqa: E731
    flip = lambda x: lax.rev(x, (axis,))  # noqa: E731

    def ghosts(rule, side):
        mode, w = rule
        if mode == "wrap":
            return sl(n - 2, n) if side == 0 else sl(0, 2)
        edge = sl(0, 1) if side == 0 else sl(n - 1, n)
        if mode == "even":
            return jnp.concatenate([edge, edge], axis=axis)
        inner = flip(sl(0, 2)) if side == 0 else flip(sl(n - 2, n))   # outermost ghost's mirror first
        w = jnp.asarray(0.0 if w is None else w, a.dtype)
        w = jnp.expand_dims(w, axis) if w.ndim else w
        return 2 * w - inner

    return jnp.concatenate([ghosts(lo, 0), a, ghosts(hi, 1)], axis=axis)


def _limited_flux(m2, vel, axis, periodic):
    """Upwind fluxes ``vel * m_face`` on the faces along ``axis`` of a field padded with two ghost layers there,
    the face value reconstructed from the upwind cell with its van Leer limited slope (MUSCL)."""
    size = m2.shape[axis]
    n = size - 4
    sl = lambda x, i, j: lax.slice_in_dim(x, i, x.shape[axis] + j if j <= 0 else j, axis=axis)  # noqa: E731
    d = sl(m2, 1, 0) - sl(m2, 0, -1)                  # differences between neighbours (size - 1)
    dl, dr = sl(d, 0, -1), sl(d, 1, 0)                # around the cells -1 .. n (padded 1 .. n + 2)
    prod = dl * dr
    ok = prod > 0
    slope = jnp.where(ok, 2 * jnp.where(ok, prod, 0.0) / jnp.where(ok, dl + dr, 1.0), 0.0)   # van Leer
    mc = sl(m2, 1, -1)
    left = sl(mc + 0.5 * slope, 0, -1)                # faces 0 .. n: the right value of the cell on their left
    right = sl(mc - 0.5 * slope, 1, 0)                # ... the left value of the cell on their right
    if periodic:
        left, right = sl(left, 0, n), sl(right, 0, n)
    return jnp.where(vel >= 0, vel * left, vel * right)


def conservative(m, rules, scale, u, v, dt, hx, hy, periodic_x, periodic_y, substeps=1, face_values=None):
    """Finite-volume advection of a cell-centred field by the face velocities ``u`` (x-faces) and ``v``
    (y-faces): upwind fluxes of MUSCL face values (van Leer limited slopes), unsplit, with Heun's (SSP) RK2 in
    ``substeps`` equal substeps; second order where the field is smooth. Conservative: the field's sum changes
    only by the fluxes through the domain's boundary faces (none through walls and closed faces, whose
    velocities are zero), and a uniform field stays uniform in a discretely divergence-free velocity. No new
    extrema for ``dt |u| / hx + dt |v| / hy <= 1/2`` per substep.

    ``face_values``: optional ``(left, right, bottom, top)`` Dirichlet values (or None) on the boundary faces,
    used as the flux's face value there (an inflow carries exactly its marker)."""
    left, right, bottom, top = rules
    sc = lambda r: (r[0], None if r[1] is None else r[1] * scale)  # noqa: E731
    h = dt / substeps

    def rate(a):
        fx = _limited_flux(_pad2(a, 0, sc(left), sc(right)), u, 0, periodic_x)
        fy = _limited_flux(_pad2(a, 1, sc(bottom), sc(top)), v, 1, periodic_y)
        if face_values is not None:
            fl, fr, fb, ft = face_values
            if fl is not None and not periodic_x:
                fx = fx.at[0].set(u[0] * fl * scale)
            if fr is not None and not periodic_x:
                fx = fx.at[-1].set(u[-1] * fr * scale)
            if fb is not None and not periodic_y:
                fy = fy.at[:, 0].set(v[:, 0] * fb * scale)
            if ft is not None and not periodic_y:
                fy = fy.at[:, -1].set(v[:, -1] * ft * scale)
        dfx = (jnp.roll(fx, -1, 0) - fx) if periodic_x else (fx[1:] - fx[:-1])
        dfy = (jnp.roll(fy, -1, 1) - fy) if periodic_y else (fy[:, 1:] - fy[:, :-1])
        return -(dfx / hx + dfy / hy)

    def substep(a):
        # barriers between the stages: XLA's CPU fusion otherwise merges consecutive stencils and recomputes
        # (measured in isolation, 64^2 float64: two substeps 0.14 ms without, 0.12 ms with; one 0.026 ms); the
        # substeps in a loop: unrolled inside the whole flow step, XLA took 12 ms for the 64^2 plume step
        a1 = lax.optimization_barrier(a + h * rate(a))
        return lax.optimization_barrier(0.5 * (a + a1 + h * rate(a1)))

    return lax.fori_loop(0, substeps, lambda i, a: substep(a), m) if substeps > 1 else substep(m)
