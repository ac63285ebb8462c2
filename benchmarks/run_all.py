"""Run every benchmark script in this folder (each prints its table and writes results/<name>.json).

    python benchmarks/run_all.py [--only PREFIX]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="run only scripts whose name starts with this")
    args = ap.parse_args()
    here = Path(__file__).parent
    failed = []
    for script in sorted(here.glob("*.py")):
        if script.name == "run_all.py" or script.name.startswith("_") or not script.name.startswith(args.only):
            continue
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed:", ", ".join(failed))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
