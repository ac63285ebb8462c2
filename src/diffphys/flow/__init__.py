"""2D incompressible Navier-Stokes on a staggered (MAC) grid: advection (semi-Lagrangian, MacCormack),
diffusion (explicit, implicit), pressure projection with implicit differentiation, obstacles,
inflow/outflow/periodic/wall boundaries and passive markers; and a pseudo-spectral vorticity solver for
doubly periodic flows (forced 2D turbulence), :mod:`diffphys.flow.spectral`. Markers can carry a source and
drive the flow by Boussinesq buoyancy (``FlowParams(buoyancy=, source=)``)."""

from .analysis import centers_velocity, kinetic_energy, strouhal, vorticity
from .grid import BC, Boundaries, Grid, inflow, moving_wall, outflow, periodic, slip, wall
from .obstacles import SDF, Box, Circle, Mask, solid_mask
from .pressure import PressureInfo
from .convection import heated_cavity, rayleigh_benard, run_to_steady
from .scenes import (
    cavity,
    ghia_re100,
    internal_wave,
    internal_wave_frequency,
    karman,
    karman_book,
    smoke_plume,
    taylor_green,
    taylor_green_exact,
)
from .solver import FlowParams, FlowSolver, FlowState
from .spectral import SpectralParams, SpectralSolver, SpectralState, kolmogorov, random_vorticity

__all__ = [
           "BC",
           "SDF",
           "Boundaries",
           "Box",
           "Circle",
           "FlowParams",
           "FlowSolver",
           "FlowState",
           "Grid",
           "Mask",
           "PressureInfo",
           "cavity",
           "centers_velocity",
           "ghia_re100",
           "heated_cavity",
           "inflow",
           "internal_wave",
           "internal_wave_frequency",
           "karman",
           "karman_book",
           "rayleigh_benard",
           "run_to_steady",
           "kinetic_energy",
           "moving_wall",
           "outflow",
           "periodic",
           "slip",
           "smoke_plume",
           "solid_mask",
           "SpectralParams",
           "SpectralSolver",
           "SpectralState",
           "kolmogorov",
           "random_vorticity",
           "strouhal",
           "taylor_green",
           "taylor_green_exact",
           "vorticity",
           "wall",
]
