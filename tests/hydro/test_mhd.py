"""Ideal MHD in 1D (diffphys.hydro.mhd): Riemann solvers, linear waves, a Rankine-Hugoniot fast shock, the
hydrodynamic limit against the exact Riemann solution, conservation, derivatives, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.core.sensitivity import check_grad
from diffphys.hydro import ExactRiemann, solve
from diffphys.hydro.reconstruct import reconstruct_rows
from diffphys.hydro.solver import _one
from diffphys.hydro.mhd import (MHD_RIEMANN_SOLVERS, MHDGridSolver, MHDGridState, MHDSolver, MHDState,
                                brio_wu_problem, characteristic_projection, fast_shock, fast_speed, mhd_eigensystem,
                                mhd_flux, orszag_tang_problem, primitive_eigenvectors, to_conserved)

G53 = 5.0 / 3.0


def _rows(w):
    return tuple(jnp.asarray(np.asarray(v, dtype=np.float64)) for v in w)


def test_fluxes_are_consistent():
    rng = np.random.default_rng(1)
    w = _rows([rng.uniform(0.5, 2, 40), *rng.normal(size=(3, 40)), rng.uniform(0.5, 2, 40), *rng.normal(size=(2, 40))])
    exact = mhd_flux(w, 0.7, G53)[0]
    for name, fn in MHD_RIEMANN_SOLVERS.items():
        f = fn(w, w, 0.7, G53)
        for k in range(7):
            np.testing.assert_allclose(f[k], exact[k], rtol=1e-13, atol=1e-13, err_msg=f"{name} flux {k}")


def _stationary_discontinuities():
    """A contact (density jump at rest) and a rotational discontinuity standing in a flow at the Alfven speed."""
    bx, rho, p = 0.8, 1.3, 0.7
    contact = ([1.3, 0, 0.2, -0.1, p, 0.5, 0.3], [0.4, 0, 0.2, -0.1, p, 0.5, 0.3])
    vx = bx / np.sqrt(rho)  # the left-going Alfven wave v_x - c_a stands still
    bt = 0.9
    (byl, bzl), (byr, bzr) = bt * np.array([np.cos(0.3), np.sin(0.3)]), bt * np.array([np.cos(2.2), np.sin(2.2)])
    dv = np.sign(bx) / np.sqrt(rho)  # transverse velocity jumps with the field: dv_t = sign(B_x) dB_t / sqrt(rho)
    rotational = ([rho, vx, 0.1, 0.2, p, byl, bzl],
                  [rho, vx, 0.1 + dv * (byr - byl), 0.2 + dv * (bzr - bzl), p, byr, bzr])
    return bx, {"contact": contact, "rotational": rotational}


@pytest.mark.parametrize("kind", ["contact", "rotational"])
def test_hlld_resolves_isolated_contact_and_rotational_discontinuity(kind):
    bx, cases = _stationary_discontinuities()
    wl, wr = (_rows(np.array(w)[:, None]) for w in cases[kind])
    fl, fr = mhd_flux(wl, bx, G53)[0], mhd_flux(wr, bx, G53)[0]
    for k in range(7):  # a standing discontinuity: the same physical flux on both sides
        np.testing.assert_allclose(fl[k], fr[k], rtol=1e-13, atol=1e-14)
    hlld = MHD_RIEMANN_SOLVERS["hlld"](wl, wr, bx, G53)
    hll = MHD_RIEMANN_SOLVERS["hll"](wl, wr, bx, G53)
    for k in range(7):
        np.testing.assert_allclose(hlld[k], fl[k], rtol=1e-12, atol=1e-13)
    assert max(float(jnp.max(jnp.abs(hll[k] - fl[k]))) for k in range(7)) > 1e-2  # HLL diffuses it


def test_eigensystem_speeds():
    w0 = [1.0, 0.3, 0.0, 0.0, 1.0 / G53, np.sqrt(2.0), 0.5]
    lam, _ = mhd_eigensystem(w0, 1.0, G53)  # the linear-wave state of Gardiner & Stone (2005): 0.5, 1, 2
    np.testing.assert_allclose(lam - 0.3, [-2, -1, -0.5, 0, 0.5, 1, 2], atol=1e-12)
    w = _rows(np.array(w0)[:, None])
    assert float(fast_speed(w, 1.0, G53)[0]) == pytest.approx(2.0, rel=1e-14)


def _primitive_jacobian(w, bx, g):
    """``A`` of ``w_t + A w_x = 0`` for the primitive variables, written out from the equations."""
    r, u, _, _, p, by, bz = w
    return np.array([[u, r, 0, 0, 0, 0, 0], [0, u, 0, 0, 1 / r, by / r, bz / r], [0, 0, u, 0, 0, -bx / r, 0],
                     [0, 0, 0, u, 0, 0, -bx / r], [0, g * p, 0, 0, u, 0, 0], [0, by, -bx, 0, 0, u, 0],
                     [0, bz, 0, -bx, 0, 0, u]])


def _eigen_matrices(w, bx, g):
    rows = _rows(w)
    speeds, right = primitive_eigenvectors(rows, jnp.asarray(bx), g)
    r = np.array([[0.0 if c is None else float(c) for c in col] for col in right]).T  # column k: wave k
    to_char, _ = characteristic_projection(rows, jnp.asarray(bx), g)
    unit = np.eye(7)
    left = np.array([[float(c) for c in to_char(tuple(jnp.asarray(unit[j][i]) for i in range(7)))]
                     for j in range(7)]).T
    return np.array([float(v) for v in speeds]), r, left


@pytest.mark.parametrize("case", ["random", "bx0", "bt0", "triple"])
def test_primitive_eigenvectors(case):
    """A r_k = lambda_k r_k for the primitive Jacobian written out from the equations, speeds equal to the
    complex-step eigenvalues of the conserved flux Jacobian, L R = I, and R well conditioned at the degeneracies
    (B_x = 0: slow, Alfven and entropy speeds equal; B_t = 0; B_t = 0 with c_a = a: c_f = c_s)."""
    rng = np.random.default_rng(7)
    g = G53
    states = {"random": [(np.array([rng.uniform(0.3, 2), *rng.normal(0, 1, 3), rng.uniform(0.2, 2),
                                    *rng.normal(0, 1, 2)]), rng.normal(0, 1)) for _ in range(6)],
              "bx0": [(np.array([1.3, 0.2, -0.4, 0.1, 0.7, 0.8, -0.3]), 0.0)],
              "bt0": [(np.array([0.9, 0.1, 0.2, 0.3, 1.0, 0.0, 0.0]), -0.7)],
              "triple": [(np.array([1.0, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0]), 1.0)]}[case]  # a^2 = gamma p / rho = 1
    for w, bx in states:
        lam, r, left = _eigen_matrices(w, bx, g)
        scale = np.abs(r).max()
        tol = 1e-12 if case in ("random", "bx0") else 1e-7  # sqrt of a round-off alpha_s at B_t = 0 (bounded)
        np.testing.assert_allclose(_primitive_jacobian(w, bx, g) @ r, r * lam, atol=tol * scale * np.abs(lam).max())
        np.testing.assert_allclose(left @ r, np.eye(7), atol=1e-13)
        assert np.linalg.cond(r) < 20.0
        np.testing.assert_allclose(lam, mhd_eigensystem(w, bx, g)[0], atol=1e-7 if case != "random" else 1e-10)


def test_characteristic_reconstruction_has_finite_derivatives_at_degeneracies():
    """The derivative of the characteristic reconstruction's face states where B_t = 0, B_x = 0 and c_f = c_s in
    places is finite and matches central differences."""
    n = 16
    x = (np.arange(n + 4) - 1.5) / n
    base = np.array([1.0, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0])[:, None] * np.ones(n + 4)

    def rate(amp, bx):
        w = jnp.asarray(base).at[5].set(amp * jnp.sin(2 * np.pi * x) ** 3).at[0].add(0.2 * jnp.cos(2 * np.pi * x))
        wl, wr = reconstruct_rows(tuple(w), "mc", _one(w[0]), positive=(0, 4),  # as the solver calls it
                                  project=lambda wc, one: characteristic_projection(wc, bx, G53, one))
        return jnp.sum(jnp.stack(wl) ** 2) + jnp.sum(jnp.stack(wr) ** 3)

    grad, value = jax.jit(jax.grad(rate, argnums=(0, 1))), jax.jit(rate)
    for bx in (0.0, 1.0):  # c_a = a where B_t = 0 for bx = 1 (gamma p / rho = 1)
        d = grad(jnp.asarray(0.3), jnp.asarray(bx))
        assert all(np.isfinite(float(v)) for v in d)
        h = 1e-6
        fd = (value(jnp.asarray(0.3 + h), jnp.asarray(bx)) - value(jnp.asarray(0.3 - h), jnp.asarray(bx))) / (2 * h)
        np.testing.assert_allclose(float(d[0]), float(fd), rtol=1e-6)


def _linear_wave_error(wave, n, integrator="rk2", reconstruction="primitive"):
    g, bx = G53, 1.0
    w0 = np.array([1.0, 1.0 if wave == "entropy" else 0.0, 0, 0, 1 / g, np.sqrt(2), 0.5])
    lam, r = mhd_eigensystem(w0, bx, g)
    k = {"fast": 6, "alfven": 5, "slow": 4, "entropy": 3}[wave]
    solver = MHDSolver(n, boundary="periodic", gamma=g, integrator=integrator, reconstruction=reconstruction)
    x, dx = solver.centers, solver.dx
    avg = (np.cos(2 * np.pi * (x - dx / 2)) - np.cos(2 * np.pi * (x + dx / 2))) / (2 * np.pi * dx)  # cell averages
    eps = 1e-6
    u0 = np.asarray(to_conserved(tuple(w0), bx, g))[:, None] + eps * r[:, k][:, None] * avg[None, :]
    out = solve(solver, MHDState(jnp.asarray(u0), jnp.asarray(bx)), None, t_end=1.0 / abs(lam[k]), max_steps=4000)
    return float(np.mean(np.abs(np.asarray(out.state.u) - u0))) / eps  # one period later: back where it started


def test_fast_wave_converges_at_second_order():
    e64, e128 = _linear_wave_error("fast", 64), _linear_wave_error("fast", 128)
    assert e128 < 1.5e-3
    assert np.log2(e64 / e128) >= 1.8


@pytest.mark.slow
@pytest.mark.parametrize("wave", ["fast", "alfven", "slow", "entropy"])
def test_linear_waves_converge_slow(wave):
    ns = np.array([32, 64, 128, 256])
    errs = np.array([_linear_wave_error(wave, n) for n in ns])
    order = -np.polyfit(np.log(ns), np.log(errs), 1)[0]  # measured 1.82 (fast) to 1.86 (slow, entropy)
    assert order >= 1.75, (errs, order)
    assert np.log2(errs[-2] / errs[-1]) >= 1.85, errs  # measured 1.90 (fast) to 1.97 (entropy)


@pytest.mark.slow
@pytest.mark.parametrize("wave", ["fast", "alfven", "slow"])
def test_characteristic_reconstruction_keeps_second_order(wave):
    """Smooth linear waves converge at second order with the characteristic limiting too."""
    e64, e128 = (_linear_wave_error(wave, n, reconstruction="characteristic") for n in (64, 128))
    assert np.log2(e64 / e128) >= 1.8, (e64, e128)


def test_fast_shock_against_rankine_hugoniot():
    g, bx = G53, 1.0
    up = np.array([1.0, 0, 0, 0, 1.0, 1.0, 0])
    speed, down = fast_shock((up[0], up[4], up[5]), bx, g, mach=2.0)
    assert down[0] / up[0] > 1.5 and down[5] > up[5]  # compressive, field amplified: a fast shock
    solver = MHDSolver(200, gamma=g)
    x, x0 = solver.centers, 0.3
    w = [np.where(x < x0, down[k], up[k]) for k in range(7)]
    state0 = solver.initial_state(w[0], w[1], w[2], w[3], w[4], bx, w[5], w[6])
    t_end = 0.4 / speed
    out = jax.jit(lambda s: solve(solver, s, None, t_end=t_end, max_steps=2000))(state0)
    wf = np.asarray(solver.primitive(out.state))
    assert np.isfinite(wf).all()
    half = 0.5 * (down[0] + up[0])
    i = int(np.nonzero(wf[0] < half)[0][0])
    xs = x[i - 1] + solver.dx * (wf[0][i - 1] - half) / (wf[0][i - 1] - wf[0][i])
    assert abs(xs - (x0 + speed * t_end)) < 0.5 * solver.dx
    x_exact = x0 + speed * t_end
    plateau = wf[:, (x > 0.1) & (x < x_exact - 0.1)].mean(axis=1)
    for k in (0, 1, 2, 4, 5):
        assert abs(plateau[k] - down[k]) <= 3e-3 * abs(down[k]), (k, plateau[k], down[k])
    ahead = wf[:, x > x_exact + 0.05]
    np.testing.assert_allclose(ahead, np.broadcast_to(up[:, None], ahead.shape), atol=1e-12)


def test_hydrodynamic_limit_matches_exact_sod():
    solver = MHDSolver(100, gamma=1.4, integrator="rk3", cfl=0.5)
    x = solver.centers
    state0 = solver.initial_state(np.where(x < 0.5, 1.0, 0.125), 0, 0, 0, np.where(x < 0.5, 1.0, 0.1), 0.0, 0.0, 0.0)
    out = solve(solver, state0, None, t_end=0.2, max_steps=2000)
    ref = ExactRiemann((1, 0, 1), (0.125, 0, 0.1), 1.4, 0.5).cell_average(solver.faces, 0.2)
    assert np.mean(np.abs(np.asarray(out.state.u[0]) - ref[0])) <= 4.5e-3  # the hydro issue's bar at N = 100
    assert float(jnp.max(jnp.abs(out.state.u[5:]))) == 0.0


def test_brio_wu_budgets_exact():
    solver, state0, t_end = brio_wu_problem(200)
    out = jax.jit(lambda s: solve(solver, s, None, t_end=t_end, max_steps=2000))(state0)
    w = np.asarray(solver.primitive(out.state))
    assert w[0].min() > 0.1 and w[4].min() > 0.05 and np.isfinite(w).all()
    d = np.asarray(solver.totals(out.state) - solver.totals(state0))
    ref = np.abs(np.asarray(solver.totals(state0))) + 1.0
    # gas at rest at both ends: no mass, energy or B_z crosses them; the momenta change by the boundary stresses
    # exactly: d(m_x) = (p_T,left - p_T,right) t, d(m_y) = -B_x (B_y,left - B_y,right) t, d(B_y) = 0
    bx = 0.75
    ptl, ptr = 1.0 + 0.5 * (bx ** 2 + 1.0), 0.1 + 0.5 * (bx ** 2 + 1.0)
    expect = np.array([0.0, (ptl - ptr) * t_end, -bx * (1.0 - (-1.0)) * t_end, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(d, expect, atol=1e-14 * ref.max() * 10)
    assert float(out.t) == t_end


def _smooth_loss(q):
    """A finite-amplitude wave (steepening, not yet a shock) with its amplitude and B_x as parameters; fixed steps
    and the van Leer limiter, so the run is a smooth function of both (a CFL step or the MC limiter switch)."""
    g = G53
    solver = MHDSolver(32, boundary="periodic", gamma=g, integrator="rk3", limiter="vanleer")
    x = solver.centers
    bump = jnp.sin(2 * np.pi * x)
    rho = 1.0 + q["amp"] * bump
    p = (1.0 / g) * rho ** g
    state0 = solver.initial_state(rho, q["amp"] * bump, 0.1 * bump, 0.0, p, q["bx"], np.sqrt(2.0) * rho, 0.5)
    out = simulate(solver, state0, None, num_steps=30, dt=jnp.asarray(0.005))
    return jnp.sum(out.state.u[0] * jnp.cos(2 * np.pi * x)) / 32.0 + jnp.sum(out.state.u[5] * x) / 32.0


def test_check_grad_smooth_problem():
    q = {"amp": jnp.asarray(0.05), "bx": jnp.asarray(1.0)}
    report = check_grad(_smooth_loss, q)
    assert report.passed(1e-6), str(report)


@pytest.mark.slow
def test_reverse_equals_forward_on_shock_tube():
    solver = MHDSolver(64, gamma=2.0)
    x = solver.centers

    def loss(q):
        left = x < 0.5
        state0 = solver.initial_state(jnp.where(left, 1.0, q["rho_r"]), 0.0, 0.0, 0.0, jnp.where(left, 1.0, 0.1),
                                      q["bx"], jnp.where(left, 1.0, -1.0), 0.0)
        out = solve(solver, state0, None, t_end=0.08, max_steps=400)
        return jnp.sum(out.state.u[0] * x) + jnp.sum(out.state.u[2] ** 2)

    q = {"rho_r": jnp.asarray(0.125), "bx": jnp.asarray(0.75)}
    rev = jax.grad(loss)(q)
    fwd = jax.jacfwd(loss)(q)
    for k in q:
        assert np.isfinite(float(rev[k])) and abs(float(rev[k])) > 1e-6
        np.testing.assert_allclose(float(rev[k]), float(fwd[k]), rtol=1e-10)


@pytest.mark.parametrize("kw, match", [
    (dict(n_cells=3), "n_cells"),
    (dict(n_cells=64, gamma=1.0), "gamma"),
    (dict(n_cells=64, cfl=0.0), "cfl"),
    (dict(n_cells=64, cfl=1.2), "cfl"),
    (dict(n_cells=64, riemann="roe"), "riemann"),
    (dict(n_cells=64, limiter="superbee"), "limiter"),
    (dict(n_cells=64, boundary="reflective"), "boundary"),
    (dict(n_cells=64, x_min=1.0, x_max=0.5), "x_max"),
    (dict(n_cells=64, reconstruction="weno"), "reconstruction"),
])
def test_bad_solver_input(kw, match):
    with pytest.raises(ValueError, match=match):
        MHDSolver(**kw)


def test_bad_state_input():
    solver = MHDSolver(8)
    with pytest.raises(ValueError, match="rho"):
        solver.initial_state(np.r_[1.0, -1.0, np.ones(6)], 0, 0, 0, 1.0, 0.5, 0, 0)
    with pytest.raises(ValueError, match="p of the initial state"):
        solver.initial_state(1.0, 0, 0, 0, 0.0, 0.5, 0, 0)
    with pytest.raises(ValueError, match="NaN"):
        solver.initial_state(1.0, np.nan, 0, 0, 1.0, 0.5, 0, 0)
    with pytest.raises(ValueError, match="b_x must be a scalar"):
        solver.initial_state(1.0, 0, 0, 0, 1.0, np.ones(8), 0, 0)
    good = solver.initial_state(1.0, 0, 0, 0, 1.0, 0.5, 0, 0)
    with pytest.raises(ValueError, match="t_end"):
        solve(solver, good, None, t_end=0.0)
    with pytest.raises(ValueError, match="shape"):
        solve(MHDSolver(16), good, None, t_end=0.1)
    hot = MHDState(good.u.at[4, 3].set(0.1), good.bx)  # total energy below the magnetic + kinetic energy
    with pytest.raises(ValueError, match="pressure must be > 0"):
        solve(solver, hot, None, t_end=0.1)
    with pytest.raises(ValueError, match="MHDState"):
        solve(solver, good.u, None, t_end=0.1)


# -- two dimensions ----------------------------------------------------------------------------------
def _brio_wu_2d(axis, n=64, thin=6, reconstruction="primitive"):
    shape = (n, thin) if axis == 0 else (thin, n)
    lengths = (1.0, thin / n) if axis == 0 else (thin / n, 1.0)
    boundary = ("outflow", "periodic") if axis == 0 else ("periodic", "outflow")
    solver = MHDGridSolver(shape, lengths=lengths, gamma=2.0, boundary=boundary, reconstruction=reconstruction)
    x, y = solver.centers()
    left = (x if axis == 0 else y) < 0.5
    b_t = np.where(left, 1.0, -1.0)
    b = (0.75, b_t, 0.0) if axis == 0 else (b_t, 0.75, 0.0)
    return solver, solver.initial_state(np.where(left, 1.0, 0.125), (0.0, 0.0, 0.0), np.where(left, 1.0, 0.1), b)


@pytest.mark.parametrize("axis, reconstruction", [
    (0, "primitive"), pytest.param(1, "primitive", marks=pytest.mark.slow),
    pytest.param(1, "characteristic", marks=pytest.mark.slow)])
def test_2d_solver_is_the_1d_solver_on_a_plane_parallel_problem(axis, reconstruction):
    """Brio-Wu along x (then y) on a thin periodic strip: the 2D scheme with its corner electric fields gives the 1D
    solver's states to round-off (fixed steps: the 2D CFL step also sees the transverse speeds)."""
    s1, st1, _ = brio_wu_problem(64, reconstruction=reconstruction)
    dt, steps = jnp.asarray(0.2 / 64 * 0.5), 40
    w1 = np.asarray(s1.primitive(simulate(s1, st1, None, num_steps=steps, dt=dt).state))
    s2, st2 = _brio_wu_2d(axis, reconstruction=reconstruction)
    out = simulate(s2, st2, None, num_steps=steps, dt=dt).state
    w2 = np.asarray(s2.primitive(out))
    rows = (0, 1, 2, 3, 4, 6, 7) if axis == 0 else (0, 2, 1, 3, 4, 5, 7)  # 2D rows in the 1D solver's order
    for k1, k2 in enumerate(rows):
        strip = w2[k2] if axis == 0 else w2[k2].T
        np.testing.assert_allclose(strip, np.broadcast_to(w1[k1][:, None], strip.shape), atol=1e-13)


