"""diffphys.parallel: ensembles and particle decomposition across (emulated) devices.

The test process has one CPU device (tests/conftest.py fixes it before JAX starts), so the multi-device
checks run in a subprocess started with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``. The truth
for each is the same computation on one device (plain ``jit(vmap(fn))``, an unsharded ``simulate``).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffphys.parallel import device_mesh, ensemble, ensemble_sharded, shard_batch, shard_particles

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_devices(code: str, n_devices: int = 4, timeout: int = 120) -> dict:
    """Run ``code`` in a fresh Python with ``n_devices`` emulated CPU devices; it prints one JSON line last."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={n_devices} "
                        + os.environ.get("DIFFPHYS_TEST_XLA_FLAGS", ""))   # tests/conftest.py
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    prelude = "import jax\njax.config.update('jax_enable_x64', True)\nassert jax.device_count() == %d\n" % n_devices
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


WIND = """
import json
import jax.numpy as jnp, numpy as np
from diffphys.examples.wind_fit import make_residuals
from diffphys.parallel import device_mesh, ensemble, ensemble_sharded, ensemble_hlo

final, theta_true, _, _ = make_residuals(32, 2.0e3, 2000.0, 0.1186)       # 32 cells, 2000 yr, float64
thetas = jnp.log(jnp.stack([jnp.linspace(1500.0, 3000.0, 6), jnp.linspace(0.08, 0.15, 6)], axis=1))
ref = jax.jit(jax.vmap(final))(thetas)                                   # plain vmap on one device
mesh = device_mesh()
out = ensemble(final, thetas, mesh)
sharded, batch = ensemble_sharded(final, thetas, mesh)
hlo = ensemble_hlo(final, thetas, mesh)
entry = [l for l in hlo.splitlines() if l.startswith("ENTRY")][0]
mapped = ensemble(final, thetas, mesh, method="map")                     # lax.map per device (shard_map)
mapped_sharded, _ = ensemble_sharded(final, thetas, mesh, method="map", batch_size=2)
map_hlo = ensemble_hlo(final, thetas, mesh, method="map")
print(json.dumps({
    "max_diff": float(jnp.max(jnp.abs(out - ref))), "ref_scale": float(jnp.max(jnp.abs(ref))),
    "finite": bool(jnp.all(jnp.isfinite(ref))), "spread": float(jnp.max(jnp.std(ref, axis=0))),
    "out_shape": list(out.shape), "out_devices": len(out.sharding.device_set), "out_dtype": str(out.dtype),
    "batch": batch, "sharded_shape": list(sharded.shape), "spec": str(sharded.sharding.spec),
    "shard_devices": sorted(s.device.id for s in sharded.addressable_shards),
    "shard_shapes": sorted({tuple(s.data.shape) for s in sharded.addressable_shards}),
    "entry": entry, "collectives": sum(hlo.count(c) for c in ("all-gather", "all-reduce", "collective-permute")),
    "map_diff": float(jnp.max(jnp.abs(mapped - ref))),
    "map_chunk_diff": float(jnp.max(jnp.abs(mapped_sharded[:6] - ref))),
    "map_shard_shapes": sorted({tuple(s.data.shape) for s in mapped_sharded.addressable_shards}),
    "map_entry": [l for l in map_hlo.splitlines() if l.startswith("ENTRY")][0],
    "map_collectives": sum(map_hlo.count(c) for c in ("all-gather", "all-reduce", "collective-permute")),
}))
"""


def test_ensemble_wind_four_devices_equals_vmap():
    r = run_devices(WIND)
    assert r["finite"] and r["spread"] > 1e-3 * r["ref_scale"]      # the 6 parameter sets really differ
    assert r["out_shape"] == [6, 64] and r["out_dtype"] == "float64"
    assert r["max_diff"] <= 1e-12 * max(1.0, r["ref_scale"])
    assert r["out_devices"] == 1                                    # gathered back: an ordinary array
    # computed sharded: 6 padded to 8, two parameter sets per device, the per-device program takes (2, 2)
    assert r["batch"] == 6 and r["sharded_shape"] == [8, 64]
    assert r["shard_devices"] == [0, 1, 2, 3] and r["shard_shapes"] == [[2, 64]]
    assert "batch" in r["spec"]
    assert "f64[2,2]" in r["entry"] and "f64[2,64]" in r["entry"]
    assert r["collectives"] == 0                                    # embarrassingly parallel: no communication
    # method="map": the same numbers (one set after another, or in vmapped chunks of 2, on each device)
    assert r["map_diff"] <= 1e-12 * max(1.0, r["ref_scale"])
    assert r["map_chunk_diff"] <= 1e-12 * max(1.0, r["ref_scale"])
    assert r["map_shard_shapes"] == [[2, 64]] and "f64[2,2]" in r["map_entry"] and r["map_collectives"] == 0


