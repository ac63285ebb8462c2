"""Benchmark: the wind run's reverse gradient under each tape layout, against its own forward (diffphys only).

    PYTHONPATH=src python benchmarks/hydro_grad_layouts.py [--quick]

The lecture's wind at N=401 (HLLC + MC, MUSCL-Hancock, float64), the loss and derivatives of
``benchmarks/hydro_wind.py`` (frozen CFL time grid). For each layout of the reverse sweep: the gradient's
steady wall time over the forward run's, and the XLA temporary memory of the compiled gradient at 1/8 and
all of the run's step slots (memory that grows sub-linearly with the steps: checkpoint layouts).

Layouts: ``Checkpoint(remat_steps=True)`` (one carry per step of the chunk, each step recomputed before
its transpose: ``hydro.solve``'s ``"checkpoint"`` on a CPU), ``Checkpoint(chunk=c)`` (the chunk's
recomputation keeps every step's intermediates: one recomputation fewer, more memory per chunk),
``Store(remat_steps=True)`` (linear memory, for reference). Each row prints as it finishes and the JSON
(``hydro_grad_layouts.json`` under ``$DIFFPHYS_BENCH_RESULTS`` or benchmarks/results) is rewritten.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _timing import machine, now, results_path, warm_times  # noqa: E402

from diffphys.core import Checkpoint, Store  # noqa: E402
from diffphys.hydro import WindParams, solve, wind_problem  # noqa: E402

MAX_STEPS = 10500
MEMORY_OF = ("checkpoint",)  # the remat_steps layout's memory is in hydro_wind.json (1.8 / 4.7 MB)


def steady(f, *args, reps):
    ts = warm_times(f, *args, reps=reps)
    return float(np.median(ts)), ts


def main(quick=False):
    reps = 3 if quick else 5
    res = {"machine": machine(), "date": now(), "jax": jax.__version__, "n_cells": 401, "rows": []}
    out = results_path("hydro_grad_layouts")
    wp = wind_problem(401)
    fwd = jax.jit(lambda p: solve(wp.solver, wp.state0, p, t_end=wp.t_end, max_steps=MAX_STEPS).state.u)
    res["forward_s"], res["forward_times_s"] = steady(fwd, wp.params, reps=reps + 2)
    print("forward", res["forward_s"], flush=True)
    ref = fwd(wp.params)[0] * 1.01
    x0 = jnp.stack([wp.params.v_inf, wp.params.mdot])

    def grad_fn(layout, steps=MAX_STEPS, t_end=wp.t_end):
        def loss(x):
            s = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=t_end, max_steps=steps,
                      gradient=layout, dt_gradient=False)
            return jnp.mean((s.state.u[0] - ref) ** 2)
        return jax.jit(jax.grad(loss))

    layouts = [("checkpoint_remat_steps", Checkpoint(remat_steps=True)), ("checkpoint", Checkpoint()),
               ("checkpoint_chunk32", Checkpoint(chunk=32)), ("store_remat_steps", Store(remat_steps=True))]
    if quick:
        layouts = layouts[:2]
    g_ref = None
    for name, layout in layouts:
        g = grad_fn(layout)
        t, ts = steady(g, x0, reps=reps)
        val = np.asarray(g(x0))
        g_ref = val if g_ref is None else g_ref
        row = {"layout": name, "repr": repr(layout), "grad_s": t, "times_s": ts,
               "grad_over_forward": t / res["forward_s"],
               "max_rel_diff_vs_first_layout": float(np.max(np.abs(val - g_ref) / np.abs(g_ref)))}
        if name in MEMORY_OF:
            for frac in (0.125, 1.0):
                steps = int(MAX_STEPS * frac)
                ma = grad_fn(layout, steps, wp.t_end * frac).lower(x0).compile().memory_analysis()
                row[f"temp_mb_{steps}_slots"] = None if ma is None else ma.temp_size_in_bytes / 2 ** 20
        res["rows"].append(row)
        print(row, flush=True)
        out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
