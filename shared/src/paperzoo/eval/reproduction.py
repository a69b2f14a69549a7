"""One ``reproduce`` run as a context: wall time, stage progress, the per-seed table, the claims and the outputs.

::

    def reproduce(seeds: list[int] = [0, 1, 2], out: Path | None = None, quick: bool = False) -> int:
        cfg = QUICK if quick else FULL
        with Reproduction(PAPER, seeds, out=out, config=cfg, labels=LABELS) as run:
            for seed in seeds:
                for arm in ARMS:
                    with run.stage(f"seed {seed}: train {arm}", total=cfg.steps) as advance:
                        metrics = train(cfg, arm, seed, advance)
                    run.table.add(seed=seed, system=arm, **metrics)
            run.claim("arm-beats-base", "...", "accuracy", "method", vs="base", margin=0.1)
            run.section("Reported without a bar", run.table.markdown(["loss"]))
        return 0

On leaving the block without an error the run writes, once and atomically, ``results.json``, ``results.md``
(claims table, then the extra sections), a PNG per claim and ``metrics.json`` (the whole per-seed table), and
prints the tables. The command recorded is the one on the command line.

Each trained arm of each seed can be a stage, ``run.arm(seed, system, train, key=cfg, total=steps)``: its
metrics are saved under ``$PAPERZOO_CACHE/<package>/stages``, keyed by the stage's config and the code's git
commit, so a run that was interrupted (Ctrl-C, a killed job) resumes from its finished stages with identical
values (``fresh=True`` ignores them). An arm whose loss becomes non-finite records NaN metrics: the claims
that read them fail and say why, and the other arms and seeds run on. Ctrl-C ends the run with one line naming
the finished stages and the command that resumes it, and exit status 130; nothing in ``out`` is half-written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from importlib import metadata
from pathlib import Path
from typing import Any

from paperzoo.core.cache import cache_dir, config_hash
from paperzoo.core.callbacks import DIVERGED
from paperzoo.core.cli import CliError
from paperzoo.core.paper import Paper
from paperzoo.core.training import StageProgress
from paperzoo.eval.outputs import write_outputs
from paperzoo.eval.results import Claim, ResultsRecord, atomic_write_text, git_commit, markdown_table
from paperzoo.eval.table import SeedTable


def command_line(package: str, seeds: Sequence[int], quick: bool = False, argv: Sequence[str] | None = None) -> str:
    """The command that started this run, from ``argv`` (default ``sys.argv``) when it is a paperzoo command.

    Called from Python (a test, a notebook) the program is something else; the equivalent command is given then.
    """
    argv = list(sys.argv if argv is None else argv)
    program = Path(argv[0]).name if argv else ""
    if program == f"paperzoo-{package}" or program == "paperzoo":
        return " ".join([program, *map(shlex.quote, argv[1:])])
    return f"paperzoo-{package} reproduce --seeds " + " ".join(map(str, seeds)) + (" --quick" if quick else "")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _config_dict(config: Any) -> dict[str, Any]:
    """The experiment's configuration as plain JSON values: dataclasses (nested, in lists too) become dicts."""
    if config is None:
        return {}
    if not isinstance(config, dict) and not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config: expected a dataclass or a dict, got {type(config).__name__}")
    return _plain(config)


def code_version(where: Path) -> str:
    """What the stage cache keys on besides the config: the git commit of the code, with a digest of the
    uncommitted Python changes when there are any (so edited code never reads a stale stage), or the installed
    version outside a checkout."""
    commit = git_commit(where)
    if commit is None:
        try:
            return "version " + metadata.version("paperzoo-shared")
        except metadata.PackageNotFoundError:
            return "unknown"
    if commit.endswith("+modified"):
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "*.py"], cwd=where, capture_output=True, timeout=30
        ).stdout  # fmt: skip
        commit += ":" + hashlib.sha256(diff).hexdigest()[:16]
    return commit


