"""Marker diffusion, walls at a fixed marker value, and Rayleigh-Benard convection: exact discrete decay of
diffusion eigenmodes, the conduction state at rest, growth rates against linear theory, the onset found by Newton's
method on derivatives through the run against Rayleigh's and Chandrasekhar's critical numbers, the Nusselt number
near onset against Malkus & Veronis, derivatives against finite differences, bad input."""

import math

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.core.sensitivity import check_grad
from diffphys.flow import Boundaries, Box, FlowParams, FlowSolver, Grid, outflow, periodic, slip, wall
from diffphys.flow import convection as cv
from diffphys.flow.grid import BC


def _diffusion_only(bottom, top, scheme, obstacles=(), n=(12, 10)):
    grid = Grid(n, size=(1.2, 1.0))
    return FlowSolver(grid, Boundaries(periodic(), periodic(), bottom, top), 0.01, diffusion=scheme,
                      obstacles=obstacles, diffusion_tol=1e-13)


@pytest.mark.parametrize("scheme", ["implicit", "explicit"])
@pytest.mark.parametrize("walls", ["insulating", "fixed"])
def test_marker_diffusion_decays_each_eigenmode_by_the_exact_discrete_factor(scheme, walls):
    """Fluid at rest, pure conduction: insulating walls (zero flux) have the eigenmode cos(pi y), walls held at
    0 have sin(pi y) (times cos(2 pi x / Lx) along the periodic axis); each step multiplies it by 1 / (1 + a lam)
    (backward Euler) or 1 - a lam (forward Euler), lam = sum over axes of (2/h)^2 sin^2(k h / 2), a = dt kappa."""
    fixed = walls == "fixed"
    solver = _diffusion_only(slip(marker=0.0) if fixed else slip(), slip(marker=0.0) if fixed else slip(), scheme)
    (lx, _), (hx, hy) = solver.grid.size, solver.grid.spacing
    ky = math.pi
    prof = (lambda y: np.sin(ky * y)) if fixed else (lambda y: np.cos(ky * y))
    st = solver.initial_state(marker=lambda x, y: np.cos(2 * math.pi * x / lx) * prof(y), dtype=jnp.float64)
    kappa, n = 0.2, 20
    out = simulate(solver, st, FlowParams(1e-3, diffusivity=kappa), num_steps=n).state
    lam = (2 / hx * math.sin(math.pi * hx / lx)) ** 2 + (2 / hy * math.sin(ky * hy / 2)) ** 2
    a = solver.dt * kappa
    factor = (1 / (1 + a * lam)) ** n if scheme == "implicit" else (1 - a * lam) ** n
    np.testing.assert_allclose(np.asarray(out.marker), factor * np.asarray(st.marker), atol=1e-12)
    assert factor < 0.7                                                   # it did decay
    assert float(jnp.max(jnp.abs(out.u))) == 0.0 and float(jnp.max(jnp.abs(out.v))) == 0.0


def test_marker_diffusion_conserves_the_marker_around_an_obstacle():
    """Insulating walls and an obstacle (no flux into it): the marker's sum over the fluid cells is conserved to
    round-off, the solid cells keep their values, and backward Euler keeps it within its initial range."""
    solver = _diffusion_only(slip(), slip(), "implicit", obstacles=(Box((0.4, 0.3), (0.8, 0.6)),), n=(24, 20))
    m0 = jnp.asarray(np.random.default_rng(1).random(solver.grid.shape))
    st = solver.initial_state(marker=m0, dtype=jnp.float64)
    out = simulate(solver, st, FlowParams(1e-3, diffusivity=0.5), num_steps=15).state
    f = np.asarray(solver.fluid)
    assert 0 < f.sum() < f.size
    m, m0 = np.asarray(out.marker), np.asarray(m0)
    np.testing.assert_allclose(np.sum(m * f), np.sum(m0 * f), rtol=1e-12)
    np.testing.assert_array_equal(m[f == 0], m0[f == 0])
    assert np.std(m[f == 1]) < 0.5 * np.std(m0[f == 1])                   # it did mix
    assert m[f == 1].min() >= m0.min() - 1e-12 and m[f == 1].max() <= m0.max() + 1e-12


