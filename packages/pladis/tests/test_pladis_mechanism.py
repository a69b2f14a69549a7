"""Mechanism: a reduced acceptance experiment that passes with PLADIS and fails when its sparse branch is
ablated (entmax replaced by softmax, i.e. no extrapolation towards sparsity) or the extrapolation is reversed."""

import json
from dataclasses import replace

import pytest
import torch

import paperzoo.pladis.attention as attention
import paperzoo.pladis.reproduce as experiment
from paperzoo.pladis.config import DataConfig, ModelConfig
from paperzoo.pladis.reproduce import reproduce

STRUCTURAL = ("hopfield-entmax", "hopfield-pladis", "nfe-equal", "lambda0-identity")


def _claims(out):
    return {c["id"]: c for c in json.loads((out / "results.json").read_text())["claims"]}


def test_quick_reproduce_passes_the_mechanism_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    assert reproduce(seeds=[0], out=tmp_path, quick=True) == 0
    claims = _claims(tmp_path)
    assert len(claims) >= 5
    for name in STRUCTURAL:
        assert claims[name]["passed"], claims[name]
    assert claims["nfe-equal"]["per_seed"]["cfg+pladis"] == claims["nfe-equal"]["per_seed"]["cfg"]
    for png in ("lambda-sweep-alignment.png", "hopfield-direction.png", "claim-nocfg-alignment.png"):
        assert (tmp_path / png).stat().st_size > 0
    assert "Extra sampling time" in (tmp_path / "results.md").read_text()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["seeds"] == [0]
    assert metrics["systems"]["pladis"]["acc"] == claims["nocfg-alignment"]["per_seed"]["pladis"]


REAL_ENTMAX = attention.entmax
WRONG_SPARSE_BRANCHES = {
    # No sparse branch: PLADIS collapses to dense attention.
    "sparse-branch-ablated": lambda scores, alpha, dim=-1: torch.softmax(scores, dim),
    # Extrapolating away from entmax instead of towards it.
    "extrapolation-reversed": lambda scores, alpha, dim=-1: (
        2 * torch.softmax(scores, dim) - REAL_ENTMAX(scores, alpha, dim)
    ),
}


# The retrieval claims come from Part A alone; Part B still runs (through the wrong processor), at a size
# that only exercises the code path.
MICRO = replace(
    experiment.QUICK,
    model=ModelConfig(dim=16, depth=1, heads=2),
    data=DataConfig(n_train=32, n_val=16),
    train_steps=2,
    n_samples=16,
    n_real=32,
    steps=2,
    classifier_steps=2,
)


@pytest.mark.parametrize("wrong", list(WRONG_SPARSE_BRANCHES))
def test_a_wrong_mechanism_fails_the_retrieval_claims(tmp_path, monkeypatch, wrong):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(attention, "entmax", WRONG_SPARSE_BRANCHES[wrong])
    monkeypatch.setattr(experiment, "QUICK", MICRO)
    assert reproduce(seeds=[0], out=tmp_path, quick=True) == 0
    claims = _claims(tmp_path)
    assert not claims["hopfield-pladis"]["passed"]
    assert not claims["hopfield-entmax"]["passed"]


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    assert reproduce(seeds=[0, 1, 2], out=tmp_path) == 0
    failed = [c["id"] for c in _claims(tmp_path).values() if not c["passed"]]
    assert not failed, failed
