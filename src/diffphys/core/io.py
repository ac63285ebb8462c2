"""Atomic, non-clobbering output: metrics, figures, animations, checkpoints.

Everything is written to a temporary file in the destination folder and renamed into place, so an
interrupted run never leaves a truncated file behind.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_bytes", "write_json", "read_json", "save_figure", "save_gif", "save_pytree",
           "load_pytree", "to_jsonable"]


def atomic_write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(obj):
    """Convert numpy/JAX scalars and arrays (and nested containers) to plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        arr = np.asarray(obj)
        return to_jsonable(arr.tolist()) if arr.ndim else to_jsonable(arr.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (np.floating,)):
        return to_jsonable(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def write_json(path, obj) -> Path:
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def read_json(path):
    return json.loads(Path(path).read_text())


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically and close it."""
    import io

    import matplotlib.pyplot as plt

    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def save_gif(frames, path, fps: int = 10) -> Path:
    """Save a list of HxW or HxWx3 uint8 arrays (or PIL images) as an animated GIF, atomically."""
    import io

    from PIL import Image

    images = [f if isinstance(f, Image.Image) else Image.fromarray(np.asarray(f)) for f in frames]
    if not images:
        raise ValueError("save_gif needs at least one frame")
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, int(1000 / fps)), loop=0)
    return atomic_write_bytes(path, buf.getvalue())


def save_pytree(path, tree) -> Path:
    """Save a pytree of arrays exactly (bitwise) to ``path``, atomically."""
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    payload = {"leaves": [np.asarray(x) for x in leaves], "treedef": str(treedef)}
    return atomic_write_bytes(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def load_pytree(path, like):
    """Load a pytree saved by :func:`save_pytree` into the structure of ``like``."""
    import jax
    import jax.numpy as jnp

    payload = pickle.loads(Path(path).read_bytes())
    leaves, treedef = jax.tree_util.tree_flatten(like)
    if payload["treedef"] != str(treedef) or len(payload["leaves"]) != len(leaves):
        raise ValueError(f"{path} holds a different structure than expected")
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in payload["leaves"]])
