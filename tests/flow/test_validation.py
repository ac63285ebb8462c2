"""Validation against analytic solutions and published data (Ghia et al. 1982; Strouhal number at Re = 100)."""


import numpy as np
import pytest

from diffphys.examples import cavity as cavity_ex
from diffphys.examples import karman as karman_ex
from diffphys.examples import taylor_green as tg_ex
from diffphys.flow import ghia_re100


def test_ghia_table_is_packaged():
    g = ghia_re100()
    assert len(g["y"]) == 17 and g["u"][0] == 1.0 and g["y"][-1] == 0.0
    assert np.isclose(g["v"][g["x"] == 0.5][0], 0.05454)


def test_taylor_green_decay_and_order(tmp_path):
    m = tg_ex.run(tg_ex.Config(n_min=16, levels=3), tmp_path)
    # analytic KE decay rate 4 nu; the error falls with resolution and the fitted order is second
    assert m["order"] >= 1.8
    assert m["decay_rel_err"] <= 0.03
    assert m["decay_rates"][0] > m["decay_rates"][1] > m["decay_rates"][2] > m["analytic_rate"] * 0.999
    assert (tmp_path / "fields.png").exists()


@pytest.mark.slow
def test_taylor_green_order_fine(tmp_path):
    m = tg_ex.run(tg_ex.Config(n_min=32, levels=3), tmp_path)
    assert m["order"] >= 1.8 and m["decay_rel_err"] <= 0.015


def test_cavity_coarse_against_ghia(tmp_path):
    m = cavity_ex.run(cavity_ex.Config(**cavity_ex.QUICK), tmp_path)
    assert m["ghia_u_max_abs_dev"] <= 0.02 and m["ghia_v_max_abs_dev"] <= 0.02
    assert m["pressure_converged"] and m["max_divergence"] <= 1e-4


@pytest.mark.slow
def test_cavity_128_against_ghia(tmp_path):
    m = cavity_ex.run(cavity_ex.Config(), tmp_path)
    assert m["n"] == 128
    assert m["ghia_u_max_abs_dev"] <= 0.02 and m["ghia_v_max_abs_dev"] <= 0.02


@pytest.mark.slow
def test_cavity_128_multigrid_against_ghia(tmp_path):
    m = cavity_ex.run(cavity_ex.Config(pressure="mg"), tmp_path)
    assert m["ghia_u_max_abs_dev"] <= 0.02 and m["ghia_v_max_abs_dev"] <= 0.02 and m["pressure_converged"]


@pytest.mark.slow
def test_karman_coarse_strouhal(tmp_path):
    m = karman_ex.run(karman_ex.Config(**karman_ex.QUICK), tmp_path)
    assert abs(m["strouhal"] - 0.165) <= 0.1 * 0.165
    assert m["pressure_converged"] and m["max_divergence"] <= 1e-4
    assert (tmp_path / "vortex_street.gif").exists()


@pytest.mark.slow
def test_karman_default_strouhal(tmp_path):
    m = karman_ex.run(karman_ex.Config(), tmp_path)
    assert abs(m["strouhal"] - 0.165) <= 0.1 * 0.165 and m["pressure_converged"]


@pytest.mark.slow
@pytest.mark.parametrize("res", ["64x32", "256x128"])
def test_book_scene_sheds(tmp_path, res):
    m = karman_ex.run(karman_ex.Config(scene="book", resolution=res, t_end=1500, frames=30), tmp_path)
    assert m["grid"] == res and m["finite"] and m["pressure_converged"]
    assert 0.13 <= m["strouhal"] <= 0.22  # confined (blockage 0.2) shedding
