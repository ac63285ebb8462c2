"""Cosmological particle-mesh N-body with gradients: LambdaCDM background and growth, linear power,
white-noise initial conditions, 1LPT/2LPT, CIC paint/read-out, FFT Poisson forces, FastPM
kick-drift-kick, a reverse-time adjoint with constant memory, and observables (power spectra, projections,
weak-lensing convergence maps in the Born approximation).

Units: Mpc/h, time 1/H0 (H0 = 1), momenta ``p = a^2 E dx/dlna``.
"""

from .adjoint import ReverseAdjoint, force_vjp
from .cosmology import E, Cosmology, E2, Omega_m_a, dlnE_dlna
from .force import poisson_force_mesh, wavevectors
from .growth import D1, D2, GrowthTable, dD1_dlna, dD2_dlna, growth_rate, growth_table
from .lensing import (C_LIGHT, LensPlanes, a_of_chi, angular_power, born_convergence, born_shear, comoving_distance,
                      kaiser_squires, lens_planes, lightcone_a_steps, limber_convergence_power)
from .lpt import lpt_displacement, lpt_fields
from .mesh import cic_paint, cic_readout, cic_window
from .modes import linear_modes, white_noise
from .nbody import PMSolver, PMState
from .observe import density, modes_power, power_multipoles, power_spectrum, project, redshift_space
from .power import halofit_power, linear_power, sigma_R, transfer_eh98

__all__ = ["Cosmology", "E", "E2", "dlnE_dlna", "Omega_m_a", "GrowthTable", "growth_table", "D1", "D2",
           "dD1_dlna", "dD2_dlna", "growth_rate", "transfer_eh98", "linear_power", "sigma_R", "white_noise",
           "linear_modes", "lpt_fields", "lpt_displacement", "cic_paint", "cic_readout", "cic_window",
           "poisson_force_mesh", "wavevectors", "PMSolver", "PMState", "ReverseAdjoint", "force_vjp",
           "density", "power_spectrum", "modes_power", "project", "C_LIGHT", "comoving_distance", "a_of_chi",
           "LensPlanes", "lens_planes", "born_convergence", "born_shear", "kaiser_squires", "angular_power",
           "limber_convergence_power", "halofit_power", "power_multipoles", "redshift_space",
           "lightcone_a_steps"]
