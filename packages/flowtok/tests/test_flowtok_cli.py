"""CLI: the fit smoke test and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paperzoo.core import checked_config
from paperzoo.flowtok.cli import main
from paperzoo.flowtok.data import ShapesCaptionDataModule
from paperzoo.flowtok.module import FlowTokT2IModule


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "fit",
        "--trainer.fast_dev_run=true",
        "--model.pretrained=false",
        "--model.width=32",
        "--model.depth=1",
        "--data.num_pairs=256",
        "--data.val_pairs=64",
        "--data.batch_size=32",
    ]
    assert main(args) == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["demo", "--caption", "a zebra in the top left"], "outside the vocabulary: zebra"),
        (["demo", "--caption", ""], "empty caption"),
        (["demo", "--steps", "0"], "--steps: expected an integer >= 1"),
        (["fit", "--model.steps=0", "--model.pretrained=false"], "steps"),
        (["bench", "--steps", "0"], "--steps: expected an integer >= 1"),
        (["bench", "--batch", "-4"], "--batch: expected an integer >= 1"),
        (["reproduce", "--i2t_captions", "some"], "--i2t_captions: expected one of all, one"),
        (["reproduce", "--train_steps", "0"], "--train_steps: expected an integer >= 1"),
    ],
)
def test_bad_input_gets_one_error_line(args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert expected in err


def test_bench_prints_both_methods_and_the_speed_up(capsys):
    assert main(["bench", "--batch", "16", "--steps", "2", "--width", "32", "--depth", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "flowtok" in out
    assert "baseline" in out
    assert "speed-up" in out


@pytest.mark.parametrize(("name", "low", "high"), [("tiny", 1.0e6, 2.0e6), ("gpu", 120e6, 140e6)])
def test_configs_build(name, low, high):
    """Each config's keys match the classes and its model builds (on the meta device: no memory). The GPU
    config's DiT is the B size (width 768, 12 blocks), about 130M parameters with the projector."""
    cfg = checked_config(main, Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml")
    ShapesCaptionDataModule(**cfg["data"])
    with torch.device("meta"):
        module = FlowTokT2IModule(**cfg["model"])
    assert low < sum(p.numel() for p in module.parameters()) < high
