"""jf1uids' own wind-parameter recovery at N=401, measured on this machine (the peer side of wind-fit).

    PYTHONPATH=src <bench-python> benchmarks/hydro_wind_fit_jf1uids.py [--start K ...] [--n N]

As in jf1uids' wind-parameter notebook: reverse mode with 1000 checkpoints, loss = sum |final primitive
state - reference|, Adam with learning rate 20, stopped when |update| < 0.5 or after 2000 iterations, from
its three starts (1500 km/s, 30 Msun), (3500, 60), (3300, 45) (Mdot = 2.965e-3 M_star / Myr). Each
iteration is one jitted value_and_grad. Reports per start: iterations, wall time (compile excluded),
relative errors of v_inf and Mdot; and the time of the first iteration at which both are within 0.1%.
Merges into benchmarks/results/hydro_wind_fit_jf1uids.json (one entry per start).
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

sys.path.insert(0, str(Path(__file__).parent))

import _jf1uids_wind as J  # noqa: E402
from _timing import machine, now, results_path  # noqa: E402

STARTS = ((1500.0, 30.0), (3500.0, 60.0), (3300.0, 45.0))  # (km/s, M_star in Msun) as in the notebook


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=401)
    ap.add_argument("--max-iter", type=int, default=2000)
    args = ap.parse_args()
    run, (v_true, m_true), meta = J.make(args.n, backwards=True, num_checkpoints=1000)
    ref = jax.jit(run)(v_true, m_true)
    # Mdot per Msun of stellar mass, in jf1uids' code units (the notebook's parametrisation)
    m_per_msun = m_true / 40.0

    @jax.jit
    def value_and_grad(x):
        return jax.value_and_grad(lambda y: jnp.sum(jnp.abs(run(y[0], y[1]) - ref)))(x)

    import optax

    out = results_path("hydro_wind_fit_jf1uids")
    res = json.loads(out.read_text()) if out.exists() else {}
    for k in args.start:
        v0, mstar = STARTS[k]
        x = jnp.asarray([v0, mstar * m_per_msun])
        opt = optax.adam(learning_rate=20.0)
        state = opt.init(x)
        t0 = time.perf_counter()
        jax.block_until_ready(value_and_grad(x))
        compile_s = time.perf_counter() - t0
        t0, first_within, it = time.perf_counter(), None, 0
        for it in range(1, args.max_iter + 1):
            loss, g = value_and_grad(x)
            upd, state = opt.update(g, state)
            x = optax.apply_updates(x, upd)
            ev, em = abs(float(x[0]) / v_true - 1), abs(float(x[1]) / m_true - 1)
            if first_within is None and ev <= 1e-3 and em <= 1e-3:
                first_within = {"iteration": it, "wall_s": time.perf_counter() - t0}
            if it % 10 == 0:
                print(f"start {k} it {it} loss {float(loss):.4g} v_err {ev:.2e} mdot_err {em:.2e} "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
            if float(jnp.linalg.norm(upd)) < 0.5:
                break
        res[f"start_{k}"] = {"start_km_s_msun": [v0, mstar], "iterations": it, "wall_s": time.perf_counter() - t0,
                             "compile_s": compile_s, "v_rel_err": ev, "mdot_rel_err": em,
                             "first_within_0.1pct": first_within, "n_cells": args.n, "date": now(),
                             "machine": machine(), "load_average": list(os.getloadavg())}
        print(json.dumps(res[f"start_{k}"]), flush=True)
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