def test_conduction_state_stays_at_rest_above_onset():
    """The linear conduction profile between a floor at 1 and a lid at 0 is an exact steady state (its
    Laplacian vanishes with the walls' values, its buoyancy is a gradient the projection removes), also at
    Ra = 3 Ra_c where any disturbance would grow."""
    for walls in ("slip", "wall"):
        solver, st, params, _ = cv.rayleigh_benard(12, ra=3 * cv.critical(walls)[0], walls=walls, amplitude=0.0,
                                                   dt=0.02, dtype=jnp.float64)
        out = simulate(solver, st, params, num_steps=40).state
        np.testing.assert_allclose(np.asarray(out.marker), np.asarray(st.marker), atol=1e-13)
        np.testing.assert_allclose(np.asarray(st.marker), 1 - np.asarray(solver.coords[5]), atol=1e-15)
        assert float(jnp.max(jnp.abs(out.u))) <= 1e-12 and float(jnp.max(jnp.abs(out.v))) <= 1e-12, walls
        nb, nt = cv.nusselt(solver, out.marker)
        assert abs(float(nb) - 1) <= 1e-12 and abs(float(nt) - 1) <= 1e-12


def test_growth_rates_match_linear_theory_between_free_slip_walls():
    """The measured exponential growth (and decay) of a small disturbance cos(k x) sin(pi y) against the root
    of (s + nu a^2)(s + kappa a^2) = k^2 / a^2: at the critical wavenumber above onset (Ra = 2000), at k = pi
    (Ra = 2000), and below onset (Ra = 400, decaying); 16 cells per depth, dt = 0.02, Pr = 1 and Pr = 7. The
    rate is the small difference of buoyant driving and diffusive damping, so the error is measured against the
    damping rate (nu + kappa) a^2: within 0.5% of it (measured 0.01-0.23% above onset, 0.33% below)."""
    for ra, k, pr in ((2000.0, None, 1.0), (2000.0, math.pi, 1.0), (400.0, None, 1.0), (2000.0, None, 7.0)):
        solver, st, _, pf = cv.rayleigh_benard(16, ra=ra, pr=pr, k=k, dt=0.02, dtype=jnp.float64)
        sigma = float(jax.jit(cv.growth_rate_fn(solver, st, pf, 20.0))(ra))
        exact = cv.linear_growth_rate(ra, pr, k if k is not None else cv.critical()[1])
        kk = k if k is not None else cv.critical()[1]
        rate = (math.sqrt(pr / ra) + 1 / math.sqrt(pr * ra)) * (kk * kk + math.pi**2)   # the diffusive rates
        assert (sigma > 0) == (ra > 700)
        assert abs(sigma - exact) <= 5e-3 * rate, (ra, k, pr, sigma, exact, rate)


def test_newton_on_the_differentiated_growth_rate_finds_rayleighs_critical_number():
    """Newton's method on sigma(Ra) = 0, d sigma / d Ra by forward mode through 2500 steps: converges
    quadratically from Ra = 700 and lands within 0.5% of 27 pi^4 / 4 at 16 cells per depth, dt = 0.01 (measured
    -0.25%; the time splitting is first order, see the slow test for the extrapolation)."""
    solver, st, _, pf = cv.rayleigh_benard(16, dt=0.01, dtype=jnp.float64, diffusion_tol=1e-12)
    res = cv.onset(cv.growth_rate_fn(solver, st, pf, 25.0), 700.0)
    assert res.converged and len(res.history) <= 6, res.history
    sig = [abs(h[1]) for h in res.history]
    assert sig[2] <= 0.05 * sig[1] and sig[3] <= 1e-3 * sig[2]          # quadratic convergence
    assert abs(res.ra_c / (27 * math.pi**4 / 4) - 1) <= 5e-3, res.ra_c


