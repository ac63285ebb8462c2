import jax.numpy as jnp
import numpy as np
import optax
import pytest

from diffphys.core import fit


def rosen(p):
    return (1 - p["x"]) ** 2 + 100 * (p["y"] - p["x"] ** 2) ** 2


P0 = {"x": jnp.asarray(-1.0), "y": jnp.asarray(1.5)}


def test_fit_converges_to_known_minimum():
    res = fit(rosen, P0, optimizer=optax.adam(0.05), steps=3000)
    assert res.message == "completed" and res.ok
    assert abs(float(res.params["x"]) - 1) < 1e-3 and abs(float(res.params["y"]) - 1) < 2e-3
    assert len(res.history) == 3000 and res.history[0] == pytest.approx(rosen(P0))
    assert res.final_loss < 1e-6


def test_lbfgs_with_line_search_converges_in_few_steps():
    """optax.lbfgs needs the loss function for its line search: fit passes it (and value, grad)."""
    res = fit(rosen, P0, optimizer=optax.lbfgs(), steps=60)
    assert res.ok
    assert abs(float(res.params["x"]) - 1) < 1e-6 and abs(float(res.params["y"]) - 1) < 1e-6
    assert res.final_loss < 1e-12  # Adam needs ~3000 steps for 1e-6 above
    # a plain GradientTransformation (no extra-argument support) still gets the three-argument update
    plain = optax.GradientTransformation(optax.sgd(1e-3).init, lambda g, s, p=None: optax.sgd(1e-3).update(g, s, p))
    assert fit(rosen, P0, optimizer=plain, steps=5).ok


def test_stop_when():
    res = fit(rosen, P0, optimizer=optax.adam(0.05), steps=3000, stop_when=lambda k, p, loss: loss < 1.0)
    assert res.message == "stop_when" and res.steps < 3000 and res.history[-1] < 1.0


def test_nan_guard_keeps_last_finite_params():
    # loss is finite for x < 0.5 and NaN beyond; gradient descent walks right
    loss = lambda p: jnp.where(p["x"] < 0.5, -p["x"], jnp.nan)  # noqa: E731
    res = fit(loss, {"x": jnp.asarray(0.0)}, optimizer=optax.sgd(0.2), steps=100)
    assert res.failed_step == 3  # x: 0 -> .2 -> .4 -> .6 (step 2 makes x=.6; step 3 evaluates NaN)
    assert "step 3" in res.message and "not finite" in res.message
    assert float(res.params["x"]) == pytest.approx(0.6)
    assert np.all(np.isfinite(res.history)) and len(res.history) == 3


def test_resume_after_interruption_is_bitwise_identical(tmp_path):
    opt = optax.adam(0.03)
    full = fit(rosen, P0, optimizer=opt, steps=50)
    ck = tmp_path / "ck.pkl"

    class Killed(Exception):
        pass

    def killer(step, params, loss):
        if step == 37:
            raise Killed

    with pytest.raises(Killed):
        fit(rosen, P0, optimizer=opt, steps=50, checkpoint=ck, checkpoint_every=10, callback=killer)
    assert ck.exists()
    resumed = fit(rosen, P0, optimizer=opt, steps=50, checkpoint=ck, checkpoint_every=10, resume=True)
    for k in P0:
        assert np.asarray(resumed.params[k]).tobytes() == np.asarray(full.params[k]).tobytes()
    np.testing.assert_array_equal(resumed.history, full.history)


def test_bad_input():
    with pytest.raises(ValueError, match="steps"):
        fit(rosen, P0, steps=-1)
    with pytest.raises(ValueError, match="finite"):
        fit(rosen, {"x": jnp.asarray(jnp.nan), "y": jnp.asarray(0.0)}, steps=1)
    with pytest.raises(ValueError, match="checkpoint"):
        fit(rosen, P0, steps=1, resume=True)
