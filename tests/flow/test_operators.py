"""Discrete operators and boundary conditions against exact identities."""

import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.flow import (
    Boundaries,
    Box,
    Circle,
    FlowParams,
    FlowSolver,
    Grid,
    inflow,
    moving_wall,
    outflow,
    periodic,
    slip,
    wall,
)
from diffphys.flow.interp import FieldGeom, pad, sample


def _solvers():
    g = Grid((16, 8), size=(2.0, 1.5))  # non-square cells
    yield FlowSolver(g, Boundaries(inflow(lambda y: y * (1.5 - y)), outflow(), wall(), slip()), 0.02,
                     obstacles=[Circle((0.6, 0.7), 0.25), Box((1.3, 0.0), (1.5, 0.4))])
    yield FlowSolver(g, Boundaries.all_periodic(), 0.02, obstacles=[Circle((1.0, 0.75), 0.3)])
    yield FlowSolver(g, Boundaries(periodic(), periodic(), wall(), moving_wall(1.0)), 0.02)
    yield FlowSolver(g, Boundaries(wall(), outflow(), inflow(0.5), wall()), 0.02)


@pytest.mark.parametrize("k", range(4))
def test_operator_is_minus_div_grad_and_symmetric(k):
    solver = list(_solvers())[k]
    rng = np.random.default_rng(k)
    a = jnp.asarray(rng.standard_normal(solver.grid.shape))
    b = jnp.asarray(rng.standard_normal(solver.grid.shape))
    f = solver.fluid
    lhs = solver.poisson_matvec(a) * f
    rhs = -solver.divergence(*solver.gradient(a))
    assert np.allclose(lhs, rhs, atol=1e-10)
    assert np.isclose(jnp.sum(b * solver.poisson_matvec(a)), jnp.sum(a * solver.poisson_matvec(b)), rtol=1e-12)
    assert jnp.sum(a * solver.poisson_matvec(a)) > 0


@pytest.mark.parametrize("k", range(4))
def test_projection_removes_divergence_all_solvers_agree(k):
    base = list(_solvers())[k]
    rng = np.random.default_rng(10 + k)
    u = jnp.asarray(rng.standard_normal(base.open_u.shape))
    v = jnp.asarray(rng.standard_normal(base.open_v.shape))
    results = []
    for pressure in ("cg", "mg"):
        s = base.__class__(base.grid, base.boundaries, base.dt, pressure=pressure, tol=1e-11, maxiter=5000,
                           obstacles=_obstacles(k))
        uu, vv = s.enforce(u, v, 1.0)
        pu, pv, _, (iters, rel, ok, div) = s.project(uu, vv)
        assert bool(ok) and float(div) <= 1e-8
        # the result is the L2-orthogonal projection: prescribed faces untouched
        assert np.allclose(pu * (1 - s.open_u), uu * (1 - s.open_u))
        results.append((pu, pv))
    assert np.allclose(results[0][0], results[1][0], atol=1e-8)
    assert np.allclose(results[0][1], results[1][1], atol=1e-8)


def _obstacles(k):
    return [[Circle((0.6, 0.7), 0.25), Box((1.3, 0.0), (1.5, 0.4))], [Circle((1.0, 0.75), 0.3)], [], []][k]


def test_fast_solver_matches_cg():
    g = Grid((16, 12), size=(2.0, 1.5))
    rng = np.random.default_rng(0)
    for bcs in (Boundaries.all_periodic(), Boundaries(wall(), slip(), wall(), moving_wall(1.0)),
                Boundaries(periodic(), periodic(), wall(), wall())):
        out = []
        for pressure in ("fft", "cg"):
            s = FlowSolver(g, bcs, 0.01, pressure=pressure, tol=1e-12, maxiter=5000)
            u = jnp.asarray(rng.standard_normal(s.open_u.shape)) if not out else out[0][2]
            v = jnp.asarray(rng.standard_normal(s.open_v.shape)) if not out else out[0][3]
            u, v = s.enforce(u, v, 1.0)
            pu, pv, _, info = s.project(u, v)
            assert float(info[3]) <= 1e-9
            out.append((pu, pv, u, v))
        assert np.allclose(out[0][0], out[1][0], atol=1e-9) and np.allclose(out[0][1], out[1][1], atol=1e-9)