def test_convection_gradients_match_finite_differences():
    """Derivatives of the floor's Nusselt number and the kinetic energy after 15 steps of finite-amplitude
    convection wrt the viscosity, the diffusivity and the buoyancy: reverse mode against central differences,
    forward = reverse."""
    solver, st, _, _ = cv.rayleigh_benard(8, ra=3000.0, amplitude=0.1, dt=0.05, dtype=jnp.float64,
                                          diffusion_tol=1e-14, tol=1e-13)

    def loss(p):
        prm = FlowParams(p["nu"], buoyancy=p["b"], diffusivity=p["kappa"])
        out = simulate(solver, st, prm, num_steps=15, gradient="checkpoint").state
        return cv.nusselt(solver, out.marker)[0] + 100.0 * jnp.sum(out.v ** 2)

    p0 = {"nu": jnp.asarray(0.02), "kappa": jnp.asarray(0.015), "b": jnp.asarray(1.2)}
    rep = check_grad(loss, p0, mode="rev")
    assert rep.max_rel_err <= 1e-6, str(rep)
    assert np.min(np.abs(rep.autodiff[0])) > 1e-6                       # every parameter matters
    fwd = jax.flatten_util.ravel_pytree(jax.jit(jax.jacfwd(loss))(p0))[0]
    np.testing.assert_allclose(np.asarray(fwd), rep.autodiff[0], rtol=1e-10)


def test_convection_bad_input():
    with pytest.raises(ValueError, match="diffusivity"):
        FlowParams(0.01, diffusivity=0.0)
    with pytest.raises(ValueError, match="diffusivity"):
        FlowParams(0.01, diffusivity=float("nan"))
    with pytest.raises(ValueError, match="scalar"):
        FlowParams(0.01, diffusivity=[0.1, 0.2])
    with pytest.raises(ValueError, match="outflow side takes none"):
        BC("outflow", marker=1.0)
    with pytest.raises(ValueError, match="finite"):
        slip(marker=float("inf"))
    solver = FlowSolver(Grid((8, 8), size=(1.0, 1.0)), Boundaries(), 0.01, diffusion="none")
    st = solver.initial_state(dtype=jnp.float64)
    with pytest.raises(ValueError, match="diffusion='implicit' or 'explicit'"):
        solver.step(st, FlowParams(0.01, diffusivity=0.1))
    with pytest.raises(ValueError, match="fixed marker values"):
        cv.nusselt(solver, st.marker)
    explicit = FlowSolver(Grid((8, 8), size=(1.0, 1.0)), Boundaries(), 0.01, diffusion="explicit")
    with pytest.raises(ValueError, match="explicit marker diffusion"):
        explicit.check(explicit.initial_state(), FlowParams(1e-3, diffusivity=10.0))
    with pytest.raises(ValueError, match="walls must be"):
        cv.critical("rigid")
    with pytest.raises(ValueError, match="ra"):
        cv.rayleigh_benard(8, ra=-5.0)
    solver, st, _, pf = cv.rayleigh_benard(8, dtype=jnp.float64)
    with pytest.raises(ValueError, match="fewer than 4 steps"):
        cv.growth_rate_fn(solver, st, pf, 0.01)
    assert outflow().marker is None and wall(marker=0.5).marker == 0.5


