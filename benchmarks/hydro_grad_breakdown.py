"""Where the reverse gradient of the wind run spends its time (diffphys only, no peer needed).

    PYTHONPATH=src python benchmarks/hydro_grad_breakdown.py

Per step of the N=401 wind problem (MUSCL-Hancock + HLLC + MC, float64, from a mid-run state), inside one
process: the forward step with its CFL step size, and the "tape" of ``Checkpoint(remat_steps=True)`` (the
step's forward recomputed, then its VJP), each over 103 stored states; the XLA kernel (fusion) counts of
both; and the full gradient of the benchmark's loss for several chunk sizes. Writes
benchmarks/results/hydro_grad_breakdown.json.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine, results_path, warm_times  # noqa: E402

from diffphys.core.gradients import Checkpoint  # noqa: E402
from diffphys.hydro import WindParams, solve, wind_problem  # noqa: E402
from diffphys.hydro.state import HydroState  # noqa: E402

K = 103


def best(f, *args, reps=5):
    return min(warm_times(f, *args, reps=reps))


def main():
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "jax": jax.__version__,
           "machine": machine(),
           "load_average_at_start": list(os.getloadavg())}
    wp = wind_problem(401)
    sol, p = wp.solver, wp.params
    mid = solve(sol, wp.state0, p, t_end=0.5 * wp.t_end, max_steps=10500).state.u

    def body(u, q):
        s = HydroState(u)
        return sol.step(s, q, lax.stop_gradient(sol.max_dt(s, q))).u

    states = jax.jit(lambda u: lax.scan(lambda c, _: (body(c, p),) * 2, u, None, length=K)[1])(mid)
    fwd = jax.jit(lambda u: lax.scan(lambda c, _: (body(c, p), None), u, None, length=K)[0])

    def tape(us):
        def one(ct, u):
            _, vjp = jax.vjp(body, u, p)
            cu, cp = vjp(ct)
            return cu + 1e-3 * cp.v_inf, None
        return lax.scan(one, jnp.ones_like(us[0]), us, reverse=True)[0]

    tape = jax.jit(tape)
    rows = []
    for _ in range(2):
        f_us, t_us = best(fwd, mid) / K * 1e6, best(tape, states) / K * 1e6
        rows.append({"forward_step_us": f_us, "tape_step_us": t_us, "tape_over_forward": t_us / f_us})
        print(rows[-1], flush=True)
    res["per_step"] = rows

    def fusions(f, *args):
        return len(re.findall(r"^\s*\S+ = \S+ fusion\(", jax.jit(f).lower(*args).compile().as_text(), re.M))

    def tape1(u, ct):
        _, vjp = jax.vjp(body, u, p)
        return vjp(ct)[0]

    res["kernels_forward_step"] = fusions(lambda u: body(u, p), mid)
    res["kernels_tape_step"] = fusions(tape1, mid, mid)
    print("kernels", res["kernels_forward_step"], res["kernels_tape_step"], flush=True)

    full = jax.jit(lambda q: solve(sol, wp.state0, q, t_end=wp.t_end, max_steps=10500).state.u)
    ref = full(p)[0]
    x0 = jnp.stack([p.v_inf, p.mdot])

    def loss(x, chunk):
        s = solve(sol, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=10500,
                  gradient=Checkpoint(chunk=chunk, remat_steps=True), dt_gradient=False)
        return jnp.mean((s.state.u[0] - ref * 1.01) ** 2)

    chunks = []
    t_fwd = best(full, p, reps=3)
    for c in (26, 103, 206):
        t_g = best(jax.jit(jax.grad(lambda x, c=c: loss(x, c))), x0, reps=3)
        chunks.append({"chunk": c, "grad_s": t_g, "forward_s": t_fwd, "grad_over_forward": t_g / t_fwd})
        print(chunks[-1], flush=True)
    res["chunk_sweep"] = chunks
    res["load_average_at_end"] = list(os.getloadavg())
    out = results_path("hydro_grad_breakdown")
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