def test_mass_balance_inflow_outflow_and_no_flow_through_obstacles():
    solver = list(_solvers())[0]
    state = solver.initial_state(dtype=jnp.float64)
    out = simulate(solver, state, FlowParams(0.01, 1.3), num_steps=10).state
    dy = solver.grid.dy
    flux_in = float(jnp.sum(out.u[0]) * dy)
    flux_out = float(jnp.sum(out.u[-1]) * dy)
    prof = np.asarray(solver.coords[1][0]) * (1.5 - np.asarray(solver.coords[1][0]))
    assert np.isclose(flux_in, 1.3 * np.sum(prof * np.asarray(solver.fluid[0])) * dy, rtol=1e-12)
    assert np.isclose(flux_in, flux_out, rtol=1e-6)
    closed = 1 - np.asarray(solver.open_u)
    solid_faces = closed.copy()
    solid_faces[0] = 0  # the inflow faces carry the profile
    assert np.all(np.asarray(out.u)[solid_faces > 0] == 0)
    assert np.all(np.asarray(out.v)[:, 0] == 0) and np.all(np.asarray(out.v)[:, -1] == 0)


def test_uniform_flow_is_preserved_by_periodic_advection():
    for adv in ("semi-lagrangian", "maccormack"):
        g = Grid((12, 8), size=(1.2, 0.8))
        s = FlowSolver(g, Boundaries.all_periodic(), 0.03, advection=adv, velocity_scale=1.0)
        st = s.initial_state(lambda x, y: 0.7 + 0 * x, lambda x, y: -0.4 + 0 * x,
                             lambda x, y: np.sin(2 * np.pi * x / 1.2) * np.cos(2 * np.pi * y / 0.8), dtype=jnp.float64)
        out = simulate(s, st, FlowParams(0.01), num_steps=20).state
        assert np.allclose(out.u, 0.7, atol=1e-12) and np.allclose(out.v, -0.4, atol=1e-12)
        # marker is translated; its mean is conserved by the (bilinear, uniform-velocity) advection
        assert np.isclose(jnp.mean(out.marker), jnp.mean(st.marker), atol=1e-12)
        if adv == "maccormack":  # limiter: no new extrema
            assert float(jnp.max(out.marker)) <= float(jnp.max(st.marker)) + 1e-12
            assert float(jnp.min(out.marker)) >= float(jnp.min(st.marker)) - 1e-12


def test_sampling_is_exact_for_bilinear_fields():
    geom = FieldGeom(0.05, 0.1, 0.1, 0.2, 1.0, 1.6, False, False)
    x = 0.05 + 0.1 * np.arange(10)
    y = 0.1 + 0.2 * np.arange(8)
    X, Y = np.meshgrid(x, y, indexing="ij")
    f = lambda x, y: 1.0 + 2 * x - 3 * y + 0.5 * x * y
    ap = pad(jnp.asarray(f(X, Y)), (("even", None),) * 4)
    q = jnp.asarray(np.random.default_rng(0).uniform([0.1, 0.2], [0.9, 1.4], (50, 2)))
    assert np.allclose(sample(ap, geom, q[:, 0], q[:, 1]), f(q[:, 0], q[:, 1]), atol=1e-12)


def test_moving_wall_drives_flow_and_walls_stay_impermeable():
    g = Grid((12, 12), size=(1.0, 1.0))
    s = FlowSolver(g, Boundaries(wall(), wall(), wall(), moving_wall(1.0)), 0.02)
    st = s.initial_state(dtype=jnp.float64)
    out = simulate(s, st, FlowParams(0.05, 2.0), num_steps=15).state
    assert float(out.u[6, -1]) > 0.3  # dragged along by the lid (speed 2)
    assert float(out.u[6, 0]) < 0  # recirculation underneath
    assert np.all(np.asarray(out.u)[[0, -1]] == 0) and np.all(np.asarray(out.v)[:, [0, -1]] == 0)