@pytest.mark.slow
def test_critical_rayleigh_numbers_extrapolate_to_rayleigh_and_chandrasekhar():
    """The discrete onset is first order in dt (splitting) and second order in the cell size: extrapolated from
    (16, dt), (16, dt / 2), (32, dt / 2) it lands within 0.05% of 27 pi^4 / 4 (free-slip walls; measured
    657.50 vs 657.51) and within 0.3% of Chandrasekhar's 1707.76 (no-slip walls)."""
    for walls, tol, dt in (("slip", 5e-4, 0.01), ("wall", 3e-3, 0.01)):
        ra_c = {}
        for n, d in ((16, dt), (16, dt / 2), (32, dt / 2)):
            solver, st, _, pf = cv.rayleigh_benard(n, walls=walls, dt=d, dtype=jnp.float64, diffusion_tol=1e-12)
            res = cv.onset(cv.growth_rate_fn(solver, st, pf, 40.0), 1.02 * cv.critical(walls)[0])
            assert res.converged, (walls, n, d, res.history)
            ra_c[n, d] = res.ra_c
        r16 = 2 * ra_c[16, dt / 2] - ra_c[16, dt]                        # dt -> 0
        r32 = ra_c[32, dt / 2] + (ra_c[16, dt / 2] - ra_c[16, dt])
        extrapolated = r32 + (r32 - r16) / 3                                # h -> 0
        truth = cv.critical(walls)[0]
        assert abs(extrapolated / truth - 1) <= tol, (walls, ra_c, extrapolated)
        assert abs(extrapolated / truth - 1) < abs(ra_c[32, dt / 2] / truth - 1)


@pytest.mark.slow
def test_nusselt_number_near_onset_follows_malkus_and_veronis():
    """Steady rolls between free-slip walls slightly above the (discrete) onset: Nu - 1 = 2 eps + O(eps^2) with
    eps = Ra / Ra_c - 1 (Malkus & Veronis 1958): (Nu - 1) / (2 eps) at eps = 0.05 and 0.1, extrapolated linearly to
    eps = 0, within 3% of 1 (measured 0.98 at 16 cells per depth); the heat through the floor equals the heat
    through the lid to 1e-5 once steady."""
    dt = 0.02
    solver, st, _, pf = cv.rayleigh_benard(16, dt=dt, dtype=jnp.float64, diffusion_tol=1e-12)
    ra_c = cv.onset(cv.growth_rate_fn(solver, st, pf, 40.0), 700.0).ra_c
    solver, st, _, _ = cv.rayleigh_benard(16, dt=dt, amplitude=0.05, dtype=jnp.float64)
    ratios = []
    for eps in (0.05, 0.1):
        out = simulate(solver, st, pf(ra_c * (1 + eps)), num_steps=int(1000 / dt)).state
        nb, nt = (float(v) for v in cv.nusselt(solver, out.marker))
        assert abs(nb - nt) <= 1e-5, (eps, nb, nt)
        ratios.append((nb - 1) / (2 * eps))
    slope0 = 2 * ratios[0] - ratios[1]
    assert abs(slope0 - 1) <= 0.03, ratios
    assert ratios[1] < ratios[0] < 1                                      # the O(eps^2) term lowers it


def _cavity_levels(ra, n, dt):
    """The steady cavity at (n, dt), (n, dt / 2), (2n, dt / 2), extrapolated to dt -> 0 (first order) and h -> 0
    (second order): {quantity: (per-level values, extrapolated)}, and the per-level Nusselt numbers of both walls."""
    kappa = 1 / math.sqrt(0.71 * ra)
    vals, walls = [], []
    for m, d in ((n, dt), (n, dt / 2), (2 * n, dt / 2)):
        solver, st, params, _ = cv.heated_cavity(m, ra, dt=d, dtype=jnp.float64, diffusion_tol=1e-12)
        res = cv.run_to_steady(solver, st, params, tol=1e-6, t_max=300.0, check_every=2.0)
        assert res.converged, (ra, m, d, res.history[-3:])
        nh, nc = (float(v) for v in cv.nusselt(solver, res.state.marker, axis=0))
        (u, _), (v, _) = cv.cavity_velocities(solver, res.state, kappa)
        vals.append(dict(nu=nh, u_max=u, v_max=v))
        walls.append((nh, nc))
    out = {}
    for q in ("nu", "u_max", "v_max"):
        a, b, c = (row[q] for row in vals)
        r_n, r_2n = 2 * b - a, c + (b - a)
        out[q] = ([a, b, c], r_2n + (r_2n - r_n) / 3)
    return out, walls