def test_orszag_tang_keeps_div_b_and_conserves():
    solver, state0 = orszag_tang_problem(32)
    out = jax.jit(lambda s: solve(solver, s, None, t_end=0.2, max_steps=400))(state0)
    b_scale = float(jnp.max(jnp.abs(state0.u[5:7]))) / solver.spacing[0]
    assert float(jnp.max(jnp.abs(solver.divergence(state0)))) <= 1e-14 * b_scale
    assert float(jnp.max(jnp.abs(solver.divergence(out.state)))) <= 1e-13 * b_scale
    d = np.asarray(solver.totals(out.state) - solver.totals(state0))
    assert np.all(np.abs(d) <= 1e-14 * (np.abs(np.asarray(solver.totals(state0))) + 1.0))
    w = np.asarray(solver.primitive(out.state))
    assert w[0].min() > 0 and w[4].min() > 0


def _cp_alfven_error(n):
    """The circularly polarised Alfven wave (Toth 2000), an exact nonlinear solution, along the diagonal of the
    periodic unit square: after one period (the wavelength 1/sqrt(2) at the Alfven speed 1) it is back."""
    solver = MHDGridSolver((n, n), gamma=5.0 / 3.0)
    x, y = solver.centers()
    phase = 2 * np.pi * (x + y)
    b_perp, b_z = 0.1 * np.sin(phase), 0.1 * np.cos(phase)
    e_par, e_perp = np.array([1.0, 1.0]) / np.sqrt(2), np.array([-1.0, 1.0]) / np.sqrt(2)
    b = (e_par[0] + b_perp * e_perp[0], e_par[1] + b_perp * e_perp[1], b_z)
    v = (-b_perp * e_perp[0], -b_perp * e_perp[1], -b_z)  # dv = -dB / sqrt(rho): travelling along +e_par
    state0 = solver.initial_state(1.0, v, 0.1, b)
    out = jax.jit(lambda s: solve(solver, s, None, t_end=1.0 / np.sqrt(2), max_steps=40 * n))(state0)
    err = float(np.sum(np.mean(np.abs(np.asarray(out.state.u) - np.asarray(state0.u)), axis=(1, 2))))
    return err, float(jnp.max(jnp.abs(solver.divergence(out.state))))