GRAVITY = """
import json
import jax.numpy as jnp
import numpy as np
from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.parallel import device_mesh, shard_particles

mesh = device_mesh()
s = g.PMSolver(box=32.0, ptcl_grid=8, mesh=16, a_start=0.1, a_stop=1.0, num_steps=8)
c = g.Cosmology(Omega_m=0.3, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8).tabulate()
noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float64)

def final(n, shard, gradient="store", solver=s):
    st = solver.initial_state(n, c)
    if shard:
        st = shard_particles(st, mesh)
    return simulate(solver, st, c, num_steps=solver.num_steps, gradient=gradient).state

def loss(n, shard, solver=s):
    st = final(n, shard, "adjoint", solver)
    return jnp.sum(jnp.sin(0.3 * st.disp) * st.mom)

one = jax.jit(lambda n: final(n, False))(noise)
many = jax.jit(lambda n: final(n, True))(noise)
# the eager form: a state placed with device_put, then the jitted loop
placed = shard_particles(jax.jit(lambda n: s.initial_state(n, c))(noise), mesh)
eager = jax.jit(lambda st: simulate(s, st, c, num_steps=s.num_steps).state)(placed)
g1 = jax.jit(jax.grad(lambda n: loss(n, False)))(noise)
g4 = jax.jit(jax.grad(lambda n: loss(n, True)))(noise)
rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))

# the Poisson solve on slabs of the mesh (devices=mesh): slab FFTs with all-to-all exchanges
import re
from diffphys.gravity.force import poisson_force_mesh, poisson_force_mesh_slabs
rng = np.random.default_rng(0)
d = jnp.asarray(rng.normal(size=(16, 12, 10)))
box = (50.0, 40.0, 30.0)
ops = {grad: rel(jax.jit(lambda x: poisson_force_mesh_slabs(x, box, mesh, gradient=grad, scale=0.7))(d),
                 poisson_force_mesh(d, box, False, grad, scale=0.7)) for grad in ("spectral", "fd4")}
ss = g.PMSolver(box=32.0, ptcl_grid=8, mesh=16, a_start=0.1, a_stop=1.0, num_steps=8, devices=mesh)
# no shard_particles: the slab LPT splits the particles; one compilation for the values and the program text
compiled = jax.jit(lambda n: final(n, False, solver=ss)).lower(noise).compile()
slabs, hlo = compiled(noise), compiled.as_text()
# the LPT fields on slabs of the particle grid
from diffphys.gravity.lpt import lpt_fields, lpt_fields_slabs
from diffphys.gravity.modes import linear_modes
nz = g.white_noise(jax.random.PRNGKey(3), (8, 12, 6), jnp.float64)
bz = (32.0, 48.0, 24.0)
lpt_ref = lpt_fields(linear_modes(nz, c, bz), bz, (8, 12, 6))
lpt_sl = jax.jit(lambda n: lpt_fields_slabs(n, c, bz, mesh))(nz)
g_slabs = jax.jit(jax.grad(lambda n: loss(n, True, solver=ss)))(noise)   # shard_particles here
ffts = sorted(set(re.findall(r"= c128\\[([0-9,]+)\\][^ ]* fft\\(", hlo)))
reduced = [line for line in hlo.splitlines() if "all-reduce(" in line]
print(json.dumps({
    "op": ops, "gathers": hlo.count("all-gather("),
    "slabs_disp": rel(slabs.disp, one.disp),
    "slabs_mom": rel(slabs.mom, one.mom), "slabs_grad": rel(g_slabs, g1), "ffts": ffts,
    "slabs_spec": str(slabs.disp.sharding.spec),
    "lpt": max(rel(a, b) for a, b in zip(lpt_sl, lpt_ref)), "lpt_spec": str(lpt_sl[0].sharding.spec),
    "noise_gathers": sum("all-gather(" in line and "[8,8,8]" in line for line in hlo.splitlines()),
    "all_to_all": hlo.count("all-to-all("), "permutes": hlo.count("collective-permute("),
    "mesh_all_reduce": sum("[16,16,16]" in line or "[16,16,9]" in line for line in reduced),
    "disp": rel(many.disp, one.disp), "mom": rel(many.mom, one.mom), "eager": rel(eager.disp, one.disp),
    "grad": rel(g4, g1), "grad_scale": float(jnp.max(jnp.abs(g1))), "disp_scale": float(jnp.max(jnp.abs(one.disp))),
    "spec": str(many.disp.sharding.spec), "a_spec": str(many.a.sharding.spec),
    "placed_spec": str(placed.disp.sharding.spec),
    "shards": sorted((sh.device.id, sh.data.shape[0]) for sh in many.disp.addressable_shards),
}))
"""


