"""A vmapped hydro step: the same numbers as one step per member, and the same compiled kernels.

``materialize`` (x / a run-time 1.0) makes XLA compute shared face and slope values once. When that 1.0
was derived from the state, ``jax.vmap`` made it a batched vector and XLA rewrote ``x / broadcast(one)``
as ``x * (1 / one)``, which undid every ``materialize``: a vmapped step (loss landscapes, ensembles) ran
14x slower than a single one, and a row of ones broke ``vmap`` over tangents the same way. The
structural check counts the divisions in the compiled step under each transformation.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.hydro import WindParams, wind_problem
from diffphys.hydro.state import HydroState


def _step(sol):
    def f(u, v, m):
        q = WindParams(v, m)
        s = HydroState(u)
        return sol.step(s, q, sol.max_dt(s, q)).u
    return f


@pytest.mark.parametrize("integrator", ["hancock", "rk2"])
def test_vmapped_step_matches_single_steps(integrator):
    wp = wind_problem(64, integrator=integrator)
    f = _step(wp.solver)
    u0 = wp.state0.u
    us = jnp.stack([u0, u0 * 1.1, u0 * 0.9])
    vs = wp.params.v_inf * jnp.array([1.0, 0.9, 1.2])
    ms = wp.params.mdot * jnp.array([1.0, 1.3, 0.7])
    batched = jax.jit(jax.vmap(f))(us, vs, ms)
    for k in range(3):
        # the same numbers up to the order of floating-point operations XLA picks per layout (relative to
        # each conserved row's scale: momentum is ~0 in the gas at rest)
        one = np.asarray(jax.jit(f)(us[k], vs[k], ms[k]))
        scale = np.abs(one).max(axis=1, keepdims=True)
        assert np.all(np.abs(np.asarray(batched[k]) - one) <= 1e-13 * scale)


def _divides(fn, *args):
    return len(re.findall(r"\bdivide\(", jax.jit(fn).lower(*args).compile().as_text()))


@pytest.mark.slow
def test_materialize_survives_vmap():
    """vmap over parameters (ensembles, landscapes), over tangents (forward-mode Jacobians) and of a
    gradient keep the step's materialising divisions."""
    if jax.default_backend() != "cpu":
        pytest.skip("the kernel structure checked here is XLA CPU's")
    wp = wind_problem(101)
    f, u, p = _step(wp.solver), wp.state0.u, wp.params
    th = jnp.stack([p.v_inf, p.mdot])

    def g(u, th):
        return f(u, th[0], th[1])

    single = _divides(g, u, th)
    assert single >= 20  # the materialised slopes, face states, HLLC speeds and fluxes
    assert _divides(jax.vmap(g), u[None], th[None]) >= single
    jvp_one = _divides(lambda th: jax.jvp(lambda t: g(u, t), (th,), (jnp.eye(2)[0],)), th)
    jvp_two = _divides(lambda th: jax.vmap(lambda d: jax.jvp(lambda t: g(u, t), (th,), (d,)))(jnp.eye(2)), th)
    assert jvp_one >= single + 20  # the tangents' divisions as well as the primal's
    assert jvp_two >= jvp_one

    def grad(th):
        return jax.grad(lambda t: jnp.sum(g(u, t)[0]))(th)

    assert _divides(jax.vmap(grad), jnp.stack([th, th])) >= _divides(grad, th)


def test_vmapped_runs_match_single_runs():
    """A whole adaptive run (CFL steps, masked slots after t_end) vmapped over wind parameters: each member
    ends where its own run ends (its step count, its final state), though the batch runs every slot."""
    from diffphys.hydro import solve

    wp = wind_problem(48, t_end_yr=5e3)
    fac = jnp.array([0.8, 1.0, 1.3])

    def run(v, m):
        sol = solve(wp.solver, wp.state0, WindParams(v, m), t_end=wp.t_end, max_steps=2000)
        return sol.state.u, sol.num_steps, sol.t

    us, ns, ts = jax.jit(jax.vmap(run))(wp.params.v_inf * fac, wp.params.mdot * fac[::-1])
    steps = set()
    for k in range(3):
        u, n, t = jax.jit(run)(wp.params.v_inf * fac[k], wp.params.mdot * fac[::-1][k])
        assert int(ns[k]) == int(n)
        steps.add(int(n))
        assert float(ts[k]) == float(t) == pytest.approx(float(wp.t_end), rel=1e-15)
        scale = np.abs(np.asarray(u)).max(axis=1, keepdims=True)
        assert np.all(np.abs(np.asarray(us[k]) - np.asarray(u)) <= 1e-12 * scale)
    assert len(steps) == 3  # the members really took different numbers of steps



