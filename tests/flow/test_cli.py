"""The command line runs the flow examples, writes the metric keys, and prints a non-converged pressure status."""

import json
import math
import pytest

from diffphys.cli import main


def test_cavity_cli_prints_non_converged_status(tmp_path, capsys):
    out = tmp_path / "cav"
    rc = main(["run", "cavity", "--out", str(out), "--set", "n=16", "--set", "t_end=0.2", "--set", "pressure=cg",
               "--set", "pressure_maxiter=2", "--set", "advection=semi-lagrangian"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "pressure_converged = False" in text and "NOT CONVERGED" in text
    m = json.loads((out / "metrics.json").read_text())
    assert {"ghia_u_max_abs_dev", "ghia_v_max_abs_dev"} <= set(m)
    assert (out / "profiles.png").exists()


def test_karman_cli_small_run_writes_keys_and_gif(tmp_path, capsys):
    out = tmp_path / "k"
    rc = main(["run", "karman", "--out", str(out), "--set", "cells_per_diameter=3", "--set", "length=12",
               "--set", "width=4", "--set", "t_end=3", "--set", "frames=3", "--set", "advection=semi-lagrangian"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert {"strouhal", "max_divergence"} <= set(m) and m["pressure_converged"]
    assert m["max_divergence"] < 1e-3
    assert (out / "vortex_street.gif").exists() and (out / "fields.png").exists()


def test_bad_input_exit_code_2(tmp_path, capsys):
    assert main(["run", "karman", "--out", str(tmp_path / "x"), "--set", "re=-1"]) == 2
    assert "re must be > 0" in capsys.readouterr().err
    assert main(["run", "cavity", "--out", str(tmp_path / "y"), "--set", "n=3"]) == 2


def test_kolmogorov_cli_small_run_closes_the_energy_budget(tmp_path, capsys):
    """The energy injected by the force minus viscous and drag losses, integrated over the run from the
    diagnostics, equals the energy change (limited by the trapezoid rule on the 0.05 sampling)."""
    out = tmp_path / "kol"
    rc = main(["run", "kolmogorov", "--out", str(out), "--set", "n=32", "--set", "t_end=1.0", "--set", "segment=0.05",
               "--set", "frames=3", "--set", "viscosity=0.01"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert {"energy_final", "enstrophy_final", "energy_budget_rel_err", "spectrum_slope", "steps"} <= set(m)
    assert m["energy_budget_rel_err"] < 1e-3
    assert m["steps"] > 20 and m["energy_final"] > 0
    for f in ("vorticity.png", "budget_spectrum.png", "vorticity.gif"):
        assert (out / f).exists()
    assert main(["run", "kolmogorov", "--out", str(tmp_path / "z"), "--set", "n=31"]) == 2
    assert "n must be even" in capsys.readouterr().err
    assert main(["run", "kolmogorov", "--out", str(tmp_path / "z2"), "--set", "n=32",
                 "--set", "forcing_wavenumber=6"]) == 2
    assert "forcing_wavenumber" in capsys.readouterr().err


@pytest.mark.slow
def test_kolmogorov_fit_recovers_the_initial_vorticity(tmp_path):
    """4D-Var twin experiment: the estimate is compared with the true initial field (never used by the fit)."""
    out = tmp_path / "kf"
    rc = main(["run", "kolmogorov-fit", "--quick", "--out", str(out), "--set", "iterations=80"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    # measured: 0.24 / 0.22 / chi^2 1.0 after 80 iterations (the background guess, no vorticity, has error 1)
    assert m["init_rel_err"] < 0.35 and m["forecast_rel_err"] < 0.35, m
    assert 0.3 < m["chi2_per_obs"] < 3.0, m
    assert m["cost_last"] < 0.01 * m["cost_first"]
    assert (out / "fields.png").exists() and (out / "convergence.png").exists()


@pytest.mark.slow
def test_smoke_plume_quick_recovers_the_source(tmp_path):
    """The quick smoke plume (24^2, 30 steps): internal waves within 2% of theory at 12 cells per depth, and the
    source's position and rate from the noisy image within 3 sigma from both starts."""
    out = tmp_path / "plume"
    assert main(["run", "smoke-plume", "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["wave_max_rel_err"] <= 2e-2 and m["wave_solves_converged"]      # second order: 1.1% at 12 cells
    assert abs(m["x0_pull"]) <= 3 and abs(m["rate_pull"]) <= 3 and m["starts_apart_sigma"] <= 1
    assert 0.5 <= m["chi2_per_cell"] <= 1.5
    assert (out / "smoke_plume.png").exists() and (out / "smoke_plume.gif").exists()
    assert (out / "internal_waves.png").exists()


@pytest.mark.slow
def test_rayleigh_benard_quick(tmp_path):
    """The quick Rayleigh-Benard example (8 cells per depth): growth rates within 2% of the damping rate of
    linear theory, both onsets found by Newton (converged in <= 6 iterations) within 1% (free-slip) and 10%
    (no-slip, under-resolved at 8 cells) of theory, heat through floor and lid alike, figures written."""
    out = tmp_path / "rb"
    assert main(["run", "rayleigh-benard", "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["growth_max_err"] <= 2e-2
    assert m["newton_converged"] and m["newton_iterations_max"] <= 6
    assert abs(m["ra_c_slip_rel_err"]) <= 1e-2 and abs(m["ra_c_noslip_rel_err"]) <= 0.1
    assert m["hot_nu_final"] > 1.2                                          # Ra = 2e4 convects
    for name in ("rayleigh_benard_onset.png", "rayleigh_benard_hot.png", "rayleigh_benard.gif"):
        assert (out / name).exists(), name


@pytest.mark.slow
def test_heated_cavity_quick(tmp_path):
    """The quick heated-cavity example (Ra = 1e3, 1e4 at 16 and 32 cells per side, extrapolated): every run
    steady, the hot wall's Nusselt number and both peak velocities within 0.5% of de Vahl Davis (1983), the heat
    through both walls alike; the local slopes d ln Nu / d ln Ra at 1e3 and 1e4 (forward mode through the runs)
    bracket the table's secant slope between them (mean value theorem: the slope grows with Ra there), figures
    written."""
    out = tmp_path / "hc"
    assert main(["run", "heated-cavity", "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["all_converged"]
    assert max(m["nu_rel_err_max"], m["u_max_rel_err_max"], m["v_max_rel_err_max"]) <= 5e-3
    assert m["hot_cold_nu_max_diff"] <= 1e-10
    secant = math.log(2.243 / 1.118) / math.log(10)                       # de Vahl Davis' table, 1e3 -> 1e4
    assert 0 < m["dlnnu_dlnra"]["1000"] < secant < m["dlnnu_dlnra"]["10000"]
    for name in ("heated_cavity.png", "heated_cavity_errors.png"):
        assert (out / name).exists(), name
