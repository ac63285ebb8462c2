"""Bad input: a ValueError naming the field and the allowed range, case by case (and exit code 2 from the CLI)."""

import numpy as np
import pytest

from diffphys.hydro import EulerSolver, HydroState, RadialGrid, WindParams, solve


def solver(**kw):
    return EulerSolver(RadialGrid(10, 1.0), **kw)


def test_nonpositive_density():
    with pytest.raises(ValueError, match=r"rho .*must be > 0"):
        solver().initial_state(np.r_[np.ones(9), 0.0], 0.0, 1.0)


def test_nonpositive_pressure():
    with pytest.raises(ValueError, match=r"p .*must be > 0"):
        solver().initial_state(1.0, 0.0, np.r_[np.ones(9), -1.0])


def test_nonpositive_pressure_in_conserved_state():
    s = solver()
    u = np.ones((3, 10))
    u[2] = 0.1  # E < kinetic energy 0.5 -> negative pressure
    with pytest.raises(ValueError, match=r"state0 pressure must be > 0"):
        solve(s, HydroState(u), None, t_end=0.1)


@pytest.mark.parametrize("gamma", [1.0, 0.5, -2.0])
def test_gamma(gamma):
    with pytest.raises(ValueError, match=r"gamma must lie in \(1, inf\]"):
        solver(gamma=gamma)


@pytest.mark.parametrize("cfl", [0.0, -0.1, 1.5])
def test_cfl(cfl):
    with pytest.raises(ValueError, match=r"cfl must lie in \(0, 1\]"):
        solver(cfl=cfl)


@pytest.mark.parametrize("value", ["weno", "conserved", None])
def test_reconstruction(value):
    with pytest.raises(ValueError, match="reconstruction must be one of 'primitive', 'characteristic'"):
        solver(reconstruction=value)


@pytest.mark.parametrize("n", [3, 0, -5])
def test_too_few_cells(n):
    with pytest.raises(ValueError, match=r"n_cells must be an integer in \[4, inf\]"):
        RadialGrid(n, 1.0)


@pytest.mark.parametrize("t_end", [0.0, -1.0])
def test_t_end(t_end):
    s = solver()
    with pytest.raises(ValueError, match=r"t_end must be > 0 \(allowed range \(0, inf\)\)"):
        solve(s, s.initial_state(1.0, 0.0, 1.0), None, t_end=t_end)


def test_nan_in_initial_state():
    with pytest.raises(ValueError, match=r"rho contains NaN"):
        solver().initial_state(np.r_[np.ones(9), np.nan], 0.0, 1.0)
    with pytest.raises(ValueError, match=r"v contains NaN"):
        solver().initial_state(1.0, np.nan, 1.0)


def test_nan_in_t_end():
    s = solver()
    with pytest.raises(ValueError, match=r"t_end contains NaN"):
        solve(s, s.initial_state(1.0, 0.0, 1.0), None, t_end=float("nan"))


def test_nan_in_gamma_and_cfl():
    with pytest.raises(ValueError, match=r"gamma contains NaN"):
        solver(gamma=float("nan"))
    with pytest.raises(ValueError, match=r"cfl contains NaN"):
        solver(cfl=float("nan"))


def test_nan_in_wind_params():
    with pytest.raises(ValueError, match=r"v_inf"):
        WindParams(float("nan"), 1.0)
    with pytest.raises(ValueError, match=r"mdot must be > 0"):
        WindParams(1.0, -1.0)


@pytest.mark.parametrize("setting,field", [("n_cells=3", "n_cells"), ("cfl=1.5", "cfl"), ("gamma=1.0", "gamma"),
                                           ("t_end=-1", "t_end"), ("rho_left=0", "rho_left"),
                                           ("p_right=nan", "p_right")])
def test_cli_exit_code_2(setting, field, tmp_path, capsys):
    from diffphys.cli import main

    code = main(["run", "sod", "--quick", "--out", str(tmp_path / "o"), "--set", setting])
    err = capsys.readouterr().err
    assert code == 2
    assert field in err and len(err.strip().splitlines()) == 1