def test_materialize_is_a_cpu_device():
    """The run-time 1.0 is opaque (an ``optimization_barrier``) only when the step is lowered for a CPU;
    lowered for a GPU it is a plain constant 1.0, whose divisions XLA folds away (there each division
    would split a kernel, and a launch costs more than the recomputation: wind N=401 on an H200 forward
    0.28 -> 0.15 s)."""
    wp = wind_problem(101)
    f, u, p = _step(wp.solver), wp.state0.u, wp.params

    def lowered(platform):
        return jax.jit(f).trace(u, p.v_inf, p.mdot).lower(lowering_platforms=(platform,)).as_text()

    assert "optimization_barrier" in lowered("cpu")
    assert "optimization_barrier" not in lowered("cuda")
    if jax.default_backend() == "cpu":
        # what XLA makes of the other platforms' plain 1.0 (the branches swapped, compiled here): only the
        # step's real divisions remain
        from jax import lax

        import diffphys.hydro.solver as S

        with_barrier = _divides(f, u, p.v_inf, p.mdot)
        one = jnp.ones((), u.dtype)
        plain = S._one
        try:
            S._one = lambda rho: lax.stop_gradient(lax.platform_dependent(one, cpu=lambda o: o,
                                                                          default=lax.optimization_barrier))
            folded = _divides(lambda *a: f(*a), u, p.v_inf, p.mdot)  # a new function: no cached trace
        finally:
            S._one = plain
        assert with_barrier - folded >= 20, (with_barrier, folded)  # the Hancock step materialises ~29 values


@pytest.mark.parametrize("layout", [pytest.param("store", marks=pytest.mark.slow),
                                    pytest.param("checkpoint", marks=pytest.mark.slow),
                                    pytest.param("store_plain", marks=pytest.mark.slow),
                                    pytest.param("checkpoint_plain", marks=pytest.mark.slow)])
def test_platform_switch_changes_nothing_on_a_cpu(layout, monkeypatch):
    """Every tape layout's compiled CPU gradient has exactly the divisions it has with the opaque 1.0 built
    without the platform switch. A switch around each division (instead of on the input-free 1.0) lost the
    CPU branch in parts of the reverse pass (``checkpoint_plain``: 46 divisions instead of 124; the CPU
    gradient ran 4x slower, with the same values)."""
    if jax.default_backend() != "cpu":
        pytest.skip("the kernel structure checked here is XLA CPU's")
    from jax import lax

    import diffphys.hydro.solver as S
    from diffphys.core import Checkpoint, Store
    from diffphys.hydro import solve

    wp = wind_problem(101)
    grad = {"store_plain": Store(), "checkpoint_plain": Checkpoint()}.get(layout, layout)
    x0 = jnp.stack([wp.params.v_inf, wp.params.mdot])

    def run(x, g=None):
        return solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=400,
                     **({} if g is None else {"gradient": g}), dt_gradient=False).state.u

    def counts():
        # new functions each time: jax.jit would reuse a cached trace of the same function object
        return _divides(lambda x: run(x), x0), _divides(jax.grad(lambda x: jnp.sum(run(x, grad)[0] ** 2)), x0)

    switched = counts()
    monkeypatch.setattr(S, "_one", lambda rho: lax.stop_gradient(lax.optimization_barrier(jnp.ones((), rho.dtype))))
    assert counts() == switched
    assert switched[0] >= 30 and switched[1] >= 2 * switched[0]
