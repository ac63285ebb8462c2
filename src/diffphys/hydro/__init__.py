"""diffphys.hydro: finite-volume Euler equations with exact references: a 1D radial solver (planar, cylindrical,
spherical) and a 1-3D Cartesian one; ideal MHD in 1-3D (``diffphys.hydro.mhd``); gas with adiabatic cosmic rays in 1D
(``diffphys.hydro.cosmic_rays``)."""

from .boundary import Fixed, Outflow, Periodic, Reflective
from .conduction import Conduction
from .cooling import Cooling
from .grid import GEOMETRIES, RadialGrid
from .reconstruct import LIMITERS
from .riemann import RIEMANN_SOLVERS, hll, hllc, rusanov
from .solver import EulerSolver, solve, validate_state
from .sources import G_CODE, SelfGravity, StellarWind, WindParams
from .cartesian import CartesianEulerSolver, CartesianState
from .exact import (ExactRiemann, Sedov, barenblatt_heat_wave, classical_evaporation_rate, free_fall_radius,
                    free_fall_time, heat_kernel, shear_flow_growth_rate, weaver_outer_shock_radius)
from .problems import (axisymmetric_wind_problem, collapse_problem, evaporating_cloud_problem, kelvin_helmholtz_problem,
                       kelvin_helmholtz_profile, kh_linear_growth_rate, kh_mode_amplitude, lagrangian_radii,
                       outer_shock_radius, riemann_problem, sedov_problem, wind_problem)
from .mhd import (MHDGridSolver, MHDGridState, MHDSolver, MHDState, brio_wu_problem, fast_shock, mhd_eigensystem,
                  orszag_tang_problem)
from .cosmic_rays import CosmicRaySolver, CRParams, CRState, ExactCRRiemann, cr_shock_tube
from .units import CodeUnits
from .state import HydroState, conserved_to_primitive, primitive_to_conserved

__all__ = [
    "EulerSolver", "solve", "CartesianEulerSolver", "CartesianState", "Conduction", "Cooling", "validate_state",
    "RadialGrid", "GEOMETRIES", "HydroState", "conserved_to_primitive", "primitive_to_conserved", "Fixed",
    "Outflow", "Periodic", "Reflective", "LIMITERS", "RIEMANN_SOLVERS", "hll", "hllc", "rusanov", "StellarWind",
    "WindParams", "SelfGravity", "G_CODE", "ExactRiemann", "Sedov", "heat_kernel", "barenblatt_heat_wave",
    "classical_evaporation_rate", "weaver_outer_shock_radius", "shear_flow_growth_rate", "kelvin_helmholtz_problem",
    "kelvin_helmholtz_profile", "kh_linear_growth_rate", "kh_mode_amplitude", "outer_shock_radius",
    "evaporating_cloud_problem", "riemann_problem", "sedov_problem", "wind_problem", "axisymmetric_wind_problem",
    "CodeUnits", "collapse_problem", "lagrangian_radii", "free_fall_time", "free_fall_radius", "MHDSolver",
    "MHDState", "brio_wu_problem", "fast_shock", "mhd_eigensystem", "MHDGridSolver", "MHDGridState",
    "orszag_tang_problem", "CosmicRaySolver", "CRParams", "CRState", "ExactCRRiemann", "cr_shock_tube",
]
