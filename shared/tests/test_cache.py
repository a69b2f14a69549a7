"""The cache: PAPERZOO_CACHE, config hashes, cached artefacts and stage checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from paperzoo.core import cache_dir, cached, config_hash, load_stage, save_stage, seed_all


@dataclass
class Cfg:
    n: int = 3
    name: str = "a"


def test_cache_dir_honours_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "c"))
    assert cache_dir("pkg", "data") == tmp_path / "c" / "pkg" / "data"
    assert (tmp_path / "c" / "pkg" / "data").is_dir()


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PAPERZOO_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "paperzoo"


def test_config_hash_is_stable_and_sensitive():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash(Cfg()) == config_hash({"n": 3, "name": "a"})
    with pytest.raises(TypeError, match="cannot hash"):
        config_hash({"f": object()})


def test_cached_builds_once_per_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(4)}

    first = cached("pkg/data", {"seed": 0}, build)
    second = cached("pkg/data", {"seed": 0}, build)
    cached("pkg/data", {"seed": 1}, build)
    assert len(calls) == 2
    assert torch.equal(first["x"], second["x"])


def test_corrupt_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path))
    cached("pkg/data", {"seed": 0}, lambda: torch.ones(2))
    (entry,) = (tmp_path / "pkg" / "data").glob("*.pt")
    entry.write_bytes(b"truncated")
    assert torch.equal(cached("pkg/data", {"seed": 0}, lambda: torch.zeros(2)), torch.zeros(2))


def test_stage_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path))
    assert load_stage("pkg/pretrain", {"epochs": 8}) is None
    save_stage("pkg/pretrain", {"epochs": 8}, {"w": torch.ones(3)})
    assert torch.equal(load_stage("pkg/pretrain", {"epochs": 8})["w"], torch.ones(3))
    assert load_stage("pkg/pretrain", {"epochs": 9}) is None


def test_seed_all_repeats_and_validates():
    g1 = seed_all(7)
    a = torch.rand(3), torch.rand(3, generator=g1)
    g2 = seed_all(7)
    b = torch.rand(3), torch.rand(3, generator=g2)
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="seed"):
        seed_all(-1)
