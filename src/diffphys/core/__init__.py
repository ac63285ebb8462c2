"""Core: the time loop, gradient strategies, sensitivities, fitting, sampling, checks and I/O."""

from .checks import check_choice, check_finite, check_int, check_positive, check_range
from .fit import FitResult, fit
from .gradients import Checkpoint, ForwardSensitivity, GradientStrategy, Recursive, Store
from .sample import SampleResult, effective_sample_size, sample, split_rhat
from .sensitivity import GradCheckReport, check_grad, directional_derivative, jacobian, jvp, vjp
from .simulate import Solution, simulate

__all__ = ["simulate", "Solution", "GradientStrategy", "Store", "Checkpoint", "Recursive", "ForwardSensitivity",
           "jacobian", "jvp", "vjp", "directional_derivative", "check_grad", "GradCheckReport",
           "fit", "FitResult", "sample", "SampleResult", "split_rhat", "effective_sample_size",
           "check_finite", "check_positive", "check_range", "check_int", "check_choice"]
