"""The pseudo-spectral vorticity solver: exact solutions, the Galerkin truncation's conservation laws,
convergence in time and space, derivatives against finite differences, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.core import simulate
from diffphys.core.sensitivity import check_grad
from diffphys.flow import SpectralParams, SpectralSolver, kolmogorov, random_vorticity


def _field(n, seed=0, k_p=3.0):
    return random_vorticity(jax.random.PRNGKey(seed), n, k_p, 1.0, dtype=jnp.float64)


@pytest.mark.parametrize("k, length, hyper", [(1, 2 * np.pi, 0.0), (3, 2 * np.pi, 0.0), (2, 1.0, 0.0),
                                              (3, 2 * np.pi, 1e-6)])
def test_taylor_green_decays_exactly(k, length, hyper):
    """psi = sin(q x) sin(q y) is a steady Euler flow: u . grad omega = 0, so omega decays like
    exp(-(2 nu q^2 + alpha) t) exactly; the integrating factor makes the scheme exact to round-off."""
    n = 32
    s = SpectralSolver(n, length)
    x, y = s.coords
    q = 2 * np.pi * k / length
    w0 = 2 * q * np.sin(q * x) * np.sin(q * y)  # velocity amplitude 1
    nu, alpha = 0.05 * (length / (2 * np.pi)) ** 2, 0.1
    dt = 0.2 * s.dx  # advective CFL 0.4 (the round-off of the vanishing advection must not grow)
    out = simulate(s, s.initial_state(w0), SpectralParams(nu, alpha, hyperviscosity=hyper), num_steps=100, dt=dt)
    f = np.exp(-(2 * nu * q**2 + hyper * (2 * q**2) ** 4 + alpha) * 100 * dt)  # hyper_order 4: (-lap)^4
    assert f < 0.9
    err = np.max(np.abs(np.asarray(s.vorticity(out.state)) - w0 * f)) / np.max(np.abs(w0 * f))
    assert err < 1e-12, err
    u, v = (np.asarray(a) for a in s.velocity(out.state))  # u = d psi / dy, v = -d psi / dx
    assert np.max(np.abs(u - np.sin(q * x) * np.cos(q * y) * f)) < 1e-12
    assert np.max(np.abs(v + np.cos(q * x) * np.sin(q * y) * f)) < 1e-12


def test_velocity_round_trip_and_divergence_free():
    """from_velocity(velocity(state)) is the state; the velocity is divergence-free and its curl is omega."""
    s = SpectralSolver(32)
    st = s.initial_state(_field(32, 4))
    u, v = s.velocity(st)
    back = s.from_velocity(u, v)
    assert float(jnp.max(jnp.abs(back.omega_hat - st.omega_hat))) < 1e-12 * float(jnp.max(jnp.abs(st.omega_hat)))
    div = 1j * s.kx * jnp.fft.rfft2(u) + 1j * s.ky * jnp.fft.rfft2(v)
    assert float(jnp.max(jnp.abs(div))) < 1e-11
    # a gradient field (no vorticity) is dropped
    x, y = s.coords
    grad = s.from_velocity(np.cos(x) * np.sin(2 * y), 2 * np.sin(x) * np.cos(2 * y))
    assert float(jnp.max(jnp.abs(grad.omega_hat))) < 1e-11
    # energy from the spectrum equals the grid average of (u^2 + v^2) / 2
    assert abs(float(s.energy(st)) - float(jnp.mean(u**2 + v**2)) / 2) < 1e-13


def test_galerkin_truncation_conserves_energy_and_enstrophy():
    """The truncated nonlinear term is orthogonal to psi (energy) and omega (enstrophy): to round-off."""
    s = SpectralSolver(64)
    st = s.initial_state(_field(64))
    w = st.omega_hat
    nl = s.nonlinear(w, SpectralParams(0.0))
    wt = jnp.asarray(s.weight)
    scale = float(jnp.sqrt(jnp.sum(wt * jnp.abs(nl) ** 2) * jnp.sum(wt * jnp.abs(w) ** 2)))
    d_energy = float(jnp.sum(wt * (jnp.conj(w * s.inv_k2) * nl).real))
    d_enstrophy = float(jnp.sum(wt * (jnp.conj(w) * nl).real))
    assert abs(d_enstrophy) < 1e-13 * scale
    assert abs(d_energy) < 1e-13 * scale
    # and the term is not trivially zero for this field
    assert scale > 1e-3
    # the mean vorticity (k = 0) stays zero, the discarded modes stay empty
    assert abs(complex(nl[0, 0])) < 1e-14
    assert float(jnp.max(jnp.abs(nl * (1 - s.keep)))) == 0.0


def test_inviscid_run_conserves_invariants_to_fourth_order():
    """Energy and enstrophy of an inviscid run change only by the RK4 time error: O(dt^4)."""
    n = 32
    s = SpectralSolver(n)
    st = s.initial_state(_field(n, 1))
    p = SpectralParams(0.0)
    drift = []
    for dt in (0.04, 0.02):
        out = simulate(s, st, p, num_steps=int(round(2.0 / dt)), dt=dt).state
        drift.append([abs(float(f(out) / f(st)) - 1) for f in (s.energy, s.enstrophy)])
    drift = np.asarray(drift)
    assert np.all(drift[1] < 1e-6), drift
    orders = np.log2(drift[0] / drift[1])
    assert np.all(orders > 3.5), (drift, orders)


def test_kolmogorov_laminar_transient_fourth_order():
    """From rest, the force A sin(k y) drives the shear flow u = A (1 - exp(-s t)) / s sin(k y), s = nu k^2
    + alpha (its advection vanishes): exact solution of the PDE, the scheme's error shrinks like dt^4."""
    n, kf, nu, alpha, amp, t_end = 16, 2, 0.2, 0.3, 1.5, 2.0
    x, y = SpectralSolver(n).coords
    s = SpectralSolver(n, force=(np.sin(kf * y), np.zeros((n, n))))
    p = SpectralParams(nu, alpha, amp)
    rate = nu * kf**2 + alpha
    exact = amp * (1 - np.exp(-rate * t_end)) / rate * np.sin(kf * y)
    errs = []
    for steps in (8, 16, 32):
        out = simulate(s, s.initial_state(np.zeros((n, n))), p, num_steps=steps, dt=t_end / steps).state
        u, v = (np.asarray(a) for a in s.velocity(out))
        assert np.max(np.abs(v)) < 1e-14
        errs.append(np.max(np.abs(u - exact)))
    orders = np.log2(np.asarray(errs[:-1]) / np.asarray(errs[1:]))
    assert np.all(orders > 3.8), (errs, orders)
    # from rest the CFL limit is infinite: the force's own limit keeps the adaptive steps small and accurate
    out = simulate(s, s.initial_state(np.zeros((n, n))), p, t_end=t_end, max_steps=400)
    assert bool(out.reached) and int(out.num_steps) > 8
    u, _ = s.velocity(out.state)
    assert np.max(np.abs(np.asarray(u) - exact)) < 1e-4 * np.max(np.abs(exact))


