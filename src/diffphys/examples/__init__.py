"""Runnable examples, one module each; ``diffphys list`` shows them and ``diffphys run NAME`` runs one.

An example module ``examples/some_name.py`` is the example ``some-name``. It defines

* a module docstring whose first line is the one-line description;
* ``Config``: a dataclass of plain fields (int, float, bool, str) with defaults, optionally with a
  ``validate()`` method that raises ``ValueError`` for values out of range;
* ``QUICK``: a dict of field overrides for ``--quick`` (well under a minute on 2 CPU cores);
* ``run(config, out: pathlib.Path) -> dict``: writes its figures into ``out`` (through
  :mod:`diffphys.core.io`) and returns the metrics (plain numbers), which the runner writes to
  ``out/metrics.json``;
* optionally ``HEADLINE = True`` to be part of ``diffphys demo``;
* optionally ``X64 = True`` when the example needs float64 to mean anything (long runs whose derivatives
  or posteriors drown in float32 round-off): the command line then runs it in float64 as if ``--x64`` were
  given, and says so. The library itself never changes JAX's flags.

Modules are discovered, so adding an example needs no registry edit.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import time
import typing
from pathlib import Path

__all__ = ["available", "load", "make_config", "run_example", "describe"]


def available() -> list[str]:
    """Names of all examples, sorted."""
    names = [m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(names)


def load(name: str):
    if name not in available():
        raise ValueError(f"unknown example {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


def describe(name: str) -> str:
    """The first line of the example's docstring, read without importing the module."""
    import ast

    path = Path(__path__[0]) / (name.replace("-", "_") + ".py")
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _convert(field: dataclasses.Field, hint, raw: str):
    name = field.name
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw.lower() in ("none", "null", ""):
            return None
        hint = args[0]
    if hint is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {name}={raw}: expected a boolean (true/false)")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"--set {name}={raw}: expected an integer") from None
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"--set {name}={raw}: expected a number") from None
    return raw


def make_config(module, overrides: dict[str, str] | None = None, quick: bool = False, seed: int | None = None):
    """Build and validate an example's Config from its defaults, ``QUICK`` and string overrides."""
    cfg_cls = module.Config
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    hints = typing.get_type_hints(cfg_cls)
    values = dict(getattr(module, "QUICK", {})) if quick else {}
    for key, raw in (overrides or {}).items():
        if key not in fields:
            raise ValueError(f"unknown key {key!r} for this example; allowed keys: {', '.join(fields)}")
        values[key] = _convert(fields[key], hints[key], raw)
    if seed is not None:
        if "seed" not in fields:
            raise ValueError("this example takes no --seed")
        values["seed"] = seed
    config = cfg_cls(**values)
    if hasattr(config, "validate"):
        config.validate()
    return config


def run_example(name: str, out, *, quick=False, overrides=None, seed=None, overwrite=False) -> dict:
    """Run one example into ``out``; returns its metrics (also written to ``out/metrics.json``).

    ``out/run.json`` records which example and configuration produced the folder; a folder holding a
    different run's results is refused unless ``overwrite`` is set.
    """
    from ..core.io import read_json, write_json

    module = load(name)
    config = make_config(module, overrides, quick=quick, seed=seed)
    out = Path(out)
    manifest = {"example": name, "config": dataclasses.asdict(config)}
    manifest_path = out / "run.json"
    if manifest_path.exists() and not overwrite:
        try:
            old = read_json(manifest_path)
            same = {k: old.get(k) for k in ("example", "config")} == read_json_roundtrip(manifest)
        except (OSError, ValueError):
            same = False
        if not same:
            raise FileExistsError(f"{out} holds results of a different run ({old.get('example', '?')}); "
                                  f"choose another --out or pass --overwrite")
    elif not manifest_path.exists() and (out / "metrics.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds results of an unknown run; "
                              f"choose another --out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    metrics = module.run(config, out)
    elapsed = time.perf_counter() - t0
    write_json(out / "metrics.json", metrics)
    write_json(manifest_path, {**manifest, "seconds": elapsed})
    return metrics


def read_json_roundtrip(obj):
    import json

    from ..core.io import to_jsonable

    return json.loads(json.dumps(to_jsonable(obj)))
