"""Radial grids for planar, cylindrical and spherical geometry.

The finite-volume form integrates the Euler equations over shells: cell ``i`` spans
``[r_{i-1/2}, r_{i+1/2}]`` and has volume ``V_i``; face ``i+1/2`` has area ``A_{i+1/2}``:

==============  =====================  ======================
geometry        face area ``A(r)``      cell volume
==============  =====================  ======================
``planar``      1                       ``dr``
``cylindrical`` ``2 pi r``              ``pi (r+^2 - r-^2)``   (per unit length)
``spherical``   ``4 pi r^2``            ``4/3 pi (r+^3 - r-^3)``
==============  =====================  ======================

All geometric arrays are computed once, in float64 numpy, and cast to the state's dtype by the solver.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.checks import check_choice, check_int, check_range

__all__ = ["RadialGrid", "GEOMETRIES"]

GEOMETRIES = ("planar", "cylindrical", "spherical")


class RadialGrid:
    """A uniform grid of ``n_cells`` cells on ``[r_min, r_max]`` in one of :data:`GEOMETRIES`."""

    def __init__(self, n_cells: int, r_max: float = 1.0, r_min: float = 0.0, geometry: str = "planar"):
        self.n_cells = check_int("n_cells", n_cells, lo=4)
        check_choice("geometry", geometry, GEOMETRIES)
        check_range("r_min", r_min, 0.0 if geometry != "planar" else -math.inf)
        check_range("r_max", r_max, float(r_min), lo_open=True)
        self.geometry = geometry
        self.r_min = float(r_min)
        self.r_max = float(r_max)
        self.alpha = GEOMETRIES.index(geometry)  # 0, 1, 2
        self.dr = (self.r_max - self.r_min) / self.n_cells
        self.faces = self.r_min + self.dr * np.arange(self.n_cells + 1, dtype=np.float64)
        self.faces[-1] = self.r_max
        self.centers = 0.5 * (self.faces[1:] + self.faces[:-1])
        self.areas = self.area(self.faces)
        rp, rm = self.faces[1:], self.faces[:-1]
        if self.alpha == 0:
            self.volumes = rp - rm
        elif self.alpha == 1:
            self.volumes = math.pi * (rp - rm) * (rp + rm)
        else:
            self.volumes = 4.0 / 3.0 * math.pi * (rp - rm) * (rp * rp + rp * rm + rm * rm)
        # the finite-volume solvers' per-cell factors: the geometric pressure term's (A_right - A_left) / V, and
        # dr over the CFL width 2 V / (A_left + A_right) (1 on a planar grid; 1.5 for the innermost spherical
        # cell, where a flux empties the small volume 1.5x faster). With dr alone a shock converging on the
        # origin and reflected there drove the innermost cell negative in one step of the single-stage Hancock
        # scheme at CFL 0.8 (RK2 survived by its stage averaging).
        self.da_over_v = (self.areas[1:] - self.areas[:-1]) / self.volumes
        self.inv_width = (self.dr * (self.areas[1:] + self.areas[:-1]) / (2.0 * self.volumes) if self.alpha
                          else np.ones(self.n_cells))

    def area(self, r):
        r = np.asarray(r, dtype=np.float64)
        if self.alpha == 0:
            return np.ones_like(r)
        if self.alpha == 1:
            return 2.0 * math.pi * r
        return 4.0 * math.pi * r * r

    def volume_within(self, r):
        """Volume (length, area per unit length) enclosed between ``r_min`` and ``r``."""
        r = np.asarray(r, dtype=np.float64)
        if self.alpha == 0:
            return r - self.r_min
        if self.alpha == 1:
            return math.pi * (r * r - self.r_min ** 2)
        return 4.0 / 3.0 * math.pi * (r ** 3 - self.r_min ** 3)

    def __repr__(self):
        return f"RadialGrid(n_cells={self.n_cells}, r=[{self.r_min:g}, {self.r_max:g}], {self.geometry})"
