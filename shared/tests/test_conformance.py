"""Every registered package has the standard shape: files, README sections, configs that build, one-way imports."""

from __future__ import annotations

import ast
import re
import types

import pytest
import torch

from paperzoo.core import checked_config, get_paper
from paperzoo.core.workspace import declared_papers, workspace_root
from paperzoo.eval.readme import main as readme_main

ROOT = workspace_root()
NAMES = [d.name for d in declared_papers(ROOT)]
STANDARD = ("config", "model", "data", "module", "reproduce")
# A module may import only the standard modules to its left: config <- model <- data <- module <- experiment/reproduce
# <- cli.
RANK = {"config": 0, "model": 1, "data": 2, "module": 3, "experiment": 4, "reproduce": 5, "cli": 6}
SECTIONS = ("## The paper", "## Where each idea lives", "## Deviations", "## Findings")


def package_imports(path, name: str) -> set[str]:
    """The modules of ``paperzoo.<name>`` that the file imports (anywhere in it, lazy imports included)."""
    found = set()
    prefix = f"paperzoo.{name}"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            rest = node.module[len(prefix) :].lstrip(".")
            if rest:
                found.add(rest.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(prefix + "."):
                    found.add(alias.name[len(prefix) + 1 :].split(".")[0])
    return found


@pytest.mark.parametrize("name", NAMES)
def test_required_files(name):
    folder = ROOT / "packages" / name
    required = ["pyproject.toml", "README.md", "configs/tiny.yaml", "configs/gpu.yaml", "results/results.json"]
    required += [f"src/paperzoo/{name}/{m}.py" for m in ("__init__", *STANDARD)]
    missing = [r for r in required if not (folder / r).is_file()]
    assert not missing, f"{name}: missing {missing}"
    assert list((folder / "tests").glob("test_*.py")), f"{name}: no tests"


@pytest.mark.parametrize("name", NAMES)
def test_readme_sections_in_order(name):
    text = (ROOT / "packages" / name / "README.md").read_text()
    assert text.startswith(f"# {name}: ")
    order = ["<!-- paperzoo:verdict:start -->", "<!-- paperzoo:results:start -->", *SECTIONS]
    lines = text.splitlines()
    positions = [lines.index(marker) if marker in lines else -1 for marker in order]
    assert -1 not in positions, f"{name}: missing {[m for m, p in zip(order, positions) if p < 0]}"
    assert positions == sorted(positions), f"{name}: README sections out of order"


@pytest.mark.parametrize("name", NAMES)
def test_no_spec_section_is_cited_in_code(name):
    for path in (ROOT / "packages" / name / "src").rglob("*.py"):
        assert not re.search(r"spec\s*§|§\s*\d", path.read_text()), f"{path} cites a spec section"


@pytest.mark.parametrize("name", NAMES)
def test_imports_run_one_way(name):
    src = ROOT / "packages" / name / "src" / "paperzoo" / name
    assert package_imports(src / "__init__.py", name) == set(), "__init__ declares the Paper and imports nothing"
    graph = {path.stem: package_imports(path, name) - {path.stem} for path in src.glob("*.py")}
    for module, imported in graph.items():
        if module in RANK:
            backwards = {m for m in imported if m in RANK and RANK[m] >= RANK[module]}
            assert not backwards, f"{name}.{module} imports {sorted(backwards)}, which come after it"

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph.get(start, ())
        )

    cycles = sorted(m for m in graph if reaches(m, m, {m}))
    assert not cycles, f"{name}: import cycle through {cycles}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("config", ["tiny", "gpu"])
def test_configs_parse_and_build(name, config):
    paper = get_paper(name)
    resolved = checked_config(paper.main, paper.config(config), links=paper.links)
    module_class = paper.load_module()
    # Built on the meta device: no memory, so gpu.yaml's paper-scale model builds on any machine.
    with torch.device("meta"):
        module = module_class(**resolved["model"])
        if not any(True for _ in module.parameters()):
            # A module that sizes its model from the data (a vocabulary) builds it in setup(), from the datamodule.
            datamodule = paper.load_datamodule()(**resolved["data"])
            module.trainer = types.SimpleNamespace(datamodule=datamodule)
            module.setup("fit")
    assert sum(p.numel() for p in module.parameters()) > 0


def test_readmes_are_generated_from_the_committed_results(capsys):
    status = readme_main(["--root", str(ROOT), "--check"])
    assert status == 0, capsys.readouterr().err
