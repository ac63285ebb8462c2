"""Neural networks with the solver in the loop: small periodic CNNs, unrolled losses through a
differentiable solver, and the solver-in-the-loop workflow (Um et al. 2020) that trains a correction
for a coarse flow solver against a fine one."""

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
from .unroll import mse, rollout, unrolled_loss

__all__ = [
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
    "train_correction",
    "unrolled_loss",
    "velocity_state",
    "window_loss",
]
