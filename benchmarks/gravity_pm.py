"""Gravity PM benchmark: diffphys.gravity vs JaxPM in one process (pmwd is not on the package index:
its figures below are the issue's reference measurements on this 2-core CPU, not rerun).

Run with the bench venv:  PYTHONPATH=src /work/venvs/gravity-bench/bin/python benchmarks/gravity_pm.py [--quick]
Writes benchmarks/results/gravity_pm.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("DIFFPHYS_PROGRESS", "0")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _timing import machine, now, results_path  # noqa: E402
from diffphys import gravity as g  # noqa: E402
from diffphys.core import simulate  # noqa: E402

PMWD_REF = {  # issue 4, measured on this 2-core CPU with JAX 0.10.2 (not rerun: pmwd is not installable here)
    "lecture": {"forward_s": 0.13, "value_and_grad_s": 0.41, "forward_first_s": 4.1, "value_and_grad_first_s": 14.9,
                "adam_iteration_s": 0.53},
    "64^3 on 128^3": {"forward_s": 8.7, "value_and_grad_s": 32.5},
    "adjoint_peak_memory_MB": {"16": 789, "252": 851},
}


def timeit(fn, *args, repeat=3):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return first, best


def ours(box, ptcl, mesh, steps, repeat, proj_shape=None, gradient="spectral"):
    s = g.PMSolver(box=box, ptcl_grid=ptcl, mesh=mesh, a_start=1 / 64, a_stop=1.0, num_steps=steps,
                   gradient=gradient)
    cosmo = g.Cosmology()
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid)
    shape = proj_shape or (mesh[0], mesh[1])
    target = jnp.asarray(np.random.default_rng(0).random(shape), jnp.float32)

    def loss(noise, gradient="adjoint", n=steps):
        c = cosmo.tabulate()
        st = simulate(s, s.initial_state(noise, c), c, num_steps=n, gradient=gradient).state
        p = g.project(s, st, 2, shape)
        return jnp.var(p - target) / jnp.var(target)

    out = {}
    out["forward_first_s"], out["forward_s"] = timeit(jax.jit(lambda n: loss(n, "store")), noise, repeat=repeat)
    vg = jax.jit(jax.value_and_grad(loss))
    t = time.perf_counter()
    lowered = vg.lower(noise)
    compiled = lowered.compile()
    out["value_and_grad_compile_s"] = time.perf_counter() - t
    out["value_and_grad_first_s"], out["value_and_grad_s"] = timeit(vg, noise, repeat=repeat)
    # per-step cost and the floor of our own FFTs + paint + read-out
    one = jax.jit(lambda n: loss(n, "store", 1))
    _, t1 = timeit(one, noise, repeat=repeat)
    out["per_step_s"] = (out["forward_s"] - t1) / (steps - 1)
    disp = jax.random.normal(jax.random.PRNGKey(1), (s.num_particles, 3)) * 2.0
    counts = s.paint(disp)
    meshes = s.force_operator(counts)
    dk = jnp.fft.rfftn(counts)
    _, t_paint = timeit(jax.jit(s.paint), disp, repeat=20)
    _, t_read = timeit(jax.jit(s.readout), meshes, disp, repeat=20)
    _, t_rfft = timeit(jax.jit(jnp.fft.rfftn), counts, repeat=20)
    _, t_irfft = timeit(jax.jit(lambda d: jnp.fft.irfftn(d, s=s.mesh)), dk, repeat=20)
    out["floor_paint_s"], out["floor_readout_s"] = t_paint, t_read
    n_inv = 3 if gradient == "spectral" else 1   # fd4 differentiates the potential in real space
    out["floor_fft_s"] = t_rfft + n_inv * t_irfft
    out["per_step_floor_s"] = t_paint + t_read + t_rfft + n_inv * t_irfft
    out["gradient"] = gradient
    out["per_step_over_floor"] = out["per_step_s"] / out["per_step_floor_s"]
    del compiled, lowered
    return out


def adjoint_memory(steps_list=(16, 252)):
    box, ptcl, mesh = (160.0, 270.0, 160.0), (16, 27, 16), (32, 54, 32)
    res = {}
    for gradient in ("adjoint", "store", "checkpoint"):
        for n in steps_list:
            s = g.PMSolver(box=box, ptcl_grid=ptcl, mesh=mesh, a_start=1 / 64, a_stop=1.0, num_steps=n)
            cosmo = g.Cosmology()
            noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid)

            def loss(noise, s=s, cosmo=cosmo, n=n, gradient=gradient):
                c = cosmo.tabulate()
                st = simulate(s, s.initial_state(noise, c), c, num_steps=n, gradient=gradient).state
                return jnp.sum(g.project(s, st, 2, (64, 108)) ** 2)

            ma = jax.jit(jax.value_and_grad(loss)).lower(noise).compile().memory_analysis()
            total = ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes
            res[f"{gradient}_{n}_MB"] = total / 2**20
        res[f"{gradient}_ratio_{steps_list[1]}_over_{steps_list[0]}"] = (
            res[f"{gradient}_{steps_list[1]}_MB"] / res[f"{gradient}_{steps_list[0]}_MB"])
    return res


def jaxpm_run(mesh, box, steps, repeat):
    """JaxPM (one particle per mesh cell, as its absolute painting requires): its 2LPT + 63 fixed
    kick-drift-kick steps in a (force cached, one ``pm_forces`` per step, via its ``make_ode_fn``);
    JaxPM has no fixed-step integrator of its own (it uses ODE solvers). Autodiff through lax.scan."""
    import jax_cosmo as jc
    from jaxpm.pm import lpt, make_ode_fn
    from jaxpm.painting import cic_paint

    mesh = tuple(mesh)
    k = jnp.logspace(-4, 1, 128)
    pk = jc.power.linear_matter_power(jc.Planck15(Omega_c=0.25, sigma8=0.8), k)  # own cache: jaxpm's differs
    pk_fn = lambda x: jnp.interp(x.reshape(-1), k, pk).reshape(x.shape)  # noqa: E731
    kvec = [np.fft.fftfreq(n) * 2 * np.pi * n / L for n, L in zip(mesh[:2], box[:2])] + \
           [np.fft.rfftfreq(mesh[2]) * 2 * np.pi * mesh[2] / box[2]]
    kmag = np.sqrt(kvec[0][:, None, None] ** 2 + kvec[1][None, :, None] ** 2 + kvec[2][None, None, :] ** 2)
    amp = jnp.sqrt(pk_fn(jnp.asarray(kmag)) * np.prod(mesh) / np.prod(box))
    particles = jnp.stack(jnp.meshgrid(*[jnp.arange(n, dtype=jnp.float32) for n in mesh], indexing="ij"),
                          axis=-1).reshape(-1, 3)
    ode = make_ode_fn(mesh)
    a_grid = jnp.linspace(1 / 64, 1.0, steps + 1)
    noise = jax.random.normal(jax.random.PRNGKey(0), mesh)
    target = jnp.asarray(np.random.default_rng(0).random(mesh), jnp.float32)

    def loss(noise):
        cosmo = jc.Planck15(Omega_c=0.25, sigma8=0.8)  # fresh: jax_cosmo caches tracers in the object
        ic = jnp.fft.irfftn(jnp.fft.rfftn(noise) * amp, s=mesh)
        dx, p, _ = lpt(cosmo, ic, particles, a=1 / 64, order=2)
        pos = particles + dx

        def step(carry, i):  # kick-drift-kick with the force cached: one JaxPM force per step
            pos, p, dv = carry
            a0, a1 = a_grid[i], a_grid[i + 1]
            ah = 0.5 * (a0 + a1)
            p = p + 0.5 * (a1 - a0) * dv
            pos = pos + (a1 - a0) * p / (ah**3 * jnp.sqrt(jc.background.Esqr(cosmo, ah)))
            _, dv = ode((pos, p), a1, cosmo)
            p = p + 0.5 * (a1 - a0) * dv
            return (pos, p, dv), None

        _, dv0 = ode((pos, p), a_grid[0], cosmo)
        (pos, p, _), _ = jax.lax.scan(step, (pos, p, dv0), jnp.arange(steps))
        field = cic_paint(jnp.zeros(mesh), pos)
        return jnp.var(field - target)

    out = {}
    out["forward_first_s"], out["forward_s"] = timeit(jax.jit(loss), noise, repeat=repeat)
    out["value_and_grad_first_s"], out["value_and_grad_s"] = timeit(jax.jit(jax.value_and_grad(loss)), noise,
                                                                    repeat=repeat)
    out["note"] = f"{int(np.prod(mesh))} particles on a {mesh} mesh; 1 force evaluation per step"
    return out


def _save(res):
    out = results_path("gravity_pm")
    out.write_text(json.dumps(res, indent=2, default=float) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="lecture configuration only")
    ap.add_argument("--skip-jaxpm", action="store_true")
    ap.add_argument("--only-jaxpm", action="store_true")
    ap.add_argument("--large", action="store_true", help="also 128^3 particles on a 256^3 mesh (fd4; for GPUs)")
    args = ap.parse_args()
    res = {"machine": machine(), "jax": jax.__version__, "date": now(),
           "load_average_at_start": os.getloadavg(), "pmwd_reference_not_rerun": PMWD_REF}
    lecture = dict(box=(160.0, 270.0, 160.0), ptcl=(16, 27, 16), mesh=(32, 54, 32), steps=63)
    if args.only_jaxpm:
        old = json.loads((results_path("gravity_pm")).read_text())
        res.update({k: v for k, v in old.items() if "_ours" in k or k == "adjoint_memory"})
    else:
        res["lecture_ours"] = ours(lecture["box"], lecture["ptcl"], lecture["mesh"], 63, repeat=10,
                                   proj_shape=(64, 108))
        print("lecture ours", res["lecture_ours"], flush=True)
        res["lecture_ours_fd4"] = ours(lecture["box"], lecture["ptcl"], lecture["mesh"], 63, repeat=10,
                                       proj_shape=(64, 108), gradient="fd4")
        print("lecture ours fd4", res["lecture_ours_fd4"], flush=True)
        res["adjoint_memory"] = adjoint_memory()
        print("memory", res["adjoint_memory"], flush=True)
        _save(res)
    if not args.skip_jaxpm:
        res["lecture_jaxpm_ptclmesh"] = jaxpm_run((16, 27, 16), lecture["box"], 63, repeat=3)
        print("lecture jaxpm 16x27x16", res["lecture_jaxpm_ptclmesh"], flush=True)
        res["lecture_jaxpm_finemesh"] = jaxpm_run((32, 54, 32), lecture["box"], 63, repeat=3)
        print("lecture jaxpm 32x54x32", res["lecture_jaxpm_finemesh"], flush=True)
        _save(res)
    if not args.quick and not args.only_jaxpm:
        res["big_ours"] = ours((256.0,) * 3, (64,) * 3, (128,) * 3, 63, repeat=1)
        print("64^3 on 128^3 ours", res["big_ours"], flush=True)
        res["big_ours_fd4"] = ours((256.0,) * 3, (64,) * 3, (128,) * 3, 63, repeat=1, gradient="fd4")
        print("64^3 on 128^3 ours fd4", res["big_ours_fd4"], flush=True)
        _save(res)
    if args.large and not args.only_jaxpm:
        res["large_ours_fd4"] = ours((512.0,) * 3, (128,) * 3, (256,) * 3, 63, repeat=2, gradient="fd4")
        print("128^3 on 256^3 ours fd4", res["large_ours_fd4"], flush=True)
        _save(res)
    if not args.quick:
        if not args.skip_jaxpm:
            res["big_jaxpm_64"] = jaxpm_run((64,) * 3, (256.0,) * 3, 63, repeat=1)
            print("jaxpm 64^3 on 64^3", res["big_jaxpm_64"], flush=True)
    for key, ref in (("lecture_ours", "lecture"), ("big_ours", "64^3 on 128^3"),
                     ("lecture_ours_fd4", "lecture"), ("big_ours_fd4", "64^3 on 128^3")):
        if key in res and jax.devices()[0].platform == "cpu":  # pmwd's reference figures are CPU figures
            r = res[key]
            res[key]["forward_over_pmwd_ref"] = r["forward_s"] / PMWD_REF[ref]["forward_s"]
            res[key]["value_and_grad_over_pmwd_ref"] = r["value_and_grad_s"] / PMWD_REF[ref]["value_and_grad_s"]
    res["load_average_at_end"] = os.getloadavg()
    out = results_path("gravity_pm")
    out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
