"""The per-seed table of a ``reproduce`` run: every system's metrics on every seed, and the claims built from it.

A run adds one row per (seed, system) as it measures::

    table = SeedTable(labels={"auc30": "pose AUC@30"})
    table.add(seed=0, system="aa", auc30=0.61, pmap_err=0.12)
    table.add(seed=0, system="frame", auc30=0.03, pmap_err=0.31)

and states its claims by name, so every call site says which number is the bar::

    table.claim("aa-pose-auc", "AA recovers relative pose.", "auc30", "aa", at_least=0.5)
    table.claim("aa-beats-frame", "Mixing views recovers pose.", "auc30", "aa", vs="frame", margin=0.25)
    table.claim("aa-pmap", "AA's point maps are better.", "pmap_err", "aa", vs="frame", op="<=", ratio=0.7)

Per-seed values are listed in the order the seeds were first added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from paperzoo.eval.results import OPS, Claim
from paperzoo.eval.stats import summarize


class SeedTable:
    """Metrics per (seed, system), with derived columns, markdown and JSON views, and claims by name.

    Args:
        labels: a human-readable name (with its unit) per metric key, used as the claims' ``metric`` text and
            in the markdown table; keys without a label are shown as they are.
    """

    def __init__(self, labels: dict[str, str] | None = None) -> None:
        self.labels = dict(labels or {})
        self._rows: dict[tuple[int, str], dict[str, float]] = {}
        self._seeds: list[int] = []
        self._systems: list[str] = []

    # -- filling -------------------------------------------------------------------------------------------

    def add(self, *, seed: int, system: str, **metrics: float) -> None:
        """Record ``metrics`` of ``system`` on ``seed`` (merged into the row when it exists)."""
        if not metrics:
            raise ValueError(f"add(seed={seed}, system={system!r}): no metrics given")
        seed = int(seed)
        if seed not in self._seeds:
            self._seeds.append(seed)
        if system not in self._systems:
            self._systems.append(system)
        row = self._rows.setdefault((seed, system), {})
        row.update({key: float(value) for key, value in metrics.items()})

    def derive(self, name: str, fn: Callable[[dict[str, float]], float], systems: Iterable[str] | None = None) -> None:
        """Add column ``name`` to each row (of ``systems``, default all) as ``fn(row)``, a dict of the row's metrics.

        A row missing a metric ``fn`` reads (``KeyError``) is skipped.
        """
        wanted = set(self._systems if systems is None else systems)
        for (_, system), row in self._rows.items():
            if system in wanted:
                try:
                    row[name] = float(fn(dict(row)))
                except KeyError:
                    continue

    # -- reading -------------------------------------------------------------------------------------------

    @property
    def seeds(self) -> list[int]:
        """The seeds in the order they were first added."""
        return list(self._seeds)

    @property
    def systems(self) -> list[str]:
        """The systems in the order they were first added."""
        return list(self._systems)

    def metrics(self, system: str | None = None) -> list[str]:
        """The metric keys of ``system`` (or of any system), in the order they first appear."""
        keys: dict[str, None] = {}
        for (_, sys_name), row in self._rows.items():
            if system is None or sys_name == system:
                keys.update(dict.fromkeys(row))
        return list(keys)

    def has(self, system: str, metric: str) -> bool:
        """Whether ``system`` has ``metric`` on every seed of the table."""
        return bool(self._seeds) and all(metric in self._rows.get((s, system), {}) for s in self._seeds)

    def value(self, seed: int, system: str, metric: str) -> float:
        """One cell."""
        try:
            return self._rows[(int(seed), system)][metric]
        except KeyError:
            raise KeyError(f"no value of {metric!r} for system {system!r} on seed {seed}") from None

    def values(self, system: str, metric: str) -> list[float]:
        """``metric`` of ``system`` on every seed, in seed order.

        Raises:
            KeyError: a seed has no such value.
        """
        if system not in self._systems:
            raise KeyError(f"no system {system!r}; the table has {self._systems}")
        return [self.value(seed, system, metric) for seed in self._seeds]

    def per_seed(self, metric: str, systems: Iterable[str] | None = None) -> dict[str, list[float]]:
        """``{system: values}`` of ``metric`` for ``systems`` (default: every system that has it on every seed)."""
        names = [s for s in self._systems if self.has(s, metric)] if systems is None else list(systems)
        return {name: self.values(name, metric) for name in names}

    def mean(self, system: str, metric: str) -> float:
        """The mean over seeds."""
        vals = self.values(system, metric)
        return sum(vals) / len(vals)

    # -- claims --------------------------------------------------------------------------------------------

    def claim(
        self,
        id: str,
        description: str,
        metric: str,
        method: str,
        vs: str | None = None,
        *,
        at_least: float | None = None,
        at_most: float | None = None,
        above: float | None = None,
        below: float | None = None,
        margin: float | None = None,
        ratio: float | None = None,
        op: str = ">=",
        label: str | None = None,
        report: Sequence[str] | None = None,
    ) -> Claim:
        """A claim about ``metric`` of ``method``, built from this table's per-seed values.

        Against a fixed bar (no ``vs``): exactly one of ``at_least`` (``>=``), ``at_most`` (``<=``), ``above``
        (``>``) or ``below`` (``<``). Against another system (``vs``): exactly one of ``margin`` (method ``op``
        vs + margin) or ``ratio`` (method ``op`` vs × ratio), with ``op`` one of ``>=``, ``<=``, ``>``, ``<``.

        Args:
            id: the claim's slug, unique within the package.
            description: the claim in one sentence.
            metric: the column the claim reads.
            method: the system the claim is about.
            vs: the system it is compared with.
            label: the metric's text in the results (default: the table's label for ``metric``).
            report: the other systems shown beside method and ``vs`` (default: every system with the metric;
                ``()`` for none).
        """
        bars = {">=": at_least, "<=": at_most, ">": above, "<": below}
        given = {k: v for k, v in bars.items() if v is not None}
        if vs is None:
            if len(given) != 1 or margin is not None or ratio is not None:
                raise ValueError(
                    f"claim {id}: without vs, give exactly one of at_least/at_most/above/below (and no margin/ratio)"
                )
            (claim_op, bar), kind, baseline = next(iter(given.items())), "absolute", None
        else:
            if given or (margin is None) == (ratio is None):
                raise ValueError(f"claim {id}: with vs={vs!r}, give exactly one of margin/ratio (and op), no fixed bar")
            if op not in OPS:
                raise ValueError(f"claim {id}: op must be one of {list(OPS)}, got {op!r}")
            claim_op, baseline = op, vs
            kind, bar = ("absolute", margin) if ratio is None else ("ratio", ratio)
        shown = [method] + ([vs] if vs is not None else [])
        others = [s for s in self._systems if s not in shown and self.has(s, metric)] if report is None else report
        per_seed = {name: self.values(name, metric) for name in [*shown, *others]}
        return Claim(
            id,
            description,
            metric=label or self.labels.get(metric, metric),
            method=method,
            baseline=baseline,
            per_seed=per_seed,
            op=claim_op,
            kind=kind,
            margin=float(bar),
        )

    # -- views ---------------------------------------------------------------------------------------------

    def markdown(self, metrics: Sequence[str] | None = None, systems: Sequence[str] | None = None) -> str:
        """A markdown table, a row per metric and a column per system: mean ± std over seeds (– when missing)."""
        systems = list(self._systems if systems is None else systems)
        metrics = list(self.metrics() if metrics is None else metrics)
        lines = ["| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
        for key in metrics:
            cells = [str(summarize(self.values(s, key))) if self.has(s, key) else "–" for s in systems]
            name = self.labels.get(key, key).replace("|", "\\|")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """``{"seeds": [...], "systems": {system: {metric: [value per seed]}}}``; a missing value is None."""

        def cell(seed: int, system: str, key: str) -> float | None:
            value = self._rows.get((seed, system), {}).get(key)
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

        return {
            "seeds": self.seeds,
            "systems": {
                system: {key: [cell(seed, system, key) for seed in self._seeds] for key in self.metrics(system)}
                for system in self._systems
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], labels: dict[str, str] | None = None) -> SeedTable:
        """The table :meth:`to_dict` wrote (None reads back as NaN)."""
        table = cls(labels)
        table._seeds = [int(s) for s in data["seeds"]]
        for system, metrics in data["systems"].items():
            for i, seed in enumerate(data["seeds"]):
                row = {k: (math.nan if v[i] is None else v[i]) for k, v in metrics.items()}
                if row:
                    table.add(seed=seed, system=system, **row)
        return table
