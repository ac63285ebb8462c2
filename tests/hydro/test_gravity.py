"""Self-gravity (hydro.SelfGravity): the field against Newton's shell theorem, the n = 1 polytrope
(Lane-Emden, exact rho = sin(pi r)/(pi r)) held in equilibrium with converging error, conservation of
mass (round-off) and of total energy with the potential (truncation, converging), gradients, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core.sensitivity import check_grad
from diffphys.hydro import G_CODE, CodeUnits, EulerSolver, RadialGrid, SelfGravity, solve

K = 2.0 / np.pi  # P = K rho^2 (gamma = 2, n = 1) with G = 1: radius 1, rho_c = 1


def test_field_of_a_uniform_sphere_and_a_point_mass_is_newtons():
    g = RadialGrid(50, 2.0, geometry="spherical")
    grav = SelfGravity(G=1.0, point_mass=0.3)
    rho = jnp.full(50, 0.7)
    field = np.asarray(grav.field(rho, jnp.asarray(g.volumes), jnp.asarray(g.volume_within(g.centers)
                                                                          - g.volume_within(g.faces[:-1])),
                                  jnp.asarray(g.centers)))
    exact = -(4.0 / 3.0 * np.pi * 0.7 * g.centers ** 3 + 0.3) / g.centers ** 2  # shell theorem
    np.testing.assert_allclose(field, exact, rtol=1e-13)
    u = CodeUnits()  # G in pc^3 / (Msun Myr^2) from the cgs value
    assert G_CODE == pytest.approx(6.67430e-8 * u.mass_g * u.time_s ** 2 / u.length_cm ** 3, rel=1e-12)
    assert G_CODE == pytest.approx(4.4985e-3, rel=1e-4)


def polytrope(n, t_end=2.0, integrator="rk2"):
    g = RadialGrid(n, 1.0, geometry="spherical")
    s = EulerSolver(g, 2.0, integrator=integrator, left="reflective", right="reflective", cfl=0.5,
                    gravity=SelfGravity(G=1.0))
    x = np.pi * g.centers
    rho0 = np.sin(x) / x
    st = s.initial_state(rho0, 0.0, K * rho0 ** 2)
    sol = solve(s, st, t_end=t_end, max_steps=20_000)
    assert bool(sol.reached)
    u0, u = np.asarray(st.u), np.asarray(sol.state.u)
    v = g.volumes

    def total_energy(u):  # gas energy plus the potential energy -sum G M(<r_i) m_i / r_i
        m = u[0] * v
        inside = np.cumsum(m) - m + u[0] * s.half_vol
        return np.sum(u[2] * v) - np.sum(inside * m / g.centers)

    e0 = total_energy(u0)
    return {"l1": np.sum(np.abs(u[0] - rho0) * v) / np.sum(rho0 * v),
            "v_max": np.max(np.abs(u[1] / u[0])) / np.sqrt(2 * K),
            "mass": np.sum(u[0] * v) / np.sum(u0[0] * v) - 1.0,
            "energy": (total_energy(u) - e0) / abs(e0)}


@pytest.mark.parametrize("integrator", ["rk2", "hancock"])
def test_n1_polytrope_stays_in_equilibrium_and_converges(integrator):
    # two sound-crossing times; measured (rk2 / hancock): L1 4.3e-3 / 4.4e-3 at N=64, 1.3e-3 / 1.3e-3 at 128,
    # |v|/c_c 0.026 / 0.025 and 0.016 / 0.015, energy drift 1.1e-4 and 1.5e-5 for both
    a, b = polytrope(64, integrator=integrator), polytrope(128, integrator=integrator)
    assert a["l1"] <= 6e-3 and b["l1"] <= 2e-3
    assert np.log2(a["l1"] / b["l1"]) >= 1.5
    assert b["v_max"] < a["v_max"] < 0.05
    assert abs(a["mass"]) <= 1e-13 and abs(b["mass"]) <= 1e-13
    assert abs(b["energy"]) <= 5e-5 and abs(b["energy"]) < abs(a["energy"]) / 4


def test_gradient_through_a_self_gravitating_run_matches_central_differences():
    g = RadialGrid(24, 1.0, geometry="spherical")
    s = EulerSolver(g, 2.0, integrator="rk2", left="reflective", right="reflective", cfl=0.5,
                    gravity=SelfGravity(G=1.0))
    x = np.pi * g.centers
    base = jnp.asarray(np.sin(x) / x)

    def loss(q):  # a perturbed polytrope: heavier than in equilibrium, it contracts
        rho = base * q["a"]
        st = s.initial_state(rho, 0.0, K * rho ** 2 * q["b"])
        return jnp.sum(solve(s, st, t_end=0.3, max_steps=2000).state.u[0] * g.centers ** 2)

    report = check_grad(loss, {"a": jnp.asarray(1.2), "b": jnp.asarray(0.9)})
    assert report.max_rel_err <= 1e-6, str(report)


def test_bad_gravity_input():
    with pytest.raises(ValueError, match="spherical"):
        EulerSolver(RadialGrid(8), gravity=SelfGravity())
    with pytest.raises(ValueError, match="G"):
        SelfGravity(G=0.0)
    with pytest.raises(ValueError, match="point_mass"):
        SelfGravity(point_mass=-1.0)
    with pytest.raises(ValueError, match="gravity"):
        EulerSolver(RadialGrid(8, geometry="spherical"), gravity=1.0)
    assert jax is not None


def test_point_mass_atmosphere_stays_near_hydrostatic_equilibrium():
    # gas (P = K rho^2, K = 100) on [0.5, 1] around a point mass of 100 (G = 1), in the point mass's
    # hydrostatic equilibrium rho = 0.2 + (G M / 2K) (1/r - 1); the gas's own gravity (mass ~1) perturbs it.
    # Six sound-crossing times; measured max |v| / c: 0.036 (N=32), 0.019 (N=64)
    out = []
    for n in (32, 64):
        g = RadialGrid(n, 1.0, r_min=0.5, geometry="spherical")
        s = EulerSolver(g, 2.0, integrator="rk2", left="reflective", right="reflective", cfl=0.5,
                        gravity=SelfGravity(G=1.0, point_mass=100.0))
        rho = 0.2 + 0.5 * (1.0 / g.centers - 1.0)
        sol = solve(s, s.initial_state(rho, 0.0, 100.0 * rho ** 2), t_end=0.3, max_steps=20_000)
        u = np.asarray(sol.state.u)
        assert bool(sol.reached) and np.all(np.isfinite(u)) and np.all(u[0] > 0)
        assert np.sum(u[0] * g.volumes) == pytest.approx(np.sum(rho * g.volumes), rel=1e-13)
        out.append(np.max(np.abs(u[1] / u[0])) / np.sqrt(2 * 100.0 * 0.2))
    assert out[1] < out[0] < 0.05
    with pytest.raises(ValueError, match="r_min"):
        EulerSolver(RadialGrid(8, geometry="spherical"), gravity=SelfGravity(point_mass=1.0))
