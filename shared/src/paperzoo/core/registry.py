"""``paperzoo``: the papers of the workspace and their status, and any paper's command.

paperzoo list                          every installed paper, its status from its committed results
paperzoo reproduce vggt --seeds 0      the same as ``paperzoo-vggt reproduce --seeds 0``
paperzoo <command> <paper> [options]   any command of that paper (fit, demo, ...)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperzoo.core.paper import Paper, papers


@dataclass(frozen=True)
class Status:
    """A paper's standing, from its committed ``results/results.json``."""

    label: str
    """``reproduced`` (every claim passes), ``partial`` (some fail) or ``no results``."""
    passed: int = 0
    total: int = 0
    seeds: tuple[int, ...] = ()
    wall_time_s: float = 0.0
    commit: str = ""

    @property
    def claims(self) -> str:
        return f"{self.passed}/{self.total}" if self.total else "–"


def status(paper: Paper | Path) -> Status:
    """The status of ``paper`` (or of a results folder)."""
    from paperzoo.eval.results import read_results

    folder = paper.results_dir if isinstance(paper, Paper) else Path(paper)
    if not (folder / "results.json").is_file():
        return Status("no results")
    record = read_results(folder)
    passed = sum(c.passed for c in record.claims)
    label = "reproduced" if passed == len(record.claims) else "partial"
    commit = record.versions.get("git_commit", "")
    return Status(label, passed, len(record.claims), tuple(record.seeds), record.wall_time_s, commit)


def list_papers() -> str:
    """The table ``paperzoo list`` prints."""
    rows = [("paper", "arXiv", "status", "claims", "seeds", "title")]
    for name, paper in papers().items():
        st = status(paper)
        rows.append((name, paper.arxiv, st.label, st.claims, " ".join(map(str, st.seeds)), paper.title))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


USAGE = __doc__.strip().split("\n", 1)[1]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``paperzoo``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage:\n" + USAGE)
        return 0 if args else 2
    if args[0] == "list":
        print(list_papers())
        return 0
    if len(args) < 2:
        print(f"paperzoo: error: '{args[0]}' needs a paper: paperzoo {args[0]} <paper> [options]", file=sys.stderr)
        return 2
    command, name, rest = args[0], args[1], args[2:]
    found = papers()
    if name not in found:
        print(f"paperzoo: error: no paper {name!r}; one of: {', '.join(found)}", file=sys.stderr)
        return 2
    return found[name].main([command, *rest])


if __name__ == "__main__":
    sys.exit(main())
