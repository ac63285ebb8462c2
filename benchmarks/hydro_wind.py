"""Benchmark: the lecture's wind bubble, diffphys.hydro vs jf1uids in one process (same N, t_end, CFL).

Run with the bench environment (jf1uids installed):  PYTHONPATH=src <bench-python> benchmarks/hydro_wind.py
Writes benchmarks/results/hydro_wind.json.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from diffphys.hydro import WindParams, solve, wind_problem  # noqa: E402


def steady(f, *args, reps=3):
    out = f(*args)
    jax.block_until_ready(out)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(n=401, memory=True):
    res = {"machine": f"{platform.processor() or platform.machine()} 2-core CPU sandbox (shared)", "date": "2026-11-26",
           "jax": jax.__version__, "n_cells": n}
    wp = wind_problem(n)
    max_steps = 10500
    ours_fwd = jax.jit(lambda p: solve(wp.solver, wp.state0, p, t_end=wp.t_end, max_steps=max_steps).state.u)
    sol = solve(wp.solver, wp.state0, wp.params, t_end=wp.t_end, max_steps=max_steps)
    res["ours_steps"] = int(sol.num_steps)
    res["ours_forward_s"] = steady(ours_fwd, wp.params)
    ref = ours_fwd(wp.params)[0] * 1.0

    def loss(x, gradient="checkpoint", steps=max_steps, t_end=wp.t_end, dt_gradient=True):
        s = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=t_end, max_steps=steps, gradient=gradient,
                  dt_gradient=dt_gradient)
        return jnp.mean((s.state.u[0] - ref * 1.01) ** 2)

    x0 = jnp.stack([wp.params.v_inf, wp.params.mdot])
    # headline: derivatives on the frozen CFL time grid (dt_gradient=False); the full derivative through
    # the step sizes (dt_gradient=True) is reported beside it
    res["gradient_mode"] = 'gradient="checkpoint", dt_gradient=False'
    res["ours_grad_s"] = steady(jax.jit(jax.grad(lambda x: loss(x, dt_gradient=False))), x0)
    res["ours_grad_over_fwd"] = res["ours_grad_s"] / res["ours_forward_s"]
    res["ours_grad_dt_gradient_true_s"] = steady(jax.jit(jax.grad(loss)), x0)

    # memory of the reverse gradient vs number of steps (XLA temp buffer sizes)
    mem = []
    for frac in ((0.125, 0.25, 0.5, 1.0) if memory else ()):
        steps = int(max_steps * frac)
        row = {"max_steps": steps}
        for strat in ("checkpoint", "store"):
            g = jax.jit(jax.grad(lambda x: loss(x, strat, steps, wp.t_end * frac)))
            ma = g.lower(x0).compile().memory_analysis()
            row[f"{strat}_temp_mb"] = ma.temp_size_in_bytes / 2 ** 20
        mem.append(row)
        print(row, flush=True)
    if memory:
        res["memory"] = mem

    try:
        import _jf1uids_wind as J
    except Exception as err:  # noqa: BLE001
        res["jf1uids"] = f"not available: {err}"
    else:
        run, (v, m), meta = J.make(n)
        f = jax.jit(run)
        res["jf1uids_forward_s"] = steady(f, v, m)
        run_b, _, _ = J.make(n, backwards=True, num_checkpoints=100)
        ref_j = run_b(v, m)[0] * 1.01
        gj = jax.jit(jax.grad(lambda x: jnp.mean((run_b(x[0], x[1])[0] - ref_j) ** 2)))
        res["jf1uids_grad_s"] = steady(gj, jnp.asarray([v, m]))
        res["forward_ratio_ours_over_jf1uids"] = res["ours_forward_s"] / res["jf1uids_forward_s"]
        res["grad_ratio_ours_over_jf1uids"] = res["ours_grad_s"] / res["jf1uids_grad_s"]
        res["jf1uids_grad_over_fwd"] = res["jf1uids_grad_s"] / res["jf1uids_forward_s"]
    print(json.dumps(res, indent=1))
    out = Path(__file__).parent / "results" / "hydro_wind.json"
    out.parent.mkdir(exist_ok=True)
    if not memory and out.exists():  # keep the memory table of the last full run
        old = json.loads(out.read_text())
        if "memory" in old:
            res["memory"] = old["memory"]
    out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main(memory="--no-memory" not in sys.argv)
