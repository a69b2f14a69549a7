"""The reproduction: a quick run checks the outputs' schema; the full run (slow) checks every claim."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from paperzoo.vamba import reproduce as reproduce_module
from paperzoo.vamba.config import SweepConfig
from paperzoo.vamba.reproduce import QUICK, reproduce

CLAIMS = [
    "vamba-order-detail", "vamba-close-to-transformer", "ca-only-loses-order", "pooling-loses-detail",
    "question-only-at-chance", "sa-to-ca-init", "time-vs-transformer", "memory-vs-transformer", "vamba-linear-time",
    "transformer-quadratic-time", "flop-counter",
]  # fmt: skip


def test_reproduce_quick_writes_outputs(tmp_path, monkeypatch):
    from paperzoo.vamba import efficiency

    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))  # train for real, not from a cached run
    # Smaller than --quick (a few steps, tiny eval sets, the sweep at T = 1, 2), with peak memory measured in this
    # process rather than in a fresh one per point: the outputs are the same files with the same claims.
    smaller = dataclasses.replace(
        QUICK, curriculum=((4, 3), (16, 3)), pre_steps=2, stage1_steps=2, vision_steps=1, val_size=8, test_size=12,
        sweep=SweepConfig(frames=(1, 2), repeats=1),
    )  # fmt: skip
    monkeypatch.setattr(reproduce_module, "QUICK", smaller)

    def peak(arch: str, frames: int) -> dict[str, float]:
        torch.manual_seed(0)
        cfg = efficiency.bench_config(frames)
        model = efficiency.build_model(arch, cfg)
        return {
            "peak_mib": efficiency.peak_tensor_memory(model, efficiency.sample_inputs(cfg, frames)),
            "rss_peak_mib": 0.0,
        }

    monkeypatch.setattr(efficiency, "peak_memory", peak)
    out = tmp_path / "out"
    assert reproduce(seeds=[0], out=out, quick=True) == 0
    data = json.loads((out / "results.json").read_text())
    assert [c["id"] for c in data["claims"]] == CLAIMS
    assert data["command"] == "paperzoo-vamba reproduce --seeds 0 --quick"
    assert data["config"]["pre_steps"] == 2
    assert set(data["config"]["efficiency"]["sweep"]) == {"vamba", "transformer"}
    claims = {c["id"]: c for c in data["claims"]}
    assert list(claims["sa-to-ca-init"]["per_seed"]) == ["sa_to_ca_init", "random_ca_init"]
    assert list(claims["vamba-linear-time"]["per_seed"]) == ["vamba"]
    assert claims["time-vs-transformer"]["metric"] == "wall time at T=2 (s)"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == [0]
    for system in ("vamba", "transformer", "pooled", "ca_only", "question_only"):
        assert set(metrics["systems"][system]) >= {"order", "detail", "count", "overall", "order_detail"}
    md = (out / "results.md").read_text()
    assert "Test accuracy per question type" in md
    assert "Stage-1 validation loss" in md
    assert (out / "efficiency-time.png").exists()
    assert {p.name for p in out.glob("claim-*.png")} == {f"claim-{c}.png" for c in CLAIMS}


@pytest.mark.slow
def test_reproduce_full(tmp_path):
    assert reproduce(seeds=[0, 1, 2], out=tmp_path) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in data["claims"] if not c["passed"]]
    assert not failed, f"claims that fail: {failed}"
