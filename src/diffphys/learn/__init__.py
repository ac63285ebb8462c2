"""Neural networks with the solver in the loop: small periodic CNNs, unrolled losses through a
differentiable solver, and the solver-in-the-loop workflow (Um et al. 2020) that trains a correction
for a coarse flow solver against a fine one, and flow control (force fields optimised through the
solver so that a passive marker reaches a target shape); and a learned correction for a coarse
pseudo-spectral solver of forced 2D turbulence (:mod:`diffphys.learn.turbulence`)."""

from .control import (
    ControlResult,
    control_loss,
    control_rollout,
    force_ms,
    force_rms,
    gaussian_blob,
    marker_misfit,
    optimize_controls,
    ring,
    uncontrolled_misfit,
    zero_forces,
)
from .controller import controller_loss, controller_rollout, stack_pairs, train_controller
from .models import PeriodicCNN, VelocityCNN, periodic_pad
from .sol import (
    FlowPair,
    TrainResult,
    evaluate,
    flow_correction,
    make_flow_pair,
    reference_trajectory,
    relative_l2,
    restrict,
    smooth_vortices,
    train_correction,
    velocity_state,
    window_loss,
)
from .turbulence import (
    SpectralPair,
    VorticityCorrection,
    evaluate_spectral,
    kolmogorov_pair,
    restrict_spectrum,
    train_spectral_correction,
    turbulence_trajectories,
)
from .unroll import mse, rollout, unrolled_loss

__all__ = [
    "ControlResult",
    "control_loss",
    "control_rollout",
    "controller_loss",
    "controller_rollout",
    "force_ms",
    "force_rms",
    "gaussian_blob",
    "marker_misfit",
    "optimize_controls",
    "ring",
    "uncontrolled_misfit",
    "zero_forces",
    "FlowPair",
    "PeriodicCNN",
    "TrainResult",
    "VelocityCNN",
    "evaluate",
    "flow_correction",
    "make_flow_pair",
    "mse",
    "periodic_pad",
    "reference_trajectory",
    "relative_l2",
    "restrict",
    "rollout",
    "smooth_vortices",
    "stack_pairs",
    "train_controller",
    "train_correction",
    "unrolled_loss",
    "velocity_state",
    "window_loss",
    "SpectralPair",
    "VorticityCorrection",
    "evaluate_spectral",
    "kolmogorov_pair",
    "restrict_spectrum",
    "train_spectral_correction",
    "turbulence_trajectories",
]
