"""The hydro inference examples end to end on their quick configurations, against the synthetic truth."""

import pytest

from diffphys.examples import run_example


def test_wind_posterior_quick_covers_the_truth(tmp_path):
    # NUTS over (log v_inf, log Mdot) with jax.grad by forward sensitivities (the example's default):
    # the 90% intervals contain the parameters that made the data; 4 chains agree
    m = run_example("wind-posterior", tmp_path, quick=True)
    assert m["v_in_90ci"] and m["mdot_in_90ci"]
    assert m["rhat_max"] <= 1.01 and m["divergences"] == 0
    lo, hi = m["v_90ci"]
    assert lo < 2000.0 < hi and hi - lo < 100.0  # informative, not just wide
    assert (tmp_path / "wind_posterior_corner.png").stat().st_size > 0


@pytest.mark.slow
def test_wind_example_with_cooling_compares_with_the_thin_shell_solution(tmp_path):
    # --set cooling_lambda=1e-22: the radius is compared with Weaver's radiative coefficient 0.763; the
    # energy budget becomes the radiated fraction (measured at N=401: -0.09% from 0.763, 56% radiated)
    import pytest

    from diffphys.examples import make_config, wind

    with pytest.raises(ValueError, match="cooling_lambda"):
        make_config(wind, {"cooling_lambda": "-1"})
    cfg = make_config(wind, {"n_cells": "300", "sens_cells": "48", "n_snapshots": "4", "cooling_lambda": "1e-22"})
    m = wind.run(cfg, tmp_path)
    assert m["weaver_coefficient"] == pytest.approx(0.763, abs=1e-3)
    assert m["outer_shock_rel_err"] <= 0.03
    assert 0.2 < m["radiated_energy_fraction"] < 0.9 and "energy_budget_rel_err" not in m
    assert m["mass_budget_rel_err"] <= 1e-10


