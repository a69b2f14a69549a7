"""Typed configs through LightningCLI: nested dataclasses parse, print, fail in one line and reload."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from typed_toy import PAPER, ToyConfig, TypedModule

from paperzoo.core import OptimConfig, checked_config
from paperzoo.core.config import as_config
from paperzoo.testing import assert_one_line_error

CONFIG = """
trainer:
  max_steps: 3
  enable_progress_bar: false
model:
  model:
    dim: 4
    hidden: 16
  optim:
    lr: 0.01
    warmup_steps: 1
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


def test_fit_parses_nested_configs_and_the_checkpoint_reloads(config, tmp_path):
    assert PAPER.main(["fit", "--config", str(config)]) == 0
    (ckpt,) = tmp_path.glob("runs/typedtoy/*/checkpoints/*.ckpt")
    module = TypedModule.load_from_checkpoint(ckpt)
    assert module.cfg == ToyConfig(dim=4, hidden=16)
    assert module.optim == OptimConfig(lr=0.01, warmup_steps=1)
    assert isinstance(torch.load(ckpt, weights_only=True)["hyper_parameters"]["model"], dict)


def test_print_config_resolves_every_field(config):
    resolved = checked_config(PAPER.main, config)
    assert resolved["model"]["model"] == {"dim": 4, "hidden": 16}
    assert resolved["model"]["optim"]["schedule"] == "cosine"


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--model.model.dim", "0"], "dim: expected a positive width"),
        (["--model.optim.schedule", "linear"], "optim.schedule"),
        (["--model.model.nope", "1"], "nope"),
    ],
)
def test_config_mistakes_are_one_line(config, capsys, option, fragment):
    assert_one_line_error(PAPER.main, ["fit", "--config", str(config), *option], capsys, fragment)


def test_as_config_builds_nested_dataclasses_and_names_unknown_fields():
    assert as_config(OptimConfig, {"lr": 0.5, "betas": [0.8, 0.9]}).betas == (0.8, 0.9)
    with pytest.raises(TypeError, match="unknown field"):
        as_config(ToyConfig, {"dims": 3})
