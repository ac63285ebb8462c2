"""Shared helpers for the benchmark scripts: timing, a description of the machine, where results go."""

import os
import platform
import time
from pathlib import Path


def timeit(fn, reps, sync):
    """Best of 3 of the mean time of ``reps`` calls of ``fn`` (``sync`` blocks on the last result)."""
    best = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            out = fn()
        sync(out)
        best.append((time.perf_counter() - t0) / reps)
    return min(best)


def warm_times(f, *args, reps):
    """Wall times of ``reps`` calls of ``f(*args)``, each blocked on, after one warm-up call (compilation)."""
    import jax

    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t0)
    return ts


def machine():
    """The JAX backend's device (a GPU's name, or the CPU with its core count)."""
    import jax

    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    return f"{dev.device_kind} ({dev.platform}), host {os.cpu_count()} cores"


def now():
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def results_path(name):
    """``benchmarks/results/<name>.json``, or under ``$DIFFPHYS_BENCH_RESULTS`` when that is set (device runs)."""
    base = os.environ.get("DIFFPHYS_BENCH_RESULTS")
    folder = Path(base) if base else Path(__file__).parent / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.json"