@pytest.mark.parametrize("ra", [1e4, pytest.param(1e3, marks=pytest.mark.slow),
                                pytest.param(1e5, marks=pytest.mark.slow)])
def test_heated_cavity_extrapolates_to_de_vahl_davis(ra):
    """The differentially heated square cavity (Pr = 0.71) in its steady state, against de Vahl Davis' (1983)
    bench mark: the hot wall's mean Nusselt number and the peak velocities on the mid-lines, extrapolated from
    (16, 0.025), (16, 0.0125), (32, 0.0125) at Ra = 1e3, 1e4 and (32, 0.0125), (32, 0.00625), (64, 0.00625) at
    Ra = 1e5, within 0.5% of the table (measured: 0.02-0.25%), each closer than the finest run; the heat
    through the hot and the cold wall agree to 1e-10 (conservative marker advection, steady)."""
    n, dt = (16, 0.025) if ra < 1e5 else (32, 0.0125)
    est, walls = _cavity_levels(ra, n, dt)
    ref = cv.DE_VAHL_DAVIS_1983[ra]
    for q, (levels, extrapolated) in est.items():
        assert abs(extrapolated / ref[q] - 1) <= 5e-3, (q, levels, extrapolated, ref[q])
        assert abs(extrapolated / ref[q] - 1) < abs(levels[-1] / ref[q] - 1), (q, levels, extrapolated)
    for nh, nc in walls:
        assert abs(nh - nc) <= 1e-10 and nh > 1.05


def test_heated_cavity_nusselt_derivative_matches_finite_differences():
    """d Nu / d Ra through 150 steps of the cavity (forward and reverse mode) against central differences."""
    solver, st, _, pf = cv.heated_cavity(8, 1e4, dt=0.05, dtype=jnp.float64, diffusion_tol=1e-13)

    def nu_hot(ra):
        s = jax.lax.fori_loop(0, 150, lambda i, x: solver.step(x, pf(ra)), st)
        return cv.nusselt(solver, s.marker, axis=0)[0]

    ra = jnp.asarray(1e4, jnp.float64)
    h = 1e-2  # small: the limiters make Nu(Ra) only piecewise smooth (a wider step straddles their kinks)
    fd = (nu_hot(ra + h) - nu_hot(ra - h)) / (2 * h)
    _, fwd = jax.jvp(nu_hot, (ra,), (jnp.ones_like(ra),))
    rev = jax.grad(nu_hot)(ra)
    assert abs(float(fd)) > 1e-6
    np.testing.assert_allclose(float(fwd), float(fd), rtol=1e-6)
    np.testing.assert_allclose(float(rev), float(fwd), rtol=1e-10)


def test_heated_cavity_bad_input():
    with pytest.raises(ValueError, match="even integer"):
        cv.heated_cavity(15)
    with pytest.raises(ValueError, match="ra"):
        cv.heated_cavity(16, ra=0.0)
    solver, st, params, _ = cv.rayleigh_benard(8, dtype=jnp.float64)
    with pytest.raises(ValueError, match="left and the right wall"):
        cv.nusselt(solver, st.marker, axis=0)
    with pytest.raises(ValueError, match="axis must be"):
        cv.nusselt(solver, st.marker, axis=2)
    with pytest.raises(ValueError, match="even number of cells"):
        cv.cavity_velocities(solver, st)                                   # 23 x 8 cells
    periodic_solver, periodic_st, _, _ = cv.rayleigh_benard(8, k=math.pi, dtype=jnp.float64)   # 16 x 8
    with pytest.raises(ValueError, match="no periodic axis"):
        cv.cavity_velocities(periodic_solver, periodic_st)
    with pytest.raises(ValueError, match="tol"):
        cv.run_to_steady(solver, st, params, tol=0.0)