def test_spatial_convergence_is_spectral():
    """A smooth viscous flow: the error against a 96^2 run falls by orders of magnitude from 24^2 to 48^2
    (measured 2.2e-3, 9.6e-5, 1.0e-6 at 24, 32, 48: an apparent order of 11; any finite-difference scheme of
    the MAC solver's kind gives 2)."""
    big = 96
    w_big = 0.5 * _field(big, 2, k_p=2.0)
    p = SpectralParams(0.05)

    def run(n):
        s = SpectralSolver(n)
        # the same field on the coarser grid: keep the modes |k| <= (n - 1) // 3 of the fine field
        wh = np.fft.fft2(np.asarray(w_big))
        kint = np.fft.fftfreq(big, 1.0 / big)
        km = (n - 1) // 3
        wh = wh * ((np.abs(kint)[:, None] <= km) & (np.abs(kint)[None, :] <= km))
        sub = big // n
        w0 = np.real(np.fft.ifft2(wh))[::sub, ::sub]
        out = simulate(s, s.initial_state(w0), p, num_steps=20, dt=0.025).state
        return np.asarray(s.vorticity(out)), sub

    ref, _ = run(big)
    errs = []
    ns = (24, 32, 48)
    for n in ns:
        w, sub = run(n)
        errs.append(np.max(np.abs(w - ref[::sub, ::sub])) / np.max(np.abs(ref)))
    order = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert errs[-1] < 1e-3 * errs[0] and errs[-1] < 1e-5 and order > 8, (errs, order)


