"""2D incompressible Navier-Stokes on a staggered (MAC) grid: advection (semi-Lagrangian, MacCormack),
diffusion (explicit, implicit), pressure projection with implicit differentiation, obstacles,
inflow/outflow/periodic/wall boundaries and passive markers."""

from .analysis import kinetic_energy, strouhal, vorticity, centers_velocity
from .grid import BC, Boundaries, Grid, inflow, moving_wall, outflow, periodic, slip, wall
from .obstacles import Box, Circle, Mask, SDF, solid_mask
from .pressure import PressureInfo
from .scenes import cavity, karman, karman_book, taylor_green, taylor_green_exact, ghia_re100
from .solver import FlowParams, FlowSolver, FlowState

__all__ = ["Grid", "BC", "Boundaries", "wall", "moving_wall", "slip", "inflow", "outflow", "periodic",
           "Circle", "Box", "Mask", "SDF", "solid_mask", "FlowParams", "FlowState", "FlowSolver",
           "PressureInfo", "taylor_green", "taylor_green_exact", "cavity", "karman", "karman_book",
           "ghia_re100", "kinetic_energy", "vorticity", "strouhal", "centers_velocity"]
