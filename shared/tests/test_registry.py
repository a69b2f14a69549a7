"""The registry: every package's Paper descriptor, ``paperzoo list`` and ``paperzoo <command> <paper>``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from paperzoo.core import Paper, get_paper, papers
from paperzoo.core.registry import main, status
from paperzoo.core.workspace import declared_papers, workspace_root

ROOT = workspace_root()


def test_the_installed_papers_are_the_declared_ones():
    assert ROOT is not None
    assert list(papers()) == [d.name for d in declared_papers(ROOT)]


def test_list_shows_each_paper_with_its_status(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, paper in papers().items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert paper.arxiv in line
        assert status(paper).label in line


def test_an_unknown_paper_is_one_line_listing_the_papers(capsys):
    assert main(["reproduce", "no-such-paper", "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no paper 'no-such-paper'" in err
    assert all(name in err for name in papers())
    with pytest.raises(KeyError, match="installed"):
        get_paper("no-such-paper")


def test_commands_reach_the_papers_cli(capsys):
    name = next(iter(papers()))
    with pytest.raises(SystemExit) as stop:  # argparse's --help prints and exits 0
        main(["reproduce", name, "--help"])
    assert stop.value.code == 0
    assert f"paperzoo-{name} reproduce" in capsys.readouterr().out


def test_paths_come_from_the_descriptor():
    for paper in papers().values():
        assert paper.config("tiny").is_file()
        assert paper.config("gpu").is_file()
        assert (paper.results_dir / "results.json").is_file()
        assert paper.root == ROOT / "packages" / paper.name


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"name": "Bad-Name"}, "name:"),
        ({"arxiv": "2503"}, "arxiv:"),
        ({"commands": {}}, "reproduce"),
    ],
)
def test_a_malformed_descriptor_is_refused(fields, fragment):
    base = {"name": "ok", "title": "t", "arxiv": "2503.00001", "module": "m:M", "datamodule": None,
            "commands": {"reproduce": "m:r"}}  # fmt: skip
    with pytest.raises(ValueError, match=fragment):
        Paper(**(base | fields))


def test_an_installed_wheel_finds_its_configs_and_results(tmp_path):
    """A wheel carries configs/ and results/ inside the import package, and the descriptor finds them there."""
    uv = shutil.which("uv")
    command = [uv] if uv else [sys.executable, "-m", "uv"]
    built = subprocess.run(
        [*command, "build", "--wheel", "--offline", str(ROOT / "packages" / "grmu"), "-o", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.skip(f"no wheel could be built here: {built.stderr.strip().splitlines()[-1:]}")
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "from paperzoo.grmu import PAPER; "
        "print(PAPER.config('tiny')); print(PAPER.results_dir / 'results.json'); print(PAPER.root)"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    tiny, results, root = out.stdout.strip().splitlines()
    assert tiny == str(site / "paperzoo" / "grmu" / "configs" / "tiny.yaml")
    assert results == str(site / "paperzoo" / "grmu" / "results" / "results.json")
    assert root == "None"
    shipped = site / "paperzoo" / "grmu" / "configs" / "tiny.yaml"
    assert shipped.read_text() == (ROOT / "packages" / "grmu" / "configs" / "tiny.yaml").read_text()
