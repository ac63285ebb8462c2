"""diffphys: differentiable physics simulators on JAX.

Subpackages: :mod:`diffphys.core` (time loop, gradient strategies, sensitivities, fitting, sampling),
:mod:`diffphys.gravity`, :mod:`diffphys.hydro`, :mod:`diffphys.flow`.
"""

__version__ = "0.1.0"
