"""The command line: listing, bad input (exit 2, one line), atomic and non-clobbering output."""

import json
import os
import subprocess
import sys

import pytest

from diffphys import cli, examples


def run_cli(*args, cwd=None):
    env = {**os.environ, "DIFFPHYS_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "diffphys.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_list_shows_every_example_with_description(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in examples.available():
        assert name in out
    assert "projectile" in out and "Projectile" in out


@pytest.mark.parametrize("argv, fragment", [
    (["run", "no-such-example"], "available:"),
    (["run", "projectile", "--set", "bogus=1"], "allowed keys"),
    (["run", "projectile", "--set", "fit_steps=abc"], "expected an integer"),
    (["run", "projectile", "--set", "noise=-1"], "noise must be > 0"),
    (["run", "projectile", "--set", "dt=0.5"], "dt must lie in"),
    (["run", "projectile", "--set", "noequals"], "key=value"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(argv, fragment, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        code = cli.main(argv + (["--out", str(tmp_path / "o")] if argv[0] == "run" else []))
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_refuses_to_overwrite_a_different_run(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"example": "sod", "config": {"n_cells": 100}}))
    (out / "metrics.json").write_text("{}")
    code = cli.main(["run", "projectile", "--quick", "--out", str(out)])
    assert code == 2
    assert "different run" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == "{}"


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from diffphys.core import io

    target = tmp_path / "m.json"
    io.write_json(target, {"a": 1})

    class Boom(Exception):
        pass

    def failing_replace(src, dst):
        raise Boom

    monkeypatch.setattr(io.os, "replace", failing_replace)
    with pytest.raises(Boom):
        io.write_json(target, {"a": 2, "b": list(range(1000))})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # temporary file removed


def test_non_finite_metrics_are_rejected_not_written_as_nan(tmp_path):
    from diffphys.core import io

    io.write_json(tmp_path / "m.json", {"x": float("nan")})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": None}


def test_examples_that_need_float64_get_it_from_the_command_line():
    """``X64 = True`` examples run in float64 without ``--x64`` (the CLI sets the flag, never the library)."""
    parse = cli._build_parser().parse_args
    assert examples.load("wind-posterior").X64 and examples.load("wind-fit").X64
    assert cli.wants_x64(parse(["run", "wind-posterior", "--quick"]))
    assert cli.wants_x64(parse(["run", "wind-fit"]))
    assert not cli.wants_x64(parse(["run", "sod"]))
    assert cli.wants_x64(parse(["run", "sod", "--x64"]))
    assert not cli.wants_x64(parse(["run", "no-such-example"]))
    assert not cli.wants_x64(parse(["list"]))
