"""The projectile example against closed-form truths (float64: conftest enables x64)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys import cli
from diffphys.examples.projectile import Projectile, landing_range, trajectory


def test_drag_free_trajectory_is_exact_parabola():
    p = {"g": jnp.asarray(9.81), "k": jnp.asarray(0.0), "v0x": jnp.asarray(3.0), "v0y": jnp.asarray(7.0)}
    traj = trajectory(Projectile(dt=0.05), p, 20)
    t = np.arange(21) * 0.05
    np.testing.assert_allclose(traj[:, 0], 3.0 * t, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(traj[:, 1], 7.0 * t - 0.5 * 9.81 * t**2, rtol=1e-12, atol=1e-13)


def test_range_and_its_derivative_match_closed_form():
    solver = Projectile(dt=0.01)

    def rng(theta):
        p = {"g": jnp.asarray(9.81), "k": jnp.asarray(0.0), "v0x": 20 * jnp.cos(theta), "v0y": 20 * jnp.sin(theta)}
        return landing_range(solver, p, 500)

    th = 0.6
    assert abs(rng(th) - 400 * np.sin(2 * th) / 9.81) < 1e-10
    assert abs(jax.grad(rng)(th) - 800 * np.cos(2 * th) / 9.81) < 1e-8


def test_drag_slows_the_ball_as_energy_balance_says():
    """d/dt (kinetic + potential) = -k |v|^3 (work of the drag force)."""
    solver = Projectile(dt=0.001)
    p = {"g": jnp.asarray(9.81), "k": jnp.asarray(0.02), "v0x": jnp.asarray(10.0), "v0y": jnp.asarray(10.0)}
    traj = np.asarray(trajectory(solver, p, 1500))
    e = 0.5 * (traj[:, 2] ** 2 + traj[:, 3] ** 2) + 9.81 * traj[:, 1]
    speed3 = np.sqrt(traj[:, 2] ** 2 + traj[:, 3] ** 2) ** 3
    work = np.concatenate([[0], np.cumsum(0.5 * (speed3[1:] + speed3[:-1]) * 0.001)]) * 0.02
    np.testing.assert_allclose(e - e[0], -work, atol=2e-6 * e[0])


@pytest.mark.slow
def test_example_meets_its_targets(tmp_path):
    out = tmp_path / "proj"
    assert cli.main(["run", "projectile", "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ["g_true", "g_fit", "best_angle_deg", "posterior_g_q05", "posterior_g_q95", "grad_check_max_rel_err"]:
        assert key in m
    assert abs(m["g_fit"] - m["g_true"]) / m["g_true"] < 0.01
    assert abs(m["best_angle_deg"] - 45.0) < 0.1
    assert m["best_angle_drag_deg"] < 45.0 - 0.5
    assert m["grad_check_max_rel_err"] < 1e-6  # float64 in tests
    assert m["fwd_vs_rev_max_rel_diff"] < 1e-10
    assert m["posterior_g_q05"] <= m["g_true"] <= m["posterior_g_q95"]
    assert m["rhat_max"] < 1.05
    for fig in ["fit.png", "sensitivities.png", "angle.png", "posterior.png"]:
        assert (out / fig).stat().st_size > 10_000


@pytest.mark.slow
def test_posterior_intervals_are_calibrated_over_seeds(tmp_path):
    """90% intervals must contain the truth about 90% of the time: over 10 noise seeds, at least 7
    (binomial(10, 0.9) gives fewer than 7 with probability 1.3%)."""
    hits = 0
    for seed in range(10):
        out = tmp_path / f"s{seed}"
        assert cli.main(["run", "projectile", "--quick", "--seed", str(seed), "--out", str(out)]) == 0
        m = json.loads((out / "metrics.json").read_text())
        hits += m["g_in_90ci"]
    assert hits >= 7
