"""The registry of papers: each package declares one :class:`Paper` and registers it under the entry-point group
``paperzoo.papers``; the package's console script, ``paperzoo list`` and ``make report`` all start from it.

A package's ``__init__.py``::

    PAPER = Paper(
        name="vggt",
        title="VGGT: Visual Geometry Grounded Transformer",
        arxiv="2503.11651",
        module="paperzoo.vggt.module:VGGTModule",
        datamodule="paperzoo.vggt.data:SceneDataModule",
        commands={"reproduce": "paperzoo.vggt.reproduce:reproduce", "demo": "paperzoo.vggt.demo:demo"},
    )
    main = PAPER.main

and its ``pyproject.toml``::

    [project.scripts]
    paperzoo-vggt = "paperzoo.vggt:main"

    [project.entry-points."paperzoo.papers"]
    vggt = "paperzoo.vggt:PAPER"

Classes and commands are named by import path, so declaring a paper imports nothing heavy.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

GROUP = "paperzoo.papers"
NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
ARXIV = re.compile(r"^\d{4}\.\d{4,5}$")


def load_object(ref: str) -> Any:
    """The object ``"package.module:attr"`` names."""
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Paper:
    """One paper package: what it is, and where its LightningModule, datamodule and commands live."""

    name: str
    """The package name: ``paperzoo.<name>``, ``paperzoo-<name>``, ``packages/<name>``."""
    title: str
    """The paper's title."""
    arxiv: str
    """The arXiv identifier, ``2503.11651``."""
    module: str
    """The LightningModule that ``fit`` trains, as ``"paperzoo.<name>.module:Class"``."""
    datamodule: str | None
    """The LightningDataModule, as an import path, or None when the module builds its own loaders."""
    commands: dict[str, str] = field(default_factory=dict)
    """The package's own commands (at least ``reproduce`` and ``demo``), name to import path of a function."""
    links: dict[str, str] = field(default_factory=dict)
    """Options of fit/validate/test/predict that take their value from another, ``{source: target}``."""
    summary: str = ""
    """The claim ``reproduce`` tests, in one line without numbers (the root README's table)."""

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(
                f"name: expected 2-31 lowercase letters and digits starting with a letter, got {self.name!r}"
            )
        if not ARXIV.match(self.arxiv):
            raise ValueError(f"arxiv: expected an identifier like 2503.11651, got {self.arxiv!r}")
        if "reproduce" not in self.commands:
            raise ValueError(f"commands: paper {self.name!r} declares no 'reproduce' command")

    @property
    def package(self) -> str:
        """The import name, ``paperzoo.<name>``."""
        return f"paperzoo.{self.name}"

    @property
    def full_title(self) -> str:
        """``"<title> (arXiv <id>)"``, as results records name the paper."""
        return f"{self.title} (arXiv {self.arxiv})"

    @property
    def source_dir(self) -> Path:
        """The folder of the import package (``src/paperzoo/<name>`` in a checkout, ``paperzoo/<name>`` in a wheel)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"package {self.package} is not installed")
        return Path(next(iter(spec.submodule_search_locations)))

    def _data_dir(self, name: str) -> Path:
        # A wheel carries configs/ and results/ inside the import package; a checkout keeps them at the root of
        # packages/<name>/, three levels up.
        inside = self.source_dir / name
        return inside if inside.is_dir() else self.source_dir.parents[2] / name

    @property
    def configs_dir(self) -> Path:
        """The folder of ``tiny.yaml`` and ``gpu.yaml``."""
        return self._data_dir("configs")

    @property
    def results_dir(self) -> Path:
        """The folder of the committed ``reproduce`` run."""
        return self._data_dir("results")

    @property
    def root(self) -> Path | None:
        """``packages/<name>`` of a checkout, or None for an installed wheel."""
        root = self.source_dir.parents[2]
        return root if (root / "pyproject.toml").is_file() and (root / "src").is_dir() else None

    def config(self, name: str = "tiny") -> Path:
        """The path of ``configs/<name>.yaml``."""
        return self.configs_dir / f"{name}.yaml"

    def load_module(self) -> type:
        return load_object(self.module)

    def load_datamodule(self) -> type | None:
        return None if self.datamodule is None else load_object(self.datamodule)

    def load_commands(self) -> dict[str, Any]:
        return {name: load_object(ref) for name, ref in self.commands.items()}

    def main(self, args: Sequence[str] | None = None) -> int:
        """Run ``paperzoo-<name>`` with ``args`` (default ``sys.argv[1:]``); returns the exit status."""
        from paperzoo.core.cli import run_cli

        try:
            tiny: Path | None = self.config("tiny")
        except ValueError:  # a paper declared outside an installed package (tests) has no configs folder
            tiny = None
        return run_cli(
            self.name,
            self.load_module(),
            self.load_datamodule(),
            self.load_commands(),
            default_config=tiny,
            args=args,
            links=self.links,
        )

    def script(self) -> None:
        """The console script: :meth:`main`, then exit with its status."""
        sys.exit(self.main())


def papers() -> dict[str, Paper]:
    """Every installed paper, by name, in name order."""
    found: dict[str, Paper] = {}
    for entry in metadata.entry_points(group=GROUP):
        paper = entry.load()
        if not isinstance(paper, Paper):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a paperzoo Paper")
        found[paper.name] = paper
    return dict(sorted(found.items()))


def get_paper(name: str) -> Paper:
    """The installed paper ``name``.

    Raises:
        KeyError: no such paper; the message lists the installed ones.
    """
    found = papers()
    if name not in found:
        raise KeyError(f"no paper {name!r}; installed: {', '.join(found) or 'none'}")
    return found[name]