def test_circularly_polarised_alfven_wave():
    err, div = _cp_alfven_error(32)
    assert err <= 0.015  # measured 0.0121 (the wave's amplitude is 0.1 in B and v)
    assert div <= 1e-12


@pytest.mark.slow
def test_circularly_polarised_alfven_wave_converges():
    errs = np.array([_cp_alfven_error(n)[0] for n in (16, 32, 64, 128)])
    orders = np.log2(errs[:-1] / errs[1:])  # measured 1.62, 1.74, 1.90
    assert orders[-1] >= 1.8 and np.all(orders >= 1.5), (errs, orders)


@pytest.mark.slow
def test_2d_reverse_equals_forward():
    solver = MHDGridSolver((8, 8), gamma=5.0 / 3.0)
    x, y = solver.centers()

    def loss(q):
        b0 = q["b0"]
        state0 = solver.initial_state(1.0 + 0.2 * np.sin(2 * np.pi * x),
                                      (q["v"] * -np.sin(2 * np.pi * y), q["v"] * np.sin(2 * np.pi * x), 0.0), 0.6,
                                      (-b0 * np.sin(2 * np.pi * y), b0 * np.sin(4 * np.pi * x), 0.1))
        out = solve(solver, state0, None, t_end=0.05, max_steps=100)
        return jnp.sum(out.state.u[0] * jnp.asarray(x)) + jnp.sum(out.state.u[6] ** 2)

    q = {"v": jnp.asarray(0.5), "b0": jnp.asarray(0.3)}
    rev, fwd = jax.grad(loss)(q), jax.jacfwd(loss)(q)
    for k in q:
        assert abs(float(rev[k])) > 1e-6
        np.testing.assert_allclose(float(rev[k]), float(fwd[k]), rtol=1e-10)


