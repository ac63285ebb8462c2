"""Sensitivities of simulation outputs: Jacobians, JVPs, VJPs and a finite-difference gradient check.

All functions take a function ``fn(params)`` of a pytree of parameters and work with any output pytree.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = ["jacobian", "jvp", "vjp", "directional_derivative", "check_grad", "GradCheckReport"]


def jacobian(fn, params, mode: str = "fwd"):
    """Jacobian of ``fn`` at ``params``: ``mode="fwd"`` (``jacfwd``, cheap for few parameters) or
    ``"rev"`` (``jacrev``, cheap for few outputs). The result has the structure ``out[...][param]``."""
    if mode == "fwd":
        return jax.jacfwd(fn)(params)
    if mode == "rev":
        return jax.jacrev(fn)(params)
    raise ValueError(f"mode must be 'fwd' or 'rev'; got {mode!r}")


def jvp(fn, params, tangent):
    """``(fn(params), J @ tangent)`` in one forward-mode pass; ``tangent`` has the structure of params."""
    return jax.jvp(fn, (params,), (tangent,))


def directional_derivative(fn, params, direction):
    """Derivative of ``fn`` along ``direction`` (same structure as params), normalised to unit length."""
    flat, unravel = ravel_pytree(direction)
    norm = jnp.linalg.norm(flat)
    return jvp(fn, params, unravel(flat / norm))[1]


def vjp(fn, params, cotangent):
    """``(fn(params), cotangent @ J)``: one reverse-mode pass; ``cotangent`` has the structure of the output."""
    out, pullback = jax.vjp(fn, params)
    return out, pullback(cotangent)[0]


@dataclasses.dataclass
class GradCheckReport:
    """Autodiff vs central finite differences, component by component.

    ``rel_err[i, j] = |ad - fd| / max(|ad|, |fd|, floor_j)`` where ``floor_j = sqrt(eps_mach) *
    max_i |fd[i, j]|``: entries far below a column's scale (which finite differences cannot resolve)
    are measured against that scale rather than divided by nearly zero.
    """

    names: list
    autodiff: np.ndarray
    finite_diff: np.ndarray
    rel_err: np.ndarray
    eps: np.ndarray

    @property
    def max_rel_err(self) -> float:
        return float(np.max(self.rel_err)) if self.rel_err.size else 0.0

    @property
    def max_abs_err(self) -> float:
        return float(np.max(np.abs(self.autodiff - self.finite_diff))) if self.rel_err.size else 0.0

    @property
    def worst(self) -> str:
        if not self.rel_err.size:
            return ""
        out_i, par_j = np.unravel_index(np.argmax(self.rel_err), self.rel_err.shape)
        return f"d out[{out_i}] / d {self.names[par_j]}"

    def passed(self, rtol: float) -> bool:
        return self.max_rel_err <= rtol

    def __str__(self):
        lines = [f"check_grad: max relative error {self.max_rel_err:.3e} at {self.worst} "
                 f"(max absolute error {self.max_abs_err:.3e})",
                 f"{'parameter':<24} {'eps':>10} {'autodiff':>14} {'finite diff':>14} {'rel err':>10}"]
        for j, name in enumerate(self.names):
            i = int(np.argmax(self.rel_err[:, j])) if self.rel_err.shape[0] else 0
            lines.append(f"{name:<24} {self.eps[j]:>10.2e} {self.autodiff[i, j]:>14.6e} "
                         f"{self.finite_diff[i, j]:>14.6e} {self.rel_err[i, j]:>10.2e}")
        return "\n".join(lines)


def _param_names(params) -> list[str]:
    names = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        key = jax.tree_util.keystr(path) or "params"
        size = int(np.size(leaf))
        if size == 1:
            names.append(key)
        else:
            names.extend(f"{key}[{','.join(map(str, i))}]" for i in np.ndindex(np.shape(leaf)))
    return names


def check_grad(fn, params, *, eps=None, mode: str = "fwd", indices=None) -> GradCheckReport:
    """Compare the autodiff Jacobian of ``fn`` with central finite differences.

    Args:
        fn: function of the params pytree returning any pytree of arrays.
        params: where to check. Use float64 for a meaningful comparison.
        eps: relative step; the absolute step is ``eps * max(1, |x_j|)``. Default: ``eps_mach ** (1/3)``.
        mode: ``"fwd"`` or ``"rev"`` for the autodiff Jacobian.
        indices: optionally, which flattened parameter components to check (default: all).
    """
    flat, unravel = ravel_pytree(params)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise ValueError("check_grad needs floating-point params")
    names = _param_names(params)
    if eps is None:
        eps = float(np.finfo(np.dtype(flat.dtype)).eps) ** (1.0 / 3.0)
    flat_fn = jax.jit(lambda x: ravel_pytree(fn(unravel(x)))[0])
    jac = jax.jacfwd(flat_fn) if mode == "fwd" else jax.jacrev(flat_fn)
    if mode not in ("fwd", "rev"):
        raise ValueError(f"mode must be 'fwd' or 'rev'; got {mode!r}")
    ad = np.asarray(jac(flat), dtype=np.float64).reshape(-1, flat.size)
    cols = range(flat.size) if indices is None else list(indices)
    x = np.asarray(flat)
    fd = np.zeros((ad.shape[0], len(cols)))
    steps = np.zeros(len(cols))
    for k, j in enumerate(cols):
        h = eps * max(1.0, abs(float(x[j])))
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        h_eff = float(xp[j] - xm[j])  # the step actually representable
        f_plus = np.asarray(flat_fn(jnp.asarray(xp)), np.float64)
        f_minus = np.asarray(flat_fn(jnp.asarray(xm)), np.float64)
        fd[:, k] = (f_plus - f_minus) / h_eff
        steps[k] = h
    ad = ad[:, cols]
    col_scale = np.max(np.abs(fd), axis=0, keepdims=True) if fd.size else np.zeros((1, 0))
    floor = np.maximum(np.sqrt(np.finfo(np.dtype(flat.dtype)).eps) * col_scale, np.finfo(float).tiny)
    rel = np.abs(ad - fd) / np.maximum(np.maximum(np.abs(ad), np.abs(fd)), floor)
    return GradCheckReport([names[j] for j in cols], ad, fd, rel, steps)
