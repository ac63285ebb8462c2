"""The README's Python example runs and its check_grad claim holds."""

import re
import subprocess
import sys
from pathlib import Path


def test_readme_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    code += "\nr = check_grad(loss, p)\nassert r.max_rel_err < 1e-6, r\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