def test_gravity_particles_sharded_equal_single_device_and_adjoint_gradient():
    r = run_devices(GRAVITY)
    assert r["disp_scale"] > 1.0                  # non-linear displacements (Mpc/h) in a 32 Mpc/h box
    assert r["disp"] <= 1e-10 and r["mom"] <= 1e-10 and r["eager"] <= 1e-10
    assert r["grad_scale"] > 0 and r["grad"] <= 1e-10
    # the particles stayed split through the time loop: 128 of the 512 on each of the 4 devices
    assert "batch" in r["spec"] and "batch" in r["placed_spec"] and "batch" not in r["a_spec"]
    assert r["shards"] == [[0, 128], [1, 128], [2, 128], [3, 128]]
    # devices=mesh: the Poisson solve on slabs (truth: the one-device solve and run)
    assert all(v <= 1e-13 for v in r["op"].values()), r["op"]    # spectral and fd4 force operators
    assert r["slabs_disp"] <= 1e-10 and r["slabs_mom"] <= 1e-10 and r["slabs_grad"] <= 1e-10
    # each device transforms its own slab (16^3 mesh on 4 devices: 4 planes of x, then 4 columns of k_y);
    # no FFT of the whole mesh, blocks exchanged by all-to-all, fd4's halo planes and the particle blocks of
    # paint / read-out by collective permutes, and nothing gathered or reduced
    assert r["ffts"] and all(np.prod([int(v) for v in f.split(",")]) <= 16 * 16 * 9 // 4 for f in r["ffts"]), r["ffts"]
    # the initial conditions too: the LPT on slabs of the 8^3 particle grid (no whole-grid FFT, no gathered
    # noise), equal to the one-device fields; the particles come out split
    assert all(sorted(int(v) for v in f.split(",")) != [5, 8, 8] for f in r["ffts"]), r["ffts"]
    assert r["noise_gathers"] == 0 and r["gathers"] == 0 and r["mesh_all_reduce"] == 0
    assert r["all_to_all"] >= 2 and r["permutes"] >= 2
    assert r["lpt"] <= 1e-13 and "batch" in r["lpt_spec"] and "batch" in r["slabs_spec"]


SLAB_PIECES = """
import json
import jax.numpy as jnp
import numpy as np
from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.parallel import device_mesh
from diffphys.gravity.force import poisson_force_mesh, poisson_force_mesh_slabs
from diffphys.gravity.mesh import cic_paint, cic_readout
from diffphys.gravity.slabs import paint_slabs, paint_slabs_vjp, readout_slabs, readout_slabs_vjp
from diffphys.gravity.lpt import lpt_fields, lpt_fields_slabs
from diffphys.gravity.modes import linear_modes

mesh = device_mesh()
c = g.Cosmology(Omega_m=0.3, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8).tabulate()
rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
rng = np.random.default_rng(0)
d = jnp.asarray(rng.normal(size=(16, 12, 10)))
box = (50.0, 40.0, 30.0)
ops = {grad: rel(jax.jit(lambda x: poisson_force_mesh_slabs(x, box, mesh, deconvolve=True, gradient=grad,
                                                             scale=0.7))(d),
                 poisson_force_mesh(d, box, True, grad, scale=0.7)) for grad in ("spectral", "fd4")}
ct = jnp.asarray(rng.normal(size=(16, 12, 10, 3)))
t_slabs = jax.jit(jax.linear_transpose(lambda x: poisson_force_mesh_slabs(x, box, mesh, gradient="fd4"), d))(ct)[0]
t_ref = jax.linear_transpose(lambda x: poisson_force_mesh(x, box, False, "fd4"), d)(ct)[0]
# CIC paint and read-out per device (particle blocks passed around the ring) against the one-device ones
xp = jnp.asarray(rng.uniform(-3.0, 20.0, size=(200, 3)))
W = jnp.asarray(rng.normal(size=(16, 12, 10)))
M3 = jnp.asarray(rng.normal(size=(16, 12, 10, 3)))
cp = jnp.asarray(rng.normal(size=(200, 3)))
ring = {
    "paint": rel(jax.jit(lambda x: paint_slabs(x, (16, 12, 10), mesh))(xp), cic_paint(xp, (16, 12, 10))),
    "readout": rel(jax.jit(lambda m, x: readout_slabs(m, x, mesh))(M3, xp), cic_readout(M3, xp, channels=True)),
    "paint_grad": rel(jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(paint_slabs(x, (16, 12, 10), mesh)) * W)))(xp),
                      jax.grad(lambda x: jnp.sum(jnp.sin(cic_paint(x, (16, 12, 10))) * W))(xp)),
}
v_ring = jax.jit(lambda m, x: jax.vjp(lambda m, x: readout_slabs(m, x, mesh), m, x)[1](cp))(M3, xp)
v_one = jax.vjp(lambda m, x: cic_readout(m, x, channels=True), M3, xp)[1](cp)
ring["readout_vjp"] = max(rel(a, b) for a, b in zip(v_ring, v_one))
# the hand-written per-device transposes that the reverse-time adjoint uses
ring["paint_vjp_hand"] = rel(jax.jit(lambda x, w: paint_slabs_vjp(x, w, mesh))(xp, W),
                             jax.vjp(lambda x: cic_paint(x, (16, 12, 10)), xp)[1](W)[0])
h_ring = jax.jit(lambda m, x, c: readout_slabs_vjp(m, x, c, mesh))(M3, xp, cp)
ring["readout_vjp_hand"] = max(rel(h_ring[0], v_one[1]), rel(h_ring[1], v_one[0]))
# the slab LPT's derivative wrt the cosmology
nz = g.white_noise(jax.random.PRNGKey(3), (8, 12, 6), jnp.float64)
bz = (32.0, 48.0, 24.0)
sig = lambda f: jax.grad(lambda cc: jnp.sum(jnp.sin(f(cc)[1])))(c).sigma8
sig_ref = sig(lambda cc: lpt_fields(linear_modes(nz, cc, bz), bz, (8, 12, 6)))
sig_sl = jax.jit(lambda: sig(lambda cc: lpt_fields_slabs(nz, cc, bz, mesh)))()
# a particle grid that does not split over 4 devices (6 along y): replicated LPT, slab force solve
kw6 = dict(box=(32.0, 24.0, 32.0), ptcl_grid=(8, 6, 8), mesh=16, a_start=0.1, a_stop=0.5, num_steps=2)
n6 = g.white_noise(jax.random.PRNGKey(4), (8, 6, 8), jnp.float64)
run6 = lambda sv: jax.jit(lambda n: simulate(sv, sv.initial_state(n, c), c, num_steps=2).state.disp)(n6)
odd = rel(run6(g.PMSolver(**kw6, devices=mesh)), run6(g.PMSolver(**kw6)))
print(json.dumps({"op_deconvolved": ops, "transpose": rel(t_slabs, t_ref), "ring": ring,
                  "lpt_sigma8": abs(float(sig_sl - sig_ref)) / abs(float(sig_ref)), "odd": odd}))
"""


@pytest.mark.slow
def test_slab_pieces_equal_one_device():
    """The pieces of the slab decomposition one by one (the default test checks them through the run)."""
    r = run_devices(SLAB_PIECES)
    assert all(v <= 1e-13 for v in r["op_deconvolved"].values()), r["op_deconvolved"]
    assert r["transpose"] <= 1e-13                    # the adjoint's linear_transpose of the force operator
    # ring paint / read-out: values, autodiff derivatives and the hand-written transposes
    assert all(v <= 1e-13 for v in r["ring"].values()), r["ring"]
    assert r["lpt_sigma8"] <= 1e-12
    assert r["odd"] <= 1e-10                          # the replicated-LPT fallback


# ---- one device, in this process ---------------------------------------------------------------------------

def test_one_device_ensemble_is_vmap():
    assert jax.device_count() == 1
    mesh = device_mesh()
    assert mesh.shape == {"batch": 1}
    params = {"a": jnp.linspace(0.0, 1.0, 5), "b": jnp.arange(10.0).reshape(5, 2)}
    fn = lambda p: {"s": jnp.sin(p["a"]) * p["b"], "n": jnp.sum(p["b"] ** 2)}  # noqa: E731
    out = ensemble(fn, params)
    ref = jax.vmap(fn)(params)
    np.testing.assert_array_equal(np.asarray(out["s"]), np.asarray(ref["s"]))
    np.testing.assert_array_equal(np.asarray(out["n"]), np.asarray(ref["n"]))
    sharded, batch = ensemble_sharded(fn, params, mesh)
    assert batch == 5 and sharded["s"].shape == (5, 2)        # no padding needed on one device
    mapped = ensemble(fn, params, method="map")
    np.testing.assert_allclose(np.asarray(mapped["s"]), np.asarray(ref["s"]), rtol=1e-15, atol=0)
    np.testing.assert_allclose(np.asarray(mapped["n"]), np.asarray(ref["n"]), rtol=1e-15, atol=0)


def test_shard_batch_pads_with_the_last_entry():
    mesh = device_mesh()
    placed, batch = shard_batch({"x": jnp.arange(3.0)}, mesh)
    assert batch == 3 and placed["x"].shape == (3,)           # one device: multiple of 1, unchanged
    # a mesh named differently, and the same device listed explicitly
    m2 = device_mesh("ens", devices=jax.devices())
    np.testing.assert_array_equal(np.asarray(ensemble(lambda x: 2 * x, jnp.arange(4.0), m2, axis="ens")),
                                  2 * np.arange(4.0))


def test_one_device_shard_particles_runs_gravity():
    from diffphys import gravity as g
    from diffphys.core import simulate

    s = g.PMSolver(box=16.0, ptcl_grid=4, mesh=8, a_start=0.2, a_stop=0.5, num_steps=2)
    c = g.Cosmology(sigma8=0.8).tabulate()
    st = jax.jit(lambda n: s.initial_state(n, c))(g.white_noise(jax.random.PRNGKey(1), s.ptcl_grid, jnp.float64))
    placed = shard_particles(st, device_mesh())
    assert placed.disp.sharding.spec[0] == "batch"
    run = jax.jit(lambda x: simulate(s, x, c, num_steps=2).state.disp)
    a, b = run(placed), run(st)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-13)
    # the slab-decomposed Poisson solve on one device is the plain 3D FFT
    s1 = g.PMSolver(box=16.0, ptcl_grid=4, mesh=8, a_start=0.2, a_stop=0.5, num_steps=2, devices=device_mesh())
    c1 = jax.jit(lambda x: simulate(s1, x, c, num_steps=2).state.disp)(placed)
    np.testing.assert_allclose(np.asarray(c1), np.asarray(b), rtol=0, atol=1e-13)


