"""The per-seed table, claims by name, and the Reproduction context's outputs."""

from __future__ import annotations

import json
import math
import sys

import pytest

from paperzoo.core import Paper
from paperzoo.eval import Claim, Reproduction, SeedTable, atomic_write_text, read_results

PAPER = Paper(
    name="tabletoy",
    title="A table toy",
    arxiv="2503.00002",
    module="x:Y",
    datamodule=None,
    commands={"reproduce": "x:r"},
)


def filled() -> SeedTable:
    table = SeedTable(labels={"acc": "accuracy"})
    for seed, (m, b) in enumerate([(0.9, 0.5), (0.8, 0.6), (0.85, 0.55)]):
        table.add(seed=seed, system="method", acc=m, loss=1 - m)
        table.add(seed=seed, system="base", acc=b)
    return table


def test_values_follow_the_seed_order_and_rows_merge():
    table = SeedTable()
    table.add(seed=2, system="a", x=1.0)
    table.add(seed=0, system="a", x=2.0)
    table.add(seed=2, system="a", y=3.0)
    assert table.seeds == [2, 0]
    assert table.values("a", "x") == [1.0, 2.0]
    assert table.value(2, "a", "y") == 3.0
    with pytest.raises(KeyError, match="no value of 'y' for system 'a' on seed 0"):
        table.values("a", "y")


def test_fixed_bar_claims_read_their_direction_from_the_keyword():
    table = filled()
    at_least = table.claim("c", "d", "acc", "method", at_least=0.85)
    assert (at_least.op, at_least.baseline, at_least.margin, at_least.metric) == (">=", None, 0.85, "accuracy")
    assert at_least.passed  # mean 0.85 (up to rounding)
    assert not table.claim("c", "d", "acc", "method", above=0.86).passed
    assert table.claim("c", "d", "loss", "method", at_most=0.2).passed
    assert not table.claim("c", "d", "loss", "method", below=0.1).passed


def test_comparisons_take_a_margin_or_a_ratio():
    table = filled()
    margin = table.claim("m", "d", "acc", "method", vs="base", margin=0.3)
    assert margin.kind == "absolute"
    assert margin.bar == pytest.approx(0.85)
    assert margin.passed
    ratio = table.claim("r", "d", "acc", "base", vs="method", op="<=", ratio=0.7)
    assert ratio.kind == "ratio"
    assert ratio.op == "<="
    assert ratio.passed
    assert list(margin.per_seed) == ["method", "base"]


@pytest.mark.parametrize(
    "bar",
    [{}, {"at_least": 1, "at_most": 2}, {"at_least": 1, "margin": 0.1}, {"vs": "base"}, {"vs": "base", "at_least": 1},
     {"vs": "base", "margin": 1, "ratio": 2}, {"vs": "base", "margin": 1, "op": "=="}],
)  # fmt: skip
def test_ambiguous_bars_are_refused(bar):
    with pytest.raises(ValueError, match="claim x"):
        filled().claim("x", "d", "acc", "method", **bar)


def test_claim_fields_after_the_description_are_keyword_only():
    with pytest.raises(TypeError):
        Claim("c", "d", "acc", "m", None, {"m": [1.0]})  # type: ignore[misc]


def test_derive_markdown_and_json_round_trip():
    table = filled()
    table.derive("err", lambda row: 1 - row["acc"])
    assert table.values("base", "err") == pytest.approx([0.5, 0.4, 0.45])
    md = table.markdown(["acc"])
    assert md.splitlines()[0] == "| metric | method | base |"
    assert "| accuracy | 0.85 ± 0.05 | 0.55 ± 0.05 |" in md
    table.add(seed=0, system="base", nan=math.nan)
    again = SeedTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.seeds == table.seeds
    assert again.values("method", "acc") == table.values("method", "acc")
    assert math.isnan(again.value(0, "base", "nan"))


def test_reproduction_writes_every_output_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["paperzoo-tabletoy", "reproduce", "--seeds", "0", "1"])
    with Reproduction(PAPER, [0, 1], out=tmp_path, config={"steps": 3}, progress=False, echo=False) as run:
        for seed in (0, 1):
            with run.stage(f"seed {seed}", total=2) as advance:
                advance(2)
            run.table.add(seed=seed, system="m", acc=0.9)
            run.table.add(seed=seed, system="b", acc=0.5)
        run.claim("m-beats-b", "m beats b.", "acc", "m", vs="b", margin=0.2)
        run.section("Reported without a bar", run.table.markdown())
    record = read_results(tmp_path)
    assert record.command == "paperzoo-tabletoy reproduce --seeds 0 1"
    assert record.paper == "A table toy (arXiv 2503.00002)"
    assert record.config == {"steps": 3}
    assert record.claims[0].passed
    md = (tmp_path / "results.md").read_text()
    assert md.count("## Reported without a bar") == 1
    assert md.index("m-beats-b") < md.index("## Reported")
    assert json.loads((tmp_path / "metrics.json").read_text())["systems"]["m"]["acc"] == [0.9, 0.9]
    assert (tmp_path / "claim-m-beats-b.png").exists()
    assert not list(tmp_path.glob(".*tmp"))


def test_a_failed_run_leaves_the_previous_results(tmp_path):
    with Reproduction(PAPER, [0], out=tmp_path, progress=False, echo=False) as run:
        run.table.add(seed=0, system="m", acc=0.9)
        run.claim("c", "d", "acc", "m", at_least=0.5)
    before = (tmp_path / "results.json").read_text()

    def crash() -> None:
        with Reproduction(PAPER, [0], out=tmp_path, progress=False, echo=False) as run:
            run.table.add(seed=0, system="m", acc=0.1)
            raise RuntimeError("stage crashed")

    with pytest.raises(RuntimeError, match="stage crashed"):
        crash()
    assert (tmp_path / "results.json").read_text() == before


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = atomic_write_text(tmp_path / "results.json", "old\n")

    with pytest.raises(TypeError):
        atomic_write_text(path, object())  # type: ignore[arg-type]
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
