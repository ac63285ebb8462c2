"""CIC painting / read-out and the FFT Poisson force against exact identities."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys import gravity as g
from diffphys.gravity.mesh import cic_paint_vjp, cic_readout_vjp


@pytest.mark.parametrize("shape", [(8, 12, 10), (16, 16, 16), (7, 9)])
def test_paint_conserves_mass_and_uniform_readout_exact(shape):
    d = len(shape)
    x = jax.random.uniform(jax.random.PRNGKey(0), (500, d), jnp.float64, -3.0, 40.0)  # wraps around
    m = jax.random.uniform(jax.random.PRNGKey(1), (500,), jnp.float64, 0.5, 2.0)
    mesh = g.cic_paint(x, shape, m)
    assert mesh.shape == shape
    assert abs(float(mesh.sum()) - float(m.sum())) <= 1e-12 * float(m.sum())
    assert float(mesh.min()) >= 0
    const = jnp.full(shape, 3.7, jnp.float64)
    np.testing.assert_array_equal(np.asarray(g.cic_readout(const, x)), np.full(500, 3.7))


def test_paint_on_lattice_is_one_per_cell():
    shape = (6, 5, 4)
    q = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_array_equal(np.asarray(g.cic_paint(jnp.asarray(q, jnp.float64), shape)), np.ones(shape))


def test_linear_field_readout_is_exact():
    # CIC interpolation is exact for fields linear between nodes (a tilted plane away from the wrap)
    i = np.arange(10.0)
    field = 0.3 * i[:, None, None] + 0.2 * i[None, :, None] - 0.1 * i[None, None, :]
    x = jax.random.uniform(jax.random.PRNGKey(2), (100, 3), jnp.float64, 0.0, 8.99)
    expect = 0.3 * x[:, 0] + 0.2 * x[:, 1] - 0.1 * x[:, 2]
    np.testing.assert_allclose(g.cic_readout(jnp.asarray(field), x), expect, rtol=1e-13, atol=1e-13)


def test_paint_and_readout_are_adjoint_and_hand_vjps_match_autodiff():
    shape = (6, 8, 5)
    x = jax.random.uniform(jax.random.PRNGKey(3), (50, 3), jnp.float64, 0.0, 9.0)
    m = jax.random.normal(jax.random.PRNGKey(4), (50,), jnp.float64)
    M = jax.random.normal(jax.random.PRNGKey(5), shape, jnp.float64)
    lhs = jnp.sum(g.cic_paint(x, shape, m) * M)
    rhs = jnp.sum(m * g.cic_readout(M, x))
    np.testing.assert_allclose(float(lhs), float(rhs), rtol=1e-13)
    # hand-written VJPs (used by the adjoint) against jax.vjp
    xb, mb = cic_paint_vjp(x, shape, M, m)
    xb_ad, mb_ad = jax.vjp(lambda x, m: g.cic_paint(x, shape, m), x, m)[1](M)
    np.testing.assert_allclose(xb, xb_ad, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(mb, mb_ad, rtol=1e-12, atol=1e-13)
    M3 = jax.random.normal(jax.random.PRNGKey(6), shape + (3,), jnp.float64)
    ct = jax.random.normal(jax.random.PRNGKey(7), (50, 3), jnp.float64)
    xb, Mb = cic_readout_vjp(M3, x, ct)
    xb_ad, Mb_ad = jax.vjp(lambda x, M: g.cic_readout(M, x, channels=True), x, M3)[1](ct)
    np.testing.assert_allclose(xb, xb_ad, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(Mb, Mb_ad, rtol=1e-12, atol=1e-13)


def test_vmapped_paint_is_one_flat_scatter_per_corner_and_equals_single_paints():
    """Under vmap the members' particles are painted in one flat pass (a batching rule): same values and
    derivatives (reverse, forward, with masses, nested vmap) as painting each member alone."""
    shape = (6, 8, 5)
    x = jax.random.uniform(jax.random.PRNGKey(9), (3, 40, 3), jnp.float64, -2.0, 11.0)
    m = jax.random.uniform(jax.random.PRNGKey(10), (3, 40), jnp.float64, 0.5, 2.0)
    W = jax.random.normal(jax.random.PRNGKey(11), shape, jnp.float64)
    paint = jax.jit(g.cic_paint, static_argnums=1)  # compiled once per signature (eager dispatch was 12 s)
    one = [paint(x[i], shape, m[i]) for i in range(3)]
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(lambda a, b: g.cic_paint(a, shape, b)))(x, m)),
                                  np.stack(one))
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(lambda a: g.cic_paint(a, shape, m[0])))(x)),
                                  np.stack([paint(x[i], shape, m[0]) for i in range(3)]))
    nested = jax.jit(jax.vmap(jax.vmap(lambda a: g.cic_paint(a, shape))))(jnp.stack([x, x + 1.5]))
    np.testing.assert_array_equal(np.asarray(nested[1, 2]), np.asarray(paint(x[2] + 1.5, shape, None)))

    def loss(a, b):
        return jnp.sum(jnp.sin(g.cic_paint(a, shape, b)) * W)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    fwd = jax.jit(jax.jacfwd(loss))
    gx, gm = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(x, m)
    for i in range(3):
        rx, rm = grad(x[i], m[i])
        np.testing.assert_allclose(gx[i], rx, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(gm[i], rm, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(fwd(x[i], m[i]), rx, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.jacfwd(loss)))(x, m), gx, rtol=1e-12, atol=1e-13)
    # the vmapped paint's program: 8 scatters (one per CIC corner), each into one flat array of all members'
    # cells with 1-D indices (the lowered StableHLO: XLA's CPU backend may later expand scatters into loops)
    text = jax.jit(jax.vmap(lambda a: g.cic_paint(a, shape))).lower(x).as_text()
    chunks = text.split('"stablehlo.scatter"')[1:]
    operands = [re.search(r"\}\) : \(([^)]*)\)", chunk).group(1) for chunk in chunks]
    assert len(operands) == 8 and all(o.startswith(f"tensor<{3 * 6 * 8 * 5}xf64>, tensor<{3 * 40}x1xi32>")
                                      for o in operands), operands


def test_poisson_force_single_mode_exact_and_k0_gradient_finite():
    shape, box = (16, 12, 8), (32.0, 24.0, 20.0)
    x = np.arange(16) * 2.0
    k = 2 * np.pi * 3 / 32.0
    delta = jnp.asarray(np.broadcast_to(np.cos(k * x)[:, None, None], shape).copy())
    # laplacian(phi) = cos(kx) -> phi = -cos(kx)/k^2 -> F = -dphi/dx = -sin(kx)/k
    F = g.poisson_force_mesh(delta, box)
    np.testing.assert_allclose(F[..., 0], np.broadcast_to((-np.sin(k * x) / k)[:, None, None], shape), atol=1e-12)
    np.testing.assert_allclose(F[..., 1:], 0.0, atol=1e-12)
    # a constant field (k = 0 only) has no force, and the gradient through k = 0 is finite
    grad = jax.grad(lambda d: jnp.sum(g.poisson_force_mesh(d, box) ** 2))(jnp.ones(shape))
    assert np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_allclose(g.poisson_force_mesh(jnp.ones(shape), box), 0.0, atol=1e-14)


@pytest.mark.parametrize("gradient", ["spectral", "fd4"])
def test_force_operator_is_antisymmetric(gradient):
    """<grad_j G a, b> = -<a, grad_j G b>: the property behind momentum conservation and the adjoint."""
    shape, box = (8, 10, 6), (8.0, 10.0, 6.0)
    a = jax.random.normal(jax.random.PRNGKey(8), shape, jnp.float64)
    b = jax.random.normal(jax.random.PRNGKey(9), shape, jnp.float64)
    Fa, Fb = g.poisson_force_mesh(a, box, gradient=gradient), g.poisson_force_mesh(b, box, gradient=gradient)
    for j in range(3):
        np.testing.assert_allclose(float(jnp.sum(Fa[..., j] * b)), -float(jnp.sum(a * Fb[..., j])),
                                   rtol=1e-12, atol=1e-12)


def test_power_spectrum_of_white_noise_is_flat():
    shape, box = (32, 32, 32), (64.0, 64.0, 64.0)
    w = jax.random.normal(jax.random.PRNGKey(10), shape, jnp.float64)
    k, pk, n = g.power_spectrum(w, box)
    vcell = 64.0**3 / 32**3
    # white noise of unit variance per cell: P = V_cell
    good = n > 200
    np.testing.assert_allclose(np.asarray(pk)[good], vcell, rtol=0.2)
    np.testing.assert_allclose(np.average(np.asarray(pk)[good], weights=n[good]), vcell, rtol=0.02)


def test_projection_conserves_mass_any_axis():
    s = g.PMSolver(box=(10.0, 20.0, 15.0), ptcl_grid=(4, 6, 5), mesh=(8, 12, 10), a_start=0.1, num_steps=2)
    disp = jax.random.normal(jax.random.PRNGKey(11), (s.num_particles, 3), jnp.float64) * 4
    st = g.PMState(disp=disp, mom=disp, acc=disp, a=jnp.asarray(0.1))
    for axis, shape in ((0, (12, 20)), (1, (16, 20)), ("z", (16, 24))):
        p = g.project(s, st, axis, shape)
        assert p.shape == shape
        np.testing.assert_allclose(float(p.sum()), s.num_particles, rtol=1e-12)


def test_fd4_real_space_equals_its_fourier_kernel_and_single_mode_response():
    """The real-space 4-point force (2 FFTs) is the FastPM kernel i (8 sin kh - sin 2kh) / (6h) (4 FFTs), and on
    one Fourier mode it gives that kernel's exact response."""
    shape, box = (16, 12, 10), (32.0, 18.0, 20.0)
    delta = jax.random.normal(jax.random.PRNGKey(3), shape, jnp.float64)
    real = g.poisson_force_mesh(delta, box, gradient="fd4")
    fourier = g.poisson_force_mesh(delta, box, gradient="fd4", fd4_real_space=False)
    np.testing.assert_allclose(real, fourier, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(fourier))))
    for deconvolve in (False, True):
        a = g.poisson_force_mesh(delta, box, deconvolve=deconvolve, gradient="fd4")
        b = g.poisson_force_mesh(delta, box, deconvolve=deconvolve, gradient="fd4", fd4_real_space=False)
        np.testing.assert_allclose(a, b, atol=1e-12 * float(jnp.max(jnp.abs(b))))
    h = 2.0
    x = np.arange(16) * h
    k = 2 * np.pi * 3 / 32.0
    d1 = jnp.asarray(np.broadcast_to(np.cos(k * x)[:, None, None], shape).copy())
    F = g.poisson_force_mesh(d1, box, gradient="fd4")
    kern = (8 * np.sin(k * h) - np.sin(2 * k * h)) / (6 * h)
    np.testing.assert_allclose(F[..., 0], np.broadcast_to((-np.sin(k * x) * kern / k**2)[:, None, None], shape),
                               atol=1e-12)
    np.testing.assert_allclose(F[..., 1:], 0.0, atol=1e-12)
