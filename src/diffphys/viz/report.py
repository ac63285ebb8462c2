"""The demo: run the headline examples quickly and write ``index.html`` showing their figures and metrics."""

from __future__ import annotations

import html
import importlib
import time
from pathlib import Path

from ..core.io import atomic_write_bytes, to_jsonable

__all__ = ["run_demo", "write_index"]


def headline_examples() -> list[str]:
    from .. import examples

    names = []
    for name in examples.available():
        module = importlib.import_module(f"{examples.__name__}.{name.replace('-', '_')}")
        if getattr(module, "HEADLINE", False):
            names.append(name)
    return names


def run_demo(out, overwrite: bool = False) -> dict:
    from .. import examples

    out = Path(out)
    results = {}
    for name in headline_examples():
        t0 = time.perf_counter()
        print(f"demo: running {name} (quick) ...", flush=True)
        if getattr(examples.load(name), "X64", False):  # as `diffphys run NAME` would: float64, for this run only
            import jax

            with jax.enable_x64(True):
                metrics = examples.run_example(name, out / name, quick=True, overwrite=overwrite)
        else:
            metrics = examples.run_example(name, out / name, quick=True, overwrite=overwrite)
        results[name] = {"metrics": metrics, "seconds": time.perf_counter() - t0}
        write_index(out, results)
    return results


def write_index(out, results: dict) -> Path:
    from .. import examples

    out = Path(out)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>diffphys demo</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "img{max-width:100%;border:1px solid #ddd;margin:4px 0}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}h2{margin-top:2em}</style>",
             "</head><body><h1>diffphys demo</h1>",
             "<p>Each headline example, run with <code>--quick</code>. Full runs: "
             "<code>diffphys run NAME</code>.</p>"]
    for name, res in results.items():
        parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(examples.describe(name))} "
                     f"({res['seconds']:.1f} s)</p>")
        parts.append("<table><tr><th>metric</th><th>value</th></tr>")
        for key, value in to_jsonable(res["metrics"]).items():
            if isinstance(value, float):
                value = f"{value:.6g}"
            parts.append(f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(str(value))}</td></tr>")
        parts.append("</table>")
        for img in sorted((out / name).glob("*.png")) + sorted((out / name).glob("*.gif")):
            rel = img.relative_to(out).as_posix()
            parts.append(f"<div><img src='{html.escape(rel)}' alt='{html.escape(img.stem)}'></div>")
    parts.append("</body></html>")
    return atomic_write_bytes(out / "index.html", "\n".join(parts).encode())
