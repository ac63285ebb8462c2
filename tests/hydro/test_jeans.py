"""Self-gravity on periodic Cartesian grids (``CartesianEulerSolver(self_gravity=G)``): the Jeans instability's
growth rate and the gravity-modified sound wave against the linear dispersion relation
``omega^2 = c^2 k^2 - 4 pi G rho``; momentum to round-off, energy with the potential to the truncation error;
derivatives; bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.hydro import CartesianEulerSolver, solve

GAMMA, RHO0, C2 = 5.0 / 3.0, 1.0, 1.0
K = 2 * np.pi * np.array([1.0, 1.0])  # a diagonal mode: both axes' fluxes and gravity take part
KK = float(np.linalg.norm(K))


def jeans_setup(n, jeans_ratio, amplitude=1e-4, dtype=None):
    """Uniform gas with ``4 pi G rho = jeans_ratio c^2 k^2``; the growing eigenmode (ratio > 1: density,
    pressure and velocity in phase for growth rate sigma) or a standing wave at rest (ratio < 1)."""
    g = jeans_ratio * C2 * KK ** 2 / (4 * np.pi * RHO0)
    s = CartesianEulerSolver((n, n), 1.0, GAMMA, self_gravity=g)
    x, y = s.centers()
    ph = K[0] * x + K[1] * y
    rate2 = 4 * np.pi * g * RHO0 - C2 * KK ** 2  # sigma^2 (growth) or -omega^2 (oscillation)
    vel = -np.sqrt(max(rate2, 0.0)) * amplitude / (RHO0 * KK) * np.sin(ph)  # continuity: sigma A + rho k V = 0
    st = s.initial_state(RHO0 + amplitude * np.cos(ph), (vel * K[0] / KK, vel * K[1] / KK),
                         C2 * RHO0 / GAMMA + C2 * amplitude * np.cos(ph), dtype=dtype)
    return s, st, np.sqrt(abs(rate2)), ph


def mode(u, ph):
    return float(2 * np.mean(np.asarray(u[0]) * np.cos(ph)))


def test_jeans_instability_growth_rate():
    """4 pi G rho = 2 c^2 k^2: the mode grows at sigma = c k = 8.886 (to e^4): -0.48% at 32^2, -0.11% at 64^2
    (asserted <= 1% and <= 0.3%, fitted order >= 1.8); total momentum stays 0 to round-off, and the total energy
    with the potential changes by <= 1e-3 of the potential energy released at 64^2 (truncation error: measured
    1.7e-3 at 32^2, 2.6e-4 at 64^2)."""
    errs = []
    for n in (32, 64):
        s, st, sigma, ph = jeans_setup(n, 2.0)
        sol = jax.jit(lambda st, s=s, sigma=sigma: solve(s, st, t_end=4.0 / sigma, max_steps=2000))(st)
        assert bool(sol.reached)
        errs.append(np.log(mode(sol.state.u, ph) / mode(st.u, ph)) / float(sol.t) / sigma - 1)
        t0, t1 = np.asarray(s.totals(st)), np.asarray(s.totals(sol.state))
        assert np.abs(t1[1:3]).max() <= 1e-15
        w0, w1 = float(s.potential_energy(st)), float(s.potential_energy(sol.state))
        assert w1 < w0  # the collapse released potential energy
        energy_err = (t1[3] + w1 - t0[3] - w0) / (w0 - w1)
    assert abs(errs[0]) <= 0.01 and abs(errs[1]) <= 0.003, errs
    assert np.log2(errs[0] / errs[1]) >= 1.8, errs
    assert abs(energy_err) <= 1e-3


def test_gravity_modified_sound_wave_frequency():
    """4 pi G rho = c^2 k^2 / 2: a standing wave at omega = c k / sqrt(2); its first zero crossing (a quarter
    period) within 0.5% at 32^2 (measured -0.23%; 64^2: -0.05%), and half a period later the amplitude has come
    back with the opposite sign (>= 0.99 of it)."""
    s, st, omega, ph = jeans_setup(32, 0.5)
    seg = jax.jit(lambda st, t: solve(s, st, t_end=t, max_steps=500).state)
    ts = np.linspace(0, np.pi / omega, 41)
    amps, cur = [mode(st.u, ph)], st
    for dt in np.diff(ts):
        cur = seg(cur, dt)
        amps.append(mode(cur.u, ph))
    amps = np.asarray(amps)
    i = int(np.nonzero(amps < 0)[0][0])
    t_zero = ts[i - 1] + amps[i - 1] / (amps[i - 1] - amps[i]) * (ts[i] - ts[i - 1])
    assert abs(t_zero * 2 * omega / np.pi - 1) <= 0.005
    assert amps[-1] / amps[0] <= -0.99


@pytest.mark.slow
def test_sensitivity_to_the_seed_is_the_growth_factor():
    """d(final mode amplitude)/d(seed amplitude) through the self-gravitating run (two FFT Poisson solves per
    step, adaptive steps): reverse mode (checkpointed) equals forward mode to 1e-10, and in the linear regime it
    is the growth factor e^(sigma t) to 1% (32^2, t = 1 / sigma; 16^2 would be 2% low, its growth rate's error)."""
    s, _, sigma, ph = jeans_setup(32, 2.0)
    cos = jnp.asarray(np.cos(ph))

    def amp(a):
        st = jeans_setup(32, 2.0, amplitude=a)[1]  # the growing eigenmode with seed a (traced)
        sol = solve(s, st, t_end=1.0 / sigma, max_steps=100, gradient="checkpoint")
        return 2 * jnp.mean(sol.state.u[0] * cos)

    a = jnp.asarray(1e-4)
    rev, fwd = jax.jit(jax.grad(amp))(a), jax.jit(jax.jacfwd(amp))(a)
    assert float(rev) == pytest.approx(float(fwd), rel=1e-10)
    assert float(rev) == pytest.approx(np.e, rel=0.01)


@pytest.mark.parametrize("kwargs,match", [
    (dict(self_gravity=-1.0), "self_gravity"),
    (dict(self_gravity=1.0, boundary="reflective"), "periodic boundaries"),
    (dict(self_gravity=1.0, geometry="axisymmetric", boundary="reflective"), "geometry 'cartesian'"),
])
def test_bad_self_gravity_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CartesianEulerSolver((8, 8), **kwargs)


def test_self_gravity_split_bad_input():
    """Self-gravity splits across devices on 2 and 3 axes (tests/parallel); 1D grids do not: a ValueError says so."""
    from diffphys.parallel import device_mesh

    CartesianEulerSolver((8, 8), boundary="outflow", self_gravity=1.0, self_gravity_boundary="isolated",
                         devices=device_mesh())  # accepted
    with pytest.raises(ValueError, match="needs 2 or 3 axes"):
        CartesianEulerSolver((8,), self_gravity=1.0, devices=device_mesh())
    CartesianEulerSolver((8, 8), self_gravity=1.0, devices=device_mesh())  # accepted


def test_gravity_potential_of_a_single_mode():
    """The periodic potential of rho = 1 + a cos(k . x) is -4 pi G a cos(k . x) / |k|^2 (the mean does not pull), to
    1e-13 relative; with ghosts=True the layer around the grid holds the periodically wrapped values."""
    s = CartesianEulerSolver((16, 12), (1.0, 1.5), self_gravity=0.7)
    x, y = s.centers()
    k = 2 * np.pi * np.array([2.0, 1.0 / 1.5])
    ph = k[0] * x + k[1] * y
    phi = np.asarray(s.gravity_potential(jnp.asarray(1.0 + 0.1 * np.cos(ph))))
    expect = -4 * np.pi * 0.7 * 0.1 * np.cos(ph) / (k @ k)
    assert np.max(np.abs(phi - expect)) <= 1e-13 * np.abs(expect).max()
    ghost = np.asarray(s.gravity_potential(jnp.asarray(1.0 + 0.1 * np.cos(ph)), ghosts=True))
    assert ghost.shape == (18, 14) and np.array_equal(ghost[1:-1, 1:-1], phi)
    assert np.array_equal(ghost[0, 1:-1], phi[-1]) and np.array_equal(ghost[1:-1, -1], phi[:, 0])
