"""The polytrope example: configuration checks and the quick run (~7 s) against the Lane-Emden solution."""

import pytest

from diffphys.examples import make_config, polytrope


@pytest.mark.parametrize("key, value", [("n_cells", "4"), ("t_end", "0"), ("cfl", "2"), ("integrator", "leapfrog"),
                                        ("resolutions", "64"), ("resolutions", "a,b"), ("limiter", "none")])
def test_config_rejects_bad_values(key, value):
    with pytest.raises(ValueError, match=key):
        make_config(polytrope, {key: value})


def test_quick_run_holds_the_polytrope(tmp_path):
    m = polytrope.run(make_config(polytrope, quick=True), tmp_path)
    assert m["reached"] == 1.0
    assert m["l1_density"] <= 2e-3  # measured 1.27e-3 at N = 128
    assert m["l1_order"] >= 1.5  # measured 1.74 over N = 32, 64, 128
    assert abs(m["mass_rel_drift"]) <= 1e-13
    drifts = [abs(x) for x in m["sweep_energy_rel_drift"]]
    assert drifts == sorted(drifts, reverse=True) and drifts[-1] <= 5e-5
    assert (tmp_path / "polytrope.png").stat().st_size > 0
