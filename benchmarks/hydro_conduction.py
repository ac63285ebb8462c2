"""What thermal conduction costs in the lecture's wind run (diffphys only: no peer has implicit conduction in a
radial solver; astronomix's is an explicit constant-kappa term of its Cartesian finite-difference scheme, whose
stability limit would need ~2e5 times more steps here, see docs/hydro.md).

    PYTHONPATH=src taskset -c 1 python benchmarks/hydro_conduction.py

N=401, float64, to the lecture's t_end: the forward run and the reverse gradient (``gradient="checkpoint"``) of
the wind benchmark's loss without conduction, with Spitzer conduction, and with saturated Spitzer conduction,
interleaved in one process (best of 5 after a warm-up); the substep alone per call. Writes
benchmarks/results/hydro_conduction.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine, results_path, warm_times  # noqa: E402

from diffphys.hydro import Conduction, WindParams, solve, wind_problem  # noqa: E402


def main():
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "jax": jax.__version__,
           "machine": machine(), "load_average_at_start": list(os.getloadavg()), "runs": {}}
    variants = {"none": None, "spitzer": Conduction.spitzer(), "spitzer_saturated": Conduction.spitzer(saturation=1.0)}
    fns = {}
    for name, cond in variants.items():
        wp = wind_problem(401, conduction=cond)

        def run(x, wp=wp, gradient="checkpoint"):
            sol = solve(wp.solver, wp.state0, WindParams(x[0], x[1]), t_end=wp.t_end, max_steps=12_000,
                        gradient=gradient)
            return jnp.mean(sol.state.u[0] ** 2) + jnp.mean(sol.state.u[2]), sol.num_steps

        x = jnp.stack([wp.params.v_inf, wp.params.mdot])
        fwd = jax.jit(lambda x, run=run: run(x)[0])
        grad = jax.jit(jax.grad(lambda x, run=run: run(x)[0]))
        steps = int(jax.jit(lambda x, run=run: run(x)[1])(x))
        fns[name] = (fwd, grad, x, steps)
    times = {name: {"forward": [], "gradient": []} for name in variants}
    for _ in range(5):  # interleaved rounds
        for name, (fwd, grad, x, _) in fns.items():
            times[name]["forward"] += warm_times(fwd, x, reps=1)
            times[name]["gradient"] += warm_times(grad, x, reps=1)
    base = min(times["none"]["forward"])
    for name, (_, _, _, steps) in fns.items():
        f, g = min(times[name]["forward"]), min(times[name]["gradient"])
        res["runs"][name] = {"steps": steps, "forward_s": f, "gradient_s": g, "gradient_over_forward": g / f,
                             "forward_over_no_conduction": f / base}
        print(f"{name:18s} {steps:6d} steps  forward {f:.3f} s ({f / base:.2f}x)  gradient {g:.3f} s "
              f"({g / f:.2f}x its forward)")
    path = results_path("hydro_conduction")
    path.write_text(json.dumps(res, indent=2))
    print("wrote", path)


if __name__ == "__main__":
    main()