@pytest.mark.parametrize("kw, match", [
    (dict(shape=(3, 8)), "shape"),
    (dict(shape=(8,)), "shape"),
    (dict(shape=(8, 8, 8, 8)), "shape"),
    (dict(shape=(8, 8), lengths=(1.0, 0.0)), "lengths"),
    (dict(shape=(8, 8), boundary=("periodic", "reflective")), "boundary"),
    (dict(shape=(8, 8), cfl=1.5), "cfl"),
    (dict(shape=(8, 8), gamma=0.9), "gamma"),
    (dict(shape=(8, 8), reconstruction="conserved"), "reconstruction"),
])
def test_bad_2d_input(kw, match):
    with pytest.raises(ValueError, match=match):
        MHDGridSolver(**kw)


def test_bad_2d_state():
    solver = MHDGridSolver((8, 8))
    with pytest.raises(ValueError, match="p of the initial state"):
        solver.initial_state(1.0, (0, 0, 0), -1.0, (0.5, 0, 0))
    with pytest.raises(ValueError, match="NaN"):
        solver.initial_state(1.0, (0, np.nan, 0), 1.0, (0.5, 0, 0))
    good = solver.initial_state(1.0, (0, 0, 0), 1.0, (0.5, 0, 0))
    with pytest.raises(ValueError, match="shape"):
        solve(MHDGridSolver((8, 16)), good, None, t_end=0.1)
    with pytest.raises(ValueError, match="pressure must be > 0"):
        solve(solver, MHDGridState(good.u.at[4, 2, 2].set(0.01)), None, t_end=0.1)


