"""A learned correction for a coarse pseudo-spectral solver of forced 2D turbulence (Kolmogorov flow).

The spectral counterpart of :mod:`diffphys.learn.sol` (solver in the loop, Um et al. 2020), in the setting of
Kochkov et al. (2021) and Dresdner et al. (2022), "Learning to correct spectral methods":

1. :func:`kolmogorov_pair`: a fine and a coarse :class:`~diffphys.flow.SpectralSolver` with the same force,
   viscosity and drag; the coarse step is ``factor`` fine steps (``factor = n_fine / n_coarse``).
2. :func:`turbulence_trajectories`: fine runs from random starts, spun up into turbulence, restricted to the
   coarse grid after every coarse step (:func:`restrict_spectrum`: the coarse grid's retained Fourier modes of
   the fine field, exact).
3. :class:`VorticityCorrection`: a periodic CNN ``omega -> d omega`` added after each coarse step (only its
   retained modes); :func:`train_spectral_correction` trains it on unrolled windows of ``k`` corrected coarse
   steps (optax Adam, gradients through the solver).
4. :func:`evaluate_spectral`: relative L2 error and vorticity correlation of the plain and the corrected coarse
   solver against held-out restricted fine trajectories.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ..core.checks import check_int, check_positive
from ..core.simulate import simulate
from ..flow.spectral import SpectralParams, SpectralSolver, SpectralState, random_vorticity
from .models import PeriodicCNN
from .sol import TrainResult, run_updates
from .unroll import _check_k, rollout

__all__ = ["SpectralPair", "kolmogorov_pair", "restrict_spectrum", "turbulence_trajectories", "VorticityCorrection",
           "train_spectral_correction", "evaluate_spectral"]


class SpectralPair(eqx.Module):
    """A fine and a coarse spectral solver of the same flow; the coarse step is ``factor`` fine steps."""

    fine: SpectralSolver
    coarse: SpectralSolver
    params: SpectralParams
    factor: int = eqx.field(static=True)
    dt_fine: float = eqx.field(static=True)

    @property
    def dt_coarse(self) -> float:
        return self.factor * self.dt_fine


def _kolmogorov_force(n, k_f):
    y = np.arange(n) * 2 * np.pi / n
    return np.sin(k_f * y)[None, :] * np.ones((n, 1)), np.zeros((n, n))


def kolmogorov_pair(n_fine: int = 128, n_coarse: int = 32, *, viscosity: float = 1e-3, drag: float = 0.1,
                    forcing_wavenumber: int = 4, max_velocity: float = 3.5, cfl: float = 0.5,
                    dtype=None) -> SpectralPair:
    """Kolmogorov flow (``F_x = sin(k_f y)`` on ``[0, 2 pi)^2``) on ``n_fine^2`` and ``n_coarse^2`` grids.

    ``dt_fine = cfl * dx_fine / max_velocity`` (a bound on ``|u| + |v|`` of the developed flow) and
    ``dt_coarse = factor * dt_fine``: the coarse solver runs at the fine one's CFL number.
    """
    n_fine = check_int("n_fine", n_fine, lo=16)
    n_coarse = check_int("n_coarse", n_coarse, lo=8)
    if n_fine % n_coarse or n_fine == n_coarse or n_coarse % 2:
        raise ValueError(f"n_fine must be a larger multiple of n_coarse (even); got {n_fine} and {n_coarse}")
    k_f = check_int("forcing_wavenumber", forcing_wavenumber, lo=1)
    if k_f > (n_coarse - 1) // 3:
        raise ValueError(f"forcing_wavenumber must be a retained mode of the coarse grid (<= {(n_coarse - 1) // 3}); "
                         f"got {k_f}")
    check_positive("max_velocity", max_velocity)
    dtype = dtype or jnp.result_type(float)
    fine = SpectralSolver(n_fine, force=_kolmogorov_force(n_fine, k_f), cfl=cfl)
    coarse = SpectralSolver(n_coarse, force=_kolmogorov_force(n_coarse, k_f), cfl=cfl)
    params = SpectralParams(*(jnp.asarray(a, dtype) for a in (viscosity, drag, 1.0, 0.0)))
    return SpectralPair(fine, coarse, params, n_fine // n_coarse, float(cfl * fine.dx / max_velocity))


def restrict_spectrum(w_hat, n_coarse: int):
    """The coarse grid's retained modes (``|k_x|, |k_y| <= (n_coarse - 1) // 3``) of a fine real-FFT vorticity
    ``(..., n, n // 2 + 1)``, as the coarse grid's real FFT ``(..., n_coarse, n_coarse // 2 + 1)``."""
    n = w_hat.shape[-2]
    kc = (n_coarse - 1) // 3
    if n_coarse > n or w_hat.shape[-1] != n // 2 + 1:
        raise ValueError(f"restrict_spectrum needs a fine half spectrum (..., n, n // 2 + 1) with n >= n_coarse = "
                         f"{n_coarse}; got shape {w_hat.shape}")
    scale = (n_coarse / n) ** 2  # the FFT's sum over n^2 points becomes one over n_coarse^2
    out = jnp.zeros(w_hat.shape[:-2] + (n_coarse, n_coarse // 2 + 1), w_hat.dtype)
    out = out.at[..., : kc + 1, : kc + 1].set(w_hat[..., : kc + 1, : kc + 1] * scale)
    return out.at[..., n_coarse - kc:, : kc + 1].set(w_hat[..., n - kc:, : kc + 1] * scale)


def turbulence_trajectories(pair: SpectralPair, key, count: int, steps: int, *, spin_up: float = 5.0,
                            peak_wavenumber: float = 4.0, rms_velocity: float = 1.0):
    """``count`` fine runs from random vorticity (``random_vorticity``), run for ``spin_up`` time units, then
    ``steps`` coarse steps; returns the restricted spectra ``(count, steps + 1, n_c, n_c // 2 + 1)``."""
    count = check_int("count", count, lo=1)
    steps = check_int("steps", steps, lo=1)
    check_positive("spin_up", spin_up, allow_zero=True)
    fine, p = pair.fine, pair.params
    dtype = jnp.asarray(p.viscosity).dtype
    n_spin = int(round(spin_up / pair.dt_fine))

    def one(k):
        st = fine.initial_state(random_vorticity(k, fine.n, peak_wavenumber, rms_velocity, dtype=dtype))
        st = simulate(fine, st, p, num_steps=n_spin, dt=pair.dt_fine).state

        def seg(s, _):
            s = simulate(fine, s, p, num_steps=pair.factor, dt=pair.dt_fine).state
            return s, restrict_spectrum(s.omega_hat, pair.coarse.n)

        _, w = lax.scan(seg, st, None, length=steps)
        return jnp.concatenate([restrict_spectrum(st.omega_hat, pair.coarse.n)[None], w])

    return jax.jit(lambda ks: lax.map(one, ks))(jax.random.split(key, count))


class VorticityCorrection(eqx.Module):
    """``d omega = scale * cnn(omega / scale)``, added after each coarse step (only its retained modes)."""

    cnn: PeriodicCNN
    scale: float = eqx.field(static=True)

    def __init__(self, key, *, scale: float = 1.0, width: int = 16, depth: int = 2, kernel: int = 3):
        check_positive("scale", scale)
        self.cnn = PeriodicCNN(1, 1, width, depth, key=key, kernel=kernel)
        self.scale = float(scale)

    def __call__(self, omega):
        return self.cnn((omega / self.scale)[None])[0] * self.scale

    def correct(self, solver: SpectralSolver, state: SpectralState) -> SpectralState:
        w = solver.vorticity(state)
        keep = jnp.asarray(solver.keep, w.dtype)
        return SpectralState(state.omega_hat + jnp.fft.rfft2(self(w)) * keep)


def _corrected(pair):
    step = lambda s: pair.coarse.step(s, pair.params, pair.dt_coarse)  # noqa: E731
    correct = lambda m, s: m.correct(pair.coarse, s)  # noqa: E731
    return step, correct


def _rel_l2(pred, true, weight):
    """Relative L2 error of the vorticity per state, from half spectra (Parseval, with the half-spectrum
    ``weight`` of :class:`~diffphys.flow.SpectralSolver`)."""
    w = jnp.asarray(weight, jnp.abs(true).dtype)
    return jnp.sqrt(jnp.sum(w * jnp.abs(pred - true) ** 2, (-2, -1)) / jnp.sum(w * jnp.abs(true) ** 2, (-2, -1)))


def train_spectral_correction(model: VorticityCorrection, pair: SpectralPair, trajectories, *, k: int = 10,
                              iterations: int = 300, batch: int = 8, learning_rate: float = 3e-3, key=None,
                              callback=None) -> TrainResult:
    """Adam on the mean squared relative error of ``k`` corrected coarse steps over random windows of the
    ``trajectories`` (``turbulence_trajectories``' output); cosine decay to 10% of ``learning_rate``."""
    k = _check_k(k)
    iterations = check_int("iterations", iterations, lo=0)
    batch = check_int("batch", batch, lo=1)
    check_positive("learning_rate", learning_rate)
    nc = pair.coarse.n
    if trajectories.ndim != 4 or trajectories.shape[2:] != (nc, nc // 2 + 1):
        raise ValueError(f"trajectories must have shape (count, T + 1, {nc}, {nc // 2 + 1}); got {trajectories.shape}")
    n_traj, length = trajectories.shape[:2]
    if length <= k:
        raise ValueError(f"trajectories hold {length - 1} steps; k = {k} needs at least k")
    step, correct = _corrected(pair)
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, max(iterations, 1), alpha=0.1))
    pm, sm = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optimizer.init(pm)

    def window(m, j, s):
        w0 = trajectories[j, s]
        target = lax.dynamic_slice_in_dim(trajectories[j], s + 1, k)
        _, pred = rollout(step, correct, m, SpectralState(w0), k, observe=lambda st: st.omega_hat)
        return jnp.mean(_rel_l2(pred, target, pair.coarse.weight) ** 2)

    @jax.jit
    def update(pm, opt_state, key):
        key, a, b = jax.random.split(key, 3)
        j = jax.random.randint(a, (batch,), 0, n_traj)
        s = jax.random.randint(b, (batch,), 0, length - k)
        loss = lambda pm: jnp.mean(jax.vmap(lambda j, s: window(eqx.combine(pm, sm), j, s))(j, s))  # noqa: E731
        value, grads = jax.value_and_grad(loss)(pm)
        updates, opt_state = optimizer.update(grads, opt_state, pm)
        return optax.apply_updates(pm, updates), opt_state, key, value

    key = key if key is not None else jax.random.PRNGKey(0)
    pm, history, seconds = run_updates(update, pm, opt_state, key, iterations, lambda p: eqx.combine(p, sm), callback)
    return TrainResult(eqx.combine(pm, sm), history, iterations, seconds, n_traj * (length - k))


def evaluate_spectral(model: VorticityCorrection, pair: SpectralPair, trajectory):
    """The plain and the corrected coarse solver from ``trajectory[0]`` against ``trajectory[1:]``.

    Returns numpy arrays: ``err_plain``, ``err_corrected`` (relative L2 error of the vorticity after each
    coarse step), ``corr_plain``, ``corr_corrected`` (vorticity correlation ``<w w_true> / (|w| |w_true|)``),
    and the final vorticity fields ``final_plain``, ``final_corrected``, ``final_true``.
    """
    if trajectory.ndim != 3 or trajectory.shape[0] < 2:
        raise ValueError(f"trajectory must have shape (T + 1, n, n // 2 + 1) with T >= 1; got {trajectory.shape}")
    step, correct = _corrected(pair)
    horizon = trajectory.shape[0] - 1
    obs = lambda st: st.omega_hat  # noqa: E731

    @jax.jit
    def both(model, w):
        _, plain = rollout(step, None, None, SpectralState(w[0]), horizon, observe=obs)
        _, corr = rollout(step, correct, model, SpectralState(w[0]), horizon, observe=obs)
        return plain, corr

    plain, corr = both(model, trajectory)
    true = trajectory[1:]
    wt = jnp.asarray(pair.coarse.weight, jnp.abs(true).dtype)

    def correlation(a):
        dot = jnp.sum(wt * (a * jnp.conj(true)).real, (-2, -1))
        return dot / jnp.sqrt(jnp.sum(wt * jnp.abs(a) ** 2, (-2, -1)) * jnp.sum(wt * jnp.abs(true) ** 2, (-2, -1)))

    vort = lambda a: np.asarray(pair.coarse.vorticity(SpectralState(a)))  # noqa: E731
    wc = pair.coarse.weight
    return {"err_plain": np.asarray(_rel_l2(plain, true, wc)), "err_corrected": np.asarray(_rel_l2(corr, true, wc)),
            "corr_plain": np.asarray(correlation(plain)), "corr_corrected": np.asarray(correlation(corr)),
            "final_plain": vort(plain[-1]), "final_corrected": vort(corr[-1]), "final_true": vort(true[-1])}
