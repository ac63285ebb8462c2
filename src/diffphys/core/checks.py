"""Input validation at the library's boundary.

Every public constructor validates what it is given with these helpers, so that a user mistake
becomes a ``ValueError`` naming the field and the allowed range instead of a NaN deep inside a jit.
Values that can only be checked under ``jit`` use :func:`equinox.error_if` at the call site.
"""

from __future__ import annotations

import math

import jax
import numpy as np

__all__ = ["check_finite", "check_positive", "check_range", "check_choice", "check_int", "is_concrete"]


def is_concrete(x) -> bool:
    """True when ``x`` holds concrete values (not a tracer), so it can be checked eagerly."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def check_finite(name: str, value) -> None:
    """Raise if any leaf of ``value`` holds NaN or infinity (skipped for traced values)."""
    if not is_concrete(value):
        return
    for path, leaf in jax.tree_util.tree_flatten_with_path(value)[0]:
        arr = np.asarray(leaf)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            where = name + jax.tree_util.keystr(path)
            raise ValueError(f"{where} contains NaN or infinity; all values must be finite")


def check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise unless every element of ``value`` is > 0 (or >= 0 with ``allow_zero``)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    check_finite(name, arr)
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        worst = arr.min()
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {rel} everywhere; got minimum {worst:g}")


def check_range(name: str, value, lo=-math.inf, hi=math.inf, *, lo_open=False, hi_open=False) -> None:
    """Raise unless ``lo <(=) value <(=) hi`` elementwise; the message states the interval."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    check_finite(name, arr)
    ok_lo = arr > lo if lo_open else arr >= lo
    ok_hi = arr < hi if hi_open else arr <= hi
    if not (np.all(ok_lo) and np.all(ok_hi)):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        got = arr if arr.ndim == 0 else f"values in [{arr.min():g}, {arr.max():g}]"
        raise ValueError(f"{name} must lie in {left}{lo:g}, {hi:g}{right}; got {got}")


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int, raising unless it is an integer within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ValueError(f"{name} must be an integer in [{lo_s}, {hi_s}]; got {value}")
    return value


def check_choice(name: str, value, choices) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def check_grid_devices(devices, device_axis: str, n_first: int) -> None:
    """``devices``: ``None`` or a ``jax.sharding.Mesh`` with an axis ``device_axis`` whose size divides a grid's
    first axis of ``n_first`` cells into blocks of at least 2 (a grid split across devices with halo exchanges)."""
    if devices is None:
        return
    if not isinstance(devices, jax.sharding.Mesh) or device_axis not in devices.axis_names:
        raise ValueError(f"devices must be None or a jax.sharding.Mesh with an axis {device_axis!r} "
                         f"(see diffphys.parallel.device_mesh); got {devices!r}")
    n_dev = devices.shape[device_axis]
    if n_first % n_dev or n_first // n_dev < 2:
        raise ValueError(f"shape[0] = {n_first} must be a multiple of the number of devices ({n_dev}) "
                         f"with at least 2 cells per device")

