"""``gradient="forward"`` (ForwardSensitivity): jax.grad by forward-mode tangents equals plain reverse mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import Checkpoint, ForwardSensitivity, simulate

from .test_masked_steps import S0, MaskedOsc, Osc, P


def close(a, b, rtol=1e-10):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-13)


@pytest.mark.parametrize("solver", [Osc(), MaskedOsc()], ids=["cond", "masked"])
def test_grad_wrt_params_state_and_t_end_equals_reverse_sweep(solver):
    def loss(p, s0, t_end, gradient):
        return jnp.sum(simulate(solver, s0, p, t_end=t_end, max_steps=400, gradient=gradient).state ** 2)

    ref = jax.grad(loss, argnums=(0, 1, 2))(P, S0, 3.0, "store")
    got = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)(P, S0, 3.0, "forward")
    close(got, ref)
    assert abs(float(ref[2])) > 1e-3  # the t_end derivative is not trivially zero
    # params alone (the state and t_end tangents are symbolic zeros: only the Jacobian path runs)
    close(jax.grad(loss)(P, S0, 3.0, ForwardSensitivity(Checkpoint(remat_steps=True))), ref[0])


def test_forward_mode_vmap_and_fixed_steps_with_snapshots():
    def loss(p, gradient):
        sol = simulate(Osc(), S0, p, num_steps=200, save_every=50, gradient=gradient)
        return jnp.sum(sol.snapshots ** 2) + jnp.sum(sol.state)

    ref = jax.grad(loss)(P, "store")
    close(jax.grad(loss)(P, "forward"), ref)
    close(jax.jacfwd(loss)(P, "forward"), ref)  # forward mode through the custom rule
    ws = jnp.array([1.2, 1.3])
    batched = jax.vmap(lambda w: jax.grad(loss)({"w": w, "c": P["c"]}, "forward")["w"])(ws)
    np.testing.assert_allclose(np.asarray(batched[1]), float(ref["w"]), rtol=1e-10)
    assert abs(float(batched[0] - batched[1])) > 1e-3


def test_bad_base_is_rejected():
    for base in ("forward", "adjoint", ForwardSensitivity()):
        with pytest.raises(ValueError, match="base"):
            ForwardSensitivity(base)
    with pytest.raises(ValueError, match="gradient must be one of"):
        simulate(Osc(), S0, P, num_steps=3, gradient="forwards")
