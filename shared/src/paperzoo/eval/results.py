"""The results record of one ``reproduce`` run: ``results.json`` (the shared schema) and ``results.md``.

Other tools (the README table, ``make report``) read these files, so the keys are fixed::

    {"package", "paper", "command", "seeds", "wall_time_s", "created", "versions", "config",
     "claims": [{"id", "description", "metric", "method", "baseline", "per_seed", "method_value",
                 "baseline_value", "op", "kind", "margin", "passed"}]}

Verdict of a claim: with ``kind`` "absolute", ``method_value op baseline_value + margin``; with "ratio",
``method_value op baseline_value * margin``; with no baseline, ``method_value op margin``. The values are
the means of the per-seed lists.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
import os
import platform
import subprocess
import tempfile
from dataclasses import KW_ONLY, asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from paperzoo.eval.stats import summarize

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
KINDS = ("absolute", "ratio")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@dataclass
class Claim:
    """One claim of a paper, measured over seeds. Every field after ``description`` is keyword-only; packages
    build claims by name from a :class:`~paperzoo.eval.table.SeedTable` (``table.claim(...)``).

    Attributes:
        id: a short slug, unique within the package (``order-needs-scan``).
        description: the claim in one sentence, as a reader of the paper would state it.
        metric: what is measured, with its unit (``ORDER accuracy``).
        method: the system the claim is about; a key of ``per_seed``.
        baseline: the system it is compared to (a key of ``per_seed``), or None for a fixed bar.
        per_seed: every system's value per seed, ``{"vamba": [0.91, 0.93, 0.9], ...}``; systems beyond the
            method and the baseline are reported too.
        op: one of ``>=``, ``<=``, ``>``, ``<``.
        kind: ``"absolute"`` (baseline + margin) or ``"ratio"`` (baseline * margin).
        margin: the margin, or the bar itself when there is no baseline.
    """

    id: str
    description: str
    _: KW_ONLY
    metric: str
    method: str
    baseline: str | None
    per_seed: dict[str, list[float]]
    op: str = ">="
    kind: str = "absolute"
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"claim {self.id}: op must be one of {list(OPS)}, got {self.op!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        for system in (self.method, self.baseline):
            if system is not None and not self.per_seed.get(system):
                raise ValueError(f"claim {self.id}: per_seed has no values for {system!r}")
        self.per_seed = {k: [float(v) for v in vs] for k, vs in self.per_seed.items()}
        self.margin = float(self.margin)

    @property
    def method_value(self) -> float:
        """Mean of the method's per-seed values."""
        return _mean(self.per_seed[self.method])

    @property
    def baseline_value(self) -> float | None:
        """Mean of the baseline's per-seed values, or None without a baseline."""
        return None if self.baseline is None else _mean(self.per_seed[self.baseline])

    @property
    def bar(self) -> float:
        """The value the method is compared to."""
        base = self.baseline_value
        if base is None:
            return self.margin
        return base * self.margin if self.kind == "ratio" else base + self.margin

    @property
    def passed(self) -> bool:
        """The verdict; a non-finite value never passes."""
        value, bar = self.method_value, self.bar
        if not (math.isfinite(value) and math.isfinite(bar)):
            return False
        return bool(OPS[self.op](value, bar))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(method_value=self.method_value, baseline_value=self.baseline_value, passed=self.passed)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Claim:
        keys = ("id", "description", "metric", "method", "baseline", "per_seed", "op", "kind", "margin")
        return cls(**{k: data[k] for k in keys if k in data})

    def condition(self) -> str:
        """The verdict's condition as text, e.g. ``vamba >= ca_only + 0.2``."""
        if self.baseline is None:
            return f"{self.method} {self.op} {self.margin:g}"
        if self.kind == "ratio":
            joiner = f"× {self.margin:g}"
        else:
            joiner = f"{'+' if self.margin >= 0 else '-'} {abs(self.margin):g}"
        return f"{self.method} {self.op} {self.baseline} {joiner}"