def test_grid_point_velocities_equal_interpolation():
    g = Grid((12, 8), size=(2.0, 1.5))
    rng = np.random.default_rng(0)
    for bcs in (Boundaries(inflow(lambda y: y), outflow(), wall(), moving_wall(0.7)), Boundaries.all_periodic(),
                Boundaries(periodic(), periodic(), slip(), wall())):
        s = FlowSolver(g, bcs, 0.01)
        u = jnp.asarray(rng.standard_normal(s.open_u.shape))
        v = jnp.asarray(rng.standard_normal(s.open_v.shape))
        vel = s.velocity(u, v, 1.3)
        xu, yu, xv, yv, xc, yc = s.coords
        for (p, q), (x, y) in zip(s.grid_velocities(u, v, 1.3), [(xu, yu), (xv, yv), (xc, yc)]):
            P, Q = vel(x, y)
            assert np.allclose(P, p, atol=1e-13) and np.allclose(Q, q, atol=1e-13)


def test_shifted_sampling_equals_bilinear_gather():
    """The gather-free sampler (departure points within one spacing) equals the general bilinear sampler."""
    import numpy as np

    from diffphys.flow.interp import FieldGeom, pad, sample, sample_shifted

    rng = np.random.default_rng(3)
    n, m, hx, hy = 9, 7, 0.3, 0.2
    a = jnp.asarray(rng.standard_normal((n, m)))
    x, y = np.meshgrid(np.arange(n) * hx + 0.1, np.arange(m) * hy, indexing="ij")
    sx = rng.uniform(-1, 1, (n, m))
    sy = rng.uniform(-1, 1, (n, m))
    sx[0, 0], sy[0, 0], sx[1, 1], sy[1, 1] = 1.0, -1.0, 0.0, 0.0  # the extremes and a grid point
    for per in (True, False):
        rules = (("wrap", None),) * 4 if per else (("even", None), ("odd", 0.5), ("odd", None), ("even", None))
        geom = FieldGeom(0.1, 0.0, hx, hy, n * hx, m * hy, per, per)
        ap = pad(a, rules, 1.0)
        ref = sample(ap, geom, jnp.asarray(x + sx * hx), jnp.asarray(y + sy * hy), minmax=True)
        got = sample_shifted(ap, jnp.asarray(sx), jnp.asarray(sy), minmax=True)
        generic = (sx != np.round(sx)) & (sy != np.round(sy))  # on a grid line the stencil cell is ambiguous
        for k, (r, g) in enumerate(zip(ref, got)):
            err = np.abs(np.asarray(r) - np.asarray(g))
            assert np.max(err if k == 0 else err[generic]) <= 1e-12


