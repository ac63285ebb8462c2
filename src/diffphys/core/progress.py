"""Progress bars: for host-side loops (fitting, sampling, benchmarks) and for compiled time loops
(``simulate(progress=True)``, fed by ``jax.debug.callback``)."""

from __future__ import annotations

import os
import sys

__all__ = ["progress_bar", "show_progress", "LoopProgress"]


def show_progress() -> bool:
    """Whether a progress bar should show by default: ``DIFFPHYS_PROGRESS=1`` / ``0`` force it on / off,
    else only when stderr is an interactive terminal (the examples pass this to ``simulate(progress=)``)."""
    env = os.environ.get("DIFFPHYS_PROGRESS")
    return (env == "1") if env in ("0", "1") else sys.stderr.isatty()


def progress_bar(total: int | None = None, desc: str = "", enabled: bool | None = None, **kwargs):
    """A tqdm bar on stderr; ``enabled=None`` shows it only on an interactive terminal.

    Set ``DIFFPHYS_PROGRESS=0`` or ``1`` to force it off or on.
    """
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = show_progress()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True, **kwargs)


class LoopProgress:
    """Host side of ``simulate(progress=True)``: a bar per pass of the compiled loop.

    The loop reports ``done`` (steps, or per mille of the run's time) through ``jax.debug.callback``;
    a report below the previous one starts a new bar (a new call of the compiled function, or a
    reverse pass's recomputation of a saved segment); a bar closes when ``done`` reaches ``total``.
    """

    def __init__(self, total: int, desc: str, unit: str):
        self.total, self.desc, self.unit = int(total), desc, unit
        self.bar, self.last = None, -1

    def __call__(self, done):
        import numpy as np

        done = int(np.max(np.asarray(done)))  # vmapped runs report their batch: follow the furthest
        if self.bar is None:
            if 0 <= self.last <= done:  # the end of a finished pass reported again
                self.last = done
                return
            fmt = {} if self.unit == "step" else {  # a fraction of the run's time: no rate, no counts
                "bar_format": "{desc}: {percentage:5.1f}% of t_end |{bar}| {elapsed}<{remaining}"}
            self.bar = progress_bar(total=self.total, desc=self.desc, unit=self.unit,
                                    enabled=os.environ.get("DIFFPHYS_PROGRESS") != "0", **fmt)
        elif done < self.last:  # a new pass
            self.close()
            return self(done)
        self.bar.update(max(0, min(done, self.total) - self.bar.n))
        self.last = done
        if done >= self.total:
            self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
