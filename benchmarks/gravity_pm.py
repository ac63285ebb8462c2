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
    out.update(per_step_vs_floor(s, cosmo, noise, steps, gradient, rounds=7 if repeat > 1 else 5))
    del compiled, lowered
    return out


def per_step_vs_floor(s, cosmo, noise, steps, gradient, rounds=7):
    """Per-step time against the floor of our own FFTs + CIC paint + CIC read-out (3 channels) at the same
    sizes. Everything is measured in interleaved rounds (the median over rounds is reported, min and max
    beside it), so that a quiet or a busy moment of a shared machine falls on both sides of the ratio:

    - per step = (t(``steps`` steps) - t(1 step)) / (``steps`` - 1), each a jitted ``simulate`` call;
    - floor "alone": paint, read-out, rfft and (1 or 3) irfft, each timed as its own jitted call, the mean of
      10 consecutive calls on the same input (hot caches: the lowest floor);
    - floor "chained": the same operations chained in a ``fori_loop`` (paint -> rfft -> irfft(s) -> read-out
      -> positions), per iteration like the step, so that each stage streams the previous stage's output;
    - for continuity with the first runs, also the minimum over 20 calls of each piece alone (the old figure,
      which set a single 63-step run against each piece's luckiest call).
    """
    c = cosmo.tabulate()
    n_inv = 3 if gradient == "spectral" else 1   # fd4 differentiates the potential in real space
    st0 = jax.jit(lambda n: s.initial_state(n, c))(noise)
    f_all = jax.jit(lambda st: simulate(s, st, c, num_steps=steps, gradient="store").state)
    f_one = jax.jit(lambda st: simulate(s, st, c, num_steps=1, gradient="store").state)
    disp = jax.random.normal(jax.random.PRNGKey(1), (s.num_particles, 3)) * 2.0
    counts = s.paint(disp)
    meshes = s.force_operator(counts)
    dk = jnp.fft.rfftn(counts)
    pieces = {"paint": (jax.jit(s.paint), (disp,)), "readout": (jax.jit(s.readout), (meshes, disp)),
              "rfft": (jax.jit(jnp.fft.rfftn), (counts,)),
              "irfft": (jax.jit(lambda d: jnp.fft.irfftn(d, s=s.mesh)), (dk,))}

    def floor_body(d):
        k = jnp.fft.rfftn(s.paint(d))
        ms = [jnp.fft.irfftn(k * (j + 1.0), s=s.mesh) for j in range(n_inv)]
        m3 = jnp.stack(ms, -1) if n_inv == 3 else jnp.broadcast_to(ms[0][..., None], s.mesh + (3,))
        return d + 1e-6 * s.readout(m3, d)

    loop_n, loop_1 = (jax.jit(lambda d, n=n: jax.lax.fori_loop(0, n, lambda i, x: floor_body(x), d))
                      for n in (steps, 1))

    def mean_time(f, *args, n=1):
        t = time.perf_counter()
        for _ in range(n):
            r = f(*args)
        jax.block_until_ready(r)
        return (time.perf_counter() - t) / n

    for f, args in [(f_all, (st0,)), (f_one, (st0,)), (loop_n, (disp,)), (loop_1, (disp,))] + list(pieces.values()):
        mean_time(f, *args)   # compile and warm up
    rows = []
    for _ in range(rounds):
        per_step = (mean_time(f_all, st0) - mean_time(f_one, st0, n=3)) / (steps - 1)
        alone = {k: mean_time(f, *a, n=10) for k, (f, a) in pieces.items()}
        floor_alone = alone["paint"] + alone["readout"] + alone["rfft"] + n_inv * alone["irfft"]
        chained = (mean_time(loop_n, disp) - mean_time(loop_1, disp, n=3)) / (steps - 1)
        rows.append(dict(per_step_s=per_step, floor_alone_s=floor_alone, floor_chained_s=chained,
                         over_alone=per_step / floor_alone, over_chained=per_step / chained,
                         **{f"{k}_s": v for k, v in alone.items()}))
    mins = {k: min(mean_time(f, *a) for _ in range(20)) for k, (f, a) in pieces.items()}
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    old_floor = mins["paint"] + mins["readout"] + mins["rfft"] + n_inv * mins["irfft"]
    return {"per_step_s": med["per_step_s"],
            "per_step_floor_s": med["floor_alone_s"], "per_step_over_floor": med["over_alone"],
            "per_step_over_floor_range": [min(r["over_alone"] for r in rows), max(r["over_alone"] for r in rows)],
            "floor_chained_s": med["floor_chained_s"], "per_step_over_floor_chained": med["over_chained"],
            "per_step_over_floor_chained_range": [min(r["over_chained"] for r in rows),
                                                  max(r["over_chained"] for r in rows)],
            "floor_paint_s": med["paint_s"], "floor_readout_s": med["readout_s"],
            "floor_fft_s": med["rfft_s"] + n_inv * med["irfft_s"], "gradient": gradient, "rounds": len(rows),
            "floor_min_of_20_s": old_floor, "per_step_over_floor_min_of_20": med["per_step_s"] / old_floor}


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
        res["big_ours"] = ours((256.0,) * 3, (64,) * 3, (128,) * 3, 63, repeat=3)
        print("64^3 on 128^3 ours", res["big_ours"], flush=True)
        res["big_ours_fd4"] = ours((256.0,) * 3, (64,) * 3, (128,) * 3, 63, repeat=3, gradient="fd4")
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
