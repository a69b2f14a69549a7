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
    """Two registered packages with results (one with a failing claim), one without, and a folder that is not a
    package (no paper declared)."""
    for name in ("alpha", "beta", "gamma"):
        pkg = root / "packages" / name
        pkg.mkdir(parents=True)
        (pkg / "pyproject.toml").write_text(f'[project.entry-points."paperzoo.papers"]\n{name} = "x:PAPER"\n')
    (root / "packages" / "notes").mkdir()
    for name, margin in (("alpha", 0.1), ("beta", 5.0)):
        pkg = root / "packages" / name
        (pkg / "README.md").write_text(f"# {name}: a paper\n")
        claim = Claim("c1", "m beats b", metric="accuracy", method="m", baseline="b",
                      per_seed={"m": [0.9, 0.8], "b": [0.5, 0.6]}, margin=margin)  # fmt: skip
        write_outputs(ResultsRecord(name, "arXiv:0000.0000" + name[0], f"paperzoo-{name} reproduce", [0, 1], [claim]),
                      pkg / "results", echo=False)  # fmt: skip


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
    assert "data-package='notes'" not in page
    overview = page.split("<table id='overview'>", 1)[1].split("</table>", 1)[0]
    assert overview.count("class='overview-row'") == 3
    assert "<a href='#pkg-alpha'>alpha</a>" in overview
    assert "1/1" in overview
    assert "0/1" in overview


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
