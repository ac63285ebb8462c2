"""diffphys.hydro: 1D radial finite-volume Euler (planar, cylindrical, spherical) with exact references."""

from .boundary import Fixed, Outflow, Reflective
from .grid import GEOMETRIES, RadialGrid
from .reconstruct import LIMITERS
from .riemann import RIEMANN_SOLVERS, hll, hllc, rusanov
from .solver import EulerSolver, solve, validate_state
from .sources import StellarWind, WindParams
from .state import HydroState, conserved_to_primitive, primitive_to_conserved

__all__ = [
    "EulerSolver", "solve", "validate_state", "RadialGrid", "GEOMETRIES", "HydroState", "conserved_to_primitive",
    "primitive_to_conserved", "Fixed", "Outflow", "Reflective", "LIMITERS", "RIEMANN_SOLVERS", "hll", "hllc",
    "rusanov", "StellarWind", "WindParams",
]
