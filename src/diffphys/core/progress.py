"""Progress bars for long host-side loops (fitting, sampling, benchmarks)."""

from __future__ import annotations

import os
import sys

__all__ = ["progress_bar"]


def progress_bar(total: int | None = None, desc: str = "", enabled: bool | None = None, **kwargs):
    """A tqdm bar on stderr; ``enabled=None`` shows it only on an interactive terminal.

    Set ``DIFFPHYS_PROGRESS=0`` or ``1`` to force it off or on.
    """
    from tqdm.auto import tqdm

    if enabled is None:
        env = os.environ.get("DIFFPHYS_PROGRESS")
        enabled = (env == "1") if env in ("0", "1") else sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True, **kwargs)
