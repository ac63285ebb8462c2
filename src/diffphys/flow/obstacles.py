"""Immovable obstacles from signed distance functions or masks.

A cell is solid when the obstacle's signed distance at its centre is <= 0; faces touching a solid cell
carry zero velocity (no-slip, staircase geometry).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

__all__ = ["SDF", "Box", "Circle", "Mask", "solid_mask"]


@dataclasses.dataclass(frozen=True)
class Circle:
    center: tuple
    radius: float

    def __post_init__(self):
        if not (math.isfinite(float(self.radius)) and float(self.radius) > 0):
            raise ValueError(f"Circle.radius must be > 0; got {self.radius!r}")

    def sdf(self, x, y):
        return np.hypot(x - self.center[0], y - self.center[1]) - self.radius


@dataclasses.dataclass(frozen=True)
class Box:
    lower: tuple
    upper: tuple

    def __post_init__(self):
        if not all(float(u) > float(lo) for lo, u in zip(self.lower, self.upper)):
            raise ValueError(f"Box.upper must exceed Box.lower on both axes; got {self.lower} .. {self.upper}")

    def sdf(self, x, y):
        cx, cy = [(a + b) / 2 for a, b in zip(self.lower, self.upper)]
        hx, hy = [(b - a) / 2 for a, b in zip(self.lower, self.upper)]
        qx, qy = np.abs(x - cx) - hx, np.abs(y - cy) - hy
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        return outside + np.minimum(np.maximum(qx, qy), 0)


@dataclasses.dataclass(frozen=True, eq=False)
class SDF:
    """Any signed distance (or level-set) function ``fn(x, y) -> array``; solid where <= 0."""

    fn: Callable

    def sdf(self, x, y):
        return np.asarray(self.fn(x, y), dtype=np.float64)


@dataclasses.dataclass(frozen=True, eq=False)
class Mask:
    """A boolean array of shape ``(nx, ny)``: True marks solid cells."""

    mask: np.ndarray


def solid_mask(grid, obstacles) -> np.ndarray:
    """Boolean ``(nx, ny)`` array of solid cells for a list of obstacles."""
    solid = np.zeros(grid.shape, dtype=bool)
    x, y = grid.centers()
    for ob in obstacles or ():
        if isinstance(ob, Mask):
            m = np.asarray(ob.mask, dtype=bool)
            if m.shape != grid.shape:
                raise ValueError(f"Mask shape must equal the grid shape {grid.shape}; got {m.shape}")
            solid |= m
        elif hasattr(ob, "sdf"):
            d = ob.sdf(x, y)
            if not np.all(np.isfinite(d)):
                raise ValueError(f"obstacle {ob!r}: signed distance is not finite everywhere")
            solid |= d <= 0
        else:
            raise ValueError(f"obstacles must be Circle, Box, SDF or Mask; got {ob!r}")
    return solid
