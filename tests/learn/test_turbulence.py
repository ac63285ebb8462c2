"""The learned correction of a coarse spectral solver: exact restriction, gradients through solver and CNN,
evaluation plumbing, bad input; the example's held-out gain in a slow test."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.flow import SpectralParams, SpectralSolver, SpectralState
from diffphys.learn import (VorticityCorrection, evaluate_spectral, kolmogorov_pair, restrict_spectrum,
                            train_spectral_correction, turbulence_trajectories)


def _band_limited(n, kmax, seed=0, kmin=-1):
    """A real field of the Fourier modes kmin < max(|k_x|, |k_y|) <= kmax, sampled on an n x n grid of
    [0, 2 pi)^2."""
    rng = np.random.default_rng(seed)
    x = np.arange(n) * 2 * np.pi / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    f = np.zeros((n, n))
    for kx in range(-kmax, kmax + 1):
        for ky in range(0, kmax + 1):
            a, b = rng.standard_normal(2)
            if max(abs(kx), ky) <= kmin:
                continue
            f += a * np.cos(kx * X + ky * Y) + b * np.sin(kx * X + ky * Y)
    return f


def test_restriction_is_exact_on_the_coarse_modes():
    """A field made of the coarse grid's retained modes: restricting its fine spectrum gives the coarse grid's
    own spectrum of it; fine modes beyond them are dropped."""
    nf, nc = 48, 16
    kc = (nc - 1) // 3
    coarse = _band_limited(nc, kc)  # the same function on the coarse grid ...
    fine = _band_limited(nf, kc)  # ... and on the fine one
    got = restrict_spectrum(jnp.fft.rfft2(jnp.asarray(fine)), nc)
    want = jnp.fft.rfft2(jnp.asarray(coarse)) * SpectralSolver(nc).keep
    assert float(jnp.max(jnp.abs(got - want))) < 1e-12 * float(jnp.max(jnp.abs(want)))
    extra = _band_limited(nf, 12, seed=3, kmin=kc)  # modes between kc and 12 only...
    assert float(jnp.max(jnp.abs(restrict_spectrum(jnp.fft.rfft2(jnp.asarray(extra)), nc)))) < 1e-10  # ...vanish
    with pytest.raises(ValueError, match="half spectrum"):
        restrict_spectrum(jnp.zeros((16, 9), jnp.complex128), 32)


def test_pair_runs_agree_on_a_coarse_resolved_flow():
    """A Taylor-Green cell (no cascade, no force) is resolved on both grids and decays exactly in both: the
    restricted fine run equals the coarse run (a quarter of the steps, each four times longer) to round-off."""
    pair = kolmogorov_pair(64, 16, viscosity=0.01, drag=0.1, forcing_wavenumber=2, dtype=jnp.float64)
    p = SpectralParams(0.01, 0.1, 0.0)
    x, y = pair.fine.coords
    xc, yc = pair.coarse.coords
    w_f = pair.fine.initial_state(2 * np.sin(x) * np.sin(y))
    w_c = pair.coarse.initial_state(2 * np.sin(xc) * np.sin(yc))
    fine = simulate(pair.fine, w_f, p, num_steps=40, dt=pair.dt_fine).state
    coarse = simulate(pair.coarse, w_c, p, num_steps=40 // pair.factor, dt=pair.dt_coarse).state
    r = restrict_spectrum(fine.omega_hat, 16)
    assert float(jnp.max(jnp.abs(r - coarse.omega_hat))) < 1e-12 * float(jnp.max(jnp.abs(coarse.omega_hat)))


@pytest.fixture(scope="module")
def tiny():
    pair = kolmogorov_pair(32, 16, viscosity=0.01, drag=0.1, forcing_wavenumber=2, dtype=jnp.float64)
    traj = turbulence_trajectories(pair, jax.random.PRNGKey(0), 2, 12, spin_up=0.3)
    return pair, traj


def test_trajectories_shape_and_start(tiny):
    pair, traj = tiny
    assert traj.shape == (2, 13, 16, 9) and traj.dtype == jnp.complex128
    assert bool(jnp.all(jnp.isfinite(jnp.abs(traj))))
    # consecutive states differ by one coarse step of the fine solver, not by nothing
    assert float(jnp.max(jnp.abs(traj[:, 1] - traj[:, 0]))) > 1e-3


def test_window_gradient_matches_finite_differences(tiny):
    """The training loss's derivative wrt the CNN's weights, through 4 corrected solver steps (float64)."""
    pair, traj = tiny
    model = VorticityCorrection(jax.random.PRNGKey(1), scale=5.0, width=4, depth=1)
    model = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model)
    last = model.cnn.layers[-1]  # undo the small initial output (init_scale 1e-3): a correction of O(1)
    model = eqx.tree_at(lambda m: (m.cnn.layers[-1].weight, m.cnn.layers[-1].bias), model,
                        (last.weight * 1e3, last.bias * 1e3))
    step = lambda s: pair.coarse.step(s, pair.params, pair.dt_coarse)  # noqa: E731

    def loss(m):
        s = SpectralState(traj[0, 0])
        err = 0.0
        for j in range(4):
            s = m.correct(pair.coarse, step(s))
            err = err + jnp.sum(jnp.abs(s.omega_hat - traj[0, j + 1]) ** 2)
        return err

    pm, sm = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(pm)
    f = lambda v: loss(eqx.combine(unravel(v), sm))  # noqa: E731
    g = jax.grad(f)(flat)
    d = jnp.asarray(np.random.default_rng(0).standard_normal(flat.shape))
    h = 1e-6
    fd = (f(flat + h * d) - f(flat - h * d)) / (2 * h)
    assert abs(float(g @ d) - float(fd)) <= 1e-6 * abs(float(fd)), (float(g @ d), float(fd))


def test_training_reduces_the_loss_and_zero_model_is_the_plain_solver(tiny):
    pair, traj = tiny
    model = VorticityCorrection(jax.random.PRNGKey(2), scale=5.0, width=8, depth=1)
    zero = eqx.tree_at(lambda m: (m.cnn.layers[-1].weight, m.cnn.layers[-1].bias), model,
                       (jnp.zeros_like(model.cnn.layers[-1].weight), jnp.zeros_like(model.cnn.layers[-1].bias)))
    ev = evaluate_spectral(zero, pair, traj[0])
    assert np.allclose(ev["err_plain"], ev["err_corrected"], rtol=1e-12, atol=0)
    assert ev["err_plain"].shape == (12,) and np.all(ev["corr_plain"] <= 1 + 1e-12)
    res = train_spectral_correction(model, pair, traj, k=4, iterations=40, batch=4, learning_rate=1e-2)
    h = res.history
    assert len(h) == 40 and np.mean(h[-10:]) < 0.8 * np.mean(h[:5]), h
    with pytest.raises(ValueError, match="k = 20"):
        train_spectral_correction(model, pair, traj, k=20, iterations=1)


@pytest.mark.parametrize("args, match", [((64, 48), "multiple"), ((64, 16, 6), "forcing_wavenumber"),
                                         ((8, 4), "n_fine")])
def test_bad_pairs(args, match):
    kw = {"forcing_wavenumber": args[2]} if len(args) > 2 else {}
    with pytest.raises(ValueError, match=match):
        kolmogorov_pair(args[0], args[1], **kw)


@pytest.mark.slow
def test_quick_example_keeps_held_out_flows_correlated_longer(tmp_path):
    from diffphys.examples import load, make_config

    mod = load("learn-kolmogorov")
    m = mod.run(make_config(mod, quick=True), tmp_path)
    # measured (quick, float64 test process): correlated time 0.38 -> 0.86, error over the first k steps 1.23x lower
    assert m["correlated_time_gain"] >= 1.5, m
    assert m["error_reduction_first_k"] >= 1.1, m
    assert (tmp_path / "errors.png").exists() and (tmp_path / "vorticity.png").exists()
