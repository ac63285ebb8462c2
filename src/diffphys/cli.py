"""The ``diffphys`` command line: ``list``, ``run NAME``, ``demo``.

Exit codes: 0 on success, 2 on bad input (one line on stderr saying what was wrong and what is
allowed), 1 on an unexpected failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        print(f"diffphys: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parse_sets(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value; got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _build_parser():
    p = _Parser(prog="diffphys", description="Differentiable physics simulators on JAX.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="names and one-line descriptions of the examples")
    r = sub.add_parser("run", help="run one example")
    r.add_argument("name")
    r.add_argument("--quick", action="store_true", help="reduced size, well under a minute")
    r.add_argument("--out", type=Path, default=None, help="output folder (default out/NAME)")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    r.add_argument("--x64", action="store_true", help="run in float64")
    r.add_argument("--overwrite", action="store_true", help="replace a different earlier run in --out")
    d = sub.add_parser("demo", help="run the headline examples quickly and write an HTML page")
    d.add_argument("--out", type=Path, default=Path("out"))
    d.add_argument("--x64", action="store_true")
    d.add_argument("--overwrite", action="store_true")
    return p


def wants_x64(args) -> bool:
    """float64 for this command: ``--x64``, or ``diffphys run NAME`` of an example that declares ``X64 = True``."""
    if getattr(args, "x64", False):
        return True
    if getattr(args, "command", None) == "run":
        from . import examples

        try:
            return bool(getattr(examples.load(args.name), "X64", False))
        except ValueError:  # unknown example: reported by run_example below
            return False
    return False


def main(argv=None) -> int:
    args = _build_parser().parse_args(argv)
    from . import examples

    if wants_x64(args):
        if not getattr(args, "x64", False):
            print(f"diffphys: {args.name} runs in float64 (the example declares X64)")
        import jax

        jax.config.update("jax_enable_x64", True)  # the application's choice, never the library's
    try:
        if args.command == "list":
            names = examples.available()
            width = max(len(n) for n in names)
            for name in names:
                print(f"{name:<{width}}  {examples.describe(name)}")
            return 0
        if args.command == "run":
            out = args.out or Path("out") / args.name
            metrics = examples.run_example(args.name, out, quick=args.quick, overrides=_parse_sets(args.set),
                                           seed=args.seed, overwrite=args.overwrite)
            from .core.io import to_jsonable

            print(f"{args.name}: wrote {out}/metrics.json")
            for key, value in to_jsonable(metrics).items():
                print(f"  {key} = {value}")
            return 0
        if args.command == "demo":
            from .viz.report import run_demo

            run_demo(args.out, overwrite=args.overwrite)
            print(f"demo: open {args.out}/index.html")
            return 0
    except (ValueError, FileExistsError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"diffphys: {msg}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
