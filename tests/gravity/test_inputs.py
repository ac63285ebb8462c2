"""Bad input: a ValueError naming the field and the allowed range, case by case (exit 2 from the CLI)."""

import jax.numpy as jnp
import pytest

from diffphys import gravity as g
from diffphys.cli import main
from diffphys.examples import load, make_config


@pytest.mark.parametrize("kwargs, match", [
    (dict(box=16.0, ptcl_grid=8, mesh=4), r"mesh\[0\] = 4 is smaller than ptcl_grid\[0\] = 8"),
    (dict(box=16.0, ptcl_grid=(8, 8, 8), mesh=(16, 6, 16)), r"mesh\[1\] = 6 is smaller"),
    (dict(box=16.0, ptcl_grid=8, mesh=(16, 16)), r"mesh must be one number or three"),
    (dict(box=16.0, ptcl_grid=8, mesh=(16, 16, 16.5)), r"mesh\[2\] must be an integer"),
    (dict(box=0.0, ptcl_grid=8), r"box\[0\] must be a positive finite length"),
    (dict(box=(10.0, -1.0, 10.0), ptcl_grid=8), r"box\[1\] must be a positive"),
    (dict(box=16.0, ptcl_grid=0), r"ptcl_grid\[0\] must be an integer in \[1, inf\]"),
    (dict(box=16.0, ptcl_grid=8, a_start=1.0, a_stop=0.5), r"a_start must be < a_stop"),
    (dict(box=16.0, ptcl_grid=8, a_start=0.5, a_stop=0.5), r"a_start must be < a_stop"),
    (dict(box=16.0, ptcl_grid=8, a_start=1e-5), r"scale factors must lie in"),
    (dict(box=16.0, ptcl_grid=8, num_steps=0), r"num_steps must be an integer in \[1, inf\]"),
    (dict(box=16.0, ptcl_grid=8, gradient="fd2"), r"gradient must be 'spectral' or 'fd4'"),
])
def test_solver_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        g.PMSolver(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(Omega_m=0.0), r"Omega_m must lie in \(0, 1\]"),
    (dict(Omega_m=1.2), r"Omega_m must lie in \(0, 1\]"),
    (dict(Omega_m=float("nan")), r"Omega_m contains NaN"),
    (dict(sigma8=-0.1), r"sigma8 must lie in \(0, 3\]"),
    (dict(sigma8=5.0), r"sigma8 must lie in \(0, 3\]"),
    (dict(sigma8=None, A_s=None), r"needs sigma8 or A_s"),
    (dict(Omega_b=0.4, Omega_m=0.3), r"Omega_b must be < Omega_m"),
    (dict(h=0.0), r"h must lie in \(0.2, 2\]"),
])
def test_cosmology_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        g.Cosmology(**kwargs)


def test_noise_shape_and_lpt_order_checked():
    s = g.PMSolver(box=16.0, ptcl_grid=4, mesh=8, num_steps=2)
    with pytest.raises(ValueError, match=r"noise must have the particle-grid shape \(4, 4, 4\)"):
        s.initial_state(jnp.zeros((4, 4, 5)), g.Cosmology())
    with pytest.raises(ValueError, match=r"order must be 1 or 2"):
        s.initial_state(jnp.zeros((4, 4, 4)), g.Cosmology(), order=3)
    with pytest.raises(ValueError, match=r"axis must be 0, 1, 2"):
        g.project(s, None, axis=3)


def test_ic_fit_target_errors(tmp_path):
    mod = load("ic-fit")
    with pytest.raises(ValueError, match=r"does not exist"):
        make_config(mod, {"target": str(tmp_path / "missing.png")})
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match=r"cannot be read as an image"):
        make_config(mod, {"target": str(bad)})
    from PIL import Image

    flat = tmp_path / "flat.png"
    Image.new("L", (20, 10), 0).save(flat)
    cfg = make_config(mod, {"target": str(flat)})
    with pytest.raises(ValueError, match=r"empty or uniform"):
        mod.setup(cfg)
    with pytest.raises(ValueError, match=r"projections must be an integer in \[1, 2\]"):
        make_config(mod, {"projections": "3"})
    with pytest.raises(ValueError, match=r"a_start must be < a_stop"):
        make_config(mod, {"a_start": "0.5", "a_stop": "0.2"})
    with pytest.raises(ValueError, match=r"Omega_m must lie in"):
        make_config(mod, {"Omega_m": "1.5"})


def test_cli_exit_code_2_on_bad_input(tmp_path, capsys):
    rc = main(["run", "ic-fit", "--quick", "--set", f"target={tmp_path / 'nope.png'}", "--out", str(tmp_path / "o")])
    assert rc == 2
    rc = main(["run", "nbody", "--quick", "--set", "sigma8=-1", "--out", str(tmp_path / "o2")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sigma8" in err
