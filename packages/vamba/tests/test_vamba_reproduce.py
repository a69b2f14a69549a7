"""The reproduction: a quick run checks the outputs' schema; the full run (slow) checks every claim."""

from __future__ import annotations

import json

import pytest

from paperzoo.vamba.reproduce import reproduce


def test_reproduce_quick_writes_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))  # train for real, not from a cached run
    assert reproduce(seeds=[0], out=tmp_path, quick=True) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    ids = {c["id"] for c in data["claims"]}
    assert len(ids) >= 7
    assert {"vamba-order-detail", "ca-only-loses-order", "pooling-loses-detail", "sa-to-ca-init"} <= ids
    assert {"time-vs-transformer", "memory-vs-transformer", "flop-counter"} <= ids
    assert (tmp_path / "results.md").exists()
    assert list(tmp_path.glob("claim-*.png"))


@pytest.mark.slow
def test_reproduce_full(tmp_path):
    assert reproduce(seeds=[0, 1, 2], out=tmp_path) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in data["claims"] if not c["passed"]]
    assert not failed, f"claims that fail: {failed}"
