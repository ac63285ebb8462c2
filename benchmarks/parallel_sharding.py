"""What sharding buys (or costs) here: the wind ensemble and the PM solver with 1, 2 and 4 devices.

Each device count runs in its own process (the count is fixed when JAX starts). On a CPU the devices are
emulated (``--xla_force_host_platform_device_count``) and share the machine's cores, so these are not
multi-device figures: they show the overhead of the partitioned program and whether XLA's per-device
programs use the cores better than one device does. Writes benchmarks/results/parallel_sharding.json.

    PYTHONPATH=src python benchmarks/parallel_sharding.py [--devices 1 2 4] [--ptcl 32] [--steps 10]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from diffphys import gravity as g
from diffphys.core import simulate
from diffphys.examples.wind_fit import make_residuals
from diffphys.parallel import device_mesh, ensemble_sharded, shard_particles
ptcl, steps, grid, cells, reps = (int(a) for a in sys.argv[1:6])

def timed(f, *a):
    jax.block_until_ready(f(*a))
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); jax.block_until_ready(f(*a)); best = min(best, time.perf_counter() - t)
    return best

mesh = device_mesh()
res = {"devices": jax.device_count(), "platform": jax.devices()[0].platform}
final, tt, _, _ = make_residuals(cells, 1.0e4, 2000.0, 0.1186)
vv, mm = np.meshgrid(np.linspace(1000.0, 4000.0, grid), np.linspace(0.0445, 0.2076, grid), indexing="ij")
th = jnp.log(jnp.stack([jnp.asarray(vv.ravel()), jnp.asarray(mm.ravel())], axis=1))
res["wind_batch"] = int(th.shape[0])
res["wind_vmap_s"] = timed(jax.jit(jax.vmap(final)), th)
res["wind_ensemble_s"] = timed(lambda x: ensemble_sharded(final, x, mesh)[0], th)
res["wind_ensemble_map_s"] = timed(lambda x: ensemble_sharded(final, x, mesh, method="map")[0], th)
res["wind_lax_map_s"] = timed(jax.jit(lambda x: jax.lax.map(final, x)), th)
res["wind_single_run_s"] = timed(jax.jit(final), th[-1])

s = g.PMSolver(box=4.0 * ptcl, ptcl_grid=ptcl, mesh=2 * ptcl, a_start=0.1, a_stop=1.0, num_steps=steps)
s_slabs = g.PMSolver(box=4.0 * ptcl, ptcl_grid=ptcl, mesh=2 * ptcl, a_start=0.1, a_stop=1.0, num_steps=steps,
                     devices=mesh)
c = g.Cosmology(sigma8=0.8).tabulate()
noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid, jnp.float32)
def f32(x):
    return jnp.asarray(x, jnp.float32) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x
c32 = jax.tree_util.tree_map(f32, c)
def run(n, shard, solver=s, gradient="store"):
    st = solver.initial_state(n, c32)
    if shard:
        st = shard_particles(st, mesh)
    return simulate(solver, st, c32, num_steps=steps, gradient=gradient).state.disp
def grad(solver, shard):  # the reverse-time adjoint (constant memory in the number of steps)
    return jax.jit(jax.grad(lambda n: jnp.sum(jnp.sin(0.1 * run(n, shard, solver, "adjoint")))))
one, many = jax.jit(lambda n: run(n, False)), jax.jit(lambda n: run(n, True))
slabs = jax.jit(lambda n: run(n, True, s_slabs))
res["pm_particles"] = ptcl ** 3
res["pm_mesh"] = 2 * ptcl
res["pm_steps"] = steps
res["pm_single_s"] = timed(one, noise)
res["pm_sharded_s"] = timed(many, noise)
res["pm_slabs_s"] = timed(slabs, noise)  # particles sharded and the Poisson solve on slabs (devices=mesh)
res["pm_grad_single_s"] = timed(grad(s, False), noise)
res["pm_grad_sharded_s"] = timed(grad(s, True), noise)
res["pm_grad_slabs_s"] = timed(grad(s_slabs, True), noise)
# per-device scratch memory of the compiled run (XLA's buffer assignment)
for key, f in (("single", one), ("sharded", many), ("slabs", slabs)):
    res[f"pm_temp_mb_{key}"] = f.lower(noise).compile().memory_analysis().temp_size_in_bytes / 2**20
# the same with a mesh four times finer than the particle grid (where the mesh dominates the memory):
# per-device scratch of the compiled forward run and of its adjoint gradient, nothing run
res["pm_fine_mesh"] = 4 * ptcl
for key, shard, dev in (("single", False, None), ("sharded", True, None), ("slabs", True, mesh)):
    sf = g.PMSolver(box=4.0 * ptcl, ptcl_grid=ptcl, mesh=4 * ptcl, a_start=0.1, a_stop=1.0, num_steps=steps,
                    devices=dev)
    fwd = jax.jit(lambda n: run(n, shard, sf)).lower(noise).compile().memory_analysis()
    bwd = grad(sf, shard).lower(noise).compile().memory_analysis()
    res[f"pm_fine_temp_mb_{key}"] = fwd.temp_size_in_bytes / 2**20
    res[f"pm_fine_grad_temp_mb_{key}"] = bwd.temp_size_in_bytes / 2**20
ref = one(noise)
res["pm_max_rel_diff"] = float(jnp.max(jnp.abs(ref - many(noise))) / jnp.max(jnp.abs(ref)))
res["pm_slabs_max_rel_diff"] = float(jnp.max(jnp.abs(ref - slabs(noise))) / jnp.max(jnp.abs(ref)))
print(json.dumps(res))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--ptcl", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--grid", type=int, default=6)
    ap.add_argument("--cells", type=int, default=48)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    rows = []
    for n in a.devices:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
               "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        out = subprocess.run([sys.executable, "-c", CHILD, str(a.ptcl), str(a.steps), str(a.grid), str(a.cells),
                              str(a.reps)], env=env, capture_output=True, text=True, timeout=900)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"devices={r['devices']}: wind (batch {r['wind_batch']}) ensemble vmap {r['wind_ensemble_s']:.3f} s, "
              f"map {r['wind_ensemble_map_s']:.3f} s; one device: jit(vmap) {r['wind_vmap_s']:.3f} s, lax.map "
              f"{r['wind_lax_map_s']:.3f} s, one run {r['wind_single_run_s']:.4f} s; PM {r['pm_particles']} particles "
              f"{r['pm_mesh']}^3 mesh {r['pm_steps']} "
              f"steps: sharded {r['pm_sharded_s']:.3f} s, sharded + slab FFTs {r['pm_slabs_s']:.3f} s vs single "
              f"{r['pm_single_s']:.3f} s (max rel diff {r['pm_max_rel_diff']:.1e}, {r['pm_slabs_max_rel_diff']:.1e}); "
              f"gradient {r['pm_grad_sharded_s']:.3f} / {r['pm_grad_slabs_s']:.3f} vs {r['pm_grad_single_s']:.3f} s; "
              f"scratch per device {r['pm_temp_mb_sharded']:.1f} / {r['pm_temp_mb_slabs']:.1f} vs "
              f"{r['pm_temp_mb_single']:.1f} MB; {r['pm_fine_mesh']}^3 mesh: forward "
              f"{r['pm_fine_temp_mb_sharded']:.1f} / {r['pm_fine_temp_mb_slabs']:.1f} vs "
              f"{r['pm_fine_temp_mb_single']:.1f} MB, "
              f"gradient {r['pm_fine_grad_temp_mb_sharded']:.1f} / {r['pm_fine_grad_temp_mb_slabs']:.1f} vs "
              f"{r['pm_fine_grad_temp_mb_single']:.1f} MB", flush=True)
    import jax

    result = {"machine": f"{os.cpu_count()}-core CPU (sandbox), devices emulated", "jax": jax.__version__,
              "args": vars(a), "rows": rows}
    path = ROOT / "benchmarks" / "results" / "parallel_sharding.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
