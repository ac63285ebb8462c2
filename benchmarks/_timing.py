"""Shared timing helper for the benchmark scripts."""

import time


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
