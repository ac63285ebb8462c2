"""The gravity examples run end to end on tiny configurations and report their metric keys."""

import numpy as np
import pytest

from diffphys.examples import load, make_config, run_example


def test_ic_fit_tiny(tmp_path):
    over = {"iterations": "3", "ptcl_x": "4", "ptcl_y": "6", "ptcl_z": "4", "box_x": "40", "box_y": "60",
            "box_z": "40", "num_steps": "4", "a_start": "0.1", "projections": "2", "frames": "2"}
    m = run_example("ic-fit", tmp_path, overrides=over)
    assert set(m) >= {"loss_initial", "loss_final", "iterations", "wall_s", "s_per_iteration", "devices"}
    assert m["devices"] == 1
    assert m["iterations"] == 3 and m["loss_final"] < m["loss_initial"]
    for f in ("ic_fit_sequence.png", "ic_fit_loss.png", "ic_fit_animation.gif", "ic_fit_universe.gif",
              "metrics.json"):
        assert (tmp_path / f).stat().st_size > 0


def test_ic_fit_quick_config_is_the_lecture_configuration():
    cfg = make_config(load("ic-fit"), quick=True)
    assert (cfg.ptcl_x, cfg.ptcl_y, cfg.ptcl_z) == (16, 27, 16)
    assert (cfg.box_x, cfg.box_y, cfg.box_z) == (160.0, 270.0, 160.0)
    assert cfg.mesh_factor == 2 and cfg.image_factor == 4 and cfg.num_steps == 63
    assert cfg.a_start == 1 / 64 and cfg.a_stop == 1.0


@pytest.mark.slow
def test_nbody_tiny(tmp_path):
    over = {"ptcl": "8", "num_steps": "4", "box": "64", "a_start": "0.1"}
    m = run_example("nbody", tmp_path, overrides=over)
    for key in ("mass_rel_err", "momentum_rel", "pk_lowk_rel_err", "reversibility_rel", "adjoint_vs_ad_rel_rms"):
        assert key in m and np.isfinite(m[key])
    assert m["mass_rel_err"] <= 1e-12 and m["momentum_rel"] <= 1e-10
    assert m["reversibility_rel"] <= 1e-10 and m["adjoint_vs_ad_rel_rms"] <= 1e-10
    assert m["devices"] == 1                      # one device here (tests/parallel runs it on four)
    assert (tmp_path / "nbody_power.png").exists()