def test_kelvin_helmholtz_cli_small_run(tmp_path, capsys):
    """A 32^2 run to t = 1.2: the files and keys are written, mass and energy are conserved to round-off (float64
    here), the seeded mode grows, and bad input exits with code 2."""
    import json

    from diffphys.cli import main

    out = tmp_path / "kh"
    rc = main(["run", "kelvin-helmholtz", "--out", str(out), "--set", "n=32", "--set", "t_end=1.2",
               "--set", "frames=3"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mass_rel_err"] <= 1e-13 and m["energy_rel_err"] <= 1e-13 and m["momentum_rel_err"] <= 1e-13
    assert m["mode_amplitude_final"] > 2 * 0.01 and m["num_steps"] > 50
    assert abs(m["growth_rate_linear_theory"] - 2.832) < 1e-3
    for f in ("density.png", "mode_amplitude.png", "density.gif", "mode_amplitude.json"):
        assert (out / f).exists()
    assert main(["run", "kelvin-helmholtz", "--out", str(tmp_path / "x"), "--set", "n=8"]) == 2
    assert "n must be" in capsys.readouterr().err
    assert main(["run", "kelvin-helmholtz", "--out", str(tmp_path / "y"), "--set", "limiter=superbee"]) == 2


def test_wind_2d_cli_small_run(tmp_path, capsys):
    """32 x 64 cells: the figure and keys are written, the budgets are exact (float64 here), the bubble's radius on
    the equator is the 1D run's within 3%; bad input exits with code 2."""
    import json

    from diffphys.cli import main

    out = tmp_path / "w2d"
    assert main(["run", "wind-2d", "--out", str(out), "--set", "n_r=32", "--set", "n_inject=2"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert abs(m["mass_budget_rel_err"]) <= 1e-10 and abs(m["energy_budget_rel_err"]) <= 1e-10
    assert abs(m["equator_vs_1d_rel"]) <= 0.03 and abs(m["outer_shock_rel_err_1d"]) <= 0.15
    assert (out / "bubble.png").exists() and m["cells"] == 2048
    assert main(["run", "wind-2d", "--out", str(tmp_path / "x"), "--set", "n_r=32", "--set", "n_inject=20"]) == 2
    assert "n_inject must be" in capsys.readouterr().err
    assert main(["run", "wind-2d-fit", "--out", str(tmp_path / "y"), "--set", "noise=0"]) == 2
    assert "noise" in capsys.readouterr().err


@pytest.mark.slow
def test_kelvin_helmholtz_fit_quick_recovers_the_truth_within_its_errors(tmp_path):
    """Levenberg-Marquardt through the 2D solver from a noisy density image: the misfit drops from ~15 to the noise
    level and the true parameters lie within 3 Gauss-Newton standard deviations of the estimate."""

    m = run_example("kelvin-helmholtz-fit", tmp_path, quick=True, overrides={"iterations": "10"})
    assert m["start_chi2_per_cell"] > 5.0
    assert 0.85 < m["chi2_per_cell"] < 1.15
    assert m["max_pull"] < 3.0
    assert m["amplitude_rel_err"] < 0.1 and m["shear_rel_err"] < 0.1 and m["phase_err"] < 0.2
    for f in ("densities.png", "residual.png", "loss.png"):
        assert (tmp_path / f).exists()


def test_jeans_cli_small_run(tmp_path, capsys):
    """48^2 to t = 0.3 (float64 here): files and keys written; the fundamental modes follow cosh(sigma t) to 1%
    at t = 0.25 (measured 0.43%; 32^2: 1.04%, 128^2: 0.63%, where the modes' coupling dominates); total momentum
    stays 0 to round-off; bad input exits with code 2."""
    import json

    from diffphys.cli import main

    out = tmp_path / "j"
    assert main(["run", "jeans", "--out", str(out), "--set", "n=48", "--set", "t_end=0.3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["fundamental_rel_err_max"] <= 0.01 and m["momentum_drift"] <= 1e-14
    assert m["growing_modes"] == 10 and m["seeded_modes"] == 14
    for f in ("density.png", "modes.png", "modes.json"):
        assert (out / f).exists()
    assert main(["run", "jeans", "--out", str(tmp_path / "x"), "--set", "t_linear=5"]) == 2
    assert "t_linear must lie" in capsys.readouterr().err


def test_collapse_cli_small_run(tmp_path, capsys):
    """16^3 to 0.6 t_ff (float64 here): files and keys written; the core density follows the exact free fall within
    3% to 0.5 t_ff (measured 1.8%; 48^3 float32 default: 0.14% to 0.7 t_ff); momentum stays 0 to round-off; bad
    input exits with code 2."""
    import json

    from diffphys.cli import main

    out = tmp_path / "c"
    assert main(["run", "collapse", "--out", str(out), "--set", "n=16", "--set", "t_final=0.6", "--set", "n_save=6",
                 "--set", "t_check=0.5"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["core_density_rel_err_max"] <= 0.03 and m["momentum_over_mass"] <= 1e-13
    assert m["density_contrast_final"] > 2.0  # (r/r0)^-3 = 2.51 at 0.6 t_ff
    for f in ("density.png", "collapse.png", "collapse.json"):
        assert (out / f).exists()
    assert main(["run", "collapse", "--out", str(tmp_path / "x"), "--set", "t_check=0.95"]) == 2
    assert "t_check" in capsys.readouterr().err


@pytest.mark.slow
def test_collapse_fit_quick_recovers_the_cloud_within_its_errors(tmp_path):
    """collapse-fit --quick (16^3, noise 1% of the peak column): chi^2 per pixel in 0.85-1.15 (measured 1.045), the
    truth within 3 sigma (1.3 sigma; rho0 0.31%, R 0.17%, omega 0.032 off)."""
    m = run_example("collapse-fit", tmp_path, quick=True)
    assert 0.85 <= m["chi2_per_pixel"] <= 1.15 and m["start_chi2_per_pixel"] > 10
    assert m["max_pull"] <= 3.0 and m["rho0_rel_err"] <= 0.02 and m["radius_rel_err"] <= 0.02
    assert m["omega_abs_err"] <= 0.1


@pytest.mark.slow
def test_wind_2d_fit_quick_recovers_the_truth_within_its_errors(tmp_path):
    """wind-2d-fit --quick (24 x 48 cells, noise 1% of the central column): chi^2 per pixel in 0.85-1.15, the truth
    within 3 sigma (measured 1.5 sigma; errors 1.1% in v_inf, 2.2% in Mdot along the Mdot v^2 ridge)."""
    m = run_example("wind-2d-fit", tmp_path, quick=True)
    assert 0.85 <= m["chi2_per_pixel"] <= 1.15 and m["start_chi2_per_pixel"] > 10
    assert m["max_pull"] <= 3.0 and m["v_rel_err"] <= 0.05 and m["mdot_rel_err"] <= 0.1
    assert m["correlation"] < -0.9  # the bubble fixes L = Mdot v^2 / 2 better than either


def test_brio_wu_cli_small_run(tmp_path, capsys):
    """brio-wu at 200 cells against a 1600-cell run: HLLD closer than HLL; characteristic limiting cuts the ringing
    of v_x and B_y (total variation beyond the fine run's) at least 2x with a density error within 10% (measured:
    v_x 0.24 -> 0.05); mass and energy budgets exact (the gas is at rest at both ends), positive; bad input exits
    with code 2."""
    import json

    from diffphys.cli import main

    out = tmp_path / "bw"
    assert main(["run", "brio-wu", "--out", str(out), "--set", "n_cells=200", "--set", "reference_cells=1600"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["l1_density_hlld"] < m["l1_density_hll"] < 0.02
    for v in ("vx", "by"):
        assert m[f"tv_excess_{v}_hlld_characteristic"] <= 0.5 * m[f"tv_excess_{v}_hlld"], m
    assert m["l1_density_hlld_characteristic"] <= 1.1 * m["l1_density_hlld"]
    assert m["mass_rel_err"] <= 1e-14 and m["energy_rel_err"] <= 1e-14  # float64 under the tests
    assert m["min_density"] > 0.1 and m["min_pressure"] > 0.05
    for f in ("brio_wu_profiles.png", "brio_wu_zoom.png"):
        assert (out / f).exists()
    assert main(["run", "brio-wu", "--out", str(tmp_path / "x"), "--set", "reference_cells=1000"]) == 2
    assert "reference_cells" in capsys.readouterr().err


@pytest.mark.slow
def test_orszag_tang_cli_small_run(tmp_path, capsys):
    """orszag-tang at 32^2 to t = 0.2: div B stays at round-off, mass and energy conserved (periodic), files written;
    bad input exits with code 2. (slow: the solver's div B and budgets on this vortex are checked by
    tests/hydro/test_mhd.py, and ``make demo`` runs the example.)"""
    import json

    from diffphys.cli import main

    out = tmp_path / "ot"
    assert main(["run", "orszag-tang", "--out", str(out), "--set", "n=32", "--set", "t_end=0.2",
                 "--set", "n_frames=3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["div_b_max_rel"] <= 1e-13 and m["mass_rel_err"] <= 1e-14 and m["energy_rel_err"] <= 1e-13
    assert m["momentum_abs_err"] <= 1e-14 and m["min_pressure"] > 0
    for f in ("orszag_tang.png", "orszag_tang_cuts.png", "orszag_tang.gif"):
        assert (out / f).exists()
    assert main(["run", "orszag-tang", "--out", str(tmp_path / "x"), "--set", "n=8"]) == 2
    assert "n must" in capsys.readouterr().err


@pytest.mark.slow
def test_mhd_fit_quick_recovers_the_field_within_its_errors(tmp_path):
    """mhd-fit --quick (128 cells, beam 0.03, noise 1%): chi^2 per cell in 0.85-1.15 (measured 1.038), every field
    component within 3 sigma of the truth (largest pull 1.88) and within 6%."""
    m = run_example("mhd-fit", tmp_path, quick=True)
    assert 0.85 <= m["chi2_per_cell"] <= 1.15 and m["start_chi2_per_cell"] > 10
    assert m["max_pull"] <= 3.0
    assert max(m["bx_rel_err"], m["by_left_rel_err"], m["by_right_rel_err"]) <= 0.06


def test_mhd_fit_bad_input_exits_2(tmp_path, capsys):
    from diffphys.cli import main

    assert main(["run", "mhd-fit", "--out", str(tmp_path / "x"), "--set", "by_right=0.5"]) == 2
    assert "by_right must be < 0" in capsys.readouterr().err


@pytest.mark.slow
def test_cr_shock_tube_quick(tmp_path):
    """The quick cosmic-ray shock tube (float32, N = 100-400): L1 errors of the exact two-fluid solution's size
    at N = 100 (density <= 9e-3, measured 7.9e-3), every variable converging with fitted order >= 0.64 (measured
    0.70-1.00), the figures written."""
    m = run_example("cr-shock-tube", tmp_path, quick=True)
    assert m["l1_density"] <= 9e-3 and m["l1_p_cr"] <= 9e-3
    assert m["order_min"] >= 0.64
    for name in ("cr_shock_tube.png", "cr_shock_tube_convergence.png"):
        assert (tmp_path / name).stat().st_size > 0
