"""The flow-controller example: configuration checks (fast) and the quick run (slow: ~26 s on 2 cores)."""

import pytest

from diffphys.examples import flow_controller, make_config


@pytest.mark.parametrize("key, value", [
    ("T", "0"), ("n", "4"), ("shift", "0"), ("n_train", "0"), ("n_test", "0"), ("force_scale", "0"),
    ("blob_width", "0.5"), ("weight", "-1"), ("learning_rate", "0"),
])
def test_config_rejects_bad_values(key, value):
    with pytest.raises(ValueError, match=key):
        make_config(flow_controller, {key: value})


def test_pairs_are_shifted_blobs_of_equal_mass():
    import numpy as np

    cfg = make_config(flow_controller, {"n": 32, "n_train": 3, "n_test": 2})
    solver, _, (states, targets), test = flow_controller.make_problem(cfg)
    assert len(states) == 3 and len(test[0]) == 2
    xc, yc = solver.grid.centers()
    for s, t in zip(states, targets):
        m, t = np.asarray(s.marker), np.asarray(t)
        assert t.sum() == pytest.approx(m.sum(), rel=1e-3)  # same blob, moved
        # periodic distance between the centres of mass (via the phase of the first Fourier mode)
        cm = [np.angle(np.sum(f * np.exp(2j * np.pi * x))) / (2 * np.pi) for f in (m, t) for x in (xc, yc)]
        d = [(cm[2 + k] - cm[k] + 0.5) % 1.0 - 0.5 for k in range(2)]
        assert np.hypot(*d) == pytest.approx(cfg.shift, rel=0.05)


@pytest.mark.slow
def test_quick_run_controls_held_out_pairs(tmp_path):
    cfg = make_config(flow_controller, quick=True)
    m = flow_controller.run(cfg, tmp_path)
    assert m["held_out_loss_untrained"] > 0.95
    assert m["held_out_loss"] < 0.35  # measured 0.19 (float32)
    assert m["held_out_misfit_max"] < 0.5  # measured 0.28
    for name in ("loss.png", "held_out.png"):
        assert (tmp_path / name).stat().st_size > 0
