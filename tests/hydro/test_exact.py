"""Exact references against published values (Toro 2009 table 4.2; Sedov/Kamm & Timmes constants)."""

import numpy as np
import pytest

from diffphys.hydro import ExactRiemann, Sedov
from diffphys.hydro.exact import WEAVER_THIN_SHELL, weaver_outer_shock_radius


@pytest.mark.parametrize("left,right,p_star,u_star", [
    ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 0.30313, 0.92745),       # Toro test 1 (Sod)
    ((1.0, -2.0, 0.4), (1.0, 2.0, 0.4), 0.00189, 0.0),            # Toro test 2 (123)
    ((1.0, 0.0, 1000.0), (1.0, 0.0, 0.01), 460.894, 19.5975),      # Toro test 3 (blast)
    ((1.0, 0.0, 0.01), (1.0, 0.0, 100.0), 46.0950, -6.19633),      # Toro test 4
])
def test_star_state_matches_toro_table(left, right, p_star, u_star):
    ex = ExactRiemann(left, right, 1.4)
    # the table gives 6 significant figures (3 for the 123 problem): agree to its last digit
    assert ex.p_star == pytest.approx(p_star, abs=5e-6 if p_star < 0.01 else 1e-5 * p_star)
    assert ex.u_star == pytest.approx(u_star, abs=1e-4 * max(1.0, abs(u_star)))


def test_exact_solution_satisfies_conservation():
    # the exact solution conserves mass, momentum and energy on a closed interval (waves inside)
    ex = ExactRiemann((1.0, 0.0, 1.0), (0.125, 0.0, 0.1))
    x = np.linspace(0, 1, 200001)
    for t in (1e-9, 0.2):
        rho, v, p = ex.sample(x, t)
        tot = [np.trapezoid(q, x) for q in (rho, rho * v, p / 0.4 + 0.5 * rho * v * v)]
        if t < 1e-6:
            ref = tot
    # momentum grows by the pressure difference times t: (p_l - p_r) t
    assert tot[0] == pytest.approx(ref[0], rel=1e-5)
    assert tot[2] == pytest.approx(ref[2], rel=1e-5)
    assert tot[1] - ref[1] == pytest.approx((1.0 - 0.1) * 0.2, rel=1e-3)


@pytest.mark.parametrize("gamma,j,xi0", [(1.4, 3, 1.0328), (5 / 3, 3, 1.1517), (1.4, 2, 1.0040)])
def test_sedov_constant(gamma, j, xi0):
    # published values of the Sedov constant (e.g. Kamm & Timmes 2007, Sedov 1959)
    assert Sedov(gamma, j).xi0 == pytest.approx(xi0, abs=2e-4)


def test_sedov_profile_energy_is_E():
    sed = Sedov(1.4, 3, energy=2.0, rho0=0.5)
    t = 0.3
    r = np.linspace(0, sed.shock_radius(t), 20001)
    rho, v, p = sed.profile(r, t)
    e = np.trapezoid((0.5 * rho * v * v + p / 0.4) * 4 * np.pi * r ** 2, r)
    assert e == pytest.approx(2.0, rel=2e-3)


def test_weaver_coefficients():
    assert WEAVER_THIN_SHELL == pytest.approx(0.763, abs=1e-3)
    assert weaver_outer_shock_radius(1.0, 1.0, 1.0) == pytest.approx(0.88)
    # R ~ t^(3/5)
    assert weaver_outer_shock_radius(1.0, 1.0, 2.0) / weaver_outer_shock_radius(1.0, 1.0, 1.0) == \
        pytest.approx(2 ** 0.6)
