"""``make readme``: the generated parts of the READMEs, from the committed results.

Each package README opens with two generated blocks, the verdict (claims passed, seeds, wall time, the commit
that produced the results, and the three commands) and the results (the claims table and the run's extra
tables); the root README holds the status table of every paper. Each block sits between markers::

    <!-- paperzoo:results:start -->
    ...generated...
    <!-- paperzoo:results:end -->

Usage: ``python -m paperzoo.eval.readme [--root .] [--check]``; ``--check`` changes nothing and exits 1 when
a README is stale (a test runs it).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from paperzoo.core.paper import Paper, load_object
from paperzoo.core.workspace import declared_papers
from paperzoo.eval.results import ResultsRecord, markdown_table, read_results

PLANNED = Path(__file__).with_name("planned_papers.toml")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- paperzoo:{name}:start -->", f"<!-- paperzoo:{name}:end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block ``name`` replaced by ``body``.

    Raises:
        ValueError: the markers are missing, repeated or out of order.
    """
    start, end = _markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"expected one '{start}' ... '{end}' block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def _commit(record: ResultsRecord) -> str:
    commit = record.versions.get("git_commit", "")
    if not commit:
        return "commit not recorded"
    short = commit[:7] + (" with uncommitted changes" if commit.endswith("+modified") else "")
    return f"commit {short}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def verdict_block(paper: Paper, record: ResultsRecord | None) -> str:
    """The verdict line and the three commands."""
    name = paper.name
    if record is None:
        verdict = "**No results yet**: `reproduce` has not been run and committed for this package."
    else:
        passed = sum(c.passed for c in record.claims)
        failed = [c.id for c in record.claims if not c.passed]
        state = "reproduced" if not failed else "partial"
        verdict = (
            f"**{state}: {passed}/{len(record.claims)} claims pass** on seeds "
            f"{', '.join(map(str, record.seeds))} ({_minutes(record.wall_time_s)} wall time, {_commit(record)}, "
            f"`{record.command}`)."
        )
        if failed:
            verdict += " Failing: " + ", ".join(f"`{c}`" for c in failed) + "; the Findings section says why."
    return (
        f"{verdict}\n\n"
        "```bash\n"
        f"make train PAPER={name}                           # tiny training run on the CPU (configs/tiny.yaml)\n"
        f'make reproduce PAPER={name} ARGS="--seeds 0 1 2"  # the acceptance experiment, written to results/\n'
        f"make test PAPER={name}                            # the package's tests\n"
        "```"
    )


def results_block(record: ResultsRecord | None, results_dir: Path) -> str:
    """The claims table and the run's extra sections (from ``results.md``), headings nested under the README's."""
    if record is None:
        return "_No committed results._"
    body = f"### Results\n\n{markdown_table(record)}"
    md = results_dir / "results.md"
    if md.is_file():
        extra = md.read_text().split("\n## ", 1)
        if len(extra) == 2:
            body += "\n\n#### " + extra[1].replace("\n## ", "\n#### ").strip()
    return body


@dataclass
class Row:
    """One paper of the root table."""

    name: str
    title: str
    arxiv: str
    summary: str
    record: ResultsRecord | None = None
    landed: bool = False


def _record(results_dir: Path) -> ResultsRecord | None:
    return read_results(results_dir) if (results_dir / "results.json").is_file() else None


def rows(root: Path) -> list[Row]:
    """Every paper: the registered packages (from their descriptors and results) and the planned ones."""
    out = {}
    for entry in tomllib.loads(PLANNED.read_text())["paper"]:
        out[entry["name"]] = Row(entry["name"], entry["title"], entry["arxiv"], entry["summary"])
    for declared in declared_papers(root):
        paper = load_object(declared.target)
        out[paper.name] = Row(
            paper.name, paper.title, paper.arxiv, paper.summary, _record(declared.folder / "results"), landed=True
        )
    return [out[k] for k in sorted(out)]


def status_table(root: Path) -> str:
    """The root README's table of papers."""
    lines = [
        "| package | paper | arXiv | status | claims | wall time | the claim `reproduce` tests |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows(root):
        name = f"[{row.name}](packages/{row.name}/README.md)" if row.landed else row.name
        if not row.landed:
            status, claims, wall = "not started", "–", "–"
        elif row.record is None:
            status, claims, wall = "no results", "–", "–"
        else:
            passed = sum(c.passed for c in row.record.claims)
            total = len(row.record.claims)
            status = "reproduced" if passed == total else "partial"
            claims, wall = f"{passed}/{total}", _minutes(row.record.wall_time_s)
        cells = [name, row.title, row.arxiv, status, claims, wall, row.summary]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def render(root: str | Path = ".") -> dict[Path, str]:
    """Every README with its generated blocks as they should be, ``{path: text}``."""
    root = Path(root)
    out = {}
    readme = root / "README.md"
    out[readme] = replace_block(readme.read_text(), "status", status_table(root))
    for declared in declared_papers(root):
        paper = load_object(declared.target)
        path = declared.folder / "README.md"
        record = _record(declared.folder / "results")
        text = replace_block(path.read_text(), "verdict", verdict_block(paper, record))
        out[path] = replace_block(text, "results", results_block(record, declared.folder / "results"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperzoo.eval.readme", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace root")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a README is stale")
    args = parser.parse_args(argv)
    try:
        wanted = render(args.root)
    except ValueError as err:
        print(f"readme: error: {err}", file=sys.stderr)
        return 2
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"readme: {path} is stale; run `make readme`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"readme: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