def test_near_sampling_equals_bilinear_gather():
    """The gather-free sampler of a field at another staggered grid's points (the RK2 midpoint: half a
    spacing away, displacements within half a spacing; the departure point: same grid, within one)
    equals the general bilinear sampler, with walls and periodic boundaries."""
    import numpy as np

    from diffphys.flow.interp import FieldGeom, pad, sample, sample_near

    rng = np.random.default_rng(5)
    hx, hy = 0.3, 0.2
    # field on cell faces of x (n + 1 points from x = 0), target grid: the cells' centres, and the reverse
    cases = [((8, 6), (0.0, 0.5), (7, 6), (0.5, 0.5), 0.5),   # u-faces sampled at cell centres
             ((7, 6), (0.5, 0.5), (8, 6), (0.0, 0.5), 0.5),   # cell centres sampled at u-faces
             ((7, 7), (0.5, 0.0), (8, 6), (0.0, 0.5), 0.5),   # v-faces sampled at u-faces
             ((8, 6), (0.0, 0.5), (8, 6), (0.0, 0.5), 1.0)]   # same grid, a whole spacing
    # periodic: as many faces as cells
    periodic = [((7, 6), (0.0, 0.5), (7, 6), (0.5, 0.5), 0.5), ((7, 6), (0.5, 0.5), (7, 6), (0.0, 0.5), 0.5),
                ((7, 6), (0.5, 0.0), (7, 6), (0.0, 0.5), 0.5), ((7, 6), (0.0, 0.5), (7, 6), (0.0, 0.5), 1.0)]
    for per, group in ((False, cases), (True, periodic)):
        for (fshape, (fx, fy), tshape, (tx, ty), smax) in group:
            rules = (("wrap", None),) * 4 if per else (("even", None), ("odd", 0.5), ("odd", None), ("even", None))
            a = jnp.asarray(rng.standard_normal(fshape))
            geom = FieldGeom(fx * hx, fy * hy, hx, hy, 7 * hx, 6 * hy, per, per)
            target = FieldGeom(tx * hx, ty * hy, hx, hy, 7 * hx, 6 * hy, per, per)
            ap = pad(a, rules, 1.0)
            x, y = np.meshgrid(target.x0 + np.arange(tshape[0]) * hx, target.y0 + np.arange(tshape[1]) * hy,
                               indexing="ij")
            sx = rng.uniform(-smax, smax, tshape)
            sy = rng.uniform(-smax, smax, tshape)
            sx[0, 0], sy[0, 0] = smax, -smax  # the extremes
            got = sample_near(ap, geom, target, tshape, jnp.asarray(sx), jnp.asarray(sy), smax, minmax=True)
            assert got is not None
            ref = sample(ap, geom, jnp.asarray(x + sx * hx), jnp.asarray(y + sy * hy), minmax=True)
            g = ((tx - fx + sx) != np.round(tx - fx + sx)) & ((ty - fy + sy) != np.round(ty - fy + sy))
            for k, (r, q) in enumerate(zip(ref, got)):
                err = np.abs(np.asarray(r) - np.asarray(q))
                assert np.max(err if k == 0 else err[g]) <= 1e-12
    # a stencil that would leave the padded field: no fast path
    ap = pad(jnp.zeros((7, 6)), (("even", None),) * 4, 1.0)
    geom = FieldGeom(0.5 * hx, 0.5 * hy, hx, hy, 7 * hx, 6 * hy, False, False)
    far = FieldGeom(-0.5 * hx, 0.5 * hy, hx, hy, 7 * hx, 6 * hy, False, False)
    assert sample_near(ap, geom, far, (7, 6), jnp.zeros((7, 6)), jnp.zeros((7, 6)), 1.0) is None


@pytest.mark.parametrize("scene", ["taylor_green", pytest.param("cavity", marks=pytest.mark.slow),
                                   pytest.param("karman", marks=pytest.mark.slow)])
def test_gather_free_rk2_step_equals_gathered_step(scene, monkeypatch):
    """A whole solver step (MacCormack, RK2 trace from the grid points) by slices equals the step by
    gathers: periodic, walls with a moving lid, an obstacle with inflow and outflow."""
    import numpy as np

    import jax

    import diffphys.flow.advect as A
    from diffphys import flow

    if scene == "taylor_green":
        solver, state, params = flow.taylor_green(24, nu=0.01, dtype=jnp.float64)
    elif scene == "cavity":
        solver, state, params = flow.cavity(24, dtype=jnp.float64)
    else:
        solver, state, params = flow.karman_book((32, 16), re=100.0, dtype=jnp.float64)
    assert solver.backtrace == "rk2"
    step = jax.jit(lambda s: solver.step(s, params))
    for _ in range(3):  # a developed, non-trivial velocity field
        state = step(state)
    fast = step(state)
    monkeypatch.setattr(A, "_rk2_near", lambda *a, **k: None)
    slow = jax.jit(lambda s: solver.step(s, params))(state)
    for name in ("u", "v", "marker"):
        a, b = np.asarray(getattr(fast, name)), np.asarray(getattr(slow, name))
        assert np.max(np.abs(a - b)) <= 1e-11 * max(1.0, np.max(np.abs(b))), name


