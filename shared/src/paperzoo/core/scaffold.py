"""``make new PAPER=<name> TITLE="..." ARXIV=<id>``: a new paper package from the template.

Writes ``packages/<name>/`` with every standard file (typed configs, model, data, module, reproduce, CLI, tests,
configs, README with its generated blocks), adds the package to the workspace members and re-locks. The new
package passes its tests at once: they train its placeholder model (an MLP against a linear model on XOR) for real.

A mistake (an existing or invalid name, a missing title, a malformed arXiv id) prints one line, exits 2 and
writes nothing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from paperzoo.core.paper import ARXIV, NAME

TEMPLATE = Path(__file__).with_name("scaffold_template")


class ScaffoldError(ValueError):
    """A mistake in the scaffold's arguments."""


def check(root: Path, name: str, title: str, arxiv: str) -> None:
    """Raise :class:`ScaffoldError` with one line when the arguments cannot make a package."""
    if not name:
        raise ScaffoldError("PAPER=<name> is required")
    if not NAME.match(name):
        raise ScaffoldError(f"PAPER: expected 2-31 lowercase letters and digits starting with a letter, got {name!r}")
    if (root / "packages" / name).exists():
        raise ScaffoldError(f"PAPER: packages/{name} exists already")
    if not title.strip():
        raise ScaffoldError('TITLE="..." is required (the paper\'s title)')
    if not ARXIV.match(arxiv):
        raise ScaffoldError(f"ARXIV: expected an identifier like 2503.11651, got {arxiv!r}")
    if not (root / "pyproject.toml").is_file():
        raise ScaffoldError(f"{root}/pyproject.toml: not a workspace root")


def render(name: str, title: str, arxiv: str, target: Path) -> list[Path]:
    """Write the template for ``name`` into ``target`` (created); returns the files written."""
    words = {"@@name@@": name, "@@Name@@": name.capitalize(), "@@title@@": title.replace('"', "'"), "@@arxiv@@": arxiv}
    written = []
    for source in sorted(p for p in TEMPLATE.rglob("*") if p.is_file()):
        relative = str(source.relative_to(TEMPLATE)).replace("__name__", name).removesuffix(".tmpl")
        for key, value in words.items():
            relative = relative.replace(key, value)
        text = source.read_text()
        for key, value in words.items():
            text = text.replace(key, value)
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def add_member(pyproject: Path, name: str) -> None:
    """Add ``packages/<name>`` to ``[tool.uv.workspace] members``, keeping the packages in name order."""
    text = pyproject.read_text()
    match = re.search(r"(members\s*=\s*\[)(.*?)(\])", text, re.S)
    if match is None:
        raise ScaffoldError(f"{pyproject}: no [tool.uv.workspace] members list")
    members = re.findall(r'"([^"]+)"', match.group(2))
    members = sorted(set(members) | {f"packages/{name}"}, key=lambda m: (m.startswith("packages/"), m))
    body = "".join(f'\n    "{m}",' for m in members) + "\n"
    pyproject.write_text(text[: match.start(2)] + body + text[match.end(2) :])


def tidy(root: Path, folder: Path) -> None:
    """Sort the new package's imports and format it with the workspace's ruff settings (the order of
    ``paperzoo.<name>`` among the other ``paperzoo`` imports depends on the name)."""
    ruff = shutil.which("ruff")
    base = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    settings = ["--config", str(root / "pyproject.toml")]
    for command in (["check", "--fix", "--select", "I", "--quiet"], ["format", "--quiet"]):
        subprocess.run([*base, *command, *settings, str(folder)], cwd=root, capture_output=True, timeout=120)


def scaffold(root: str | Path, name: str, title: str, arxiv: str, lock: bool = True) -> Path:
    """Create ``packages/<name>`` under ``root``; returns its folder.

    Raises:
        ScaffoldError: the arguments cannot make a package; nothing was written.
    """
    root = Path(root)
    check(root, name, title, arxiv)
    final = root / "packages" / name
    final.parent.mkdir(exist_ok=True)
    # Render into a temporary folder beside the target first, so a failure leaves no half-made package.
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{name}-") as tmp:
        render(name, title, arxiv, Path(tmp) / name)
        shutil.move(str(Path(tmp) / name), final)
    add_member(root / "pyproject.toml", name)
    tidy(root, final)
    if lock:
        uv = shutil.which("uv")
        command = [uv, "lock"] if uv else [sys.executable, "-m", "uv", "lock"]
        subprocess.run(command, cwd=root, check=True)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make new", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--name", default="")
    parser.add_argument("--title", default="")
    parser.add_argument("--arxiv", default="")
    parser.add_argument("--no-lock", action="store_true", help="do not run `uv lock` afterwards")
    args = parser.parse_args(argv)
    try:
        folder = scaffold(args.root, args.name, args.title, args.arxiv, lock=not args.no_lock)
    except ScaffoldError as err:
        print(f"make new: error: {err}", file=sys.stderr)
        return 2
    print(f"new package in {folder}: `make test PAPER={args.name}` runs its tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
