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
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from paperzoo.core.paper import Paper
from paperzoo.core.training import StageProgress
from paperzoo.eval.outputs import write_outputs
from paperzoo.eval.results import Claim, ResultsRecord, atomic_write_text, markdown_table
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
        self._progress = StageProgress(paper.name, disable=not progress)
        self._start = 0.0

    def __enter__(self) -> Reproduction:
        self._start = time.time()
        self._progress.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._progress.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.finish()

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
