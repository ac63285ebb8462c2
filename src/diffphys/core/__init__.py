"""Core: the time loop, gradient strategies, sensitivities, fitting, sampling, checks and I/O."""

from .checks import check_choice, check_finite, check_int, check_positive, check_range
from .gradients import Checkpoint, GradientStrategy, Recursive, Store
from .simulate import Solution, simulate

__all__ = ["simulate", "Solution", "GradientStrategy", "Store", "Checkpoint", "Recursive",
           "check_finite", "check_positive", "check_range", "check_int", "check_choice"]
