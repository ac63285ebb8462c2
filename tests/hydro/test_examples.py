"""The hydro inference examples end to end on their quick configurations, against the synthetic truth."""

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
