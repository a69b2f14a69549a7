"""The command line: the tiny fit, checkpoints that reload, configs that parse, and one-line errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from paperzoo.core import OptimConfig, checked_config
from paperzoo.flowtok import PAPER
from paperzoo.flowtok.cli import main
from paperzoo.flowtok.config import FlowConfig, ModelConfig
from paperzoo.flowtok.data import ShapesCaptionDataModule
from paperzoo.flowtok.module import FlowTokT2IModule
from paperzoo.flowtok.reproduce import FULL
from paperzoo.testing import assert_one_line_error

# The tiny config, without the stage-0 pre-training (random frozen front ends) and on a small data set.
SMALL = ["--model.pretrained=false", "--data.num_pairs=256", "--data.val_pairs=64", "--data.batch_size=32"]


def test_fit_tiny_yaml_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(PAPER.config("tiny")), "--trainer.fast_dev_run=true", *SMALL]) == 0


def test_fit_checkpoint_reloads_with_its_configs_and_front_ends(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small_model = ["--model.model.width=32", "--model.model.depth=1", "--model.flow.steps=3"]
    args = ["fit", "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1"]
    assert main([*args, "--trainer.enable_progress_bar=false", *SMALL, *small_model]) == 0
    (ckpt,) = tmp_path.glob("runs/flowtok/*/checkpoints/*.ckpt")
    module = FlowTokT2IModule.load_from_checkpoint(ckpt)
    assert module.cfg == dataclasses.replace(FULL.model, width=32, depth=1)
    assert module.flow == dataclasses.replace(FULL.flow, steps=3)
    assert module.optim == FULL.optim
    assert (module.pretrained, module.front_end_seed) == (False, 0)
    assert isinstance(torch.load(ckpt, weights_only=True)["hyper_parameters"]["model"], dict)
    # The checkpoint holds the frozen front ends it trained with; they reload with the flow networks.
    assert any(k.startswith("text_encoder.") for k in torch.load(ckpt, weights_only=True)["state_dict"])
    assert module.text_encoder is not None
    text = module.text_encoder(torch.zeros(2, 8, dtype=torch.long))
    assert module.generate(text, torch.Generator().manual_seed(0)).shape == (2, 8, 8)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["demo", "--caption", "a zebra in the top left"], "outside the vocabulary: zebra"),
        (["demo", "--caption", ""], "empty caption"),
        (["demo", "--steps", "0"], "--steps: expected an integer >= 1"),
        (["fit", "--model.flow.steps=0", "--model.pretrained=false"], "steps: expected an integer >= 1"),
        (["fit", "--model.model.width", "0"], "width: expected an integer >= 1"),
        (["fit", "--model.model.heads", "5"], "heads: expected a divisor of width 128"),
        (["fit", "--model.optim.schedule", "linear"], "optim.schedule"),
        (["fit", "--model.model.nope", "1"], "nope"),
        (["bench", "--steps", "0"], "--steps: expected an integer >= 1"),
        (["bench", "--batch", "-4"], "--batch: expected an integer >= 1"),
        (["reproduce", "--i2t_captions", "some"], "--i2t_captions: expected one of all, one"),
        (["reproduce", "--train_steps", "0"], "--train_steps: expected an integer >= 1"),
    ],
)
def test_bad_input_gets_one_error_line(args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(main, args, capsys, expected)


def test_bench_prints_both_methods_and_the_speed_up(capsys):
    assert main(["bench", "--batch", "16", "--steps", "2", "--width", "32", "--depth", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "flowtok" in out
    assert "baseline" in out
    assert "speed-up" in out


def test_tiny_yaml_trains_the_experiments_flowtok():
    """``fit --config tiny.yaml`` trains the experiment's FlowTok arm: its networks, objective and optimiser."""
    config = checked_config(main, PAPER.config("tiny"))["model"]
    assert ModelConfig(**config["model"]) == FULL.model
    assert FlowConfig(**config["flow"]) == FULL.flow
    assert OptimConfig(**config["optim"]) == FULL.optim


@pytest.mark.parametrize(("name", "low", "high"), [("tiny", 1.0e6, 2.0e6), ("gpu", 120e6, 140e6)])
def test_configs_build(name, low, high):
    """Each config's keys match the classes and its model builds (on the meta device: no memory). The GPU
    config's DiT is the B size (width 768, 12 blocks), about 130M parameters with the projector."""
    cfg = checked_config(main, PAPER.config(name))
    ShapesCaptionDataModule(**cfg["data"])
    with torch.device("meta"):
        module = FlowTokT2IModule(**cfg["model"])
    assert low < sum(p.numel() for p in module.parameters()) < high