# -- three dimensions --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_3d_solver_is_the_1d_solver_on_a_plane_parallel_problem(axis):
    s1, st1, _ = brio_wu_problem(32)
    dt, steps = jnp.asarray(0.2 / 32 * 0.5), 20
    w1 = np.asarray(s1.primitive(simulate(s1, st1, None, num_steps=steps, dt=dt).state))
    shape, lengths, boundary = [4, 4, 4], [4 / 32] * 3, ["periodic"] * 3
    shape[axis], lengths[axis], boundary[axis] = 32, 1.0, "outflow"
    solver = MHDGridSolver(tuple(shape), lengths=tuple(lengths), gamma=2.0, boundary=tuple(boundary))
    left = solver.centers()[axis] < 0.5
    b = [0.0, 0.0, 0.0]
    b[axis], b[(axis + 1) % 3] = 0.75, np.where(left, 1.0, -1.0)
    state0 = solver.initial_state(np.where(left, 1.0, 0.125), (0.0, 0.0, 0.0), np.where(left, 1.0, 0.1), tuple(b))
    w = np.asarray(solver.primitive(simulate(solver, state0, None, num_steps=steps, dt=dt).state))
    rows = (0, 1 + axis, 1 + (axis + 1) % 3, 1 + (axis + 2) % 3, 4, 5 + (axis + 1) % 3, 5 + (axis + 2) % 3)
    for k1, k2 in enumerate(rows):
        np.testing.assert_allclose(np.moveaxis(w[k2], axis, 0), np.broadcast_to(w1[k1][:, None, None], (32, 4, 4)),
                                   atol=1e-13)


