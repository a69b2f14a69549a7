"""The registry: every package's Paper descriptor, ``paperzoo list`` and ``paperzoo <command> <paper>``."""

from __future__ import annotations

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
