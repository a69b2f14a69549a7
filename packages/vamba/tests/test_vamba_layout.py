"""The package's layout: imports run one way, config <- model <- data <- module <- reproduce <- cli."""

from __future__ import annotations

import ast

from paperzoo.vamba import PAPER

ORDER = ("config", "model", "data", "module", "reproduce", "cli")


def _imported_modules(path) -> set[str]:
    """The ``paperzoo.vamba.<name>`` modules a file imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("paperzoo.vamba."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("paperzoo.vamba.")}
    return found


def test_imports_run_one_way():
    for path in sorted(PAPER.source_dir.glob("*.py")):
        if path.stem not in ORDER:
            continue
        later = set(ORDER[ORDER.index(path.stem) + 1 :])
        backwards = _imported_modules(path) & later
        assert not backwards, f"{path.name} imports {sorted(backwards)}, which come after it"


def test_no_import_cycles():
    """No module (helpers such as ``baselines``, ``convert`` and ``efficiency`` included) imports itself back."""
    imports = {p.stem: _imported_modules(p) for p in PAPER.source_dir.glob("*.py")}

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(m == target or (m not in seen and reaches(m, target, seen | {m})) for m in imports.get(start, ()))

    for name in imports:
        assert not reaches(name, name), f"{name} imports itself through a cycle"
