"""``make report``: one static HTML page with every package's committed results.

Reads the registry (every package that declares a paper in its ``pyproject.toml``), then each package's
``results/results.json`` (the output of its last ``reproduce``) and the PNGs beside it, copies the images next
to the page and writes ``site/index.html``. The page opens with an overview table of every paper (status,
claims passed, wall time), each row linking to its section. No server, no JavaScript, no network: the page
opens from disk.

Usage: ``python -m paperzoo.eval.report [--root .] [--out site]``
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from paperzoo.core.workspace import declared_papers
from paperzoo.eval.results import ResultsRecord, read_results
from paperzoo.eval.stats import summarize

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } section { border-top: 1px solid #ddd; padding-top: 1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .pass, .status-pass { color: #176b2c; font-weight: bold; }
.fail, .status-fail { color: #a11; font-weight: bold; }
.plots img { max-width: 48%; margin: 0.3rem; border: 1px solid #eee; } code { background: #f4f4f4; padding: 0 0.2rem; }
nav a { margin-right: 0.8rem; } .muted { color: #777; }
"""


@dataclass
class PackageEntry:
    """What the report shows of one package."""

    name: str
    title: str
    record: ResultsRecord | None
    images: list[Path]
    problem: str = ""


def _title(package_dir: Path) -> str:
    readme = package_dir / "README.md"
    if readme.exists():
        for line in readme.read_text().splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return package_dir.name


def collect(root: Path) -> list[PackageEntry]:
    """Every registered package under ``root`` with its results record (None when it has none yet)."""
    entries = []
    for declared in declared_papers(root):
        pkg = declared.folder
        results = pkg / "results"
        record, problem = None, ""
        if (results / "results.json").exists():
            try:
                record = read_results(results)
            except ValueError as err:
                problem = str(err)
        images = sorted(results.glob("*.png")) if results.exists() else []
        entries.append(PackageEntry(declared.name, _title(pkg), record, images, problem))
    return entries


def _anchor(name: str) -> str:
    return "pkg-" + re.sub(r"[^a-z0-9-]", "-", name.lower())


def overview(entries: list[PackageEntry]) -> str:
    """The table of every paper: status, claims passed, seeds and wall time, each row linking to its section."""
    rows = []
    for e in entries:
        link = f"<a href='#{_anchor(e.name)}'>{html.escape(e.name)}</a>"
        if e.record is None:
            cells = [link, "<span class='muted'>no results</span>", "–", "–", "–"]
        else:
            passed, total = sum(c.passed for c in e.record.claims), len(e.record.claims)
            state = "reproduced" if passed == total else "partial"
            css = "status-pass" if passed == total else "status-fail"
            seeds = ", ".join(map(str, e.record.seeds))
            cells = [
                link,
                f"<span class='{css}'>{state}</span>",
                f"{passed}/{total}",
                seeds,
                f"{e.record.wall_time_s:.0f} s",
            ]
        rows.append("<tr class='overview-row'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "<tr><th>paper</th><th>status</th><th>claims passed</th><th>seeds</th><th>wall time</th></tr>"
    return f"<table id='overview'>{head}{''.join(rows)}</table>"


def _claims_table(record: ResultsRecord) -> str:
    rows = []
    for c in record.claims:
        systems = "<br>".join(
            f"{'<b>' if s == c.method else ''}{html.escape(s)}{'</b>' if s == c.method else ''}: "
            f"{summarize(v)} <span class='muted'>({', '.join(f'{x:.4g}' for x in v)})</span>"
            for s, v in c.per_seed.items()
        )
        verdict = "<span class='pass'>pass</span>" if c.passed else "<span class='fail'>FAIL</span>"
        rows.append(
            f"<tr><td><code>{html.escape(c.id)}</code><br>{html.escape(c.description)}</td>"
            f"<td>{html.escape(c.metric)}</td><td>{systems}</td>"
            f"<td>{html.escape(c.condition())}<br>bar {c.bar:.4g}</td><td>{verdict}</td></tr>"
        )
    head = "<tr><th>claim</th><th>metric</th><th>values per system (mean ± std; per seed)</th><th>threshold</th>"
    return f"<table>{head}<th>verdict</th></tr>{''.join(rows)}</table>"


def _section(entry: PackageEntry, out: Path) -> str:
    parts = [f"<section id='{_anchor(entry.name)}' class='package' data-package='{html.escape(entry.name)}'>"]
    parts.append(f"<h2>{html.escape(entry.title)}</h2>")
    record = entry.record
    if record is None:
        why = html.escape(entry.problem) if entry.problem else "no committed results yet"
        parts.append(f"<p class='muted'>{why}.</p></section>")
        return "".join(parts)
    passed = sum(c.passed for c in record.claims)
    parts.append(
        f"<p>Paper: {html.escape(record.paper)}. {passed}/{len(record.claims)} claims pass over seeds "
        f"{', '.join(map(str, record.seeds))}; wall time {record.wall_time_s:.0f} s; "
        f"created {html.escape(record.created)}."
        f"<br>Command: <code>{html.escape(record.command)}</code></p>"
    )
    parts.append(_claims_table(record))
    if entry.images:
        target = out / entry.name
        target.mkdir(parents=True, exist_ok=True)
        imgs = []
        for img in entry.images:
            shutil.copy2(img, target / img.name)
            imgs.append(f"<img src='{html.escape(entry.name)}/{html.escape(img.name)}' alt='{html.escape(img.stem)}'>")
        parts.append(f"<div class='plots'>{''.join(imgs)}</div>")
    parts.append("</section>")
    return "".join(parts)


def build_report(root: str | Path = ".", out: str | Path = "site") -> Path:
    """Write ``out/index.html`` (and the images it shows) from the packages under ``root``; returns its path."""
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = collect(root)
    with_results = sum(e.record is not None for e in entries)
    body = "".join(_section(e, out) for e in entries)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>paperzoo: reproduced claims</title>"
        f"<style>{STYLE}</style></head><body><h1>paperzoo: reproduced claims</h1>"
        f"<p class='muted'>{len(entries)} packages, {with_results} with committed results. Each section is the "
        "output of the package's last <code>reproduce</code> run.</p>"
        f"{overview(entries)}{body}</body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperzoo.eval.report", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace root")
    parser.add_argument("--out", type=Path, default=Path("site"), help="the folder for index.html")
    args = parser.parse_args(argv)
    if not (args.root / "packages").is_dir():
        print(f"report: error: {args.root}/packages is not a folder; run from the workspace root", file=sys.stderr)
        return 2
    path = build_report(args.root, args.out)
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
