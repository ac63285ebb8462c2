"""The demo's HTML page shows every example's metrics and figures."""

from diffphys.viz.report import headline_examples, write_index


def test_index_lists_metrics_and_images(tmp_path):
    (tmp_path / "projectile").mkdir()
    (tmp_path / "projectile" / "fit.png").write_bytes(b"\x89PNG fake")
    page = write_index(tmp_path, {"projectile": {"metrics": {"g_fit": 9.8123456789, "ok": True}, "seconds": 1.5}})
    html = page.read_text()
    assert "<h2>projectile</h2>" in html
    assert "g_fit" in html and "9.81235" in html
    assert "src='projectile/fit.png'" in html


def test_projectile_is_a_headline_example():
    assert "projectile" in headline_examples()