def test_vmapped_steps_keep_the_sampling_branch_and_match_single_steps():
    """Under ``vmap`` the sampler's fast/gather choice (on a CPU) stays a branch taken for the whole batch
    (fast only when every member allows it) and each member equals its own step: one member within CFL 1, one beyond
    (only the gathers are valid there)."""
    import re

    import jax
    import numpy as np

    from diffphys import flow

    solver, state, params = flow.taylor_green(16, nu=0.01, dtype=jnp.float64)
    fast = state
    slow = type(state)(state.u * 1.6 / (solver.dt * np.abs(np.asarray(state.u)).max() / solver.grid.spacing[0]),
                       state.v, state.marker, state.p, state.t, state.info)  # |u| dt / dx = 1.6
    batch = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), fast, slow)
    step = jax.vmap(lambda s: solver.step(s, params))
    if jax.default_backend() == "cpu":  # elsewhere the sampler always gathers (no branch)
        assert re.search(r"\bconditional\(", jax.jit(step).lower(batch).compile().as_text())
    out = jax.jit(step)(batch)
    for k, single in enumerate((fast, slow)):
        ref = jax.jit(lambda s: solver.step(s, params))(single)
        for name in ("u", "v"):
            a, b = np.asarray(getattr(out, name)[k]), np.asarray(getattr(ref, name))
            assert np.max(np.abs(a - b)) <= 1e-12 * max(1.0, np.abs(b).max()), (k, name)


def test_step_and_gradient_lower_for_a_gpu():
    """The sampler picks its branch by platform (slices-or-gathers on a CPU, gathers elsewhere): the step,
    its gradient and a vmapped step lower for a GPU target too (checked here without one)."""
    import jax

    from diffphys import flow

    solver, state, params = flow.taylor_green(16, nu=0.01, dtype=jnp.float32)

    def loss(u):
        return jnp.sum(solver.step(type(state)(u, state.v, state.marker, state.p, state.t, state.info), params).u ** 2)

    batch = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), state)
    for fn, arg in ((lambda s: solver.step(s, params).u, state), (jax.grad(loss), state.u),
                    (jax.vmap(lambda s: solver.step(s, params).u), batch)):
        text = jax.jit(fn).trace(arg).lower(lowering_platforms=("cuda",)).as_text()
        assert "stablehlo.gather" in text


@pytest.mark.slow
def test_platform_switch_changes_nothing_on_a_cpu_and_leaves_only_gathers_elsewhere(monkeypatch):
    """On a CPU the compiled step, its gradient and a vmapped step are the programs built without the
    platform switch (same conditionals, gathers and kernels): the switch must not lose the CPU branch.
    Elsewhere the sampler's predicate is a constant False, and XLA then drops the branch, the slices and the
    predicate's reductions and keeps the gathers (checked here with the platform branches swapped)."""
    import re

    import jax
    from jax import lax

    import diffphys.flow.advect as A
    from diffphys import flow

    if jax.default_backend() != "cpu":
        pytest.skip("the kernel structure checked here is XLA CPU's")
    solver, state, params = flow.taylor_green(16, nu=0.01, dtype=jnp.float32)

    def loss(u):
        return jnp.sum(solver.step(type(state)(u, state.v, state.marker, state.p, state.t, state.info), params).u ** 2)

    batch = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), state)

    def counts(n_cases=3):
        cases = ((lambda s: solver.step(s, params).u, state), (lambda u: jax.grad(loss)(u), state.u),
                 (jax.vmap(lambda s: solver.step(s, params).u), batch))
        out = []
        for fn, arg in cases[:n_cases]:
            text = jax.jit(fn).lower(arg).compile().as_text()
            out.append({op: len(re.findall(rf"\b{op}\(", text)) for op in ("conditional", "gather", "fusion")})
        return out

    switched = counts()
    monkeypatch.setattr(A, "_per_platform", lambda args, cpu, default: cpu(*args))
    assert counts() == switched
    monkeypatch.setattr(A, "_per_platform", lambda args, cpu, default: lax.platform_dependent(*args, cpu=default,
                                                                                                default=cpu))
    for c, o in zip(switched, counts(2)):
        assert c["conditional"] >= 1 and o["conditional"] == 0
        assert o["gather"] == c["gather"] >= 1
        assert o["fusion"] < c["fusion"]

