"""``make new``: a throw-away package from the template passes its own tests; mistakes write nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from paperzoo.core.scaffold import main, scaffold
from paperzoo.core.workspace import declared_papers, workspace_root

ROOT = workspace_root()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    return tmp_path


def test_a_new_package_is_complete_registered_and_passes_its_tests(root):
    folder = scaffold(root, "throwaway", "A Throw-away Paper", "2503.00042", lock=False)
    for name in ("pyproject.toml", "README.md", "configs/tiny.yaml", "configs/gpu.yaml"):
        assert (folder / name).is_file(), name
    for module in ("__init__", "config", "model", "data", "module", "reproduce", "cli"):
        assert (folder / "src/paperzoo/throwaway" / f"{module}.py").is_file(), module
    assert '"packages/throwaway"' in (root / "pyproject.toml").read_text()
    assert [d.name for d in declared_papers(root)] == ["throwaway"]
    for check in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--config", str(ROOT / "pyproject.toml"), str(folder)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert lint.returncode == 0, lint.stdout + lint.stderr
    env = dict(os.environ, PYTHONPATH=str(folder / "src"), OMP_NUM_THREADS="1", PAPERZOO_CACHE=str(root / "cache"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder / "tests"), "-q", "-p", "no:cacheprovider", "-n", "0",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(root)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    assert "failed" not in run.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--name", "vggt2", "--title", "", "--arxiv", "2503.00001"], "TITLE"),
        (["--name", "Bad_Name", "--title", "T", "--arxiv", "2503.00001"], "PAPER: expected"),
        (["--name", "", "--title", "T", "--arxiv", "2503.00001"], "PAPER=<name> is required"),
        (["--name", "fine", "--title", "T", "--arxiv", "25.1"], "ARXIV"),
        (["--name", "taken", "--title", "T", "--arxiv", "2503.00001"], "exists already"),
    ],
)
def test_mistakes_print_one_line_exit_2_and_write_nothing(root, capsys, args, fragment):
    (root / "packages" / "taken").mkdir(parents=True)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    pyproject = (root / "pyproject.toml").read_text()
    assert main(["--root", str(root), "--no-lock", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert fragment in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert (root / "pyproject.toml").read_text() == pyproject


def test_make_new_refuses_a_missing_title_in_one_line():
    run = subprocess.run(
        ["make", "--no-print-directory", "new", "PAPER=zzscratch", "ARXIV=2503.00001"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2
    # make adds its own "*** [Makefile] Error 2" line after the command's one line.
    ours = [line for line in run.stderr.splitlines() if line.startswith("make new:")]
    assert len(ours) == 1
    assert "TITLE" in ours[0]
    assert not (ROOT / "packages" / "zzscratch").exists()