# ---- bad input -----------------------------------------------------------------------------------------------

def test_bad_input():
    fn = lambda p: p["a"] + p["b"]  # noqa: E731
    with pytest.raises(ValueError, match="empty batch"):
        ensemble(fn, {"a": jnp.zeros((0,)), "b": jnp.zeros((0,))})
    with pytest.raises(ValueError, match=r"mismatched leading.*\['a'\]: 3.*\['b'\]: 4"):
        ensemble(fn, {"a": jnp.zeros(3), "b": jnp.zeros(4)})
    with pytest.raises(ValueError, match=r"\['b'\] is a scalar"):
        ensemble(fn, {"a": jnp.zeros(3), "b": jnp.float64(1.0)})
    with pytest.raises(ValueError, match="batched_params is empty"):
        ensemble(fn, {})
    with pytest.raises(ValueError, match="fn must be callable"):
        ensemble(3, {"a": jnp.zeros(3)})
    with pytest.raises(ValueError, match="axis 'time' is not an axis of the mesh"):
        ensemble(fn, {"a": jnp.zeros(3), "b": jnp.zeros(3)}, device_mesh(), axis="time")
    with pytest.raises(ValueError, match="mesh must be a jax.sharding.Mesh"):
        ensemble(fn, {"a": jnp.zeros(3), "b": jnp.zeros(3)}, mesh="gpu")
    with pytest.raises(ValueError, match="devices must hold at least one device"):
        device_mesh(devices=[])
    with pytest.raises(ValueError, match="axis must be a non-empty string"):
        device_mesh(axis="")
    ok = {"a": jnp.zeros(3), "b": jnp.zeros(3)}
    with pytest.raises(ValueError, match="method must be 'vmap'.*or 'map'"):
        ensemble(fn, ok, method="pmap")
    with pytest.raises(ValueError, match="batch_size goes with method='map'"):
        ensemble(fn, ok, batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ensemble(fn, ok, method="map", batch_size=0)
    with pytest.raises(ValueError, match="state is empty"):
        shard_particles({}, device_mesh())


def test_bad_slab_decomposition():
    from diffphys import gravity as g
    from diffphys.parallel.fft import check_slabs

    with pytest.raises(ValueError, match=r"mesh\[0\] = 18 must be a multiple of the number of devices \(4\)"):
        check_slabs((18, 16, 16), 4)
    with pytest.raises(ValueError, match=r"mesh\[1\] = 10 must be a multiple"):
        check_slabs((16, 10, 16), 4)
    with pytest.raises(ValueError, match="at least 2 cells thick"):
        check_slabs((4, 4, 4), 4, halo=2)
    with pytest.raises(ValueError, match="3D mesh"):
        check_slabs((16, 16), 2)
    check_slabs((8, 8, 5), 4, halo=2)                     # no error: slabs of 2 planes
    with pytest.raises(ValueError, match="devices must be None or a jax.sharding.Mesh with an axis 'batch'"):
        g.PMSolver(box=16.0, ptcl_grid=4, devices="gpu")
    with pytest.raises(ValueError, match="with an axis 'x'"):
        g.PMSolver(box=16.0, ptcl_grid=4, devices=device_mesh(), device_axis="x")


BAD_PARTICLES = """
import json
import jax.numpy as jnp
from diffphys.parallel import device_mesh, shard_particles
try:
    shard_particles({"disp": jnp.zeros((6, 3)), "a": jnp.float64(0.1)}, device_mesh())
    msg = ""
except ValueError as e:
    msg = str(e)
print(json.dumps({"msg": msg}))
"""


NBODY_EXAMPLE = """
import dataclasses, json, tempfile
from pathlib import Path
from diffphys.examples import nbody as ex
cfg = ex.Config(ptcl=8, box=64.0, num_steps=4, paired=False, devices=0)
cfg.validate()
with tempfile.TemporaryDirectory() as d:
    m4 = ex.run(cfg, Path(d))
    m1 = ex.run(dataclasses.replace(cfg, devices=1), Path(d))
print(json.dumps({"m4": m4, "m1": m1}))
"""


@pytest.mark.slow
def test_nbody_example_on_four_devices_equals_one():
    r = run_devices(NBODY_EXAMPLE)
    assert r["m4"]["devices"] == 4 and r["m1"]["devices"] == 1
    for k in ("pk_lowk_rel_err", "mass_rel_err", "adjoint_vs_ad_rel_rms", "reversibility_rel"):
        assert abs(r["m4"][k] - r["m1"][k]) <= 1e-9 + 1e-6 * abs(r["m1"][k]), (k, r["m4"][k], r["m1"][k])


def test_split_devices():
    from diffphys.parallel import split_devices

    assert split_devices() is None and split_devices(1) is None        # one device here: nothing to split
    with pytest.raises(ValueError, match="devices = 2 but only 1 device"):
        split_devices(2)
    with pytest.raises(ValueError, match="devices must be 0 \\(all\\) or a positive number"):
        split_devices(-1)


def test_particles_not_divisible_by_devices():
    msg = run_devices(BAD_PARTICLES)["msg"]
    assert "number of particles (6)" in msg and "multiple of the number of devices" in msg and "(4)" in msg


def test_ensemble_example_small(tmp_path):
    from diffphys.examples import ensemble as ex

    cfg = ex.Config(n_cells=32, grid=3, t_end_yr=2.0e3)
    cfg.validate()
    m = ex.run(cfg, tmp_path)
    assert m["devices"] == 1 and m["batch"] == 9
    assert m["max_abs_diff_vs_vmap"] <= 1e-12 and m["wall_s"] > 0
    assert (tmp_path / "ensemble_landscape.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="grid"):
        ex.Config(grid=1).validate()


HYDRO_2D = """
import json
import jax.numpy as jnp, numpy as np
from diffphys.hydro import kelvin_helmholtz_problem, solve
from diffphys.hydro.cartesian import CartesianState
from diffphys.parallel import device_mesh

mesh = device_mesh()
res = {}
for name, bnd in (("periodic", "periodic"), ("walls", (("reflective", "outflow"), ("outflow", "reflective")))):
    s1, st = kelvin_helmholtz_problem(16, boundary=bnd)
    s4, _ = kelvin_helmholtz_problem(16, boundary=bnd, devices=mesh)
    run = lambda s: jax.jit(lambda u: solve(s, CartesianState(u), t_end=0.5, max_steps=2000).state.u)
    ref, out = run(s1)(st.u), run(s4)(st.u)
    hlo = run(s4).lower(st.u).compile().as_text()
    final = lambda s, a: solve(s, CartesianState(st.u.at[2].multiply(a)), t_end=0.3, max_steps=500,
                               gradient="checkpoint").state.u[0]
    loss = lambda s: jax.jit(jax.grad(lambda a: jnp.mean(final(s, a) ** 2)))
    g1, g4 = (float(loss(s1)(1.0)), float(loss(s4)(1.0))) if (WITH_GRAD and name == "walls") else (1.0, 1.0)
    res[name] = {"max_diff": float(jnp.max(jnp.abs(out - ref))), "spec": str(out.sharding.spec),
                 "shards": sorted({tuple(x.data.shape) for x in out.addressable_shards}),
                 "collectives": {c: hlo.count(c) for c in ("all-to-all", "collective-permute", "all-gather")},
                 "grad_rel": abs(g4 / g1 - 1), "grad": g1}
# the axisymmetric wind bubble (geometric arrays and the wind's weights sliced per block; the axis on device 0)
from diffphys.hydro import axisymmetric_wind_problem
a1, st, wp = axisymmetric_wind_problem(16, 2)
a4 = axisymmetric_wind_problem(16, 2, devices=mesh)[0]
run = lambda s: jax.jit(lambda u: solve(s, CartesianState(u), wp.params, t_end=0.2 * wp.t_end, max_steps=4000).state.u)
compiled = run(a4).lower(st.u).compile()  # one compilation for the numbers and the program text
ref, out, hlo = run(a1)(st.u), compiled(st.u), compiled.as_text()
res["axisymmetric_wind"] = {"max_diff": float(jnp.max(jnp.abs(out - ref) / jnp.max(jnp.abs(ref), axis=(1, 2),
                                                                                      keepdims=True))),
                            "spec": str(out.sharding.spec), "shards": sorted({tuple(x.data.shape)
                                                                              for x in out.addressable_shards}),
                            "collectives": {c: hlo.count(c)
                                            for c in ("all-to-all", "collective-permute", "all-gather")},
                            "grad_rel": 0.0, "grad": 1.0}
print(json.dumps(res))
"""


def check_hydro_split(with_grad):
    res = run_devices(f"WITH_GRAD = {with_grad}\n" + HYDRO_2D, timeout=300)
    for name, r in res.items():
        assert r["max_diff"] <= 1e-13, (name, r)
        shard = [[4, 4, 32]] if name == "axisymmetric_wind" else [[4, 4, 16]]
        assert r["spec"] == "P(None, 'batch')" and r["shards"] == shard, (name, r)
        assert r["collectives"]["all-to-all"] == 0 and r["collectives"]["collective-permute"] > 0, (name, r)
        assert r["collectives"]["all-gather"] <= 2, (name, r)  # only the CFL maxima (4 scalars)
        assert r["grad_rel"] <= 1e-10 and abs(r["grad"]) > 0, (name, r)


def test_cartesian_hydro_split_over_four_devices_equals_one_device():
    """KH on 16^2 split into 4 blocks of 4 x-columns: the same numbers as one device (periodic and wall/outflow
    boundaries), halos by collective-permute only (no all-to-all or gather of the grid); the axisymmetric wind
    bubble on 16 x 32 split along R: the same numbers as one device (relative to each field's scale)."""
    check_hydro_split(False)


@pytest.mark.slow
def test_cartesian_hydro_split_gradient_equals_one_device():
    """The same with the checkpointed reverse-mode gradient (wall/outflow boundaries) against one device."""
    check_hydro_split(True)


SELF_GRAVITY = """
import json
import jax.numpy as jnp, numpy as np
from diffphys.hydro import CartesianEulerSolver, solve
from diffphys.hydro.cartesian import CartesianState
from diffphys.parallel import device_mesh

mesh = device_mesh()
res = {}
for name, shape in (("jeans_2d", (16, 16)), ("jeans_3d", (8, 8, 8))):
    d = len(shape)
    k2 = (2 * np.pi) ** 2 * (5 if d == 2 else 6)  # the mode k = 2 pi (1, 2[, 1]); c = 1: 4 pi G rho = 2 c^2 k^2
    kw = dict(lengths=1.0, gamma=5 / 3, cfl=0.4, self_gravity=2 * k2 / (4 * np.pi))
    s1, s4 = CartesianEulerSolver(shape, **kw), CartesianEulerSolver(shape, devices=mesh, **kw)
    xs = s1.centers()
    ph = 2 * np.pi * (xs[0] + 2 * xs[1] + (xs[2] if d == 3 else 0))  # a mode along every axis
    st = s1.initial_state(1.0 + 0.05 * np.cos(ph), (0.0,) * d, 0.6 + 0.05 * np.cos(ph))
    run = lambda s: jax.jit(lambda u: solve(s, CartesianState(u), t_end=0.15, max_steps=500).state.u)
    compiled = run(s4).lower(st.u).compile()
    ref, out, hlo = run(s1)(st.u), compiled(st.u), compiled.as_text()
    final = lambda s, a: solve(s, CartesianState(st.u.at[0].multiply(a)), t_end=0.1, max_steps=300,
                               gradient="checkpoint").state.u[0]
    loss = lambda s: jax.jit(jax.grad(lambda a: jnp.mean(final(s, a) ** 3)))
    g1, g4 = (float(loss(s1)(1.0)), float(loss(s4)(1.0))) if (WITH_GRAD and d == 2) else (1.0, 1.0)
    res[name] = {"max_diff": float(jnp.max(jnp.abs(out - ref) / jnp.max(jnp.abs(ref), axis=tuple(range(1, d + 1)),
                                                                         keepdims=True))),
                 "growth": float(jnp.max(ref[0]) / jnp.max(st.u[0])),
                 "shards": sorted({tuple(x.data.shape) for x in out.addressable_shards}),
                 "collectives": {c: hlo.count(c) for c in ("all-to-all", "collective-permute", "all-gather")},
                 "grad_rel": abs(g4 / g1 - 1), "grad": g1}
# vacuum boundaries: the zero-padded box split the same way; the potential of an irregular density directly, then a
# collapsing sphere's run
from diffphys.gravity.isolated import isolated_potential, isolated_potential_slabs
from jax.sharding import PartitionSpec as P
for shape in ((8, 6), (8, 6, 5)):
    rho = jnp.asarray(np.random.default_rng(0).uniform(0.1, 1.0, shape))
    dx = (0.3, 0.2, 0.45)[:len(shape)]
    ref = isolated_potential(rho, dx, 0.7, ghosts=True)
    fn = jax.shard_map(lambda r: isolated_potential_slabs(r, shape, dx, 0.7, "batch", 4), mesh=mesh,
                       in_specs=P("batch"), out_specs=P("batch"))
    out = jax.jit(fn)(rho)  # per device: its rows with their ghosts, (n0 / 4 + 2, ...), stacked
    ours = jnp.concatenate([out[:1]] + [out[i * 4 + 1: i * 4 + 3] for i in range(4)] + [out[-1:]], axis=0)
    res[f"isolated_potential_{len(shape)}d"] = {"max_diff": float(jnp.max(jnp.abs(ours - ref)) / jnp.max(jnp.abs(ref))),
                                                 "growth": 2.0, "shards": None, "collectives": None, "grad_rel": 0.0,
                                                 "grad": 1.0}
kw = dict(lengths=1.0, gamma=5 / 3, cfl=0.4, origin=-0.5, boundary="outflow", self_gravity=1.0,
          self_gravity_boundary="isolated")
s1, s4 = CartesianEulerSolver((12, 12, 12), **kw), CartesianEulerSolver((12, 12, 12), devices=mesh, **kw)
r = np.sqrt(sum(x * x for x in s1.centers()))
st = s1.initial_state(np.where(r < 0.25, 1.0, 1e-3), (0.0, 0.0, 0.0), 1e-3)
run = lambda s: jax.jit(lambda u: solve(s, CartesianState(u), t_end=0.3, max_steps=500).state.u)
compiled = run(s4).lower(st.u).compile()
ref, out, hlo = run(s1)(st.u), compiled(st.u), compiled.as_text()
res["collapse_3d"] = {"max_diff": float(jnp.max(jnp.abs(out - ref) / jnp.max(jnp.abs(ref), axis=(1, 2, 3),
                                                                              keepdims=True))),
                      "growth": float(jnp.max(ref[0]) / jnp.max(st.u[0])),
                      "shards": sorted({tuple(x.data.shape) for x in out.addressable_shards}),
                      "collectives": {c: hlo.count(c) for c in ("all-to-all", "collective-permute", "all-gather")},
                      "grad_rel": 0.0, "grad": 1.0}
print(json.dumps(res))
"""


def check_self_gravity_split(with_grad):
    res = run_devices(f"WITH_GRAD = {with_grad}\n" + SELF_GRAVITY, timeout=300)
    for name, r in res.items():
        assert r["max_diff"] <= 1e-13 and r["growth"] > 1.01, (name, r)
        if name.startswith("isolated_potential"):
            continue
        shard = {"jeans_2d": [[4, 4, 16]], "jeans_3d": [[5, 2, 8, 8]], "collapse_3d": [[5, 3, 12, 12]]}[name]
        assert r["shards"] == shard, (name, r)
        assert r["collectives"]["all-to-all"] > 0 and r["collectives"]["collective-permute"] > 0, (name, r)
        # the CFL maxima only, plus for vacuum boundaries the two planes just outside the grid per Poisson solve
        assert r["collectives"]["all-gather"] <= (2 if name.startswith("jeans") else 8), (name, r)
        assert r["grad_rel"] <= 1e-10 and abs(r["grad"]) > 0, (name, r)


@pytest.mark.slow
def test_self_gravity_split_over_four_devices_equals_one_device():
    """Self-gravity on a split grid (slab FFTs: one all-to-all per transform). Periodic: a Jeans-unstable mode on
    16^2 (4 blocks of 4 rows) and 8^3 (4 slabs of 2 planes) grows as on one device, to round-off. Vacuum boundaries:
    the potential with its ghost layer of an irregular 8 x 6 (x 5) density equals one device's, and a collapsing
    sphere on 12^3 runs as on one device, to round-off."""
    check_self_gravity_split(False)


@pytest.mark.slow
def test_self_gravity_split_gradient_equals_one_device():
    """The checkpointed reverse-mode gradient through the split 2D self-gravitating run equals one device's."""
    check_self_gravity_split(True)


def test_cartesian_hydro_bad_devices():
    from diffphys.hydro import CartesianEulerSolver

    with pytest.raises(ValueError, match="devices must be None or a jax.sharding.Mesh"):
        CartesianEulerSolver((8, 8), devices="gpu")
    with pytest.raises(ValueError, match="devices must be None or a jax.sharding.Mesh with an axis 'x'"):
        CartesianEulerSolver((8, 8), devices=device_mesh(), device_axis="x")


MHD_SPLIT = """
import json
import jax.numpy as jnp, numpy as np
from diffphys.hydro import solve
from diffphys.hydro.mhd import MHDGridState, orszag_tang_problem
from diffphys.parallel import device_mesh

mesh = device_mesh()
res = {}
cases = [("outflow", (16, 16), dict(boundary=("outflow", "periodic")))]
if SLOW:
    cases += [("periodic", (16, 16), dict(reconstruction="characteristic")), ("periodic_3d", (8, 6, 6), {})]
for name, shape, kw in cases:
    s1, st = orszag_tang_problem(16, **kw)
    s4, _ = orszag_tang_problem(16, devices=mesh, **kw)
    if len(shape) == 3:  # a 3D field: the vortex's planes varied along z
        from diffphys.hydro.mhd import MHDGridSolver
        s1, s4 = (MHDGridSolver(shape, devices=d) for d in (None, mesh))
        x, y, z = s1.centers()
        b0 = 1 / np.sqrt(4 * np.pi)
        v = (-np.sin(2 * np.pi * y), np.sin(2 * np.pi * x), 0.3 * np.sin(2 * np.pi * x))
        b = (-b0 * np.sin(2 * np.pi * y), b0 * np.sin(4 * np.pi * x), b0 * np.cos(2 * np.pi * y))
        st = s1.initial_state(1.0 + 0.1 * np.cos(2 * np.pi * z), v, 0.6, b)
    run = lambda s: jax.jit(lambda u: solve(s, MHDGridState(u), None, t_end=0.1, max_steps=400).state.u)
    compiled = run(s4).lower(st.u).compile()
    ref, out, hlo = run(s1)(st.u), compiled(st.u), compiled.as_text()
    grad_rel, grad = 0.0, 1.0
    if SLOW and name == "periodic":
        # on the frozen CFL time grid: the vortex's symmetry makes exact ties in the CFL maximum, which round-off
        # differences of 1e-16 between the layouts break differently (3e-6 in the derivative through dt). Even on
        # the frozen grid this gradient is round-off sensitive with characteristic reconstruction (degenerate MHD
        # eigenvectors at the vortex's symmetric points): under XLA's -O0 + classic emitters (make test's flags)
        # the one-device gradient itself moves by 1.5e-3 (2026-11-28; primitive reconstruction: 1e-15), so this
        # slow check runs under the default compiler (make test-all), where both layouts agree to 1e-13
        loss = lambda s: jax.jit(jax.grad(lambda a: jnp.mean(solve(s, MHDGridState(st.u.at[1].multiply(a)), None,
                                 t_end=0.05, max_steps=200, gradient="checkpoint", dt_gradient=False).state.u[0] ** 2)))
        g1, g4 = float(loss(s1)(1.0)), float(loss(s4)(1.0))
        grad_rel, grad = abs(g4 / g1 - 1), g1
    res[name] = {"max_diff": float(jnp.max(jnp.abs(out - ref))), "spec": str(out.sharding.spec),
                 "div_b": float(jnp.max(jnp.abs(s4.divergence(MHDGridState(out))))),
                 "collectives": {c: hlo.count(c) for c in ("all-to-all", "collective-permute", "all-gather")},
                 "grad_rel": grad_rel, "grad": grad}
print(json.dumps(res))
"""


def check_mhd_split(slow):
    res = run_devices(f"SLOW = {slow}\n" + MHD_SPLIT, timeout=400)
    assert len(res) == (3 if slow else 1)
    for name, r in res.items():
        assert r["max_diff"] <= 1e-13, (name, r)
        assert r["spec"] == "P(None, 'batch')", (name, r)
        assert r["div_b"] <= 1e-12, (name, r)
        assert r["collectives"]["all-to-all"] == 0 and r["collectives"]["collective-permute"] > 0, (name, r)
        assert r["collectives"]["all-gather"] == 0, (name, r)  # halos only; the CFL maximum is an all-reduce
        assert r["grad_rel"] <= 1e-10 and abs(r["grad"]) > 0, (name, r)


def test_mhd_grid_split_over_four_devices_equals_one_device():
    """The Orszag-Tang vortex on 16^2 split into 4 blocks of 4 x-columns (outflow along x): the same numbers as one
    device to round-off, halos by collective-permute only."""
    check_mhd_split(False)


@pytest.mark.slow
def test_mhd_grid_split_periodic_3d_and_gradient_equal_one_device():
    """The same periodic in 2D (characteristic reconstruction) and 3D (8 x 6 x 6 in 4 slabs), and the checkpointed
    reverse-mode gradient through the split 2D run against one device's."""
    check_mhd_split(True)


def test_mhd_grid_bad_devices():
    from diffphys.hydro.mhd import MHDGridSolver

    with pytest.raises(ValueError, match="devices must be None or a jax.sharding.Mesh"):
        MHDGridSolver((8, 8), devices="gpu")
    with pytest.raises(ValueError, match="devices must be None or a jax.sharding.Mesh with an axis 'x'"):
        MHDGridSolver((8, 8), devices=device_mesh(), device_axis="x")


LENSING = """
import json
import jax.numpy as jnp
from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.parallel import device_mesh

c = g.Cosmology().tabulate()
kw = dict(box=128.0, ptcl_grid=8, mesh=16, a_start=0.1, a_stop=1.0, num_steps=6)
one, many = g.PMSolver(**kw), g.PMSolver(**kw, devices=device_mesh())
noise = g.white_noise(jax.random.PRNGKey(0), one.ptcl_grid, jnp.float64)
w = jax.random.normal(jax.random.PRNGKey(1), (12, 12))

def maps(noise, s):
    sol = simulate(s, s.initial_state(noise, c), c, num_steps=s.num_steps, save_every=1)
    pl = g.lens_planes(s, c, sol.snapshots, 1.0, planes_per_box=2, key=jax.random.PRNGKey(2))
    zs = jnp.array([0.5, 1.0])
    return g.born_convergence(pl, c, zs, 4.0, 12), jnp.stack(g.born_shear(pl, c, zs, 4.0, 12)), sol.snapshots

rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
k1, g1, s1 = jax.jit(lambda n: maps(n, one))(noise)
k4, g4, s4 = jax.jit(lambda n: maps(n, many))(noise)
loss = lambda n, s: jnp.sum(maps(n, s)[0][1] * w) + jnp.sum(maps(n, s)[1][0, 1] * w.T)
d1 = jax.jit(jax.grad(lambda n: loss(n, one)))(noise)
d4 = jax.jit(jax.grad(lambda n: loss(n, many)))(noise)
print(json.dumps({"kappa": rel(k4, k1), "shear": rel(g4, g1), "grad": rel(d4, d1),
                  "kappa_scale": float(jnp.max(jnp.abs(k1))), "snap_spec": str(s4.disp.sharding.spec)}))
"""


@pytest.mark.slow
def test_lensing_on_four_devices_equals_one_device():
    """Convergence and shear maps of a PM run whose mesh is split into slabs and whose particles are split over 4
    devices, and their gradient wrt the initial noise, equal the one-device computation to round-off."""
    r = run_devices(LENSING, timeout=300)
    assert r["kappa_scale"] > 1e-4
    assert r["kappa"] <= 1e-10 and r["shear"] <= 1e-10 and r["grad"] <= 1e-10, r
    assert "batch" in r["snap_spec"], r["snap_spec"]