def test_adaptive_steps_land_on_t_end_and_converge():
    errs = []
    for cfl in (0.5, 0.25):
        solver, st, p = kolmogorov(32, viscosity=0.01, cfl=cfl, dtype=jnp.float64)
        out = simulate(solver, st, p, t_end=0.5, max_steps=400)
        assert bool(out.reached) and abs(float(out.t) - 0.5) < 1e-14
        ref = simulate(solver, st, p, num_steps=1000, dt=0.5 / 1000).state
        w_ref = solver.vorticity(ref)
        errs.append(float(jnp.max(jnp.abs(solver.vorticity(out.state) - w_ref)) / jnp.max(jnp.abs(w_ref))))
    assert errs[0] < 1e-3 and errs[0] / errs[1] > 10, errs  # fourth order: 16x per halving
    # a zero step returns the state unchanged (the masked-slot contract)
    same = solver.step(st, p, 0.0)
    assert bool(jnp.all(same.omega_hat == st.omega_hat))


def test_gradients_match_finite_differences_and_forward_mode():
    solver, st, _ = kolmogorov(16, viscosity=0.02, drag=0.1, forcing_wavenumber=2, dtype=jnp.float64)
    w = jnp.asarray(np.random.default_rng(0).standard_normal((16, 16)))

    def loss(q):
        p = SpectralParams(q["nu"], q["drag"], q["forcing"], q["hyper"] * 1e-6)  # rate 1e-6 k^8: ~0.4 at k = 5
        s0 = solver.initial_state(solver.vorticity(st) * q["amp"])
        out = simulate(solver, s0, p, num_steps=30, dt=0.02, gradient="checkpoint").state
        return jnp.sum(w * solver.vorticity(out)) + solver.enstrophy(out)

    q0 = {"nu": jnp.asarray(0.02), "drag": jnp.asarray(0.1), "forcing": jnp.asarray(1.0), "amp": jnp.asarray(1.2),
          "hyper": jnp.asarray(1.0)}
    rep = check_grad(loss, q0, mode="rev")
    assert rep.max_rel_err <= 1e-6, str(rep)
    g_rev = jax.grad(loss)(q0)
    g_fwd = jax.jacfwd(loss)(q0)
    for k in q0:
        assert abs(float(g_rev[k] - g_fwd[k])) <= 1e-10 * max(1.0, abs(float(g_fwd[k]))), k


def test_vmap_over_params_equals_single_runs():
    solver, st, p = kolmogorov(16, forcing_wavenumber=2, dtype=jnp.float64)
    nus = jnp.asarray([0.01, 0.03, 0.1])
    run = lambda nu: simulate(solver, st, SpectralParams(nu, p.drag, p.forcing), num_steps=10, dt=0.02).state  # noqa: E731
    batched = jax.vmap(run)(nus)
    for i, nu in enumerate(nus):
        single = run(nu)
        assert float(jnp.max(jnp.abs(batched.omega_hat[i] - single.omega_hat))) < 1e-12


def test_float32_and_spectrum():
    solver, st, p = kolmogorov(32, dtype=jnp.float32)
    assert st.omega_hat.dtype == jnp.complex64 and p.viscosity.dtype == jnp.float32
    out = simulate(solver, st, p, num_steps=5, dt=0.01).state
    assert out.omega_hat.dtype == jnp.complex64
    k, e = solver.spectrum(st)
    assert k[0] == 1 and k[-1] == 14  # corners of the retained square: |k| <= 10 sqrt(2)
    # the shells hold all the energy (the field has no k = 0 mode) and peak near k_p = 4
    assert abs(float(jnp.sum(e)) / float(solver.energy(st)) - 1) < 1e-5
    assert 2 <= int(k[int(jnp.argmax(e))]) <= 6


@pytest.mark.parametrize("make, match", [
    (lambda: SpectralSolver(9), "even"),
    (lambda: SpectralSolver(4), r"n must be an integer in \[8"),
    (lambda: SpectralSolver(16, length=-1.0), "length"),
    (lambda: SpectralSolver(16, cfl=1.5), "cfl"),
    (lambda: SpectralSolver(16, force=(np.zeros((8, 8)), np.zeros((8, 8)))), "force"),
    (lambda: SpectralParams(-0.1), "viscosity"),
    (lambda: SpectralParams(0.1, drag=float("nan")), "drag"),
    (lambda: SpectralParams(0.1, hyperviscosity=-1.0), "hyperviscosity"),
    (lambda: SpectralSolver(16, hyper_order=1), "hyper_order"),
    (lambda: SpectralSolver(16).initial_state(np.zeros((8, 8))), "shape"),
    (lambda: SpectralSolver(16).initial_state(np.full((16, 16), np.nan)), "omega"),
    (lambda: kolmogorov(16, forcing_wavenumber=6), "forcing_wavenumber"),
])
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
