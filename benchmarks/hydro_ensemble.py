"""Benchmark: one wind run vs a vmapped ensemble of wind runs (diffphys only; CPU or GPU).

    PYTHONPATH=src python benchmarks/hydro_ensemble.py [--sizes 1,8,64] [--n 401]

A single 1D wind run of 401 cells is ~10,000 sequential steps of tiny kernels: on a GPU each step is
launch-bound. An ensemble (a loss landscape, a prior sample, a population of starts) fills the device:
``jax.vmap`` over the wind parameters runs every member in the same kernels. Reports, for each ensemble
size B, the wall time of one jitted call after its compile and the time per member; plus the compile
time and the checkpointed reverse gradient of a single run. Each phase prints as it finishes (device runs
have a time limit). Writes ``hydro_ensemble.json`` (``$DIFFPHYS_BENCH_RESULTS`` or benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _timing import machine, now, results_path  # noqa: E402

from diffphys.hydro import WindParams, solve, wind_problem  # noqa: E402


def timed(f, *args, reps=3):
    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))
    first = time.perf_counter() - t0
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t0)
    return first, float(np.median(ts)), ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,8,64")
    ap.add_argument("--n", type=int, default=401)
    ap.add_argument("--no-grad", action="store_true")
    a = ap.parse_args()
    res = {"machine": machine(), "date": now(), "jax": jax.__version__, "n_cells": a.n, "dtype": "float64",
           "rows": []}
    out = results_path("hydro_ensemble")

    def save():
        out.write_text(json.dumps(res, indent=1) + "\n")

    wp = wind_problem(a.n)
    max_steps = 10500

    def final(v, m):
        return solve(wp.solver, wp.state0, WindParams(v, m), t_end=wp.t_end, max_steps=max_steps).state.u

    one = jax.jit(final)
    first, med, ts = timed(one, wp.params.v_inf, wp.params.mdot)
    res["single"] = {"first_call_s": first, "median_s": med, "times_s": ts}
    print("single run:", res["single"], flush=True)
    save()
    if not a.no_grad:
        ref = one(wp.params.v_inf, wp.params.mdot)[0] * 1.01

        def loss(x):
            s = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=max_steps,
                      gradient="checkpoint", dt_gradient=False)
            return jnp.mean((s.state.u[0] - ref) ** 2)

        x0 = jnp.stack([wp.params.v_inf, wp.params.mdot])
        first, gmed, ts = timed(jax.jit(jax.grad(loss)), x0)
        res["grad_checkpoint"] = {"first_call_s": first, "median_s": gmed, "times_s": ts, "over_forward": gmed / med}
        print("checkpoint gradient:", res["grad_checkpoint"], flush=True)
        save()
    ens = jax.jit(jax.vmap(final))
    for b in [int(s) for s in a.sizes.split(",")]:
        f = jnp.linspace(0.8, 1.2, b) if b > 1 else jnp.ones(1)
        v, m = wp.params.v_inf * f, wp.params.mdot * f[::-1]
        first, med_b, ts = timed(ens, v, m, reps=2)
        row = {"members": b, "first_call_s": first, "median_s": med_b, "per_member_s": med_b / b,
               "per_member_over_single": med_b / b / med, "times_s": ts}
        res["rows"].append(row)
        print("ensemble:", row, flush=True)
        save()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