@pytest.mark.slow
def test_3d_keeps_div_b_and_conserves():
    """(slow: the 3D edge fields also run in the 3D plane-parallel, Alfven-wave and device-split checks.)
    A periodic 3D flow whose field has all three components varying: the corner divergence does not move beyond
    round-off, the totals are conserved (a scheme without constrained transport creates O(1) divergence here)."""
    solver = MHDGridSolver((10, 10, 10))
    x, y, z = solver.centers()
    tp = 2 * np.pi
    b = (0.3 * np.cos(tp * y) + 0.2, 0.3 * np.cos(tp * z), 0.3 * np.cos(tp * x) + 0.1 * np.sin(tp * y))
    state0 = solver.initial_state(1 + 0.3 * np.sin(tp * x) * np.cos(tp * z),
                                  (np.sin(tp * y), np.sin(tp * z), np.sin(tp * x)), 1.0, b)
    out = jax.jit(lambda s: solve(solver, s, None, t_end=0.2, max_steps=200))(state0)
    change = float(jnp.max(jnp.abs(solver.divergence(out.state) - solver.divergence(state0))))
    assert change <= 1e-12 * 0.5 / solver.spacing[0]
    d = np.asarray(solver.totals(out.state) - solver.totals(state0))
    assert np.all(np.abs(d) <= 1e-14 * (np.abs(np.asarray(solver.totals(state0))) + 1.0))
    assert int(out.num_steps) > 10 and float(jnp.max(jnp.abs(out.state.u[5:] - state0.u[5:]))) > 0.05  # it moved