class Reproduction(AbstractContextManager):
    """The context of one ``reproduce`` run.

    Args:
        paper: the package's :class:`~paperzoo.core.paper.Paper`.
        seeds: the seeds of the run.
        out: the output folder (default: the package's ``results/``).
        config: the experiment's configuration (a dataclass or a dict), recorded in ``results.json``.
        quick: a reduced run for tests; recorded in the command.
        labels: the metrics' names with units, for the table and the claims.
        progress: show progress bars and stage lines.
        echo: print the tables when the run ends.
        fresh: recompute every stage, ignoring the ones cached by an earlier run.
    """

    def __init__(
        self,
        paper: Paper,
        seeds: Sequence[int],
        out: str | Path | None = None,
        config: Any = None,
        quick: bool = False,
        labels: dict[str, str] | None = None,
        progress: bool = True,
        echo: bool = True,
        fresh: bool = False,
    ) -> None:
        if not seeds:
            raise ValueError("seeds: expected at least one seed")
        self.paper = paper
        self.seeds = [int(s) for s in seeds]
        self.out = Path(out) if out is not None else paper.results_dir
        self.config = _config_dict(config)
        self.quick = quick
        self.echo = echo
        self.table = SeedTable(labels)
        self.claims: list[Claim] = []
        self.sections: dict[str, str] = {}
        self.record: ResultsRecord | None = None
        self.command = command_line(paper.name, self.seeds, quick)
        self.fresh = fresh
        self.finished: list[str] = []
        self.diverged: dict[str, str] = {}
        self._progress = StageProgress(paper.name, disable=not progress)
        self._start = 0.0
        self._code: str | None = None

    def __enter__(self) -> Reproduction:
        self._start = time.time()
        self._progress.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._progress.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            done = f"{len(self.finished)} finished stage(s) kept" if self.finished else "no stage finished"
            resume = self.command.replace(" --fresh", "")
            raise CliError(f"interrupted; {done}; resume with: {resume}", code=130) from exc

    def _stage_file(self, seed: int, system: str, key: Any) -> Path:
        if self._code is None:
            try:
                where = self.paper.source_dir
            except ValueError:  # a paper declared outside an installed package (tests): the shared code's checkout
                where = Path(__file__).resolve().parent
            self._code = code_version(where)
        digest = config_hash({"seed": seed, "system": system, "key": key, "code": self._code, "quick": self.quick})
        return cache_dir(self.paper.name, "stages") / f"{digest}.json"

    def arm(
        self,
        seed: int,
        system: str,
        train: Callable[[Callable[..., Any]], dict[str, float]],
        key: Any = None,
        total: int = 1,
    ) -> dict[str, float]:
        """Run one arm of one seed as a stage and add its metrics to the table.

        Args:
            seed: the seed.
            system: the arm's name (the table's system).
            train: trains and evaluates the arm; called with the stage's ``advance`` function, returns its metrics.
            key: everything the arm's result depends on besides seed and system (its config); with the code's
                commit it keys the cached result. ``None`` keys on seed, system and code alone.
            total: units of the stage's progress bar (its optimiser steps).

        Returns:
            The metrics, cached or computed; NaN for every metric when the arm's loss became non-finite.
        """
        name = f"seed {seed}: {system}"
        path = self._stage_file(seed, system, _plain(key))
        metrics = None
        if path.exists() and not self.fresh:
            try:
                metrics = json.loads(path.read_text())
                self.log(f"{self.paper.name}: {name}: cached")
            except (OSError, json.JSONDecodeError):
                metrics = None
        if metrics is None:
            mark = len(DIVERGED)
            with self.stage(name, total) as advance:
                metrics = {k: float(v) for k, v in train(advance).items()}
            if len(DIVERGED) > mark:
                metrics = dict.fromkeys(metrics, math.nan)
                metrics["diverged"] = 1.0
            atomic_write_text(path, json.dumps(metrics))
        if metrics.pop("diverged", 0.0):
            self.diverged[name] = "the training loss became non-finite"
        self.finished.append(name)
        self.table.add(seed=seed, system=system, **metrics)
        return metrics

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.time() - self._start

    def stage(self, description: str, total: int) -> AbstractContextManager[Callable[..., Any]]:
        """A progress bar of ``total`` units for one stage; the context yields the function that advances it."""
        return self._progress.stage(description, total)

    def track(self, items: list, description: str) -> Iterator:
        """Iterate over ``items`` with a bar."""
        return self._progress.track(items, description)

    def log(self, message: str) -> None:
        """Print a line above the bars."""
        self._progress.log(message)

    def claim(self, id: str, description: str, metric: str, method: str, vs: str | None = None, **bar: Any) -> Claim:
        """Build a claim from the table (:meth:`SeedTable.claim <paperzoo.eval.table.SeedTable.claim>`) and add it."""
        made = self.table.claim(id, description, metric, method, vs, **bar)
        self.add_claims(made)
        return made

    def add_claims(self, *claims: Claim) -> None:
        """Add claims built elsewhere; ids must stay unique."""
        for c in claims:
            if any(c.id == old.id for old in self.claims):
                raise ValueError(f"claim {c.id}: added twice")
            self.claims.append(c)

    def section(self, title: str, markdown: str) -> None:
        """An extra section of ``results.md`` after the claims table (and printed at the end)."""
        self.sections[title] = markdown

    def finish(self) -> ResultsRecord:
        """Write every output once; called on leaving the ``with`` block."""
        if not self.claims:
            raise ValueError(f"{self.paper.name}: the run states no claims")
        if self.diverged:
            lines = [f"- {name}: {why}; its metrics are NaN, so every claim that reads them fails."
                     for name, why in self.diverged.items()]  # fmt: skip
            self.sections = {"Diverged arms": "\n".join(lines), **self.sections}
        self.record = ResultsRecord(
            package=self.paper.name,
            paper=self.paper.full_title,
            command=self.command,
            seeds=self.seeds,
            claims=self.claims,
            config=self.config,
            wall_time_s=self.elapsed,
        )
        write_outputs(self.record, self.out, echo=False, sections=self.sections)
        if self.table.seeds:
            atomic_write_text(self.out / "metrics.json", json.dumps(self.table.to_dict(), indent=2) + "\n")
        if self.echo:
            print(f"\n{self.paper.name}: results in {self.out}\n")
            print(markdown_table(self.record))
            for title, body in self.sections.items():
                print(f"\n## {title}\n\n{body.strip()}")
        return self.record
