"""The staggered (MAC) grid and the boundary condition of each side.

Cells are indexed ``[i, j]`` with ``i`` along x and ``j`` along y. Pressure and markers live at cell
centres ``((i + 1/2) dx, (j + 1/2) dy)``; the x-velocity ``u`` on the x-faces ``(i dx, (j + 1/2) dy)`` and
the y-velocity ``v`` on the y-faces ``((i + 1/2) dx, j dy)``. Along a periodic axis the last face is the
first one, so ``u`` has ``nx`` faces there, else ``nx + 1``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Union

import numpy as np

from ..core.checks import check_choice

__all__ = ["BC", "Boundaries", "Grid", "inflow", "moving_wall", "outflow", "periodic", "slip", "wall"]

MIN_CELLS = 4


@dataclasses.dataclass(frozen=True)
class Grid:
    """A rectangle ``[0, lx] x [0, ly]`` split into ``nx x ny`` cells.

    Give ``size=(lx, ly)`` or ``spacing=(dx, dy)`` (cells need not be square).
    """

    shape: tuple
    size: tuple | None = None
    spacing: tuple | None = None

    def __post_init__(self):
        shape = tuple(self.shape)
        if len(shape) != 2:
            raise ValueError(f"Grid.shape must be (nx, ny); got {self.shape!r}")
        for name, n in zip(("nx", "ny"), shape):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < MIN_CELLS:
                raise ValueError(f"Grid.shape {name} must be an integer >= {MIN_CELLS} (the stencils need "
                                 f"{MIN_CELLS} cells per axis); got {n!r}")
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        if (self.size is None) == (self.spacing is None):
            raise ValueError("Grid needs exactly one of size=(lx, ly) or spacing=(dx, dy)")
        if self.spacing is not None:
            sp = tuple(float(s) for s in self.spacing)
            field = "spacing"
        else:
            sp = tuple(float(s) / n for s, n in zip(self.size, shape))
            field = "size"
        if len(sp) != 2 or not all(math.isfinite(s) and s > 0 for s in sp):
            raise ValueError(f"Grid.{field} must be two finite numbers > 0; got {getattr(self, field)!r}")
        object.__setattr__(self, "spacing", sp)
        object.__setattr__(self, "size", (sp[0] * shape[0], sp[1] * shape[1]))

    @property
    def nx(self):
        return self.shape[0]

    @property
    def ny(self):
        return self.shape[1]

    @property
    def dx(self):
        return self.spacing[0]

    @property
    def dy(self):
        return self.spacing[1]

    def centers(self):
        """Cell-centre coordinates ``(X, Y)``, each of shape ``(nx, ny)`` (numpy)."""
        x = (np.arange(self.nx) + 0.5) * self.dx
        y = (np.arange(self.ny) + 0.5) * self.dy
        return np.meshgrid(x, y, indexing="ij")

    def u_faces(self, periodic_x: bool):
        x = np.arange(self.nx if periodic_x else self.nx + 1) * self.dx
        y = (np.arange(self.ny) + 0.5) * self.dy
        return np.meshgrid(x, y, indexing="ij")

    def v_faces(self, periodic_y: bool):
        x = (np.arange(self.nx) + 0.5) * self.dx
        y = np.arange(self.ny if periodic_y else self.ny + 1) * self.dy
        return np.meshgrid(x, y, indexing="ij")


Profile = Union[float, Callable]
KINDS = ("wall", "slip", "inflow", "outflow", "periodic")


@dataclasses.dataclass(frozen=True)
class BC:
    """Boundary condition of one side.

    kind: ``"wall"`` (no-slip; ``speed`` is the tangential velocity of a moving wall, along the
    positive direction of the side's axis), ``"slip"`` (free-slip wall), ``"inflow"`` (``profile``: the
    normal speed into the domain, a number or a function of the coordinate along the side;
    ``marker``: the marker value carried in), ``"outflow"`` (pressure 0, zero-gradient velocity) or
    ``"periodic"`` (both opposite sides).
    ``marker`` on a wall (``"wall"`` or ``"slip"``): a fixed marker value on the wall (a temperature, say; a
    number or a function of the coordinate along the side), which a marker diffusivity
    (:class:`FlowParams` ``diffusivity``) conducts into the fluid; ``None`` (the default): an insulating wall
    (no marker flux). Inflow: ``None`` means 0.
    """

    kind: str
    speed: float = 0.0
    profile: Profile = 1.0
    marker: Profile | None = None

    def __post_init__(self):
        check_choice("BC.kind", self.kind, KINDS)
        if not math.isfinite(float(self.speed)):
            raise ValueError(f"BC.speed must be finite; got {self.speed!r}")
        if self.marker is not None and self.kind in ("outflow", "periodic"):
            raise ValueError(f"BC.marker is for walls and inflows; an {self.kind} side takes none")
        if self.marker is not None and not callable(self.marker) and not math.isfinite(float(self.marker)):
            raise ValueError(f"BC.marker must be finite; got {self.marker!r}")

    def eval(self, which, s):
        f = getattr(self, which)
        f = 0.0 if f is None else f
        out = f(s) if callable(f) else np.full_like(s, float(f))
        out = np.asarray(out, dtype=np.float64) * np.ones_like(s)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"BC.{which} must give finite values along the side")
        return out


def wall(marker: Profile | None = None):
    """No-slip wall at rest; ``marker``: a fixed marker value on it (e.g. a temperature), ``None``: insulating."""
    return BC("wall", marker=marker)


def moving_wall(speed: float):
    """No-slip wall moving tangentially at ``speed`` (e.g. the lid of a driven cavity)."""
    return BC("wall", speed=speed)


def slip(marker: Profile | None = None):
    """Free-slip wall (no normal flow, no shear stress); ``marker`` as for :func:`wall`."""
    return BC("slip", marker=marker)


def inflow(profile: Profile = 1.0, marker: Profile = 0.0):
    """Inflow: normal velocity into the domain given by ``profile`` (number or function of position)."""
    return BC("inflow", profile=profile, marker=marker)


def outflow():
    """Outflow: pressure 0 just outside, zero-gradient velocity and markers."""
    return BC("outflow")


def periodic():
    return BC("periodic")


@dataclasses.dataclass(frozen=True)
class Boundaries:
    """The four sides' conditions. Periodic sides come in opposite pairs."""

    left: BC = dataclasses.field(default_factory=wall)
    right: BC = dataclasses.field(default_factory=wall)
    bottom: BC = dataclasses.field(default_factory=wall)
    top: BC = dataclasses.field(default_factory=wall)

    def __post_init__(self):
        for name in ("left", "right", "bottom", "top"):
            if not isinstance(getattr(self, name), BC):
                raise ValueError(f"Boundaries.{name} must be a BC (wall(), inflow(...), ...); "
                                 f"got {getattr(self, name)!r}")
        for a, b in (("left", "right"), ("bottom", "top")):
            pa = getattr(self, a).kind == "periodic"
            pb = getattr(self, b).kind == "periodic"
            if pa != pb:
                raise ValueError(f"Boundaries.{a} and .{b} must both be periodic or neither")
        kinds = [s.kind for s in self.sides()]
        if "inflow" in kinds and "outflow" not in kinds:
            raise ValueError("Boundaries: an inflow needs an outflow side (mass must leave the domain)")

    def sides(self):
        return (self.left, self.right, self.bottom, self.top)

    @property
    def periodic_x(self):
        return self.left.kind == "periodic"

    @property
    def periodic_y(self):
        return self.bottom.kind == "periodic"

    @property
    def has_outflow(self):
        return any(s.kind == "outflow" for s in self.sides())

    @classmethod
    def all_periodic(cls):
        return cls(periodic(), periodic(), periodic(), periodic())