def _cp_alfven_error_3d(n):
    """The circularly polarised Alfven wave along the body diagonal of the periodic unit cube (wavelength 1/sqrt(3),
    Alfven speed 1): one period."""
    solver = MHDGridSolver((n, n, n))
    x, y, z = solver.centers()
    phase = 2 * np.pi * (x + y + z)
    e_par = np.ones(3) / np.sqrt(3)
    e1 = np.array([-1.0, 1.0, 0.0]) / np.sqrt(2)
    e2 = np.cross(e_par, e1)
    b1, b2 = 0.1 * np.sin(phase), 0.1 * np.cos(phase)
    b = tuple(e_par[k] + b1 * e1[k] + b2 * e2[k] for k in range(3))
    v = tuple(-(b1 * e1[k] + b2 * e2[k]) for k in range(3))
    state0 = solver.initial_state(1.0, v, 0.1, b)
    out = jax.jit(lambda s: solve(solver, s, None, t_end=1.0 / np.sqrt(3), max_steps=40 * n))(state0)
    return float(np.sum(np.mean(np.abs(np.asarray(out.state.u) - np.asarray(state0.u)), axis=(1, 2, 3))))


@pytest.mark.slow
def test_3d_circularly_polarised_alfven_wave_converges():
    errs = np.array([_cp_alfven_error_3d(n) for n in (8, 16, 32)])
    orders = np.log2(errs[:-1] / errs[1:])  # measured 2.01, 2.15 (errors 0.152, 0.0380, 0.00856)
    assert np.all(orders >= 1.8) and errs[-1] <= 0.01, (errs, orders)
