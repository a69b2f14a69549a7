"""``make report``: the static page has a section per package, and a real browser renders it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from paperzoo.eval import Claim, ResultsRecord, write_outputs
from paperzoo.eval.report import build_report, main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def make_workspace(root: Path) -> None:
    """Two packages with results (one with a failing claim) and one without."""
    for name, margin in (("alpha", 0.1), ("beta", 5.0)):
        pkg = root / "packages" / name
        pkg.mkdir(parents=True)
        (pkg / "README.md").write_text(f"# {name}: a paper\n")
        claim = Claim("c1", "m beats b", "accuracy", "m", "b", {"m": [0.9, 0.8], "b": [0.5, 0.6]}, margin=margin)
        write_outputs(ResultsRecord(name, "arXiv:0000.0000" + name[0], f"paperzoo-{name} reproduce", [0, 1], [claim]),
                      pkg / "results", echo=False)  # fmt: skip
    (root / "packages" / "gamma").mkdir()


def test_report_has_a_section_per_package(tmp_path):
    make_workspace(tmp_path)
    page = build_report(tmp_path, tmp_path / "site").read_text()
    for name in ("alpha", "beta", "gamma"):
        assert f"data-package='{name}'" in page
    assert page.count("class='pass'") == 1
    assert page.count("class='fail'") == 1
    assert "no committed results yet" in page
    assert "paperzoo-alpha reproduce" in page
    assert (tmp_path / "site" / "alpha" / "claim-c1.png").exists()


def test_report_cli_refuses_a_folder_without_packages(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--out", str(tmp_path / "site")]) == 2
    assert "packages is not a folder" in capsys.readouterr().err


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (installed by .ci/run)")
def test_report_renders_in_headless_chromium(tmp_path):
    make_workspace(tmp_path)
    page = build_report(tmp_path, tmp_path / "site")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = page.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("alpha", "beta", "gamma"):
        assert f'data-package="{name}"' in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", url],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists()
    assert shot.stat().st_size > 10_000, "the screenshot is suspiciously small (blank page?)"
