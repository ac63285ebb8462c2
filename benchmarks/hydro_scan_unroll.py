"""Experiment: unrolling the inner step scans of the wind run's loops (forward and reverse gradient).

    PYTHONPATH=src python benchmarks/hydro_scan_unroll.py [--unroll 1 2 4 8]

The N=401 wind problem (float64) of ``benchmarks/hydro_wind.py``: the forward (``solve``'s default loop) and the
reverse gradient (``gradient="checkpoint"``, ``dt_gradient=False``) with the inner ``lax.scan`` of every chunk
unrolled ``U`` times (``core.gradients._chunked`` patched in this process only). On a GPU each loop iteration
costs a launch and a host round trip of the loop's predicate, which unrolling divides by U. Writes
``hydro_scan_unroll.json`` (``benchmarks/results`` or ``$DIFFPHYS_BENCH_RESULTS``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine, now, results_path, warm_times  # noqa: E402

import diffphys.core.gradients as g  # noqa: E402
from diffphys.hydro import WindParams, solve, wind_problem  # noqa: E402

UNROLL = [1]


def _chunked(body, carry, length, chunk, active=None, wrap=lambda f: f, report=None):
    def inner(k):
        return lambda x: lax.scan(lambda c, _: (body(c), None), x, None, length=k, unroll=min(UNROLL[0], k))[0]
    n, rest = divmod(length, chunk)
    carry = g._scan(g._then_report(g._skip_unless(active, wrap(inner(chunk))), report, False), carry, n)
    if rest:
        carry = g._then_report(g._skip_unless(active, wrap(inner(rest))), report, False)(carry)
    return carry


g._chunked = _chunked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unroll", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    wp = wind_problem(401)
    res = {"machine": machine(), "date_utc": now(), "jax": jax.__version__, "rows": []}
    x0 = jnp.stack([wp.params.v_inf, wp.params.mdot])
    ref = solve(wp.solver, wp.state0, wp.params, t_end=wp.t_end, max_steps=10500).state.u[0] * 1.01

    def loss(x):
        s = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=10500,
                  gradient="checkpoint", dt_gradient=False)
        return jnp.mean((s.state.u[0] - ref) ** 2)

    grad0 = None
    for u in args.unroll:
        UNROLL[0] = u
        fwd = jax.jit(lambda p: solve(wp.solver, wp.state0, p, t_end=wp.t_end, max_steps=10500).state.u)
        grad = jax.jit(jax.grad(loss))
        t0 = time.perf_counter()
        fwd.lower(wp.params).compile()
        grad.lower(x0).compile()
        compile_s = time.perf_counter() - t0
        tf = min(warm_times(fwd, wp.params, reps=args.reps))
        tg = min(warm_times(grad, x0, reps=args.reps))
        gv = grad(x0)
        grad0 = gv if grad0 is None else grad0
        row = {"unroll": u, "forward_s": tf, "grad_s": tg, "grad_over_forward": tg / tf, "compile_s": compile_s,
               "grad_rel_diff_vs_first": float(jnp.max(jnp.abs(gv - grad0) / jnp.abs(grad0)))}
        res["rows"].append(row)
        print(row, flush=True)
        results_path("hydro_scan_unroll").write_text(json.dumps(res, indent=1) + "\n")
    res["load_average_at_end"] = list(os.getloadavg())
    results_path("hydro_scan_unroll").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
