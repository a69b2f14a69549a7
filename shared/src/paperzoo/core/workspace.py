"""The papers a workspace declares, read from ``packages/*/pyproject.toml`` without importing anything.

A package registers its :class:`~paperzoo.core.paper.Paper` under the entry-point group ``paperzoo.papers``;
this module reads those declarations with the standard library alone, so the Makefile can list the packages
before any environment exists (``python3 shared/src/paperzoo/core/workspace.py``), and the report, the README
generator and the conformance test see the same list as ``paperzoo list``.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

GROUP = "paperzoo.papers"


@dataclass(frozen=True)
class Declared:
    """One package's registration: its name, folder and the object path of its ``Paper``."""

    name: str
    folder: Path
    target: str


def declared_papers(root: str | Path = ".") -> list[Declared]:
    """Every package under ``root/packages`` that registers a paper, in name order."""
    found = []
    for pyproject in sorted(Path(root).glob("packages/*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        entries = data.get("project", {}).get("entry-points", {}).get(GROUP, {})
        found.extend(Declared(name, pyproject.parent, target) for name, target in entries.items())
    return sorted(found, key=lambda d: d.name)


def workspace_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: this file) holding ``packages/`` and ``shared/``."""
    here = Path(start or __file__).resolve()
    for folder in [here, *here.parents]:
        if (folder / "packages").is_dir() and (folder / "shared").is_dir():
            return folder
    return None


if __name__ == "__main__":
    print(" ".join(d.name for d in declared_papers(sys.argv[1] if len(sys.argv) > 1 else ".")))
