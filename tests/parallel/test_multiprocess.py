"""diffphys.parallel across several processes: JAX's multi-controller mode, as on several hosts.

Two Python processes on this machine, each with one CPU device, join one JAX runtime with
``jax.distributed.initialize`` (CPU collectives over gloo, set in the subprocesses only) and run the same
script, as every host of a cluster would. The truth is the same computation on one local device.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

SCRIPT = """
import json, os, sys
pid, port = int(sys.argv[1]), sys.argv[2]
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.config.update("jax_enable_x64", True)
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
import jax.numpy as jnp, numpy as np
from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.parallel import device_mesh, ensemble, ensemble_sharded, gather

out = {"pid": pid, "processes": jax.process_count(), "devices": jax.device_count(),
       "local": jax.local_device_count()}
mesh = device_mesh()
local = jax.local_devices()[0]

# an ensemble of 7 parameter sets over the devices of both processes (padded to 8)
def fn(p):
    x = jnp.linspace(0.0, 1.0, 16)
    return {"y": jnp.sin(p[0] * x) * jnp.exp(-p[1] * x), "s": jnp.sum(p ** 2)}
params = jnp.stack([jnp.linspace(0.5, 3.0, 7), jnp.linspace(0.1, 0.6, 7)], axis=1)
with jax.default_device(local):
    ref = jax.jit(jax.vmap(fn))(params)
for method in ("vmap", "map"):
    res = ensemble(fn, params, mesh, method=method)
    out[f"ens_{method}"] = max(float(jnp.max(jnp.abs(res[k] - ref[k]))) for k in ref)
sharded, batch = ensemble_sharded(fn, params, mesh)
out["ens_addressable"] = bool(sharded["y"].is_fully_addressable)
out["ens_local_rows"] = sorted(s.index[0].start for s in sharded["y"].addressable_shards)

# the PM solver with the mesh and the particles split over both processes (slab FFTs across processes)
kw = dict(box=32.0, ptcl_grid=8, mesh=16, a_start=0.1, a_stop=1.0, num_steps=4)
s0, s1 = g.PMSolver(**kw), g.PMSolver(**kw, devices=mesh)
c = g.Cosmology(sigma8=0.8).tabulate()
noise = np.asarray(g.white_noise(jax.random.PRNGKey(0), s0.ptcl_grid, jnp.float64))

def run(s, n):
    return simulate(s, s.initial_state(n, c), c, num_steps=4).state.disp

def loss(s, n):
    st = simulate(s, s.initial_state(n, c), c, num_steps=4, gradient="adjoint").state
    return jnp.sum(jnp.sin(0.3 * st.disp) * st.mom)

with jax.default_device(local):
    d0 = jax.jit(lambda n: run(s0, n))(noise)
    g0 = jax.jit(jax.grad(lambda n: loss(s0, n)))(noise)
d1 = jax.jit(lambda n: run(s1, n))(noise)
g1 = jax.jit(jax.grad(lambda n: loss(s1, n)))(noise)
out["pm_addressable"] = bool(d1.is_fully_addressable)
out["pm_local_particles"] = sum(s.data.shape[0] for s in d1.addressable_shards)
d1, g1 = gather(d1), gather(g1)
rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
out["pm_disp"], out["pm_grad"] = rel(d1, d0), rel(g1, g0)
print(json.dumps(out), flush=True)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_ensemble_and_slab_pm_equal_one_device():
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1 " + os.environ.get("DIFFPHYS_TEST_XLA_FLAGS", "")
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    port = str(_free_port())
    code = textwrap.dedent(SCRIPT)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i), port], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=240)
            assert p.returncode == 0, f"process failed:\n{stderr[-4000:]}"
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r in results:
        assert (r["processes"], r["devices"], r["local"]) == (2, 2, 1)
        # ensembles: each process holds half of the (padded) batch, every process gets all results back
        assert r["ens_vmap"] <= 1e-14 and r["ens_map"] <= 1e-14
        assert not r["ens_addressable"] and len(r["ens_local_rows"]) == 1
        # PM: half of the 512 particles live on each process; run and adjoint gradient equal one device's
        assert not r["pm_addressable"] and r["pm_local_particles"] == 256
        assert r["pm_disp"] <= 1e-10 and r["pm_grad"] <= 1e-10
    assert sorted(results[0]["ens_local_rows"] + results[1]["ens_local_rows"]) == [0, 4]
