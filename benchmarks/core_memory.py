"""Peak memory of a reverse-mode gradient through N steps, for each gradient strategy.

The system is a chain of 256 nonlinear oscillators (float64 state of 512 numbers), stepped with RK2.
Memory is XLA's compiled temporary-buffer size for ``jit(grad(loss))`` (``memory_analysis``), which is
what the reverse pass needs at its peak besides inputs and outputs; it is deterministic, so it is also
asserted in tests/core/test_memory.py. Timings of one gradient are reported alongside.

    python benchmarks/core_memory.py [--steps 10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from diffphys.core import simulate


class Chain(eqx.Module):
    dt: float = 1e-3

    def step(self, s, p):
        def f(s):
            x, v = s
            lap = jnp.roll(x, 1) + jnp.roll(x, -1) - 2 * x
            return jnp.stack([v, p["c"] * lap - p["w"] * jnp.sin(x)])

        k1 = f(s)
        return s + self.dt * f(s + 0.5 * self.dt * k1)


def grad_fn(strategy, steps):
    def loss(p, s0):
        return jnp.sum(simulate(Chain(), s0, p, num_steps=steps, gradient=strategy).state ** 2)

    return jax.jit(jax.grad(loss))


def measure(strategy, steps, n=256, time_it=True):
    p = {"c": jnp.asarray(1.0), "w": jnp.asarray(0.5)}
    s0 = jnp.stack([jnp.sin(jnp.linspace(0, 6.28, n)), jnp.zeros(n)])
    fn = grad_fn(strategy, steps)
    compiled = fn.lower(p, s0).compile()
    mem = compiled.memory_analysis()
    out = {"strategy": strategy, "steps": steps, "temp_bytes": int(mem.temp_size_in_bytes),
           "state_bytes": int(s0.size * s0.dtype.itemsize)}
    if time_it:
        jax.block_until_ready(compiled(p, s0))
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(p, s0))
        out["grad_s"] = time.perf_counter() - t0
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    rows = [measure(s, args.steps) for s in ("store", "checkpoint", "recursive")]
    store = rows[0]["temp_bytes"]
    print(f"reverse-mode gradient through {args.steps} steps, state {rows[0]['state_bytes']} bytes")
    print(f"{'strategy':<12} {'peak temp MB':>12} {'/ store':>8} {'grad s':>8}")
    for r in rows:
        r["ratio_to_store"] = r["temp_bytes"] / store
        print(f"{r['strategy']:<12} {r['temp_bytes'] / 1e6:>12.2f} {r['ratio_to_store']:>8.4f} {r['grad_s']:>8.3f}")
    res = {"machine": platform.processor() or platform.machine(), "jax": jax.__version__, "rows": rows}
    path = Path(__file__).parent / "results" / "core_memory.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
