"""The acceptance experiment: a reduced run (about 40 s) that checks the outputs, and the full run (slow)."""

from __future__ import annotations

import json

import pytest

from paperzoo.flowtok.reproduce import reproduce


def test_quick_reproduce_writes_every_claim(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    assert reproduce(seeds=[0], out=tmp_path / "out", quick=True) == 0
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    ids = {c["id"] for c in record["claims"]}
    assert ids == {
        "mechanism-accuracy",
        "accuracy-vs-baseline",
        "fd-vs-baseline",
        "sampling-speed",
        "diversity",
        "deterministic-no-diversity",
        "alignment-helps",
        "image-to-text",
    }
    for claim in record["claims"]:
        assert all(len(values) == 1 for values in claim["per_seed"].values()), claim["id"]
    claims = {c["id"]: c for c in record["claims"]}
    assert list(claims["alignment-helps"]["per_seed"]) == ["align_mlp", "no_align", "align_avgpool", "align_cosine"]
    assert list(claims["accuracy-vs-baseline"]["per_seed"]) == ["flowtok", "baseline"]
    assert "Table 4 analogue" in (tmp_path / "out" / "results.md").read_text()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["systems"]["flowtok"]) == {"acc", "fd", "div", "samples_per_s"}
    for name in ("accuracy-by-system.png", "claim-mechanism-accuracy.png", "claim-image-to-text.png"):
        assert (tmp_path / "out" / name).exists(), name


@pytest.mark.slow
def test_full_reproduction_passes(tmp_path):
    assert reproduce(seeds=[3, 4, 5], out=tmp_path) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in record["claims"] if not c["passed"]]
    assert not failed, f"claims that miss their bar: {failed}"