def git_commit(where: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``where`` (default: this file), for provenance of a results record.

    A ``+modified`` suffix says tracked Python files differed from that commit when the record was made, so
    the numbers may come from code that was never committed (keep the tree's code untouched during a run).
    ``None`` outside a git checkout (an installed wheel) or without git.
    """
    cwd = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        # `git diff --quiet` exits 1 when the files differ; only code counts, not a README edited meanwhile.
        changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "*.py"], cwd=cwd, timeout=10).returncode
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+modified" if changed else "") if sha else None


def versions(*extra: str) -> dict[str, str]:
    """Versions of Python, the platform, the main libraries (plus ``extra`` distributions) and the git commit."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("torch", "lightning", "triton", "numpy", "paperzoo-shared", *extra):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    commit = git_commit()
    if commit is not None:
        out["git_commit"] = commit
    return out


@dataclass
class ResultsRecord:
    """Everything one ``reproduce`` run measured. Write it with :func:`write_results`."""

    package: str
    paper: str
    command: str
    seeds: list[int]
    claims: list[Claim]
    config: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    versions: dict[str, str] = field(default_factory=versions)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "paper": self.paper,
            "command": self.command,
            "seeds": list(self.seeds),
            "wall_time_s": round(self.wall_time_s, 1),
            "created": self.created,
            "versions": self.versions,
            "config": self.config,
            "claims": [c.to_dict() for c in self.claims],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultsRecord:
        return cls(
            package=data["package"],
            paper=data["paper"],
            command=data["command"],
            seeds=list(data["seeds"]),
            claims=[Claim.from_dict(c) for c in data["claims"]],
            config=data.get("config", {}),
            wall_time_s=float(data.get("wall_time_s", 0.0)),
            created=data.get("created", ""),
            versions=data.get("versions", {}),
        )


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}"


def markdown_table(record: ResultsRecord) -> str:
    """The claims as a markdown table: systems' means ± std over seeds, the condition and the verdict."""
    lines = [
        "| claim | metric | method | baseline | condition | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in record.claims:
        method = f"{c.method}: {summarize(c.per_seed[c.method])}"
        baseline = "–" if c.baseline is None else f"{c.baseline}: {summarize(c.per_seed[c.baseline])}"
        verdict = "**pass**" if c.passed else "**FAIL**"
        if not (math.isfinite(c.method_value) and math.isfinite(c.bar)):
            verdict += " (non-finite values: an arm diverged)"
        condition = f"{c.condition()} (bar {_fmt(c.bar)})"
        cells = [f"`{c.id}`", c.metric, method, baseline, condition, verdict]
        # A '|' inside a cell (|t|, |UA - UA_ref|) would split the row.
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    passed = sum(c.passed for c in record.claims)
    lines += [
        "",
        f"{passed}/{len(record.claims)} claims pass; seeds {', '.join(map(str, record.seeds))}; "
        f"wall time {record.wall_time_s:.0f} s; command `{record.command}`.",
    ]
    return "\n".join(lines)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    A run stopped mid-write (Ctrl-C, a killed job) leaves the previous file whole, never a truncated one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def results_markdown(record: ResultsRecord, sections: dict[str, str] | None = None) -> str:
    """``results.md``: the claims table, then each extra section (title: markdown body)."""
    text = f"# {record.package}: reproduced claims\n\n{markdown_table(record)}\n"
    for title, body in (sections or {}).items():
        text += f"\n## {title}\n\n{body.strip()}\n"
    return text


def write_results(record: ResultsRecord, out_dir: str | Path, sections: dict[str, str] | None = None) -> Path:
    """Write ``results.json`` and ``results.md`` (with extra ``sections``) into ``out_dir``; returns the JSON path.

    Both files are written atomically.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = atomic_write_text(out / "results.json", json.dumps(record.to_dict(), indent=2) + "\n")
    atomic_write_text(out / "results.md", results_markdown(record, sections))
    return path


def read_results(path: str | Path) -> ResultsRecord:
    """Read a ``results.json`` (or the one inside a folder).

    Raises:
        ValueError: the file is not a results record.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text())
        return ResultsRecord.from_dict(data)
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a paperzoo results record ({err})") from err
