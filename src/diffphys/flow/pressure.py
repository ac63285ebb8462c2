"""Matrix-free pressure Poisson solve that respects walls, outflows, periodic sides and obstacles.

The operator is ``A = -D G`` (minus divergence of gradient), assembled from face coefficients: a face
that carries a prescribed velocity (wall, inflow, obstacle) has coefficient 0, an outflow face couples
to a ghost pressure 0 (a diagonal term). In the cell form used here

    (A phi)_c = d_c phi_c + sum over the four faces f of c_f (phi_c - phi_neighbour),

with solid cells decoupled (identity rows). ``A`` is symmetric positive (semi-)definite; without an
outflow its null space is the constant on the fluid, and the right-hand side is made mean-free.

Solvers: preconditioned conjugate gradients with a Jacobi or a geometric multigrid V-cycle
preconditioner (piecewise-constant transfers, Galerkin coarse operators, a dense solve on the coarsest
grid), or an exact FFT/DCT diagonalisation when there are no obstacles or outflows and every axis is
periodic or closed. The solve is wrapped in ``jax.lax.custom_linear_solve``: derivatives come from a
second solve with the (symmetric) operator, never from differentiating the iterations.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["Level", "PressureInfo", "apply_level", "build_levels", "fast_poisson_solve", "pcg"]


class Level(eqx.Module):
    """Cell-form operator of one multigrid level (arrays of shape ``(nx, ny)``)."""

    clx: jax.Array  # coefficient of the face on the low-x side of each cell
    crx: jax.Array
    cly: jax.Array
    cry: jax.Array
    diag: jax.Array  # Dirichlet (outflow) terms on fluid cells, 1 on all-solid cells
    fluid: jax.Array  # 1 on fluid cells

    def diagonal(self):
        return self.diag + self.clx + self.crx + self.cly + self.cry


def apply_level(lv: Level, phi):
    dt = phi.dtype
    out = lv.diag.astype(dt) * phi
    out = out + lv.clx.astype(dt) * (phi - jnp.roll(phi, 1, 0)) + lv.crx.astype(dt) * (phi - jnp.roll(phi, -1, 0))
    out = out + lv.cly.astype(dt) * (phi - jnp.roll(phi, 1, 1)) + lv.cry.astype(dt) * (phi - jnp.roll(phi, -1, 1))
    return out


def _coarsen(lv):
    def s2(a, ox, oy):  # sum over the fine cells (2I+ox, 2J+oy) for given offsets
        return a[ox::2, oy::2]

    clx = s2(lv["clx"], 0, 0) + s2(lv["clx"], 0, 1)
    crx = s2(lv["crx"], 1, 0) + s2(lv["crx"], 1, 1)
    cly = s2(lv["cly"], 0, 0) + s2(lv["cly"], 1, 0)
    cry = s2(lv["cry"], 0, 1) + s2(lv["cry"], 1, 1)
    f = lv["fluid"]
    d = lv["diag"] * f
    diag = s2(d, 0, 0) + s2(d, 1, 0) + s2(d, 0, 1) + s2(d, 1, 1)
    fluid = np.maximum(np.maximum(s2(f, 0, 0), s2(f, 1, 0)), np.maximum(s2(f, 0, 1), s2(f, 1, 1)))
    diag = diag + (1 - fluid)
    return dict(clx=clx, crx=crx, cly=cly, cry=cry, diag=diag, fluid=fluid)


def _apply_np(c, phi):
    out = c["diag"] * phi
    out += c["clx"] * (phi - np.roll(phi, 1, 0)) + c["crx"] * (phi - np.roll(phi, -1, 0))
    out += c["cly"] * (phi - np.roll(phi, 1, 1)) + c["cry"] * (phi - np.roll(phi, -1, 1))
    return out


def build_levels(fine: dict, coarsest_cells: int = 2048, max_levels: int = 12, max_dense_cells: int = 4096):
    """Multigrid hierarchy from the fine operator's coefficient arrays (numpy, float64).

    Halves the grid at least once, then while the level has more than ``coarsest_cells`` cells; the
    coarsest level is solved by a dense pseudo-inverse. Few levels with a dense coarse solve of ~2000
    cells are much faster on CPUs than a deep hierarchy (Karman scene, 2 cores: 256x128 step 10 ms with
    a 64x32 coarsest level vs 36 ms down to 64 cells; 64x32 0.7 ms vs 2.7 ms). Returns
    ``(levels, coarse_inverse)``; ``levels`` is empty when the grid cannot be halved or its coarsest level
    would exceed ``max_dense_cells`` (odd sizes stop the halving early).
    """
    levels = [fine]
    while len(levels) < max_levels:
        c = levels[-1]
        nx, ny = c["diag"].shape
        if (len(levels) > 1 and nx * ny <= coarsest_cells) or nx % 2 or ny % 2 or nx < 4 or ny < 4:
            break
        levels.append(_coarsen(c))
    if len(levels) == 1 or levels[-1]["diag"].size > max_dense_cells:
        return [], None
    c = levels[-1]
    shape = c["diag"].shape
    n = shape[0] * shape[1]
    mat = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        mat[:, k] = _apply_np(c, e.reshape(shape)).ravel()
    inv = np.linalg.pinv(mat, rcond=1e-10, hermitian=True)
    return levels, inv


def vcycle(levels, coarse_inv, r, k=0, sweeps=2, omega=0.8, scale=2.0):
    """One symmetric V(sweeps, sweeps) cycle approximating ``A^{-1} r`` (a preconditioner).

    Piecewise-constant transfers make the Galerkin coarse operator about twice too stiff; the coarse
    correction is scaled by ``scale`` = 2 to compensate (the cycle stays symmetric)."""
    if k == len(levels) - 1:
        return (jnp.asarray(coarse_inv, r.dtype) @ r.ravel()).reshape(r.shape)
    lv = levels[k]
    dinv = omega / lv.diagonal().astype(r.dtype)
    x = dinv * r
    for _ in range(sweeps - 1):
        x = x + dinv * (r - apply_level(lv, x))
    res = (r - apply_level(lv, x)) * lv.fluid.astype(r.dtype)
    nx, ny = r.shape
    rc = res.reshape(nx // 2, 2, ny // 2, 2).sum(axis=(1, 3))
    ec = vcycle(levels, coarse_inv, rc, k + 1, sweeps, omega, scale)
    x = x + scale * jnp.repeat(jnp.repeat(ec, 2, axis=0), 2, axis=1) * lv.fluid.astype(r.dtype)
    for _ in range(sweeps):
        x = x + dinv * (r - apply_level(lv, x))
    return x


class PressureInfo(eqx.Module):
    """Convergence status of the last pressure solve and the divergence left after projection."""

    iterations: jax.Array  # CG iterations (0 for the direct FFT/DCT solve)
    residual: jax.Array  # final ||r|| / ||b|| (2-norms over cells)
    converged: jax.Array  # residual within tolerance
    max_divergence: jax.Array  # max |div u| after the projection
    cfl: jax.Array  # max |u| dt / dx of the new velocity

    @classmethod
    def empty(cls, dtype):
        z = jnp.zeros((), dtype)
        return cls(jnp.zeros((), jnp.int32), z, jnp.ones((), bool), z, z)


def pcg(matvec, b, precond, rtol, atol, maxiter, project=None, x0=None):
    """Preconditioned conjugate gradients from ``x0`` (default 0); returns ``(x, (iterations, residual_norm))``.

    Stops when ``||r|| <= max(rtol ||b||, atol)`` or after ``maxiter`` iterations; the criterion is
    relative to ``||b||`` whatever the start, so a good ``x0`` saves iterations without loosening the
    solve. ``project`` (optional) removes the null-space component from residuals (singular, consistent
    systems).
    """
    proj = project or (lambda a: a)
    b = proj(b)
    dot = lambda a, c: jnp.sum(a * c)
    bnorm = jnp.sqrt(dot(b, b))
    tol = jnp.maximum(rtol * bnorm, atol)
    if x0 is None:
        x = jnp.zeros_like(b)
        r = b
    else:
        x = proj(x0.astype(b.dtype))
        r = proj(b - matvec(x))
    z = precond(r)
    p = z
    rz = dot(r, z)
    rr = dot(r, r)

    def cond(s):
        _, _, _, _, _, rr, k = s
        return (jnp.sqrt(rr) > tol) & (k < maxiter)

    def body(s):
        x, r, z, p, rz, rr, k = s
        ap = matvec(p)
        pap = dot(p, ap)
        alpha = jnp.where(pap > 0, rz / jnp.where(pap > 0, pap, 1), 0)
        x = x + alpha * p
        r = proj(r - alpha * ap)
        z = precond(r)
        rz_new = dot(r, z)
        beta = jnp.where(rz != 0, rz_new / jnp.where(rz != 0, rz, 1), 0)
        p = z + beta * p
        return x, r, z, p, rz_new, dot(r, r), k + 1

    x, r, z, p, rz, rr, k = lax.while_loop(cond, body, (x, r, z, p, rz, rr, jnp.zeros((), jnp.int32)))
    return x, (k, jnp.sqrt(rr))


@dataclasses.dataclass(frozen=True)
class FastSpec:
    """Axis kinds for the direct solve: 'periodic' or 'neumann' per axis, spacings, shape."""

    kind_x: str
    kind_y: str
    dx: float
    dy: float
    shape: tuple


def _eig(kind, n, h):
    k = np.arange(n)
    if kind == "periodic":
        return (2 - 2 * np.cos(2 * np.pi * k / n)) / h**2
    return (2 - 2 * np.cos(np.pi * k / n)) / h**2


def fast_poisson_solve(spec: FastSpec, b):
    """Exact solve of ``A phi = b`` (mean-free b) by FFT (periodic axes) and DCT-II (closed axes)."""
    from jax.scipy.fft import dct, idct

    nx, ny = spec.shape
    lam = _eig(spec.kind_x, nx, spec.dx)[:, None] + _eig(spec.kind_y, ny, spec.dy)[None, :]
    lam[0, 0] = 1.0
    inv = 1.0 / lam
    inv[0, 0] = 0.0
    a = b
    for ax, kind in ((0, spec.kind_x), (1, spec.kind_y)):
        if kind == "neumann":
            a = dct(a, type=2, axis=ax, norm="ortho")
    per = tuple(ax for ax, kind in ((0, spec.kind_x), (1, spec.kind_y)) if kind == "periodic")
    if per == (0, 1):  # fully periodic: real FFTs
        a = jnp.fft.rfftn(a) * jnp.asarray(inv[:, : ny // 2 + 1], a.dtype)
        return jnp.fft.irfftn(a, s=(nx, ny)).astype(b.dtype)
    if per:
        a = jnp.fft.fftn(a, axes=per)
        a = a * jnp.asarray(inv, a.real.dtype)
        a = jnp.real(jnp.fft.ifftn(a, axes=per))
    else:
        a = a * jnp.asarray(inv, a.dtype)
    for ax, kind in ((1, spec.kind_y), (0, spec.kind_x)):
        if kind == "neumann":
            a = idct(a, type=2, axis=ax, norm="ortho")
    return a.astype(b.dtype)
